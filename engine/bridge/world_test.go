package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// A world for the bridge's tests, in this process: a sim that counts the
// commands it applies (in its state, so a warm restart keeps the count)
// and refuses one op, a bridge, and a NATS server.

const (
	opCount  = engine.OpUser     // remote-callable: counted
	opPoison = engine.OpUser + 1 // remote-callable, and always refused by the sim
	opLocal  = engine.OpUser + 2 // the sim's, not remote-callable
)

type worldMeta struct{ Counted uint64 }
type worldItem struct{ _ uint64 }

var worldSchema = engine.MustSchema[worldMeta, worldItem]()

type worldSim struct{ m worldMeta }

func (s *worldSim) Restore(f *engine.Frame[worldMeta, worldItem]) error {
	s.m = worldMeta{}
	if f != nil {
		s.m = f.Meta
	}
	return nil
}

func (s *worldSim) Handle(c engine.Command) error {
	switch c.Op {
	case opCount, opLocal:
		s.m.Counted++
		return nil
	case opPoison:
		return errors.New("poison: this command is never applied")
	}
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

func (s *worldSim) Step(time.Duration) {}

func (s *worldSim) Snapshot(m *worldMeta, items []worldItem) []worldItem {
	*m = s.m
	return items
}

type world struct {
	t     testing.TB
	game  string
	url   string
	srv   *Server
	so    ServerOptions // srv's: to start it again
	js    jetstream.JetStream
	stops []func()
	// answered is the bridge's Options.answered in the next start.
	answered func(seq uint64) bool
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newWorld(t testing.TB) *world {
	t.Helper()
	so := ServerOptions{Listen: freeAddr(t), StoreDir: t.TempDir()}
	srv, err := StartServer(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	w := &world{t: t, game: proctest.Name(t), url: srv.URL(), srv: srv, so: so}
	t.Cleanup(func() {
		w.stop()
		venom.Remove(w.game + ".sim")
		venom.Remove(w.game + ".bridge")
	})
	nc, err := Connect(w.url, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if err := ensureStreams(proctest.Context(t, 10*time.Second), w.js, w.options()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) slices() []Slice {
	return []Slice{{Name: "sim", Check: worldSchema.DecodeHeader, Remote: func(op engine.Op) bool { return op == opCount || op == opPoison }}}
}

func (w *world) options() Options {
	return Options{Game: w.game, Channel: w.game + ".bridge", Slices: w.slices(), NATS: w.url, answered: w.answered}
}

// start runs the sim and the bridge until stop; they resume from their
// segments (a warm restart) unless those were removed.
func (w *world) start() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		engine.Run(ctx, worldSchema, &worldSim{}, engine.Options{Channel: w.game + ".sim", Rate: 100})
	})
	wg.Go(func() { Run(ctx, w.options()) })
	w.stops = append(w.stops, func() { cancel(); wg.Wait() })
	// Both running: a command published from now on is this world's,
	// whenever the bridge comes to it.
	w.bridge()
	w.sim("the sim running", func(*engine.Frame[worldMeta, worldItem]) bool { return true })
}

func (w *world) stop() {
	for _, s := range w.stops {
		s()
	}
	w.stops = nil
}

func (w *world) consumers() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := w.js.Stream(ctx, commandStream(w.game, "sim"))
	if err != nil {
		return -1
	}
	info, err := st.Info(ctx)
	if err != nil {
		return -1
	}
	return info.State.Consumers
}

// publish stores a command in the sim's command stream and returns its
// sequence.
func (w *world) publish(data []byte) uint64 {
	w.t.Helper()
	ack, err := w.js.Publish(proctest.Context(w.t, 10*time.Second), CommandSubject(w.game, "sim"), data)
	if err != nil {
		w.t.Fatal(err)
	}
	return ack.Sequence
}

// later waits until a world that begins now is clearly after the
// commands stored so far: a segment's birth is stamped to the file
// system's clock tick (a few ms), a world restarts in no less.
func (w *world) later() {
	w.t.Helper()
	after := time.Now().Add(50 * time.Millisecond)
	proctest.Eventually(w.t, time.Second, "50 ms on", func() bool { return time.Now().After(after) })
}

func (w *world) cmd(op engine.Op) uint64 { return w.publish(engine.Cmd(op).Append(nil)) }

// sim waits until the sim's newest snapshot satisfies cond and returns it.
func (w *world) sim(what string, cond func(f *engine.Frame[worldMeta, worldItem]) bool) engine.Frame[worldMeta, worldItem] {
	w.t.Helper()
	var f engine.Frame[worldMeta, worldItem]
	proctest.Eventually(w.t, 20*time.Second, what, func() bool {
		c, err := engine.Connect(w.game+".sim", worldSchema)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Read(&f) == nil && cond(&f)
	})
	return f
}

// bridge reads the bridge's newest stats.
func (w *world) bridge() engine.Frame[Meta, SliceStats] {
	w.t.Helper()
	var f engine.Frame[Meta, SliceStats]
	proctest.Eventually(w.t, 20*time.Second, "the bridge's stats", func() bool {
		c, err := engine.Connect(w.game+".bridge", StatsSchema)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Read(&f) == nil
	})
	return f
}

// A game's commands belong to one world: a fresh world is handed none
// of the commands stored before it began (the stream keeps them: a
// restart without --fresh met them all), a warm one resumes exactly
// where it was — the commands sent while it was down included.
func TestCommandsBelongToOneWorld(t *testing.T) {
	w := newWorld(t)
	for range 5 {
		w.cmd(opCount) // an earlier world's
	}
	w.later()
	w.start()
	seq := w.cmd(opCount)
	f := w.sim("the fresh world's command applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
	if f.Meta.Counted != 1 {
		t.Fatalf("a fresh world applied %d commands, want 1: the 5 stored before it began are an earlier world's", f.Meta.Counted)
	}

	w.stop() // the segments stay: a warm restart
	w.cmd(opCount)
	seq = w.cmd(opCount)
	w.start()
	f = w.sim("the commands sent while the world was down", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
	if f.Meta.Counted != 3 {
		t.Fatalf("a warm world counted %d commands, want 3: it resumes exactly", f.Meta.Counted)
	}

	w.stop()
	venom.Remove(w.game + ".sim") // a clean stop: the world is gone
	venom.Remove(w.game + ".bridge")
	w.cmd(opCount)
	w.later()
	w.start()
	seq = w.cmd(opCount)
	f = w.sim("the second fresh world's command applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
	if f.Meta.Counted != 1 {
		t.Fatalf("a fresh world after a clean stop applied %d commands, want 1", f.Meta.Counted)
	}
}

// Accounting that adds up: garbage, an engine fault op and an op the game
// does not take from the network are refused by the bridge and counted
// as bad, never queued (nothing applied, no number counted as an input);
// a command the sim refuses (a poison command) is refused once and never
// queued again, however often the bridge restarts; the bridge's totals
// survive its restarts; and bridges leave no consumers behind.
func TestBridgeAccounting(t *testing.T) {
	w := newWorld(t)
	w.start()
	w.publish([]byte("garbage"))
	w.cmd(engine.OpPanic)
	w.cmd(opLocal)
	w.cmd(opCount)
	poison := w.cmd(opPoison) // the newest: where a restart would begin again
	f := w.sim("the poison command refused", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.Dropped >= 1 })
	if f.Meta.Counted != 1 || f.Inputs != 1 || f.Dropped != 1 {
		t.Fatalf("counted %d, inputs %d, dropped %d: want the one good command applied, the poison dropped, nothing else queued",
			f.Meta.Counted, f.Inputs, f.Dropped)
	}
	b := w.bridge()
	proctest.Eventually(t, 10*time.Second, "the bridge's totals", func() bool {
		b = w.bridge()
		return b.Meta.Commands == 2 && b.Meta.Bad == 3
	})

	for round := range 2 {
		// The totals as published (a bridge's counts since its newest
		// snapshot die with it; these are what a restart carries over).
		proctest.Eventually(t, 10*time.Second, "the bridge's totals published", func() bool {
			return w.bridge().Meta.Commands == uint64(2+round)
		})
		w.stop()
		w.start()
		seq := w.cmd(opCount)
		f = w.sim("a command after the bridge's restart", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
		if f.Dropped != 1 || f.Meta.Counted != uint64(2+round) {
			t.Fatalf("restart %d: dropped %d, counted %d: the poison command (seq %d) was queued again", round+1, f.Dropped, f.Meta.Counted, poison)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for b = w.bridge(); (b.Meta.Commands != 4 || b.Meta.Bad != 3) && time.Now().Before(deadline); b = w.bridge() {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Meta.Commands != 4 || b.Meta.Bad != 3 || b.Items[0].Bad != 3 || b.Items[0].Commands != 4 {
		t.Fatalf("bridge totals after two restarts: commands %d, bad %d; want 4 and 3", b.Meta.Commands, b.Meta.Bad)
	}
	if n := w.consumers(); n != 0 {
		t.Fatalf("%d consumers on the command stream after three bridges: want none (a bridge reads by direct get)", n)
	}
}

// A command stream is bounded: a message larger than the largest legal
// command is refused, and a full stream refuses the sender's message
// with a clear error rather than drop what it holds.
func TestCommandStreamBounded(t *testing.T) {
	w := newWorld(t)
	ctx := proctest.Context(t, 20*time.Second)
	_, err := w.js.Publish(ctx, CommandSubject(w.game, "sim"), make([]byte, 1<<20))
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("a 1 MiB message on a command subject: %v, want it refused", err)
	}
	st, err := w.js.Stream(ctx, commandStream(w.game, "sim"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxMsgs <= 0 || c.MaxBytes <= 0 || c.MaxAge <= 0 || c.MaxMsgSize != MaxCommandMessage || c.Discard != jetstream.DiscardNew {
		t.Fatalf("command stream unbounded: max msgs %d, bytes %d, age %v, msg size %d, discard %v", c.MaxMsgs, c.MaxBytes, c.MaxAge, c.MaxMsgSize, c.Discard)
	}

	// Full: a stream of the same config held to 3 commands.
	cfg := commandStreamConfig(w.game+"-full", "sim", 1)
	cfg.MaxMsgs = 3
	if _, err := w.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	subj := CommandSubject(w.game+"-full", "sim")
	for i := range 3 {
		if _, err := w.js.Publish(ctx, subj, engine.Cmd(opCount).Append(nil)); err != nil {
			t.Fatalf("command %d of 3: %v", i+1, err)
		}
	}
	_, err = w.js.Publish(ctx, subj, engine.Cmd(opCount).Append(nil))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "maximum messages exceeded") {
		t.Fatalf("a command for a full stream: %v, want the server's \"maximum messages exceeded\"", err)
	}
	t.Logf("a full stream answers the sender: %v", err)
}
