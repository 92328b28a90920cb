package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
)

// requester connects a NATS client for asking.
func (w *world) requester() *nats.Conn {
	w.t.Helper()
	nc, err := Connect(w.url, "requester")
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(nc.Close)
	return nc
}

// ask asks c on the sim's ask subject within d, as a requester does:
// sent again, with its id, while no bridge listens yet or no answer came
// within a second (a request that reached a bridge on its way out is
// lost with it).
func (w *world) ask(nc *nats.Conn, data []byte, id string, d time.Duration) error {
	w.t.Helper()
	m := nats.NewMsg(AskSubject(w.game, "sim"))
	m.Data = data
	if id != "" {
		m.Header.Set(nats.MsgIdHdr, id)
	}
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(time.Until(deadline), time.Second))
		r, err := nc.RequestMsgWithContext(ctx, m)
		cancel()
		switch {
		case err == nil:
			return DecodeAnswer(r)
		case !time.Now().Before(deadline):
			return fmt.Errorf("%w: %w", engine.ErrLost, err)
		case errors.Is(err, nats.ErrNoResponders):
			time.Sleep(10 * time.Millisecond) // the bridge's subscription is on its way
		default:
			w.t.Logf("%s: %v; asking again", id, err)
		}
	}
}

// A command asked on NATS is answered with the process's verdict: applied,
// or refused with its reason; garbage and ops not remote-callable are
// refused by the bridge (counted as bad, never stored); a refused command
// is answered once and never queued again, however often the bridge
// restarts; many asks at once are all answered, in a pipeline.
func TestAskAnswers(t *testing.T) {
	w := newWorld(t)
	w.start()
	nc := w.requester()
	if err := w.ask(nc, engine.Cmd(opCount).Append(nil), "one", 20*time.Second); err != nil {
		t.Fatalf("an applied command: %v, want nil", err)
	}
	err := w.ask(nc, engine.Cmd(opPoison).Append(nil), "poison", 20*time.Second)
	var refused *engine.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, engine.ErrRefused) || !strings.Contains(refused.Reason, "poison: this command is never applied") {
		t.Fatalf("a command the sim refuses: %v, want its reason", err)
	}
	for _, bad := range [][]byte{[]byte("garbage"), engine.Cmd(engine.OpPanic).Append(nil), engine.Cmd(opLocal).Append(nil)} {
		if err := w.ask(nc, bad, "", 20*time.Second); !errors.Is(err, engine.ErrRefused) {
			t.Fatalf("%q asked: %v, want refused by the bridge", bad, err)
		}
	}
	// Sent again with its id: the same verdict, from the bridge; the
	// stream kept one copy.
	if err := w.ask(nc, engine.Cmd(opPoison).Append(nil), "poison", 20*time.Second); !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("the poison command asked again: %v, want refused", err)
	}
	if err := w.ask(nc, engine.Cmd(opCount).Append(nil), "one", 20*time.Second); err != nil {
		t.Fatalf("the applied command asked again: %v, want nil", err)
	}

	// Many at once, from many requesters: each answered, each applied once.
	const many = 20
	var wg sync.WaitGroup
	errs := make(chan error, many)
	for i := range many {
		wg.Go(func() { errs <- w.ask(nc, engine.Cmd(opCount).Append(nil), fmt.Sprint("many-", i), 20*time.Second) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("one of %d asked at once: %v", many, err)
		}
	}
	f := w.sim("every command applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.Meta.Counted >= 1+many })
	if f.Meta.Counted != 1+many || f.Dropped != 1 {
		t.Fatalf("counted %d, dropped %d: want %d applied once each, the poison dropped once", f.Meta.Counted, f.Dropped, 1+many)
	}
	proctest.Eventually(t, 10*time.Second, "the bridge's bad count", func() bool { return w.bridge().Meta.Bad == 3 })

	w.stop()
	w.start()
	seq := w.cmd(opCount)
	f = w.sim("a command after the bridge's restart", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
	if f.Dropped != 1 || f.Meta.Counted != 2+many {
		t.Fatalf("after a restart: dropped %d, counted %d: the poison command was queued again", f.Dropped, f.Meta.Counted)
	}
}

// A bridge killed after the process applied an asked command and before
// the answer went out: the requester hears nothing (ErrLost when its
// deadline ends); the command is applied once, not again by the next
// bridge; asked again with its id, the next bridge says the verdict is
// gone (ErrNoVerdict), and applies nothing.
func TestAskBridgeKilledBeforeAnswer(t *testing.T) {
	w := newWorld(t)
	killed := make(chan uint64, 1)
	w.answered = func(seq uint64) bool {
		killed <- seq
		return true
	}
	w.start()
	nc := w.requester()
	if err := w.ask(nc, engine.Cmd(opCount).Append(nil), "k", 500*time.Millisecond); !errors.Is(err, engine.ErrLost) {
		t.Fatalf("asked of a bridge killed before answering: %v, want ErrLost", err)
	}
	var seq uint64
	select {
	case seq = <-killed:
	case <-time.After(20 * time.Second):
		t.Fatal("the bridge never had an answer to lose")
	}
	w.sim("the command applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= seq })
	w.stop()

	w.answered = nil
	w.start()
	err := w.ask(nc, engine.Cmd(opCount).Append(nil), "k", 20*time.Second)
	if !errors.Is(err, ErrNoVerdict) {
		t.Fatalf("asked again of the next bridge: %v, want ErrNoVerdict", err)
	}
	t.Logf("asked again: %v", err)
	next := w.cmd(opCount)
	f := w.sim("a later command applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= next })
	if f.Meta.Counted != 2 {
		t.Fatalf("counted %d, want 2: the asked command applied once and the later one", f.Meta.Counted)
	}
}

// run runs the sim, the bridge or both until stop (see start).
func (w *world) run(sim, bridge bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if sim {
		wg.Go(func() {
			engine.Run(ctx, worldSchema, &worldSim{}, engine.Options{Channel: w.game + ".sim", Rate: 100})
		})
	}
	if bridge {
		wg.Go(func() { Run(ctx, w.options()) })
	}
	w.stops = append(w.stops, func() { cancel(); wg.Wait() })
}

// A command asked while the process is stopped (its segment kept) waits
// in the process's lane and is answered once the process is back (warm):
// applied once. (A clean stop leaves the request to the successor; the
// bridge's asking again after venom.ErrDaemonGone, a SIGKILLed owner's,
// is not reached here.)
func TestAskWhileProcessDown(t *testing.T) {
	w := newWorld(t)
	w.start()
	nc := w.requester()
	if err := w.ask(nc, engine.Cmd(opCount).Append(nil), "before", 20*time.Second); err != nil {
		t.Fatalf("asked with the sim up: %v", err)
	}
	w.stop()
	w.run(false, true)
	answered := make(chan error, 1)
	go func() { answered <- w.ask(nc, engine.Cmd(opCount).Append(nil), "down", 20*time.Second) }()
	proctest.Eventually(t, 20*time.Second, "the asked command stored", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := w.js.Stream(ctx, commandStream(w.game, "sim"))
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.LastSeq >= 2
	})
	select {
	case err := <-answered:
		t.Fatalf("answered with the sim down: %v", err)
	default:
	}
	w.run(true, false)
	if err := <-answered; err != nil {
		t.Fatalf("asked while the sim was down: %v, want applied once it is back", err)
	}
	f := w.sim("both applied", func(f *engine.Frame[worldMeta, worldItem]) bool { return f.LastInput >= 2 })
	if f.Meta.Counted != 2 {
		t.Fatalf("counted %d, want 2", f.Meta.Counted)
	}
}

// BenchmarkAsk is an asked command's round trip through NATS, the
// bridge and a sim ticking at 100 Hz: serial (one requester at a time),
// and 16 requesters at once, whose commands the bridge asks of the sim one
// at a time on its lane (a tick each at most).
func BenchmarkAsk(b *testing.B) {
	for _, requesters := range []int{1, 16} {
		b.Run(fmt.Sprint("requesters=", requesters), func(b *testing.B) {
			w := newWorld(b)
			w.start()
			nc := w.requester()
			if err := w.ask(nc, engine.Cmd(opCount).Append(nil), "warm", 20*time.Second); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			next := make(chan int)
			for range requesters {
				wg.Go(func() {
					for i := range next {
						if err := Ask(context.Background(), nc, w.game, "sim", engine.Cmd(opCount), fmt.Sprint(i)); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "asks/s")
		})
	}
}
