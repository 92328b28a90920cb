package demo_test

import (
	"strings"
	"testing"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// The Reader copies a physics snapshot only when a newer one exists, and
// keeps the one before it by swapping frames: the copies it counts, the
// ticks and items of Cur and Prev, and the interpolation between them.
func TestReaderCopiesOnlyWhatIsNew(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	const n = 50
	d, err := venom.Create(inst+".physics", venom.Config{DataSize: physics.Schema.Size(n)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, physics.Schema.Size(n))
	publish := func(tick uint64) {
		t.Helper()
		bodies := make([]physics.Body, n)
		for i := range bodies {
			bodies[i] = physics.Body{ID: uint32(i + 1), X: float32(tick*100) + float32(i), Y: 1, R: 2}
		}
		k, err := physics.Schema.Encode(buf, engine.Header{Tick: tick, Mono: int64(tick) * 1e7}, &physics.Meta{Params: physics.Params{Width: 800, Height: 600}}, bodies)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Publish(buf[:k]); err != nil {
			t.Fatal(err)
		}
	}
	items := func(what string, f *engine.Frame[physics.Meta, physics.Body], tick uint64) {
		t.Helper()
		if f.Tick != tick || len(f.Items) != n {
			t.Fatalf("%s: tick %d, %d bodies; want tick %d, %d", what, f.Tick, len(f.Items), tick, n)
		}
		for i, b := range f.Items {
			if b.ID != uint32(i+1) || b.X != float32(tick*100)+float32(i) {
				t.Fatalf("%s: body %d = %+v", what, i, b)
			}
		}
	}
	r := demo.NewReader(inst)
	defer r.Close()
	p := r.Physics
	state := func(what string, copies uint64, cur uint64, prev uint64) {
		t.Helper()
		if c := p.Stats().Copies; c != copies {
			t.Fatalf("%s: %d copies, want %d", what, c, copies)
		}
		items(what+": Cur", &p.Cur, cur)
		if prev == 0 {
			if p.HavePrev() {
				t.Fatalf("%s: a Prev (tick %d), want none", what, p.Prev.Tick)
			}
			return
		}
		if !p.HavePrev() {
			t.Fatalf("%s: no Prev, want tick %d", what, prev)
		}
		items(what+": Prev", &p.Prev, prev)
	}

	r.Frame()
	if p.Have() || !p.Connected() {
		t.Fatalf("before any publish: Have %v, connected %v", p.Have(), p.Connected())
	}
	publish(1)
	r.Frame()
	state("first snapshot", 1, 1, 0) // nothing before it to read
	r.Frame()
	r.Frame()
	state("no new snapshot", 1, 1, 0)
	if n := p.Stats().Reads; n != 1 {
		t.Fatalf("%d reads, want 1 (new snapshots taken)", n)
	}
	publish(2)
	r.Frame()
	state("the next snapshot", 2, 2, 1) // Prev by swap: one copy
	publish(3)
	publish(4)
	r.Frame()
	state("one missed", 4, 4, 3) // the newest and the one before it
	publish(5)
	r.Frame()
	state("the next again", 5, 5, 4)
	r.Frame()
	state("nothing new again", 5, 5, 4)

	// Halfway between the two newest in time: halfway in position.
	bs := r.Bodies(p.Cur.Mono + (p.Cur.Mono-p.Prev.Mono)/2)
	if len(bs) != n || bs[3].X != 450+3 {
		t.Fatalf("interpolated body 3 at x=%v, want %v", bs[3].X, 450+3)
	}

	// A snapshot of another schema: the Reader says so and hands out
	// nothing, neither the foreign snapshot nor the old one as current.
	other := engine.MustSchema[physics.Meta, struct{ A, B uint64 }]()
	k, _ := other.Encode(buf, engine.Header{Tick: 6}, &physics.Meta{}, nil)
	if _, err := d.Publish(buf[:k]); err != nil {
		t.Fatal(err)
	}
	r.Frame()
	if n := p.Stats().Errors; n != 1 || p.Connected() || p.State() != engine.FollowIncompatible || p.Have() || p.HavePrev() {
		t.Fatalf("after a foreign snapshot: %d errors, connected %v, %v, have %v %v", n, p.Connected(), p.State(), p.Have(), p.HavePrev())
	}
}

// The HUD's age of a slice the renderer draws is the age of the snapshot
// it holds, not the supervisor's view of the child's newest tick (made
// ten times a second); a child it does not draw shows the supervisor's.
func TestHUDAgeIsWhatIsDrawn(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	const drawn, statusView, renderView = int64(1_000_000_000), int64(900_000_000), int64(950_000_000)
	pd, err := venom.Create(inst+".physics", venom.Config{DataSize: physics.Schema.Size(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pd.Close()
	buf := make([]byte, physics.Schema.Size(1))
	k, err := physics.Schema.Encode(buf, engine.Header{Tick: 7, Mono: drawn}, &physics.Meta{Params: physics.Params{Width: 800, Height: 600}}, []physics.Body{{ID: 1, R: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Publish(buf[:k]); err != nil {
		t.Fatal(err)
	}
	sd, err := venom.Create(supervisor.StatusChannel(inst), supervisor.StatusConfig(2))
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	children := make([]supervisor.ChildStatus, 2)
	for i, c := range []struct {
		name string
		mono int64
	}{{"physics", statusView}, {"render", renderView}} {
		copy(children[i].Name[:], c.name)
		children[i].State, children[i].Pid, children[i].TickMono = supervisor.ChildRunning, uint32(100+i), c.mono
	}
	sbuf := make([]byte, supervisor.StatusSchema.Size(2))
	if k, err = supervisor.StatusSchema.Encode(sbuf, engine.Header{Tick: 1, Mono: drawn}, &supervisor.Meta{Children: 2}, children); err != nil {
		t.Fatal(err)
	}
	if _, err := sd.Publish(sbuf[:k]); err != nil {
		t.Fatal(err)
	}
	r := demo.NewReader(inst)
	defer r.Close()
	r.Frame()
	if !r.Physics.Have() || !r.Sup.Have() {
		t.Fatalf("physics read %v, status read %v", r.Physics.Have(), r.Sup.Have())
	}
	lines := r.HUDLines(drawn + 5e6)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "physics") || !strings.HasSuffix(lines[0], "age=5ms") {
		t.Errorf("physics line %q, want the drawn snapshot's age, 5ms (the status says 105ms)", lines)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "render") || !strings.HasSuffix(lines[1], "age=55ms") {
		t.Errorf("render line %q, want the status's age, 55ms", lines)
	}
}
