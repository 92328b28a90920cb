package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// An edge's mirror of the world's sim, in this process: its channel
// takes the commands a player on the edge sends.
type edgeMirror struct {
	w     *world
	ch    string
	stops []func()
}

func newMirror(w *world) *edgeMirror {
	m := &edgeMirror{w: w, ch: w.game + ".esim"}
	w.t.Cleanup(func() {
		m.stop()
		venom.Remove(m.ch)
	})
	return m
}

// start runs a mirror (adopting the channel a mirror before it left,
// with the commands it had not committed); stored is MirrorOptions.stored.
func (m *edgeMirror) start(stored func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		RunMirror(ctx, MirrorOptions{Game: m.w.game, Slice: m.w.slices()[0], Channel: m.ch, NATS: m.w.url, stored: stored})
	})
	m.stops = append(m.stops, func() { cancel(); wg.Wait() })
}

// stop ends the mirrors; one that ended itself (stored) is gone already.
func (m *edgeMirror) stop() {
	for _, s := range m.stops {
		s()
	}
	m.stops = nil
}

// send queues n commands on the mirror's channel, as net on the edge does.
func (m *edgeMirror) send(n int) {
	m.w.t.Helper()
	var c *engine.Client[worldMeta, worldItem]
	proctest.Eventually(m.w.t, 20*time.Second, "the mirror's channel", func() bool {
		var err error
		c, err = engine.Connect(m.ch, worldSchema)
		return err == nil
	})
	defer c.Close()
	for range n {
		if err := c.Send(engine.Cmd(opCount)); err != nil {
			m.w.t.Fatal(err)
		}
	}
}

// latest is the mirror channel's newest publish sequence.
func (m *edgeMirror) latest() uint64 {
	sh, err := venom.Connect(m.ch)
	if err != nil {
		return 0
	}
	defer sh.Close()
	n, _ := sh.Latest()
	return n
}

// counted waits until the sim has counted want commands, then checks,
// with one more command sent after them, that no copy of any comes late.
func (m *edgeMirror) counted(what string, want uint64) {
	m.w.t.Helper()
	m.w.sim(what, func(f *engine.Frame[worldMeta, worldItem]) bool { return f.Meta.Counted >= want })
	m.send(1)
	f := m.w.sim(what+": one more", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.Meta.Counted >= want+1 })
	if f.Meta.Counted != want+1 {
		m.w.t.Fatalf("%s: the sim counted %d commands, want %d: a copy was applied", what, f.Meta.Counted-1, want)
	}
}

// A mirror holds the commands it has not seen stored: it publishes no
// snapshot meanwhile (a publish would commit them in its channel), and
// sends them again until the stream acknowledges them. Here the command
// stream is gone for a while (an error for every publish): a mirror that
// dropped its pending commands on a failed forward, or that took them as
// stored before any acknowledgement, published over them and lost them.
func TestMirrorHoldsUnstoredCommands(t *testing.T) {
	w := newWorld(t)
	w.start()
	m := newMirror(w)
	m.start(nil)
	m.send(5)
	m.counted("the commands through the mirror", 5)

	ctx := proctest.Context(t, 30*time.Second)
	if err := w.js.DeleteStream(ctx, commandStream(w.game, "sim")); err != nil {
		t.Fatal(err)
	}
	// The snapshots go on arriving: count some after the commands.
	nc, err := Connect(w.url, "test snapshots")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var arrived atomic.Int64
	sub, err := nc.Subscribe(SliceSubject(w.game, "sim"), func(*nats.Msg) { arrived.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m.send(10)
	before := m.latest()
	arrived.Store(0)
	proctest.Eventually(t, 20*time.Second, "30 snapshots from the game while the commands cannot be stored", func() bool { return arrived.Load() >= 30 })
	if after := m.latest(); after > before+1 {
		t.Fatalf("the mirror published %d snapshots while its commands were not stored: they are committed, and lost", after-before)
	}
	// The stream back (its sequence starts again: the bridge's place is
	// further on, so the test's world starts again too).
	w.stop()
	venom.Remove(w.game + ".sim")
	venom.Remove(w.game + ".bridge")
	if err := ensureStreams(ctx, w.js, w.options()); err != nil {
		t.Fatal(err)
	}
	w.start()
	m.counted("the commands held by the mirror, stored at last", 10)
}

// The mirror killed during a NATS outage (the server stopped; the client
// buffers nothing) while it holds commands handed by its channel and not
// acknowledged: its successor is handed them again and sends them with
// the same ids once NATS is back — none lost, none doubled.
func TestMirrorKilledDuringOutage(t *testing.T) {
	w := newWorld(t)
	w.start()
	m := newMirror(w)
	m.start(nil)
	m.send(5)
	m.counted("the commands through the mirror", 5)

	w.srv.Shutdown()
	m.send(10) // handed to the mirror, which cannot store them
	m.stop()   // killed: nothing committed
	m.start(nil)
	m.send(10)
	srv, err := StartServer(w.so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	m.counted("the commands of the outage", 5+1+20)
}

// The mirror killed after its commands were acknowledged and before the
// publish that commits them: its successor is handed them again and
// sends them with the same message ids, which the stream drops. Without
// the ids, each would be applied twice.
func TestMirrorKilledAfterAcknowledgement(t *testing.T) {
	w := newWorld(t)
	w.start()
	m := newMirror(w)
	var killed atomic.Bool
	m.start(func() bool { return killed.CompareAndSwap(false, true) })
	m.send(5)
	proctest.Eventually(t, 20*time.Second, "the mirror killed after an acknowledgement", killed.Load)
	m.stop()
	m.start(nil)
	m.counted("the commands stored before the mirror died", 5)
}

// The mirror refuses what the bridge refuses, on the edge's machine: an
// engine op (here OpSlow, a fault that does no harm to this test's
// process) and an op of the game's not declared remote-callable never
// reach the command stream; counted as bad there.
func TestMirrorRefusesOpsNotRemote(t *testing.T) {
	w := newWorld(t)
	w.start()
	m := newMirror(w)
	m.start(nil)
	m.send(1)
	m.counted("a command through the mirror", 1)
	c, err := engine.Connect(m.ch, worldSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, op := range []engine.Op{engine.OpSlow, opLocal, engine.OpPanic} {
		if err := c.Send(engine.Cmd(op)); err != nil {
			t.Fatal(err)
		}
	}
	m.send(1)
	f := w.sim("the command after the refused ones", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.Meta.Counted >= 3 })
	if f.Meta.Counted != 3 || f.Inputs != 3 {
		t.Fatalf("counted %d, inputs %d: want the 3 opCount commands only", f.Meta.Counted, f.Inputs)
	}
	st, err := w.js.Stream(proctest.Context(t, 5*time.Second), commandStream(w.game, "sim"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(proctest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != 3 {
		t.Fatalf("the command stream holds %d commands, want 3: the mirror forwarded an op that is not remote-callable", info.State.LastSeq)
	}
}
