package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
)

// regionsGame is a demo run with physics in two regions (physics-0 and
// physics-1, real processes with their standbys) and the census of its
// world, taken over a consistent cut of both regions' snapshots at every
// look a test takes: every fresh body's id exactly once (owned, or in
// flight), none lost, none doubled, no spawn.
type regionsGame struct {
	*game
	cut     *demo.Cut
	cmds    [2]*engine.Client[physics.Meta, physics.Body]
	checks  int
	stopped map[int]bool // pids a test SIGSTOPped, continued at its end
}

func startRegions(t *testing.T) *regionsGame {
	t.Helper()
	inst := proctest.Name(t)
	g := &regionsGame{game: runGame(t, inst, "--regions", "2"), stopped: map[int]bool{}}
	g.cut = demo.NewCut([]string{inst + ".physics-0", inst + ".physics-1"})
	t.Cleanup(func() {
		for pid := range g.stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
		g.cut.Close()
		for _, c := range g.cmds {
			if c != nil {
				c.Close()
			}
		}
	})
	for i := range g.cmds {
		ch := inst + ".physics-" + itoa(i)
		proctest.Eventually(t, 20*time.Second, "channel "+ch, func() bool {
			c, err := engine.Connect(ch, physics.Schema)
			g.cmds[i] = c
			return err == nil
		})
	}
	for _, name := range []string{"physics-0", "physics-1"} {
		standbyStatus(t, inst, name, "running stably with a standby ready", stableWithStandby)
	}
	return g
}

// census reads a consistent cut and fails the test on any body lost,
// doubled or unknown. It reports whether a cut was read (a member
// publishing under every try, or restarting, leaves none this time).
func (g *regionsGame) census(t *testing.T) bool {
	t.Helper()
	if err := g.cut.Read(); err != nil {
		return false
	}
	c := demo.TakeCensus(g.cut.Frames, testBodies)
	if v := c.Violations(); len(v) > 0 {
		t.Fatalf("census %d: %s (owned %d, in flight %d, delivered %d; regions %+v / %+v)", g.checks+1, strings.Join(v, "; "),
			c.Owned, c.InFlight, c.Delivered, g.cut.Frames[0].Meta.Region, g.cut.Frames[1].Meta.Region)
	}
	if c.Total != testBodies {
		t.Fatalf("census %d: %d bodies, want %d", g.checks+1, c.Total, testBodies)
	}
	g.checks++
	return true
}

// until takes the census at every look until cond holds on a cut.
func (g *regionsGame) until(t *testing.T, what string, cond func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for step := time.Millisecond; ; step = min(2*step, 50*time.Millisecond) {
		if g.census(t) && cond([2]*engine.Frame[physics.Meta, physics.Body]{&g.cut.Frames[0], &g.cut.Frames[1]}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s (last cut: %+v / %+v)", what, g.cut.Frames[0].Meta.Region, g.cut.Frames[1].Meta.Region)
		}
		time.Sleep(step)
	}
}

// send sends a command to both regions (the one it concerns applies it).
func (g *regionsGame) send(t *testing.T, c engine.Command) {
	t.Helper()
	for i, cl := range g.cmds {
		if err := cl.Send(c); err != nil {
			t.Fatalf("send to physics-%d: %v", i, err)
		}
	}
}

// push sends the body of region 0 nearest the border flying across it
// and returns its id.
func (g *regionsGame) push(t *testing.T) uint32 {
	t.Helper()
	var b physics.Body
	g.until(t, "a body in region 0", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool {
		own := r[0].Items[:r[0].Meta.Region.Owned]
		for _, x := range own {
			if x.ID <= testBodies && x.X > b.X {
				b = x
			}
		}
		return b.ID != 0
	})
	g.send(t, engine.Cmd(physics.OpImpulse, float64(b.ID), float64(900*b.Mass), float64(-300*b.Mass)))
	return b.ID
}

// owns reports whether region f owns id.
func owns(f *engine.Frame[physics.Meta, physics.Body], id uint32) bool {
	for _, b := range f.Items[:f.Meta.Region.Owned] {
		if b.ID == id {
			return true
		}
	}
	return false
}

// inOutbox reports whether id is in region f's outbox to the right.
func inOutbox(f *engine.Frame[physics.Meta, physics.Body], id uint32) bool {
	m := f.Meta.Region
	for _, b := range f.Items[m.Owned+m.OutLeft:] {
		if b.ID == id {
			return true
		}
	}
	return false
}

func (g *regionsGame) member(t *testing.T, i int) supervisor.ChildStatus {
	t.Helper()
	return g.running(t, "physics-"+itoa(i))
}

func (g *regionsGame) signal(t *testing.T, pid uint32, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(int(pid), sig); err != nil && !(sig == syscall.SIGCONT && err == syscall.ESRCH) {
		// (A process stopped past the hang timeout is killed by the
		// supervisor: nothing left to continue.)
		t.Fatalf("%v to %d: %v", sig, pid, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		g.stopped[int(pid)] = true
	case syscall.SIGCONT, syscall.SIGKILL:
		delete(g.stopped, int(pid))
	}
}

// replaced waits until member i is run by its standby, told go at once.
func (g *regionsGame) replaced(t *testing.T, i int, was supervisor.ChildStatus) {
	t.Helper()
	c := g.child(t, "physics-"+itoa(i), "taken over by its standby", func(c supervisor.ChildStatus) bool {
		return c.Handovers > was.Handovers && c.State == supervisor.ChildRunning
	})
	if c.Pid != was.StandbyPid || c.Replaced != supervisor.HandoverAtOnce {
		t.Errorf("physics-%d after SIGKILL: pid %d replaced %v; want the standby's pid %d, a handover at once", i, c.Pid, c.Replaced, was.StandbyPid)
	}
}

// arrived waits until region 1 owns id and region 0 has dropped it.
func (g *regionsGame) arrived(t *testing.T, id uint32) {
	t.Helper()
	g.until(t, "the body in region 1, out of region 0's outbox", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool {
		return owns(r[1], id) && !inOutbox(r[0], id)
	})
}

// A body pushed over the border is handed to the other region once.
func TestRegionsHandover(t *testing.T) {
	g := startRegions(t)
	id := g.push(t)
	g.until(t, "the body handed over", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool { return owns(r[1], id) })
	g.arrived(t, id)
	t.Logf("%d censuses", g.checks)
}

// The sender SIGKILLed just after publishing the hand-over (the
// receiver stopped, so the body sits in the outbox): its standby
// restores the outbox, and the body arrives once.
func TestRegionsSenderKilledAfterHandover(t *testing.T) {
	g := startRegions(t)
	p0, p1 := g.member(t, 0), g.member(t, 1)
	g.signal(t, p1.Pid, syscall.SIGSTOP)
	id := g.push(t)
	g.until(t, "the body in region 0's outbox", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool { return inOutbox(r[0], id) })
	g.signal(t, p0.Pid, syscall.SIGKILL)
	g.signal(t, p1.Pid, syscall.SIGCONT)
	g.replaced(t, 0, p0)
	g.arrived(t, id)
	t.Logf("%d censuses", g.checks)
}

// adopted brings a pushed body to where the receiver has published its
// adoption while the sender, stopped, still holds the entry; it returns
// the body's id and the two members' status before.
func (g *regionsGame) adopted(t *testing.T) (uint32, supervisor.ChildStatus, supervisor.ChildStatus) {
	t.Helper()
	p0, p1 := g.member(t, 0), g.member(t, 1)
	g.signal(t, p1.Pid, syscall.SIGSTOP)
	id := g.push(t)
	g.until(t, "the body in region 0's outbox", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool { return inOutbox(r[0], id) })
	g.signal(t, p0.Pid, syscall.SIGSTOP)
	g.signal(t, p1.Pid, syscall.SIGCONT)
	g.until(t, "the body adopted, still in the stopped sender's outbox", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool {
		return owns(r[1], id) && inOutbox(r[0], id)
	})
	return id, p0, p1
}

// The receiver SIGKILLed just after adopting (the sender stopped, still
// holding the entry): the standby restores the body adopted, the sender
// drops it.
func TestRegionsReceiverKilledAfterAdopting(t *testing.T) {
	g := startRegions(t)
	id, p0, p1 := g.adopted(t)
	g.signal(t, p1.Pid, syscall.SIGKILL)
	g.signal(t, p0.Pid, syscall.SIGCONT)
	g.replaced(t, 1, p1)
	g.arrived(t, id)
	t.Logf("%d censuses", g.checks)
}

// Both SIGKILLed, the receiver just after adopting, the sender holding
// the delivered entry: both standbys take over, the body is once.
func TestRegionsBothKilled(t *testing.T) {
	g := startRegions(t)
	id, p0, p1 := g.adopted(t)
	g.signal(t, p1.Pid, syscall.SIGKILL)
	g.signal(t, p0.Pid, syscall.SIGKILL)
	g.replaced(t, 0, p0)
	g.replaced(t, 1, p1)
	g.arrived(t, id)
	t.Logf("%d censuses", g.checks)
}

// Each region SIGSTOPped for seconds while gravity drives bodies over
// the border both ways: the other holds what it hands over until the
// stopped one is back (or its standby, once the supervisor takes it for
// hung), and the world keeps every body once.
func TestRegionsStopped(t *testing.T) {
	g := startRegions(t)
	handed := func() uint64 {
		return g.cut.Frames[0].Meta.Region.Handed + g.cut.Frames[1].Meta.Region.Handed
	}
	for i, gx := range []float64{1500, -1500} {
		g.send(t, engine.Cmd(physics.OpGravity, gx, 400))
		p := g.member(t, 1-i) // the receiver of this direction
		// The sender's outbox toward it.
		out := func() uint32 {
			if i == 0 {
				return g.cut.Frames[0].Meta.Region.OutRight
			}
			return g.cut.Frames[1].Meta.Region.OutLeft
		}
		g.until(t, "bodies crossing", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool { return handed() > 0 })
		before := handed()
		g.signal(t, p.Pid, syscall.SIGSTOP)
		var held uint32
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			if g.census(t) {
				held = max(held, out())
			}
			time.Sleep(20 * time.Millisecond) // a look every tick or so
		}
		// (Past the hang timeout the supervisor kills it: its standby
		// took over meanwhile.)
		g.signal(t, p.Pid, syscall.SIGCONT)
		g.member(t, 1-i)
		g.until(t, "what was held handed over after the stop", func(r [2]*engine.Frame[physics.Meta, physics.Body]) bool {
			return handed() > before && r[0].Meta.Region.OutRight == 0 && r[1].Meta.Region.OutLeft == 0
		})
		if held == 0 {
			t.Errorf("direction %d: nothing was held for the stopped region", i)
		}
		t.Logf("direction %d: up to %d bodies held for the stopped region", i, held)
	}
	t.Logf("%d censuses, %d hand-overs", g.checks, handed())
}
