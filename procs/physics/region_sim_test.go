package physics

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// cluster is a world of regions, each a Sim on a real venom channel of
// its own (engine.Own: create, adopt, restore), stepped by hand so a test
// decides who ticks, who stops and who dies when. A region "killed" is
// a process gone: its Sim is dropped unpublished and a new one restores
// from the channel's last snapshot, as a SIGKILLed process's successor.
type cluster struct {
	t       testing.TB
	name    string
	count   int
	bodies  int
	sims    []*Sim
	owners  []*engine.Owner[Meta, Body]
	readers []*engine.Client[Meta, Body]
	frames  []engine.Frame[Meta, Body]
	meta    Meta
	items   []Body
	log     *proctest.Buffer
	want    []uint32 // the ids the world must hold, ascending (nil: not checked)
	checks  int
	worldID uint64 // the run's id a region started anew is given
	width   float32
	data    int // the channels' DataSize
}

// testDataSize holds a test world's snapshots (its channels are small).
var testDataSize = Schema.Size(4096)

func newCluster(t testing.TB, count, bodies int) *cluster {
	c := &cluster{t: t, name: proctest.Name(t), count: count, bodies: bodies, log: &proctest.Buffer{}, worldID: 0x5eed, data: testDataSize}
	if bodies > 2048 {
		c.data = DataSize
	}
	c.sims = make([]*Sim, count)
	c.owners = make([]*engine.Owner[Meta, Body], count)
	c.readers = make([]*engine.Client[Meta, Body], count)
	c.frames = make([]engine.Frame[Meta, Body], count)
	t.Cleanup(func() {
		for i := range count {
			if c.readers[i] != nil {
				c.readers[i].Close()
			}
			if c.sims[i] != nil {
				c.kill(i)
			}
			venom.Remove(c.channel(i))
		}
	})
	for i := range count {
		venom.Remove(c.channel(i))
	}
	return c
}

func (c *cluster) channel(i int) string { return fmt.Sprintf("%s.physics-%d", c.name, i) }

// start runs region i: on a channel with a snapshot it restores from it.
func (c *cluster) start(i int) {
	c.t.Helper()
	p := &Sim{Seed: 7, Bodies: c.bodies, Region: i, Regions: c.count, Neighbour: c.channel, WorldID: c.worldID, Width: c.width,
		Log: slog.New(slog.NewTextHandler(c.log, nil))}
	w, err := engine.Own(proctest.Context(c.t, time.Minute), Schema, engine.OwnOptions[Meta, Body]{
		Channel: c.channel(i), Config: engine.ChannelConfig(engine.Options{DataSize: c.data}),
		Restore: p.Restore, Handle: p.Handle, Log: slog.New(slog.NewTextHandler(c.log, nil)),
	})
	if err != nil {
		c.t.Fatalf("start region %d: %v", i, err)
	}
	c.sims[i], c.owners[i] = p, w
	if err := c.publish(i); err != nil {
		c.t.Fatal(err)
	}
	if c.readers[i] == nil {
		if c.readers[i], err = engine.Connect(c.channel(i), Schema); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) startAll() {
	for i := range c.count {
		c.start(i)
	}
}

// kill drops region i as a SIGKILL would: nothing since its last publish
// survives.
func (c *cluster) kill(i int) {
	c.sims[i].Close()
	c.owners[i].Close()
	c.sims[i], c.owners[i] = nil, nil
}

func (c *cluster) restart(i int) {
	c.t.Helper()
	c.kill(i)
	c.start(i)
}

func (c *cluster) publish(i int) error {
	c.items = c.sims[i].Snapshot(&c.meta, c.items[:0])
	return c.owners[i].Publish(&c.meta, c.items)
}

// tick runs one tick of region i as engine.Run does: commands, step,
// publish.
func (c *cluster) tick(i int) {
	c.t.Helper()
	c.owners[i].Poll()
	c.sims[i].Step(time.Second / 60)
	c.owners[i].Header().Tick++
	if err := c.publish(i); err != nil {
		c.t.Fatal(err)
	}
}

// read returns every region's newest published snapshot.
func (c *cluster) read() []Snap {
	c.t.Helper()
	snaps := make([]Snap, c.count)
	for i := range c.count {
		if err := c.readers[i].Read(&c.frames[i]); err != nil {
			c.t.Fatalf("read region %d: %v", i, err)
		}
		snaps[i] = Snap{Meta: c.frames[i].Meta, Items: c.frames[i].Items}
	}
	return snaps
}

// check counts the published world: every id of want exactly once.
func (c *cluster) check(when string) Census {
	c.t.Helper()
	c.checks++
	cs, err := CountWorld(c.read())
	if err != nil {
		c.t.Fatalf("%s: %v", when, err)
	}
	if c.want == nil {
		c.want = slices.Clone(cs.IDs)
	}
	if len(cs.Doubled) > 0 || cs.Total != len(c.want) {
		c.t.Fatalf("%s: %d bodies (want %d), doubled %v, lost %v", when, cs.Total, len(c.want), cs.Doubled, cs.Lost(c.want))
	}
	if lost := cs.Lost(c.want); len(lost) > 0 {
		c.t.Fatalf("%s: lost %v", when, lost)
	}
	return cs
}

// region is region i's newest published Region.
func (c *cluster) region(i int) Region {
	c.t.Helper()
	if err := c.readers[i].Read(&c.frames[i]); err != nil {
		c.t.Fatalf("read region %d: %v", i, err)
	}
	return c.frames[i].Meta.Region
}

// ownedBy is the region whose published own set holds id, -1 for none.
func (c *cluster) ownedBy(id uint32) int {
	for _, s := range c.read() {
		for _, b := range s.Items[:s.Meta.Region.Owned] {
			if b.ID == id {
				return int(s.Meta.Region.Index)
			}
		}
	}
	return -1
}

// handle applies a command to every running region, as a sender to
// every member does, and publishes the regions.
func (c *cluster) handle(cmd engine.Command) {
	c.t.Helper()
	for i, p := range c.sims {
		if p != nil {
			if err := p.Handle(cmd); err != nil {
				c.t.Fatalf("region %d: %v", i, err)
			}
			if err := c.publish(i); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

// crossing makes a two-region world of one body in region 0 flying
// right at the border, and ticks it until region 0's published snapshot
// holds the body in its outbox (the hand-over published): the starting
// point of the hand-over scenarios.
func crossing(t *testing.T) (*cluster, uint32) {
	c := newCluster(t, 2, 0)
	c.startAll()
	c.handle(engine.Cmd(OpGravity, 0, 0))
	c.handle(engine.Cmd(OpSpawn, 600, 360, 600, 0, 8))
	id := c.sims[0].World().Bodies()[0].ID
	for range 60 {
		c.tick(0)
		c.check("crossing")
		if c.region(0).OutRight == 1 {
			return c, id
		}
		c.tick(1)
		c.check("crossing")
	}
	t.Fatal("the body never entered the outbox")
	return nil, 0
}

// arrives ticks both regions until region 1 owns id and region 0's
// outbox is empty, checking the world after every tick. It gives them
// seconds, at a tick a millisecond: a follower notices a neighbour's
// segment replaced only once its snapshot is stale.
func (c *cluster) arrives(id uint32, when string) {
	c.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for i := range c.count {
			c.tick(i)
			c.check(when)
		}
		r0 := c.region(0)
		if c.ownedBy(id) == 1 && r0.OutRight == 0 {
			// Every body region 0 sent right was adopted and dropped
			// once (one, unless it came back and crossed again).
			if r1 := c.region(1); r0.Handed != r0.SentRight || r1.GotLeft != r0.SentRight || r0.SentRight < 1 {
				c.t.Fatalf("%s: sent %d, handed %d, adopted up to %d: want all the same, at least 1", when, r0.SentRight, r0.Handed, r1.GotLeft)
			}
			return
		}
	}
	c.t.Fatalf("%s: body %d never arrived (owned by %d, region 0 %+v)", when, id, c.ownedBy(id), c.region(0))
}

func TestRegionHandoverOnce(t *testing.T) {
	c, id := crossing(t)
	c.arrives(id, "hand-over")
	if got := c.region(1).GotLeft; got != 1 {
		t.Errorf("GotLeft %d, want 1", got)
	}
}

// The sender dies just after publishing the hand-over: its successor
// restores the body in the outbox, and it still arrives once.
func TestRegionSenderKilledAfterHandover(t *testing.T) {
	c, id := crossing(t)
	c.restart(0)
	c.check("sender restarted")
	c.arrives(id, "after the sender's restart")
}

// The receiver dies just after publishing the adoption (the sender has
// not seen it yet): its successor owns the body, the sender drops it.
func TestRegionReceiverKilledAfterAdopting(t *testing.T) {
	c, id := crossing(t)
	c.tick(1)
	c.check("adopted")
	if r := c.region(1); r.GotLeft != 1 || c.ownedBy(id) != 1 || c.region(0).OutRight != 1 {
		t.Fatalf("want adopted and still in the outbox: receiver %+v, owner %d", r, c.ownedBy(id))
	}
	c.restart(1)
	c.check("receiver restarted")
	c.arrives(id, "after the receiver's restart")
}

// The receiver dies after adopting but before publishing: the adoption
// never happened, the successor adopts again.
func TestRegionReceiverKilledBeforePublishing(t *testing.T) {
	c, id := crossing(t)
	c.owners[1].Poll()
	c.sims[1].Step(time.Second / 60) // adopts, unpublished
	c.restart(1)
	c.check("receiver restarted unpublished")
	if c.ownedBy(id) != -1 {
		t.Fatal("an unpublished adoption was published")
	}
	c.arrives(id, "after the receiver's unpublished adoption")
}

func TestRegionBothKilled(t *testing.T) {
	c, id := crossing(t)
	c.tick(1)
	c.check("adopted")
	c.restart(0)
	c.restart(1)
	c.check("both restarted")
	c.arrives(id, "after both restarted")
}

// A region stopped (not stepping, not publishing) for many ticks while
// the other goes on: the sender's entry waits for the stopped receiver;
// a stopped sender keeps the delivered entry. Long enough for the
// stopped one to be taken for down (stale) too.
func TestRegionStopped(t *testing.T) {
	for _, stopped := range []int{0, 1} {
		t.Run(fmt.Sprintf("region%d", stopped), func(t *testing.T) {
			c, id := crossing(t)
			other := 1 - stopped
			deadline := time.Now().Add(engine.DefaultStale + 200*time.Millisecond)
			for n := 0; n < 100 || time.Now().Before(deadline); n++ {
				c.tick(other)
				c.check("one stopped")
				if n == 3 && stopped == 0 && (c.ownedBy(id) != 1 || c.region(0).OutRight != 1) {
					t.Fatalf("want adopted, the entry still with the stopped sender: owner %d, %+v", c.ownedBy(id), c.region(0))
				}
				time.Sleep(time.Millisecond) // a tick's pace, so the stopped one goes stale
			}
			if stopped == 1 && (c.ownedBy(id) != -1 || c.region(0).OutRight != 1) {
				t.Fatalf("adopted by a stopped region, or dropped: owner %d, %+v", c.ownedBy(id), c.region(0))
			}
			for range 100 {
				for i := range c.count {
					c.tick(i)
					c.check("after the stop")
				}
			}
			if r := c.region(0); r.Handed < 1 || r.SentRight-r.Handed != uint64(r.OutRight) {
				t.Fatalf("the entry was not handed over after the stop: %+v", r)
			}
		})
	}
}

// Many bodies blown back and forth over two borders, a region killed or
// stopped at random ticks: after every tick of every region the world
// holds every id exactly once.
func TestRegionChurn(t *testing.T) {
	ticks := 1500
	if testing.Short() {
		ticks = 400
	}
	c := newCluster(t, 3, 300)
	c.startAll()
	c.check("start")
	rng := rand.New(rand.NewPCG(1, 2))
	stopped := make([]int, c.count)
	var handed uint64
	for n := range ticks {
		if n%120 == 0 {
			gx := float64(800 * (1 - 2*((n/120)%2)))
			c.handle(engine.Cmd(OpGravity, gx, 200))
		}
		for i := range c.count {
			switch {
			case stopped[i] > 0:
				stopped[i]--
				continue
			case rng.IntN(40) == 0:
				c.restart(i)
			case rng.IntN(40) == 0:
				// Killed in its tick: commands taken, adopted and
				// handed over, nothing published.
				c.owners[i].Poll()
				c.sims[i].Step(time.Second / 60)
				c.restart(i)
			case rng.IntN(60) == 0:
				stopped[i] = rng.IntN(30)
				continue
			}
			c.tick(i)
			c.check(fmt.Sprintf("tick %d of region %d", n, i))
		}
	}
	for i := range c.count {
		handed += c.region(i).Handed
	}
	if strings.Contains(c.log.String(), "refused") {
		t.Errorf("a region refused a sound neighbour:\n%s", c.log.String())
	}
	if handed < 50 {
		t.Errorf("only %d hand-overs in the run: the test did not test", handed)
	}
	t.Logf("%d ticks, %d checks, %d hand-overs", ticks, c.checks, handed)
}

// Two bodies flying at each other across a border meet (through the
// ghosts) rather than pass through each other: the first reverses, the
// second loses most of its speed. (Each side sees the other's newest
// snapshot, a tick apart, so the pair is not solved as one process
// would: the side that steps second meets a body already bouncing.)
func TestRegionGhostsCollide(t *testing.T) {
	c := newCluster(t, 2, 0)
	c.startAll()
	c.handle(engine.Cmd(OpGravity, 0, 0))
	c.handle(engine.Cmd(OpSpawn, 610, 360, 300, 0, 8))
	c.handle(engine.Cmd(OpSpawn, 670, 360, -300, 0, 8))
	a, b := c.sims[0].World().Bodies()[0].ID, c.sims[1].World().Bodies()[0].ID
	find := func(id uint32) Body {
		for _, s := range c.read() {
			for _, x := range s.Items {
				if x.ID == id {
					return x
				}
			}
		}
		t.Fatalf("body %d gone", id)
		return Body{}
	}
	for range 12 {
		c.tick(0)
		c.tick(1)
		c.check("colliding")
		if ba, bb := find(a), find(b); ba.X >= bb.X {
			t.Fatalf("passed through each other: %+v, %+v", ba, bb)
		}
	}
	if ba, bb := find(a), find(b); !(ba.VX < 0 && bb.VX > -150) {
		t.Fatalf("no bounce across the border: %+v, %+v", ba, bb)
	}
}

// A fresh world of regions is the single process's world cut in strips:
// the same ids and bodies; new ids stay apart.
func TestRegionFreshAndIDs(t *testing.T) {
	c := newCluster(t, 3, 500)
	c.startAll()
	cs := c.check("fresh")
	want := make([]uint32, 500)
	for i := range want {
		want[i] = uint32(i + 1)
	}
	if !slices.Equal(cs.IDs, want) {
		t.Fatalf("fresh ids %v…, want 1..500", cs.IDs[:min(10, len(cs.IDs))])
	}
	whole := newWorld(t, 7, 500)
	for i := range c.count {
		lo, hi := Strip(1280, i, c.count)
		for _, b := range c.sims[i].World().Bodies() {
			if b != whole.Bodies()[b.ID-1] || b.X < lo || b.X >= hi {
				t.Fatalf("region %d's body %+v is not the whole world's %+v in [%v, %v)", i, b, whole.Bodies()[b.ID-1], lo, hi)
			}
		}
	}
	// Spawns go to the strip holding x: one body each, ids apart.
	for _, x := range []float64{100, 500, 1000} {
		c.handle(engine.Cmd(OpSpawn, x, 100))
	}
	c.want = nil
	cs = c.check("spawned")
	if cs.Total != 503 {
		t.Fatalf("%d bodies after 3 spawns", cs.Total)
	}
	for i := range c.count {
		last := c.sims[i].World().Bodies()[c.sims[i].World().Len()-1]
		if last.ID <= 500 || int(last.ID)%c.count != i {
			t.Errorf("region %d spawned id %d, want > 500 and ≡ %d mod %d", i, last.ID, i, c.count)
		}
	}
	// A reset makes every strip again, with ids of each region's space.
	c.handle(engine.Cmd(OpReset, 200))
	c.want = nil
	cs = c.check("reset")
	if cs.Total != 200 {
		t.Fatalf("%d bodies after a reset to 200", cs.Total)
	}
	// Impulse: the owner pushes, the others accept and do nothing.
	id := c.sims[2].World().Bodies()[0].ID
	before, _ := c.sims[2].World().Body(id)
	c.handle(engine.Cmd(OpImpulse, float64(id), 0, -1e5))
	if after, _ := c.sims[2].World().Body(id); after.VY >= before.VY {
		t.Errorf("impulse not applied by the owner: %v → %v", before.VY, after.VY)
	}
	// Values are checked against the whole world by every region.
	for i, p := range c.sims {
		if err := p.Handle(engine.Cmd(OpSpawn, 5000, 100)); err == nil {
			t.Errorf("region %d took a spawn outside the world", i)
		}
	}
}

// A region whose snapshot is gone (its segment removed) starts in a
// later run (another run id) beside a neighbour still holding the
// world: it joins that world empty, takes up the streams where the
// neighbour has them and adopts what was in flight to it; the world
// keeps its bodies. A region of the same run makes its strip instead.
func TestRegionJoinsRunningWorld(t *testing.T) {
	c, id := crossing(t)
	c.kill(1)
	c.readers[1].Close()
	c.readers[1] = nil
	venom.Remove(c.channel(1))
	c.worldID = 0xbeef
	c.start(1)
	if w := c.sims[1].world; w != 0x5eed {
		t.Fatalf("the new region made world %#x, want the running one's 0x5eed", w)
	}
	c.check("joined")
	c.arrives(id, "after the join")
	if r := c.region(0); r.Refused != 0 {
		t.Errorf("the region beside the join refused %d snapshots:\n%s", r.Refused, c.log.String())
	}
	if !strings.Contains(c.log.String(), "joined a running world empty") {
		t.Errorf("the join was not logged:\n%s", c.log.String())
	}
}

// A snapshot of another region count is refused with the way out, and
// the fresh start the engine then asks for is refused too.
func TestRegionCountChanged(t *testing.T) {
	c := newCluster(t, 2, 100)
	c.startAll()
	snap := c.read()[0]
	p := &Sim{Seed: 7, Bodies: 100, Region: 0, Regions: 3, Neighbour: c.channel, Log: slog.New(slog.DiscardHandler)}
	f := &engine.Frame[Meta, Body]{Meta: snap.Meta, Items: snap.Items}
	err := p.Restore(f)
	if err == nil || !strings.Contains(err.Error(), "--regions 2 or --fresh") {
		t.Fatalf("restore of a 2-region snapshot by 3 regions: %v", err)
	}
	if err2 := p.Restore(nil); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("the fresh start after it: %v", err2)
	}
	one := &Sim{Seed: 7, Bodies: 100}
	if err := one.Restore(f); err == nil || !strings.Contains(err.Error(), "--regions 2 or --fresh") {
		t.Fatalf("restore of a 2-region snapshot by one process: %v", err)
	}
}

// hostile is a neighbour channel the test writes whatever it likes to.
type hostile struct {
	t *testing.T
	w *engine.Owner[Meta, Body]
}

func (h *hostile) publish(m Meta, items []Body) {
	h.t.Helper()
	if err := h.w.Publish(&m, items); err != nil {
		h.t.Fatal(err)
	}
}

// A neighbour's snapshot that is foreign, inconsistent or corrupt is
// refused: nothing adopted, nothing dropped, no ghosts; counted and
// logged.
func TestRegionRefusesHostileNeighbour(t *testing.T) {
	c := newCluster(t, 2, 0)
	c.start(0)
	v := c.sims[0]
	c.handle(engine.Cmd(OpGravity, 0, 0))
	w, err := engine.Own(proctest.Context(t, time.Minute), Schema, engine.OwnOptions[Meta, Body]{
		Channel: c.channel(1), Config: engine.ChannelConfig(engine.Options{DataSize: testDataSize}),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h := &hostile{t: t, w: w}
	params := v.World().Params()
	// valid is region 1's snapshot handing region 0 body 900 (number 1).
	valid := func() (Meta, []Body) {
		m := Meta{Params: params, Region: Region{World: v.world, Index: 1, Count: 2, OutLeft: 1, SentLeft: 1, Lo: 640, Hi: 1280}}
		return m, []Body{{ID: 900, X: 630, Y: 300, R: 4, Mass: 16}}
	}
	nan := float32(math.NaN())
	cases := []struct {
		name string
		bad  func(m *Meta, items *[]Body)
	}{
		{"foreign world", func(m *Meta, _ *[]Body) { m.Region.World++ }},
		{"other count", func(m *Meta, _ *[]Body) { m.Region.Count = 3 }},
		{"other index", func(m *Meta, _ *[]Body) { m.Region.Index = 0 }},
		{"other size", func(m *Meta, _ *[]Body) { m.Width = 2000 }},
		{"counts do not add up", func(m *Meta, _ *[]Body) { m.Region.Owned = 2 }},
		{"NaN body", func(_ *Meta, it *[]Body) { (*it)[0].X = nan }},
		{"huge radius", func(_ *Meta, it *[]Body) { (*it)[0].R = 1e4 }},
		{"zero mass", func(_ *Meta, it *[]Body) { (*it)[0].Mass = 0 }},
		{"bad owned body", func(m *Meta, it *[]Body) {
			*it = append([]Body{{ID: 5, X: 700, Y: 100, R: nan, Mass: 1}}, *it...)
			m.Region.Owned = 1
		}},
		{"outbox beyond its stream", func(m *Meta, _ *[]Body) { m.Region.SentLeft = 0 }},
		{"adopted more than we sent", func(m *Meta, _ *[]Body) { m.Region.GotLeft = 3 }},
		{"body not on our side", func(_ *Meta, it *[]Body) { (*it)[0].X = 700 }},
		{"stream beyond the edge", func(m *Meta, _ *[]Body) { m.Region.SentRight = 1 }},
		{"one of ours", func(_ *Meta, it *[]Body) { (*it)[0].ID = v.World().Bodies()[0].ID }},
	}
	c.handle(engine.Cmd(OpSpawn, 100, 100, 0, 0, 5)) // a body of region 0's own
	c.tick(0)
	for k, tc := range cases {
		m, items := valid()
		tc.bad(&m, &items)
		h.publish(m, items)
		c.tick(0)
		r := c.region(0)
		if r.Refused != uint32(k+1) || r.GotRight != 0 || r.Owned != 1 || r.Adopted != 0 {
			t.Fatalf("%s: not refused: %+v", tc.name, r)
		}
		c.tick(0) // the same snapshot again is not counted again
		if r := c.region(0); r.Refused != uint32(k+1) {
			t.Fatalf("%s: one snapshot refused %d times", tc.name, r.Refused-uint32(k))
		}
	}
	if n := strings.Count(c.log.String(), "refused"); n < len(cases) {
		t.Errorf("%d refusals logged for %d reasons:\n%s", n, len(cases), c.log.String())
	}
	// The valid one is adopted once.
	m, items := valid()
	h.publish(m, items)
	c.tick(0)
	if r := c.region(0); r.GotRight != 1 || r.Owned != 2 || r.Adopted != 1 {
		t.Fatalf("the valid hand-over was not adopted: %+v", r)
	}
	// Numbers that go back are refused: the stream at 1 after 2.
	m.Region.SentLeft, items[0].ID = 2, 901
	h.publish(m, items)
	c.tick(0)
	m.Region.SentLeft, m.Region.OutLeft, items = 1, 0, nil
	h.publish(m, items)
	c.tick(0)
	if r := c.region(0); r.Refused != uint32(len(cases)+1) || r.GotRight != 2 {
		t.Fatalf("a stream gone back was not refused: %+v", r)
	}
}

// The census counts what the protocol says: a delivered entry is not
// counted again, an entry in flight is.
func TestCountWorld(t *testing.T) {
	b := func(id uint32) Body { return Body{ID: id, X: 1, Y: 1, R: 1, Mass: 1} }
	r0 := Snap{Meta: Meta{Region: Region{World: 9, Count: 2, Index: 0, Owned: 1, OutRight: 2, SentRight: 5}},
		Items: []Body{b(1), b(2), b(3)}} // entries 4 and 5
	r1 := Snap{Meta: Meta{Region: Region{World: 9, Count: 2, Index: 1, Owned: 2, GotLeft: 4}},
		Items: []Body{b(2), b(7)}} // 2 adopted (entry 4), 3 in flight (entry 5)
	cs, err := CountWorld([]Snap{r1, r0})
	if err != nil {
		t.Fatal(err)
	}
	if cs.Total != 4 || cs.InFlight != 1 || cs.Delivered != 1 || cs.Owned != 3 || len(cs.Doubled) != 0 {
		t.Fatalf("%+v", cs)
	}
	r1.Meta.Region.GotLeft = 3 // entry 4 in flight too: body 2 twice
	if cs, _ := CountWorld([]Snap{r0, r1}); !slices.Equal(cs.Doubled, []uint32{2}) {
		t.Fatalf("doubled %v, want [2]", cs.Doubled)
	}
	if lost := cs.Lost([]uint32{1, 2, 3, 4, 7}); !slices.Equal(lost, []uint32{4}) {
		t.Fatalf("lost %v, want [4]", lost)
	}
	r1.Meta.Region.World = 8
	if _, err := CountWorld([]Snap{r0, r1}); err == nil {
		t.Fatal("two worlds counted as one")
	}
}
