package engine

import (
	"context"
	"errors"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["renderer"] = helperRenderer
}

// frameMeta is a renderer's slice: a frame counter, no items.
type frameMeta struct{ Frames uint64 }

var rendererSchema = MustSchema[frameMeta, counterItem]()

// renderer CHANNEL: what a renderer is on the engine, without a Sim: an
// Owner it polls and publishes a frame on, at 100 frames a second, its
// frame counter carried on by adoption (Header.Tick), until SIGTERM.
func helperRenderer(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	w, err := Own(ctx, rendererSchema, OwnOptions[frameMeta, counterItem]{
		Channel: args[0], Config: venom.Config{DataSize: 1024, History: 2, CmdSlots: 16, MaxClients: 8},
	})
	if err != nil {
		return err
	}
	defer w.Close()
	frame := time.NewTicker(10 * time.Millisecond)
	defer frame.Stop()
	for {
		w.Poll()
		h := w.Header()
		h.Tick++
		if err := w.Publish(&frameMeta{Frames: h.Tick}, nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-frame.C:
		}
	}
}

// owned is a process a fault test talks to: its channel, read by header.
type owned struct {
	t     *testing.T
	mode  string // the helper: "counter" (Run) or "renderer" (an Owner)
	ch    string
	shell *venom.Shell
	buf   []byte
}

func (o *owned) start() *proctest.Proc {
	args := []string{o.ch}
	if o.mode == "counter" {
		args = append(args, "100")
	}
	return proctest.Start(o.t, o.mode, args...)
}

func (o *owned) header() (Header, bool) {
	if o.shell == nil {
		s, err := venom.Connect(o.ch)
		if err != nil {
			return Header{}, false
		}
		o.shell, o.buf = s, make([]byte, s.Config().DataSize)
		o.t.Cleanup(func() { s.Close() })
	}
	n, _, err := o.shell.Read(o.buf)
	if err != nil {
		return Header{}, false
	}
	h, err := PeekHeader(o.buf[:n])
	return h, err == nil
}

// wait waits for a header that satisfies cond and returns it.
func (o *owned) wait(what string, cond func(h Header) bool) Header {
	o.t.Helper()
	var h Header
	proctest.Eventually(o.t, 10*time.Second, what, func() bool {
		var ok bool
		h, ok = o.header()
		return ok && cond(h)
	})
	return h
}

func (o *owned) send(c Command) {
	o.t.Helper()
	var b [CommandSize]byte
	if err := o.shell.Send(c.Append(b[:0])); err != nil {
		o.t.Fatal(err)
	}
}

func numbered(op Op, seq uint64) Command {
	c := Cmd(op)
	c.Seq = seq
	return c
}

// TestFaultsOnEveryOwner: every engine fault op does the same to a
// renderer built on an Owner (no Sim, a frame counter) as to a process
// on Run: it dies, exits, hangs or slows down as told, after the publish
// that commits the fault (so its successor is not handed it again), and
// readers keep a whole snapshot; the input faults break exactly-once on
// the next numbered input.
func TestFaultsOnEveryOwner(t *testing.T) {
	for _, mode := range []string{"counter", "renderer"} {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				cmd  Command
				exit int // -1: killed by SIGKILL
			}{
				{"panic", Cmd(OpPanic), 2},
				{"exit", Cmd(OpExit, 7), 7},
				{"midpublish", Cmd(OpMidPublish), -1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					o := &owned{t: t, mode: mode, ch: channel(t)}
					p := o.start()
					o.wait("running", func(h Header) bool { return h.Tick > 2 })
					o.send(numbered(OpInput, 1))
					before := o.wait("the input applied", func(h Header) bool { return h.LastInput == 1 })
					o.send(tc.cmd)
					select {
					case <-p.Done():
					case <-time.After(10 * time.Second):
						t.Fatal("the fault did not end the process")
					}
					var ee *exec.ExitError
					if !errors.As(p.Err(), &ee) || ee.ExitCode() != tc.exit {
						t.Fatalf("ended with %v, want exit status %d", p.Err(), tc.exit)
					}
					// A whole snapshot, holding the fault: it was committed.
					last, ok := o.header()
					if !ok || last.Applied != before.Applied+1 || last.Tick < before.Tick {
						t.Fatalf("after the fault: %v %+v; before it %+v", ok, last, before)
					}
					q := o.start()
					o.wait("the successor carries on", func(h Header) bool { return h.Tick > last.Tick+5 && h.Epoch == last.Epoch+1 })
					select {
					case <-q.Done():
						t.Fatalf("the successor was handed the fault again: %v", q.Err())
					default:
					}
				})
			}
			t.Run("slow", func(t *testing.T) {
				o := &owned{t: t, mode: mode, ch: channel(t)}
				o.start()
				o.wait("running", func(h Header) bool { return h.Tick > 2 })
				o.send(Cmd(OpSlow, 30, 5))
				h := o.wait("a slow tick", func(h Header) bool { return h.StepNanos >= uint64(30*time.Millisecond) })
				o.wait("fast again", func(g Header) bool { return g.Tick > h.Tick+5 && g.StepNanos < uint64(30*time.Millisecond) })
			})
			t.Run("hang", func(t *testing.T) {
				o := &owned{t: t, mode: mode, ch: channel(t)}
				p := o.start()
				o.wait("running", func(h Header) bool { return h.Tick > 2 })
				o.send(Cmd(OpHang))
				h := o.wait("the hang committed", func(h Header) bool { return h.Applied == 1 })
				proctest.Eventually(t, 10*time.Second, "a heartbeat a second old", func() bool {
					info, err := o.shell.Daemon()
					return err == nil && venom.Monotonic()-info.BeatNanos > int64(time.Second)
				})
				if g, _ := o.header(); g.Tick > h.Tick+1 {
					t.Fatalf("hung, and ticked on: %d → %d", h.Tick, g.Tick)
				}
				select {
				case <-p.Done():
					t.Fatalf("a hang ended the process: %v", p.Err())
				default:
				}
			})
			t.Run("inputs", func(t *testing.T) {
				o := &owned{t: t, mode: mode, ch: channel(t)}
				o.start()
				o.wait("running", func(h Header) bool { return h.Tick > 2 })
				o.send(Cmd(OpDropInput))
				o.send(Cmd(OpDoubleInput))
				for seq := uint64(1); seq <= 3; seq++ {
					o.send(numbered(OpInput, seq))
				}
				h := o.wait("the inputs handled", func(h Header) bool { return h.LastInput == 3 })
				if a := h.Account(3); a.Lost != 1 || a.Doubled != 1 || a.Exact() {
					t.Fatalf("account %+v, want input 1 dropped and 2 doubled", a)
				}
			})
		})
	}
}

// TestOwnerReplacesIncompatible: a segment of another shape left on a
// renderer's channel (by other code: here a counter's) is replaced, and
// the renderer starts fresh.
func TestOwnerReplacesIncompatible(t *testing.T) {
	o := &owned{t: t, mode: "counter", ch: channel(t)}
	p := o.start()
	o.wait("the counter running", func(h Header) bool { return h.Tick > 20 })
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.Wait(t, 10*time.Second)
	o.mode = "renderer"
	o.start()
	f := Follow(o.ch, rendererSchema, FollowOptions{Retry: 20 * time.Millisecond})
	defer f.Close()
	proctest.Eventually(t, 10*time.Second, "the renderer publishing", func() bool { return f.Poll() == FollowLive })
	if f.Cur.Tick > 20 || f.Epoch() != 1 {
		t.Fatalf("the renderer resumed the counter's segment: tick %d epoch %d", f.Cur.Tick, f.Epoch())
	}
}
