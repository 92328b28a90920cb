package demo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world/worldtest"
)

// The renderer's Reader draws one world from two regions: the bodies of
// both, a body at a handover instant (in region 0's outbox, already
// adopted by region 1) once, every region's own bodies interpolated; a
// click's spawn goes to the region whose strip holds it, an explosion to
// both, a command to "physics-1" to that region alone.
func TestReaderMergesRegions(t *testing.T) {
	inst := proctest.Name(t)
	chans := []string{inst + ".physics-0", inst + ".physics-1"}
	r0, r1 := worldtest.Start(t, chans[0]), worldtest.Start(t, chans[1])
	publish := func(x float32) {
		m0 := worldtest.Meta(0, 2, 2000, 720, 5, 0, 2)
		m0.Region.SentRight = 2
		out := worldtest.Bodies(6, 2, 998, 1002, 50)
		r0.Publish(t, m0, append(worldtest.Bodies(1, 5, x, x+100, 50), out...))
		m1 := worldtest.Meta(1, 2, 2000, 720, 6, 0, 0)
		m1.Region.GotLeft = 1 // id 6 adopted; id 7 still in flight
		r1.Publish(t, m1, append([]physics.Body{out[0]}, worldtest.Bodies(10, 5, 1000+x, 1100+x, 50)...))
	}
	r := demo.NewReader(inst, chans...)
	defer r.Close()
	publish(0)
	proctest.Eventually(t, 10*time.Second, "both regions read", func() bool {
		r.Frame()
		return r.Regions[0].Have() && r.Regions[1].Have()
	})
	time.Sleep(20 * time.Millisecond) // the next snapshots are 20 ms later: interpolation has a span
	publish(100)
	proctest.Eventually(t, 10*time.Second, "both regions' second snapshot", func() bool {
		r.Frame()
		return r.Regions[0].HavePrev() && r.Regions[1].HavePrev()
	})
	cur := r.Regions[0].Cur.Mono
	bodies := r.Bodies(cur + (cur-r.Regions[0].Prev.Mono)/2) // halfway from the snapshot before to the newest
	var ids []uint32
	for _, b := range bodies {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	if want := []uint32{1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14}; !slices.Equal(ids, want) {
		t.Fatalf("bodies %v, want %v (6 once: region 1 adopted it)", ids, want)
	}
	if n := r.BodyCount(); n != 12 {
		t.Errorf("BodyCount %d, want the 12 drawn", n)
	}
	if r.Spans[0] != 6 || r.Spans[1] != 12 {
		t.Errorf("spans %v, want [6 12]: region 0's own 5 and id 7 in flight, region 1's 6", r.Spans)
	}
	if b := bodies[0]; b.ID != 1 || b.X <= 10 || b.X >= 110 {
		t.Errorf("body 1 at x %v, want between its two snapshots' 10 and 110", b.X)
	}
	if w, h, ok := r.WorldSize(); !ok || w != 2000 || h != 720 {
		t.Errorf("world size %v×%v %v, want 2000×720", w, h, ok)
	}

	if err := r.Send("physics", engine.Cmd(physics.OpSpawnBurst, 1500, 100, 20)); err != nil {
		t.Fatal(err)
	}
	if err := r.Send("physics", engine.Cmd(physics.OpExplode, 100, 100, 200, 900)); err != nil {
		t.Fatal(err)
	}
	if err := r.Send("physics-1", engine.Cmd(physics.OpClear)); err != nil { // one region by name: the chaos key's
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "the commands taken", func() bool {
		publish(100)
		return len(r0.Commands()) == 1 && len(r1.Commands()) == 3
	})
	if c := r0.Commands(); c[0].Op != physics.OpExplode {
		t.Errorf("region 0 took op %d, want only the explosion", c[0].Op)
	}
	if c := r1.Commands(); c[0].Op != physics.OpSpawnBurst || c[1].Op != physics.OpExplode || c[2].Op != physics.OpClear {
		t.Errorf("region 1 took ops %d, %d, %d, want the spawn, the explosion, the clear sent to it alone", c[0].Op, c[1].Op, c[2].Op)
	}
}
