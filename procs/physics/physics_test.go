package physics

import (
	"errors"
	"math"
	"slices"
	"testing"
	"unsafe"
)

const dt = 1.0 / 60

func newWorld(t testing.TB, seed uint64, n int) *World {
	t.Helper()
	p := DefaultParams()
	p.Seed = seed
	w, err := New(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// script drives a world through a fixed mix of steps and commands, the same
// for every world it is given, from step first to step last (exclusive).
func script(t testing.TB, w *World, first, last int) {
	t.Helper()
	for s := first; s < last; s++ {
		switch s % 100 {
		case 10:
			if err := w.SpawnBurst(640, 200, 50); err != nil {
				t.Fatal(err)
			}
		case 30:
			if err := w.Explode(640, 700, 300, 900); err != nil {
				t.Fatal(err)
			}
		case 50:
			if err := w.Impulse(uint32(s/2+1), 5000, -8000); err != nil {
				t.Fatal(err)
			}
		case 70:
			if err := w.SetGravity(float32(s%7)*10-30, 400); err != nil {
				t.Fatal(err)
			}
		case 90:
			if err := w.Spawn(100, 100, 50, -20, 12); err != nil {
				t.Fatal(err)
			}
		}
		w.Step(dt)
	}
}

func TestLayout(t *testing.T) {
	if got := unsafe.Sizeof(Body{}); got != 32 {
		t.Errorf("Sizeof(Body) = %d, want 32", got)
	}
	if got := unsafe.Sizeof(Params{}); got%8 != 0 {
		t.Errorf("Sizeof(Params) = %d, want a multiple of 8", got)
	}
}

func TestDeterminism(t *testing.T) {
	a := newWorld(t, 42, 1000)
	b := newWorld(t, 42, 1000)
	script(t, a, 0, 600)
	script(t, b, 0, 600)
	if a.Params() != b.Params() {
		t.Fatalf("params differ:\n%+v\n%+v", a.Params(), b.Params())
	}
	if !slices.Equal(a.Bodies(), b.Bodies()) {
		t.Fatal("bodies differ after 600 steps with the same seed and commands")
	}
	c := newWorld(t, 43, 1000)
	if slices.Equal(a.Bodies()[:10], c.Bodies()[:10]) {
		t.Error("different seeds made the same bodies")
	}
}

func TestRestoreContinues(t *testing.T) {
	a := newWorld(t, 7, 1000)
	script(t, a, 0, 250)

	// Snapshot as the process would: copies of Params and the bodies.
	snap := slices.Clone(a.Bodies())
	b, err := Restore(a.Params(), snap)
	if err != nil {
		t.Fatal(err)
	}
	clear(snap) // Restore must have copied
	script(t, a, 250, 600)
	script(t, b, 250, 600)
	if a.Params() != b.Params() {
		t.Fatalf("params differ:\n%+v\n%+v", a.Params(), b.Params())
	}
	if !slices.Equal(a.Bodies(), b.Bodies()) {
		t.Fatal("restored world diverged from the uninterrupted one")
	}
}

func TestStaysInsideAndFinite(t *testing.T) {
	w := newWorld(t, 3, 10000)
	if err := w.SetGravity(0, 900); err != nil {
		t.Fatal(err)
	}
	steps := 600
	if testing.Short() || raceEnabled {
		steps = 120
	}
	p := w.Params()
	for s := range steps {
		if s%97 == 0 {
			if err := w.Explode(640, 720, 400, p.MaxSpeed); err != nil {
				t.Fatal(err)
			}
		}
		w.Step(dt)
	}
	var energy float64
	for _, b := range w.Bodies() {
		if !finite(b.X) || !finite(b.Y) || !finite(b.VX) || !finite(b.VY) {
			t.Fatalf("body %d not finite: %+v", b.ID, b)
		}
		if b.X < b.R || b.X > p.Width-b.R || b.Y < b.R || b.Y > p.Height-b.R {
			t.Fatalf("body %d outside the walls: %+v", b.ID, b)
		}
		if s := math.Hypot(float64(b.VX), float64(b.VY)); s > float64(p.MaxSpeed)*1.001 {
			t.Fatalf("body %d speed %v over the limit", b.ID, s)
		}
		energy += 0.5 * float64(b.Mass) * float64(b.VX*b.VX+b.VY*b.VY)
	}
	t.Logf("kinetic energy after %d steps: %.3g", steps, energy)
}

func TestSettles(t *testing.T) {
	// A pile under gravity with restitution < 1 must come to rest: its
	// kinetic energy falls far below the start's and then stays low.
	w := newWorld(t, 5, 1000)
	ke := func() float64 {
		var e float64
		for _, b := range w.Bodies() {
			e += float64(b.Mass) * float64(b.VX*b.VX+b.VY*b.VY)
		}
		return e
	}
	start := ke()
	for range 600 {
		w.Step(dt)
	}
	settled := ke()
	if settled > start/20 {
		t.Errorf("kinetic energy %.3g after 10 s, from %.3g: the pile did not settle", settled, start)
	}
	for range 600 {
		w.Step(dt)
	}
	if late := ke(); late > 2*settled {
		t.Errorf("kinetic energy of a settled pile grew from %.3g to %.3g", settled, late)
	}
}

func TestGridMatchesBruteForce(t *testing.T) {
	for _, n := range []int{0, 1, 50, 3000} {
		w := newWorld(t, uint64(n), n)
		// Mixed sizes, including big bodies that span many grid cells.
		for i := range 20 {
			if err := w.Spawn(float32(40+i*60), 300, 0, 0, float32(8+i*2)); err != nil {
				t.Fatal(err)
			}
		}
		// Equal large radii, overlapping: the tie rule must find each
		// pair exactly once.
		for _, x := range []float32{600, 640, 620} {
			if err := w.Spawn(x, 500+x/20, 0, 0, 30); err != nil {
				t.Fatal(err)
			}
		}
		for step := range 5 {
			w.gridPairs()
			got := normalize(w.pairs)
			w.naivePairs()
			want := normalize(w.pairs)
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d step %d: grid found %d pairs, brute force %d", n, step, len(got), len(want))
			}
			if n > 100 && len(want) == 0 {
				t.Fatalf("n=%d: no pairs at all; the test tests nothing", n)
			}
			w.Step(dt)
		}
	}
}

// normalize orders each pair and the list, for comparing sets of pairs.
func normalize(ps []pair) []pair {
	out := make([]pair, len(ps))
	for i, p := range ps {
		if p.a > p.b {
			p.a, p.b = p.b, p.a
		}
		out[i] = p
	}
	slices.SortFunc(out, func(x, y pair) int {
		if x.a != y.a {
			return int(x.a - y.a)
		}
		return int(x.b - y.b)
	})
	return out
}

func TestCommandValidation(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	w := newWorld(t, 1, 10)
	id := w.Bodies()[0].ID
	tests := []struct {
		name string
		err  error
		do   func() error
	}{
		{"spawn NaN x", ErrBadValue, func() error { return w.Spawn(nan, 10, 0, 0, 5) }},
		{"spawn Inf y", ErrBadValue, func() error { return w.Spawn(10, inf, 0, 0, 5) }},
		{"spawn outside", ErrBadValue, func() error { return w.Spawn(-1, 10, 0, 0, 5) }},
		{"spawn NaN velocity", ErrBadValue, func() error { return w.Spawn(10, 10, nan, 0, 5) }},
		{"spawn too fast", ErrBadValue, func() error { return w.Spawn(10, 10, 1e6, 0, 5) }},
		{"spawn zero radius", ErrBadValue, func() error { return w.Spawn(10, 10, 0, 0, 0) }},
		{"spawn negative radius", ErrBadValue, func() error { return w.Spawn(10, 10, 0, 0, -3) }},
		{"spawn huge radius", ErrBadValue, func() error { return w.Spawn(10, 10, 0, 0, MaxRadius+1) }},
		{"spawn tiny radius", ErrBadValue, func() error { return w.Spawn(10, 10, 0, 0, 1e-30) }},
		{"spawn NaN radius", ErrBadValue, func() error { return w.Spawn(10, 10, 0, 0, nan) }},
		{"burst zero", ErrBadValue, func() error { return w.SpawnBurst(10, 10, 0) }},
		{"burst too big", ErrBadValue, func() error { return w.SpawnBurst(10, 10, MaxBurst+1) }},
		{"burst NaN", ErrBadValue, func() error { return w.SpawnBurst(nan, 10, 5) }},
		{"impulse NaN", ErrBadValue, func() error { return w.Impulse(id, nan, 0) }},
		{"impulse Inf", ErrBadValue, func() error { return w.Impulse(id, 0, -inf) }},
		{"impulse absurd", ErrBadValue, func() error { return w.Impulse(id, 2*MaxImpulse, 0) }},
		{"impulse unknown", ErrNotFound, func() error { return w.Impulse(99999, 1, 1) }},
		{"impulse zero ID", ErrNotFound, func() error { return w.Impulse(0, 1, 1) }},
		{"explode NaN", ErrBadValue, func() error { return w.Explode(nan, 0, 10, 10) }},
		{"explode zero radius", ErrBadValue, func() error { return w.Explode(0, 0, 0, 10) }},
		{"explode Inf strength", ErrBadValue, func() error { return w.Explode(0, 0, 10, inf) }},
		{"explode absurd strength", ErrBadValue, func() error { return w.Explode(0, 0, 10, 1e9) }},
		{"gravity NaN", ErrBadValue, func() error { return w.SetGravity(nan, 0) }},
		{"gravity absurd", ErrBadValue, func() error { return w.SetGravity(0, 1e9) }},
	}
	before := slices.Clone(w.Bodies())
	pBefore := w.Params()
	for _, tt := range tests {
		err := tt.do()
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.err)
		}
	}
	if !slices.Equal(before, w.Bodies()) || pBefore != w.Params() {
		t.Error("a rejected command changed the world")
	}

	// Valid commands succeed.
	if err := w.Spawn(0, 0, 10, 10, MaxRadius); err != nil {
		t.Error(err)
	}
	if err := w.Impulse(id, 100, -100); err != nil {
		t.Error(err)
	}
	if err := w.Explode(-10, 5, 100, -50); err != nil {
		t.Error(err)
	}
}

func TestTooMany(t *testing.T) {
	if _, err := New(DefaultParams(), MaxBodies+1); !errors.Is(err, ErrTooMany) {
		t.Errorf("New over the limit: %v", err)
	}
	w := newWorld(t, 1, MaxBodies-10)
	if err := w.SpawnBurst(100, 100, 11); !errors.Is(err, ErrTooMany) {
		t.Errorf("burst over the limit: %v", err)
	}
	if w.Len() != MaxBodies-10 {
		t.Errorf("a refused burst left %d bodies", w.Len())
	}
	if err := w.SpawnBurst(100, 100, 10); err != nil {
		t.Errorf("burst up to the limit: %v", err)
	}
	if err := w.Spawn(100, 100, 0, 0, 3); !errors.Is(err, ErrTooMany) {
		t.Errorf("spawn over the limit: %v", err)
	}
	last := w.Bodies()[w.Len()-1].ID
	w.Clear()
	if err := w.Spawn(100, 100, 0, 0, 3); err != nil {
		t.Fatal(err)
	}
	if got := w.Bodies()[0].ID; got <= last {
		t.Errorf("ID %d reused after Clear (last was %d)", got, last)
	}
}

func TestParamsValidation(t *testing.T) {
	nan := float32(math.NaN())
	mods := map[string]func(*Params){
		"width NaN":        func(p *Params) { p.Width = nan },
		"height tiny":      func(p *Params) { p.Height = 10 },
		"gravity Inf":      func(p *Params) { p.GravityY = float32(math.Inf(-1)) },
		"restitution":      func(p *Params) { p.Restitution = 1.5 },
		"max speed zero":   func(p *Params) { p.MaxSpeed = 0 },
		"spawn radius":     func(p *Params) { p.SpawnMinR, p.SpawnMaxR = 5, 2 },
		"zero iterations":  func(p *Params) { p.Iterations = 0 },
		"many iterations":  func(p *Params) { p.Iterations = MaxIterations + 1 },
		"spawn radius NaN": func(p *Params) { p.SpawnMaxR = nan },
	}
	for name, mod := range mods {
		p := DefaultParams()
		mod(&p)
		if _, err := New(p, 1); !errors.Is(err, ErrBadValue) {
			t.Errorf("New with %s: %v", name, err)
		}
		if _, err := Restore(p, nil); !errors.Is(err, ErrBadValue) {
			t.Errorf("Restore with %s: %v", name, err)
		}
	}
}

func TestRestoreRejectsCorruptSnapshot(t *testing.T) {
	w := newWorld(t, 9, 20)
	good := w.Bodies()
	mods := map[string]func([]Body){
		"NaN position":  func(b []Body) { b[3].X = float32(math.NaN()) },
		"Inf velocity":  func(b []Body) { b[3].VY = float32(math.Inf(1)) },
		"zero radius":   func(b []Body) { b[3].R = 0 },
		"huge radius":   func(b []Body) { b[3].R = 1e6 },
		"zero mass":     func(b []Body) { b[3].Mass = 0 },
		"tiny mass":     func(b []Body) { b[3].Mass = 1e-40 },
		"NaN mass":      func(b []Body) { b[3].Mass = float32(math.NaN()) },
		"far position":  func(b []Body) { b[3].Y = 1e30 },
		"huge velocity": func(b []Body) { b[3].VX = -1e30 },
		"duplicate ID":  func(b []Body) { b[3].ID = b[2].ID },
		"unordered IDs": func(b []Body) { b[3], b[4] = b[4], b[3] },
		"zero ID":       func(b []Body) { b[0].ID = 0 },
	}
	for name, mod := range mods {
		bodies := slices.Clone(good)
		mod(bodies)
		if _, err := Restore(w.Params(), bodies); !errors.Is(err, ErrBadValue) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Restore(w.Params(), make([]Body, MaxBodies+1)); !errors.Is(err, ErrTooMany) {
		t.Errorf("too many bodies: %v", err)
	}

	// A NextID behind the bodies (a torn snapshot) is repaired.
	p := w.Params()
	p.NextID = 1
	r, err := Restore(p, good)
	if err != nil {
		t.Fatal(err)
	}
	if got, last := r.Params().NextID, good[len(good)-1].ID; got <= last {
		t.Errorf("NextID %d not past the last ID %d", got, last)
	}
}

func TestStepOddDT(t *testing.T) {
	w := newWorld(t, 2, 100)
	before := slices.Clone(w.Bodies())
	for _, d := range []float64{0, -1, math.NaN(), math.Inf(-1)} {
		w.Step(d)
	}
	if !slices.Equal(before, w.Bodies()) || w.Params().Steps != 0 {
		t.Error("a non-positive or NaN dt changed the world")
	}
	w.Step(math.Inf(1)) // clamped to MaxDT
	for _, b := range w.Bodies() {
		if !finite(b.X) || !finite(b.Y) {
			t.Fatalf("body %d not finite after an infinite dt", b.ID)
		}
	}
}

func TestImpulseAndExplode(t *testing.T) {
	p := DefaultParams()
	p.GravityY = 0
	w, err := New(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Spawn(300, 300, 0, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.Spawn(400, 300, 0, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.Impulse(1, 100*100, 0); err != nil { // Mass is 100
		t.Fatal(err)
	}
	if b, _ := w.Body(1); b.VX != 100 || b.VY != 0 {
		t.Errorf("after impulse: %+v, want VX 100", b)
	}
	if err := w.Explode(350, 300, 100, 200); err != nil {
		t.Fatal(err)
	}
	b1, _ := w.Body(1)
	b2, _ := w.Body(2)
	if b1.VX != 100-100 || b2.VX != 100 {
		t.Errorf("after explosion: VX %v and %v, want 0 and 100", b1.VX, b2.VX)
	}
}

func TestCollisionBounces(t *testing.T) {
	p := DefaultParams()
	p.GravityY = 0
	p.Restitution = 1
	w, err := New(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Spawn(300, 300, 200, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.Spawn(400, 300, -200, 0, 10); err != nil {
		t.Fatal(err)
	}
	sawContact := false
	for range 30 {
		w.Step(dt)
		sawContact = sawContact || w.Bodies()[0].Flags&FlagContact != 0
	}
	a, b := w.Bodies()[0], w.Bodies()[1]
	if !(a.VX < 0 && b.VX > 0) {
		t.Errorf("equal bodies did not bounce apart: %v, %v", a.VX, b.VX)
	}
	if !sawContact {
		t.Error("FlagContact never set")
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	w := newWorld(t, 11, 2000)
	for range 60 {
		w.Step(dt)
	}
	if n := testing.AllocsPerRun(50, func() { w.Step(dt) }); n != 0 {
		t.Errorf("Step allocates %v times per call in steady state", n)
	}
}
