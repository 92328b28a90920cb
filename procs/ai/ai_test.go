package ai

import (
	"errors"
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/venomrt/venomrt/procs/physics"
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

// bodyFeed is a deterministic stream of physics snapshots: a physics world
// stepped once per call, with the pushes fed back, like the real loop.
type bodyFeed struct {
	t  testing.TB
	pw *physics.World
}

func newFeed(t testing.TB, n int) *bodyFeed {
	t.Helper()
	pp := physics.DefaultParams()
	pp.Seed = 99
	pw, err := physics.New(pp, n)
	if err != nil {
		t.Fatal(err)
	}
	return &bodyFeed{t, pw}
}

// next applies the pushes, steps physics and returns a copy of the bodies,
// as the AI process would read them from shared memory.
func (f *bodyFeed) next(pushes []Push) []physics.Body {
	for _, p := range pushes {
		if err := f.pw.Impulse(p.BodyID, p.DX, p.DY); err != nil && !errors.Is(err, physics.ErrNotFound) {
			f.t.Fatalf("physics refused push %+v: %v", p, err)
		}
	}
	f.pw.Step(dt)
	return slices.Clone(f.pw.Bodies())
}

func TestLayout(t *testing.T) {
	if got := unsafe.Sizeof(Agent{}); got != 40 {
		t.Errorf("Sizeof(Agent) = %d, want 40", got)
	}
	if got := unsafe.Sizeof(Params{}); got%8 != 0 {
		t.Errorf("Sizeof(Params) = %d, want a multiple of 8", got)
	}
	if got := unsafe.Sizeof(Push{}); got != 12 {
		t.Errorf("Sizeof(Push) = %d, want 12", got)
	}
}

// run steps two worlds side by side on the same bodies and fails at the
// first difference.
func runTogether(t *testing.T, a, b *World, feed *bodyFeed, steps int) {
	t.Helper()
	var pushes []Push
	total := 0
	for s := range steps {
		bodies := feed.next(pushes)
		if s%200 == 150 {
			bodies = nil // physics down for a tick
		}
		pa := slices.Clone(a.Step(dt, bodies))
		pb := b.Step(dt, bodies)
		if !slices.Equal(pa, pb) {
			t.Fatalf("step %d: pushes differ: %v vs %v", s, pa, pb)
		}
		if !slices.Equal(a.Agents(), b.Agents()) || a.Params() != b.Params() {
			t.Fatalf("step %d: agents differ", s)
		}
		pushes = pa
		total += len(pa)
	}
	if total == 0 {
		t.Error("no pushes at all: the seekers never reached a body")
	}
}

func TestDeterminism(t *testing.T) {
	a := newWorld(t, 5, 200)
	b := newWorld(t, 5, 200)
	runTogether(t, a, b, newFeed(t, 1000), 600)
	c := newWorld(t, 6, 200)
	if slices.Equal(a.Agents()[:10], c.Agents()[:10]) {
		t.Error("different seeds made the same agents")
	}
}

func TestRestoreContinues(t *testing.T) {
	a := newWorld(t, 8, 200)
	feed := newFeed(t, 1000)
	var pushes []Push
	for range 250 {
		pushes = a.Step(dt, feed.next(pushes))
	}
	snap := slices.Clone(a.Agents())
	b, err := Restore(a.Params(), snap)
	if err != nil {
		t.Fatal(err)
	}
	clear(snap) // Restore must have copied
	runTogether(t, a, b, feed, 350)
}

func TestBoundsAndFinite(t *testing.T) {
	w := newWorld(t, 2, 400)
	feed := newFeed(t, 1000)
	p := w.Params()
	var pushes []Push
	steps := 1200
	if testing.Short() || raceEnabled {
		steps = 400
	}
	for s := range steps {
		bodies := feed.next(pushes)
		if s > steps/2 {
			bodies = nil // physics gone: agents must keep going
		}
		pushes = w.Step(dt, bodies)
		if len(pushes) > int(p.MaxPushes) {
			t.Fatalf("step %d: %d pushes, limit %d", s, len(pushes), p.MaxPushes)
		}
		for _, q := range pushes {
			if !finite(q.DX) || !finite(q.DY) || abs(q.DX) > physics.MaxImpulse || abs(q.DY) > physics.MaxImpulse {
				t.Fatalf("step %d: bad push %+v", s, q)
			}
		}
	}
	moving := 0
	for _, a := range w.Agents() {
		if !finite(a.X) || !finite(a.Y) || !finite(a.VX) || !finite(a.VY) || !finite(a.Heading) {
			t.Fatalf("agent %d not finite: %+v", a.ID, a)
		}
		if a.X < 0 || a.X > p.Width || a.Y < 0 || a.Y > p.Height {
			t.Fatalf("agent %d out of bounds: %+v", a.ID, a)
		}
		if s := math.Hypot(float64(a.VX), float64(a.VY)); s > float64(p.MaxSpeed)*1.001 {
			t.Fatalf("agent %d speed %v over the limit", a.ID, s)
		}
		if a.VX != 0 || a.VY != 0 {
			moving++
		}
		if a.Kind == Seeker && a.Target != 0 {
			t.Errorf("seeker %d still targets body %d with no bodies", a.ID, a.Target)
		}
	}
	if moving < w.Len()/2 {
		t.Errorf("only %d of %d agents move without bodies", moving, w.Len())
	}
}

func TestPushesBounded(t *testing.T) {
	// Every agent a seeker, all crowded onto a heap of bodies: far more
	// could push than the limit allows.
	p := DefaultParams()
	p.MaxPushes = 3
	w, err := New(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := w.Spawn(Seeker, 600+float32(i%10), 300+float32(i/10)); err != nil {
			t.Fatal(err)
		}
	}
	var bodies []physics.Body
	for i := range 50 {
		bodies = append(bodies, physics.Body{ID: uint32(i + 1), X: 600 + float32(i%7), Y: 300 + float32(i/7), R: 5, Mass: 25})
	}
	sawFull := false
	for range 120 {
		pushes := w.Step(dt, bodies)
		if len(pushes) > 3 {
			t.Fatalf("%d pushes, limit 3", len(pushes))
		}
		sawFull = sawFull || len(pushes) == 3
	}
	if !sawFull {
		t.Error("the push limit was never reached; the test tests nothing")
	}
}

func TestCorruptBodiesIgnored(t *testing.T) {
	w := newWorld(t, 3, 100)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	bodies := []physics.Body{
		{ID: 1, X: nan, Y: 10, R: 5, Mass: 25},
		{ID: 2, X: 10, Y: inf, R: 5, Mass: 25},
		{ID: 0, X: 100, Y: 100, R: 5, Mass: 25},
		{ID: 4, X: 100, Y: 100, R: nan, Mass: 25},
		{ID: 5, X: 100, Y: 100, R: 5, Mass: inf},
		{ID: 6, X: 100, Y: 100, R: 5, Mass: -1},
		{ID: 7, X: 1e30, Y: -1e30, R: 5, Mass: 25},
		{ID: 8, X: 640, Y: 360, R: 5, Mass: 25},
		{ID: 9, X: 5000, Y: -3000, R: 5, Mass: 25}, // outside the world, but usable
	}
	for range 300 {
		for _, q := range w.Step(dt, bodies) {
			if q.BodyID != 8 && q.BodyID != 9 {
				t.Fatalf("pushed an unusable body: %+v", q)
			}
		}
	}
	for _, a := range w.Agents() {
		if !finite(a.X) || !finite(a.Y) || !finite(a.VX) || !finite(a.VY) {
			t.Fatalf("agent %d not finite: %+v", a.ID, a)
		}
		if a.Kind == Seeker && a.Target != 8 && a.Target != 9 {
			t.Errorf("seeker %d targets body %d", a.ID, a.Target)
		}
	}
}

func TestNearestMatchesBruteForce(t *testing.T) {
	w := newWorld(t, 1, 0)
	feed := newFeed(t, 700)
	bodies := feed.next(nil)
	bodies[3].ID = 0 // unusable: both must skip it
	w.Step(dt, bodies)
	var seed uint64 = 17
	for range 2000 {
		x := randFloat(&seed)*1600 - 160 // some points outside the world
		y := randFloat(&seed)*900 - 90
		got := w.nearest(x, y, bodies)
		want := nearestNaive(x, y, bodies)
		if d2(bodies, got, x, y) != d2(bodies, want, x, y) {
			t.Fatalf("nearest to (%v, %v): grid %d, brute force %d", x, y, got, want)
		}
	}
	// A single body far from the point is still found.
	one := []physics.Body{{ID: 1, X: 1270, Y: 710, R: 3, Mass: 9}}
	w.Step(dt, one)
	if got := w.nearest(5, 5, one); got != 0 {
		t.Errorf("lone far body: got %d", got)
	}
	w.Step(dt, nil)
	if got := w.nearest(5, 5, nil); got != -1 {
		t.Errorf("no bodies: got %d", got)
	}
}

func d2(bodies []physics.Body, j int, x, y float32) float32 {
	if j < 0 {
		return -1
	}
	dx, dy := bodies[j].X-x, bodies[j].Y-y
	return dx*dx + dy*dy
}

func TestValidation(t *testing.T) {
	nan := float32(math.NaN())
	w := newWorld(t, 1, 10)
	if err := w.Spawn(0, 10, 10); !errors.Is(err, ErrBadValue) {
		t.Errorf("kind 0: %v", err)
	}
	if err := w.Spawn(Flocker+1, 10, 10); !errors.Is(err, ErrBadValue) {
		t.Errorf("kind 4: %v", err)
	}
	if err := w.Spawn(Seeker, nan, 10); !errors.Is(err, ErrBadValue) {
		t.Errorf("NaN x: %v", err)
	}
	if err := w.Spawn(Seeker, 10, -1); !errors.Is(err, ErrBadValue) {
		t.Errorf("outside: %v", err)
	}
	if _, err := New(DefaultParams(), MaxAgents+1); !errors.Is(err, ErrTooMany) {
		t.Errorf("New over the limit: %v", err)
	}
	full := newWorld(t, 1, MaxAgents)
	if err := full.Spawn(Seeker, 10, 10); !errors.Is(err, ErrTooMany) {
		t.Errorf("spawn over the limit: %v", err)
	}
	last := full.Agents()[full.Len()-1].ID
	full.Clear()
	if err := full.Spawn(Seeker, 10, 10); err != nil || full.Agents()[0].ID <= last {
		t.Errorf("after Clear: %v, ID %d (last %d)", err, full.Agents()[0].ID, last)
	}

	mods := map[string]func(*Params){
		"width NaN":       func(p *Params) { p.Width = nan },
		"height huge":     func(p *Params) { p.Height = 1e9 },
		"speed zero":      func(p *Params) { p.MaxSpeed = 0 },
		"force Inf":       func(p *Params) { p.MaxForce = float32(math.Inf(1)) },
		"view negative":   func(p *Params) { p.ViewRadius = -1 },
		"push too strong": func(p *Params) { p.PushSpeed = 1e6 },
		"too many pushes": func(p *Params) { p.MaxPushes = MaxPushLimit + 1 },
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

	good := w.Agents()
	agentMods := map[string]func([]Agent){
		"NaN position":  func(a []Agent) { a[2].X = nan },
		"far position":  func(a []Agent) { a[2].Y = 1e30 },
		"Inf velocity":  func(a []Agent) { a[2].VY = float32(math.Inf(-1)) },
		"bad kind":      func(a []Agent) { a[2].Kind = 9 },
		"zero kind":     func(a []Agent) { a[2].Kind = 0 },
		"bad heading":   func(a []Agent) { a[2].Heading = 100 },
		"bad cooldown":  func(a []Agent) { a[2].Cooldown = -1 },
		"duplicate ID":  func(a []Agent) { a[2].ID = a[1].ID },
		"zero ID":       func(a []Agent) { a[0].ID = 0 },
		"unordered IDs": func(a []Agent) { a[2], a[3] = a[3], a[2] },
	}
	for name, mod := range agentMods {
		agents := slices.Clone(good)
		mod(agents)
		if _, err := Restore(w.Params(), agents); !errors.Is(err, ErrBadValue) {
			t.Errorf("Restore with %s: %v", name, err)
		}
	}
	if _, err := Restore(w.Params(), make([]Agent, MaxAgents+1)); !errors.Is(err, ErrTooMany) {
		t.Errorf("Restore with too many agents: %v", err)
	}
}

func TestStepOddDT(t *testing.T) {
	w := newWorld(t, 4, 50)
	before := slices.Clone(w.Agents())
	for _, d := range []float64{0, -1, math.NaN()} {
		if got := w.Step(d, nil); len(got) != 0 {
			t.Errorf("dt %v returned pushes", d)
		}
	}
	if !slices.Equal(before, w.Agents()) || w.Params().Steps != 0 {
		t.Error("a non-positive or NaN dt changed the world")
	}
	w.Step(math.Inf(1), nil) // shortened to MaxDT
	for _, a := range w.Agents() {
		if !finite(a.X) || !finite(a.Y) {
			t.Fatalf("agent %d not finite after an infinite dt", a.ID)
		}
	}
}

func TestBehaviour(t *testing.T) {
	p := DefaultParams()
	w, err := New(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Spawn(Seeker, 200, 360))  // ID 1
	must(w.Spawn(Fleer, 1000, 360))  // ID 2
	must(w.Spawn(Flocker, 640, 200)) // ID 3
	must(w.Spawn(Flocker, 660, 210)) // ID 4
	body := []physics.Body{{ID: 42, X: 400, Y: 360, R: 5, Mass: 25}, {ID: 43, X: 1010, Y: 360, R: 5, Mass: 25}}
	start := slices.Clone(w.Agents())
	var pushed bool
	for range 120 {
		for _, q := range w.Step(dt, body) {
			if q.BodyID == 42 && q.DX > 0 {
				pushed = true
			}
		}
	}
	a := w.Agents()
	if a[0].Target != 42 || a[0].X <= start[0].X {
		t.Errorf("seeker did not chase body 42: %+v", a[0])
	}
	if !pushed {
		t.Error("seeker never pushed the body it reached")
	}
	if dist(a[1].X, a[1].Y, 1010, 360) <= dist(start[1].X, start[1].Y, 1010, 360) {
		t.Errorf("fleer did not run from body 43: %+v", a[1])
	}
	if d := dist(a[2].X, a[2].Y, a[3].X, a[3].Y); d > 2*p.ViewRadius {
		t.Errorf("flockers drifted %v apart", d)
	}
}

func dist(x0, y0, x1, y1 float32) float32 {
	return float32(math.Hypot(float64(x1-x0), float64(y1-y0)))
}

func TestStepDoesNotAllocate(t *testing.T) {
	w := newWorld(t, 11, 200)
	feed := newFeed(t, 2000)
	bodies := feed.next(nil)
	for range 30 {
		w.Step(dt, bodies)
	}
	if n := testing.AllocsPerRun(50, func() { w.Step(dt, bodies) }); n != 0 {
		t.Errorf("Step allocates %v times per call in steady state", n)
	}
}
