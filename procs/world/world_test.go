package world_test

import (
	"slices"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world"
	"github.com/venomrt/venomrt/procs/world/worldtest"
)

// twoRegions publishes a world of two regions 1000 px wide: region 0 owns
// ids 1..10 and has ids 11 and 12 in flight to region 1 (numbers 5 and 6);
// region 1 owns ids 20..29 and has adopted number 5 (id 11) already, as
// its own. So id 11 is in region 0's outbox and region 1's owned set: a
// reader shows it once, as region 1's.
func twoRegions(t *testing.T) (r0, r1 *worldtest.Region, channels []string) {
	inst := proctest.Name(t)
	channels = []string{inst + ".physics-0", inst + ".physics-1"}
	r0, r1 = worldtest.Start(t, channels[0]), worldtest.Start(t, channels[1])
	m0 := worldtest.Meta(0, 2, 1000, 720, 10, 0, 2)
	m0.Region.SentRight = 6
	out := worldtest.Bodies(11, 2, 495, 505, 100)
	r0.Publish(t, m0, append(worldtest.Bodies(1, 10, 0, 490, 100), out...))
	m1 := worldtest.Meta(1, 2, 1000, 720, 11, 0, 0)
	m1.Region.GotLeft = 5
	own := append([]physics.Body{out[0]}, worldtest.Bodies(20, 10, 510, 1000, 100)...)
	r1.Publish(t, m1, own)
	return r0, r1, channels
}

func ids(bs []physics.Body) []uint32 {
	var ids []uint32
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return ids
}

// Every body of both regions, once: owned by either, or in flight and
// not yet adopted.
func TestMergeTwoRegions(t *testing.T) {
	_, _, chans := twoRegions(t)
	w := world.Follow(chans, engine.FollowOptions{})
	defer w.Close()
	proctest.Eventually(t, 10*time.Second, "both regions live", func() bool { return w.Poll() == engine.FollowLive })
	got := ids(w.Append(nil, true))
	var want []uint32
	for id := uint32(1); id <= 12; id++ {
		want = append(want, id)
	}
	for id := uint32(20); id < 30; id++ {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merged ids %v, want %v", got, want)
	}
	if p, ok := w.Params(); !ok || p.Width != 1000 {
		t.Fatalf("params %+v %v, want the world's width 1000", p, ok)
	}
}

// Spawns go to the region whose strip holds x, an impulse to the region
// holding the body, an explosion and the rest to every region.
func TestRouting(t *testing.T) {
	r0, r1, chans := twoRegions(t)
	w := world.Follow(chans, engine.FollowOptions{})
	defer w.Close()
	proctest.Eventually(t, 10*time.Second, "both regions live", func() bool { return w.Poll() == engine.FollowLive })
	send := func(c engine.Command) {
		t.Helper()
		if err := w.Send(c); err != nil {
			t.Fatal(err)
		}
	}
	send(engine.Cmd(physics.OpSpawnBurst, 100, 50, 5))   // region 0
	send(engine.Cmd(physics.OpSpawn, 999, 50))           // region 1
	send(engine.Cmd(physics.OpImpulse, 25, 1, 1))        // owned by 1
	send(engine.Cmd(physics.OpImpulse, 12, 1, 1))        // in flight in 0's outbox
	send(engine.Cmd(physics.OpExplode, 500, 50, 200, 9)) // both
	send(engine.Cmd(physics.OpClear))                    // both
	ops := func(r *worldtest.Region) []string {
		var s []string
		for _, c := range r.Commands() {
			s = append(s, map[engine.Op]string{physics.OpSpawnBurst: "burst", physics.OpSpawn: "spawn", physics.OpImpulse: "impulse",
				physics.OpExplode: "explode", physics.OpClear: "clear"}[c.Op])
		}
		return s
	}
	want0 := []string{"burst", "impulse", "explode", "clear"}
	want1 := []string{"spawn", "impulse", "explode", "clear"}
	proctest.Eventually(t, 10*time.Second, "every command taken", func() bool {
		r0.Publish(t, worldtest.Meta(0, 2, 1000, 720, 0, 0, 0), nil)
		r1.Publish(t, worldtest.Meta(1, 2, 1000, 720, 0, 0, 0), nil)
		return len(r0.Commands()) == len(want0) && len(r1.Commands()) == len(want1)
	})
	if got := ops(r0); !slices.Equal(got, want0) {
		t.Errorf("region 0 took %v, want %v", got, want0)
	}
	if got := ops(r1); !slices.Equal(got, want1) {
		t.Errorf("region 1 took %v, want %v", got, want1)
	}
}

func TestTargets(t *testing.T) {
	holder := func(id uint32) int {
		if id == 7 {
			return 2
		}
		return -1
	}
	for _, tc := range []struct {
		name        string
		c           engine.Command
		width       float32
		first, last int
	}{
		{"spawn left edge", engine.Cmd(physics.OpSpawn, 0, 5), 1200, 0, 0},
		{"spawn at a border", engine.Cmd(physics.OpSpawn, 300, 5), 1200, 1, 1},
		{"spawn right edge", engine.Cmd(physics.OpSpawnBurst, 1199.9, 5, 3), 1200, 3, 3},
		{"spawn outside", engine.Cmd(physics.OpSpawnBurst, -50, 5, 3), 1200, 0, 0},
		{"spawn, width unknown", engine.Cmd(physics.OpSpawn, 300, 5), 0, 0, 3},
		{"impulse held", engine.Cmd(physics.OpImpulse, 7, 1, 1), 1200, 2, 2},
		{"impulse unknown id", engine.Cmd(physics.OpImpulse, 8, 1, 1), 1200, 0, 3},
		{"impulse bad id", engine.Cmd(physics.OpImpulse, -1, 1, 1), 1200, 0, 3},
		{"explode", engine.Cmd(physics.OpExplode, 10, 10, 50, 5), 1200, 0, 3},
		{"gravity", engine.Cmd(physics.OpGravity, 0, 100), 1200, 0, 3},
		{"reset", engine.Cmd(physics.OpReset), 1200, 0, 3},
		{"fault", engine.Cmd(engine.OpPanic), 1200, 0, 3},
	} {
		if f, l := world.Targets(tc.c, 4, tc.width, holder); f != tc.first || l != tc.last {
			t.Errorf("%s: regions %d..%d, want %d..%d", tc.name, f, l, tc.first, tc.last)
		}
	}
}

// A meta whose counts do not add up to the items is clamped, never a
// panic; outbox numbers that do not fit show the whole outbox.
func TestSplitHostile(t *testing.T) {
	items := worldtest.Bodies(1, 5, 0, 100, 10)
	for _, m := range []physics.Meta{
		worldtest.Meta(0, 2, 100, 100, 9, 9, 9),
		worldtest.Meta(0, 2, 100, 100, 1<<31, 1<<31, 1<<31),
		worldtest.Meta(0, 2, 100, 100, 0, 1<<32-1, 3),
	} {
		o, l, r := world.Split(&m, items)
		if len(o)+len(l)+len(r) > len(items) {
			t.Fatalf("split %d+%d+%d of %d items", len(o), len(l), len(r), len(items))
		}
	}
	out := items[:3]
	for _, tc := range []struct {
		sent, got uint64
		want      int
	}{{6, 0, 3}, {6, 4, 2}, {6, 5, 1}, {6, 6, 0}, {6, 9, 0}, {2, 0, 3}, {3, 1, 2}} {
		if got := physics.InFlight(out, tc.sent, tc.got); len(got) != tc.want {
			t.Errorf("sent %d got %d: %d in flight, want %d", tc.sent, tc.got, len(got), tc.want)
		}
	}
}

// A spawn goes to the region physics itself says holds its x — the one
// that makes it (the others take it as a no-op) — even right at a border,
// where a strip's bounds are rounded to float32.
func TestTargetsAgreeWithPhysics(t *testing.T) {
	for _, width := range []float32{1000, 1280, 12800, 65536} {
		for n := 2; n <= 7; n++ {
			for k := 1; k < n; k++ {
				lo, _ := physics.Strip(width, k, n)
				for _, x := range []float64{float64(lo), float64(lo) - 1e-4, float64(lo) + 1e-4, float64(width) * float64(k) / float64(n)} {
					c := engine.Cmd(physics.OpSpawn, x, 100)
					first, last := world.Targets(c, n, width, nil)
					if want := physics.StripOf(float32(x), width, n); first != want || last != want {
						t.Errorf("width %v, %d regions: spawn at %v to regions %d..%d, physics makes it in %d", width, n, x, first, last, want)
					}
				}
			}
		}
	}
}
