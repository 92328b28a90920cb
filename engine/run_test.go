package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["holder"] = helperHolder
}

// OpHold makes a holder's next tick wait in its Step until the process is
// told to stop.
const OpHold = OpUser + 2

// holder is the counter with OpHold.
type holder struct {
	counter
	hold    bool
	release <-chan struct{}
}

func (h *holder) Handle(cmd Command) error {
	if cmd.Op == OpHold {
		h.hold = true
		return nil
	}
	return h.counter.Handle(cmd)
}

func (h *holder) Step(dt time.Duration) {
	h.counter.Step(dt)
	if h.hold {
		h.hold = false
		fmt.Println("holding")
		<-h.release
	}
}

// holder CHANNEL [RATE]: the counter with OpHold, until SIGTERM. Its log
// goes to stdout, where a test can expect its lines.
func helperHolder(args []string) error {
	rate := 200
	if len(args) > 1 {
		rate, _ = strconv.Atoi(args[1])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("pid", os.Getpid())
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	return Run(ctx, counterSchema, &holder{release: ctx.Done()}, Options{Channel: args[0], Rate: rate, DataSize: 8 << 10, Log: log})
}

func channel(t *testing.T) string {
	name := proctest.Name(t) + ".proc"
	venom.Remove(name)
	t.Cleanup(func() { venom.Remove(name) })
	return name
}

func connectCounter(t *testing.T, ch string) *Client[counterMeta, counterItem] {
	t.Helper()
	var c *Client[counterMeta, counterItem]
	proctest.Eventually(t, 10*time.Second, "channel "+ch+" exists", func() bool {
		var err error
		c, err = Connect(ch, counterSchema)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFrame waits until the newest snapshot satisfies cond and returns it.
func waitFrame(t *testing.T, c *Client[counterMeta, counterItem], what string, cond func(f *Frame[counterMeta, counterItem]) bool) Frame[counterMeta, counterItem] {
	t.Helper()
	var f Frame[counterMeta, counterItem]
	proctest.Eventually(t, 10*time.Second, what, func() bool { return c.Read(&f) == nil && cond(&f) })
	return f
}

func TestWarmRestartAfterSIGKILL(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "counter", ch, "200")
	c := connectCounter(t, ch)
	for i := 1; i <= 10; i++ {
		if err := c.Send(Cmd(OpAdd, float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	before := waitFrame(t, c, "ten adds applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied == 10 })
	if before.Meta.Sum != 55 {
		t.Fatalf("sum %v, want 55", before.Meta.Sum)
	}
	p.Kill(t)
	// While it is down: the last snapshot stays readable, commands queue.
	var f Frame[counterMeta, counterItem]
	if err := c.Read(&f); err != nil || f.Meta.Sum != 55 {
		t.Fatalf("Read while down: %v, sum %v", err, f.Meta.Sum)
	}
	for i := 0; i < 10; i++ {
		if err := c.Send(Cmd(OpAdd, 100)); err != nil {
			t.Fatal(err)
		}
	}
	proctest.Start(t, "counter", ch, "200")
	after := waitFrame(t, c, "adds sent while down applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied >= 20 })
	if after.Meta.Sum != 1055 || after.Applied != 20 {
		t.Fatalf("after restart: sum %v applied %d, want 1055 and 20 (no input lost or doubled)", after.Meta.Sum, after.Applied)
	}
	if after.Tick < before.Tick || after.Epoch != before.Epoch+1 {
		t.Fatalf("tick %d → %d, epoch %d → %d: want ticks to continue and the epoch to move", before.Tick, after.Tick, before.Epoch, after.Epoch)
	}
}

// TestSIGTERMPublishesAndExitsZero: the tick under way when SIGTERM comes
// is finished and published, with the commands it was handed; commands
// queued meanwhile wait for a successor.
func TestSIGTERMPublishesAndExitsZero(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "holder", ch, "50")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpAdd, 3))
	waitFrame(t, c, "add applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied == 1 })
	// The add is handed to the held tick, or to one before it.
	c.Send(Cmd(OpAdd, 4))
	c.Send(Cmd(OpHold))
	p.Expect(t, `^holding$`, 10*time.Second)
	var before Frame[counterMeta, counterItem]
	if err := c.Read(&before); err != nil || before.Applied >= 3 {
		t.Fatalf("while a tick is held: %v, applied %d: the held tick is published already", err, before.Applied)
	}
	c.Send(Cmd(OpAdd, 10)) // handed to no tick before the stop
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, 10*time.Second) // fails unless it exits 0
	info, err := venom.Inspect(ch)
	if err != nil || info.Owned {
		t.Fatalf("after SIGTERM: %+v %v", info, err)
	}
	var after Frame[counterMeta, counterItem]
	if err := c.Read(&after); err != nil {
		t.Fatal(err)
	}
	if after.Tick != before.Tick+1 || after.Mono <= before.Mono || after.Applied != 3 || after.Meta.Sum != 7 {
		t.Fatalf("last snapshot: tick %d applied %d sum %v; before SIGTERM: tick %d applied %d sum %v; "+
			"want the held tick published: tick %d, applied 3, sum 7",
			after.Tick, after.Applied, after.Meta.Sum, before.Tick, before.Applied, before.Meta.Sum, before.Tick+1)
	}
	proctest.Start(t, "counter", ch, "50")
	f := waitFrame(t, c, "the successor applies the queued add", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied >= 4 })
	if f.Applied != 4 || f.Meta.Sum != 17 {
		t.Fatalf("successor: applied %d sum %v, want 4 and 17 (no input lost or doubled)", f.Applied, f.Meta.Sum)
	}
}

func TestFaultsInjected(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  Command
	}{
		{"panic", Cmd(OpPanic)},
		{"exit", Cmd(OpExit, 7)},
		{"midpublish", Cmd(OpMidPublish)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := channel(t)
			p := proctest.Start(t, "counter", ch, "100")
			c := connectCounter(t, ch)
			c.Send(Cmd(OpAdd, 1))
			before := waitFrame(t, c, "add applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied == 1 })
			c.Send(tc.cmd)
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("fault did not end the process")
			}
			if p.Err() == nil {
				t.Fatal("process exited 0 after a fault")
			}
			// No reader sees a torn snapshot; the successor restores the
			// last whole one and is not handed the fault again.
			var f Frame[counterMeta, counterItem]
			if err := c.Read(&f); err != nil || f.Meta.Sum != 1 {
				t.Fatalf("Read after the fault: %v sum %v", err, f.Meta.Sum)
			}
			q := proctest.Start(t, "counter", ch, "100")
			c.Send(Cmd(OpAdd, 2))
			after := waitFrame(t, c, "successor applies", func(f *Frame[counterMeta, counterItem]) bool { return f.Meta.Sum == 3 })
			if after.Tick < before.Tick {
				t.Fatalf("tick went back: %d → %d", before.Tick, after.Tick)
			}
			select {
			case <-q.Done():
				t.Fatalf("successor died: %v", q.Err())
			default:
			}
		})
	}
}

func TestSlowAndHangFaults(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "holder", ch, "100")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpSlow, 30, 100_000)) // every tick from now on
	waitFrame(t, c, "slow ticks", func(f *Frame[counterMeta, counterItem]) bool { return f.StepNanos >= uint64(30*time.Millisecond) })
	c.Send(Cmd(OpHang))
	// The loop logs the fault after the tick that took it is published,
	// then sleeps for good: no tick, no heartbeat from then on.
	p.Expect(t, `msg="fault injected"`, 10*time.Second)
	hung, err := c.Shell().Daemon()
	if err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "a heartbeat a second old", func() bool {
		info, err := c.Shell().Daemon()
		return err == nil && venom.Monotonic()-info.BeatNanos > int64(time.Second)
	})
	info, err := c.Shell().Daemon()
	if err != nil || info.Beats != hung.Beats || info.Latest != hung.Latest || !info.Alive {
		t.Fatalf("hung process: %+v %v; when the fault was injected: %+v", info, err, hung)
	}
	var f Frame[counterMeta, counterItem]
	if err := c.Read(&f); err != nil || f.Applied != 2 {
		t.Fatalf("last snapshot: %v, applied %d, want the slow and the hang", err, f.Applied)
	}
}

func TestBadCommandsCounted(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	c.Shell().Send([]byte{1, 2, 3})                      // short
	c.Send(Cmd(OpUser + 40))                             // unknown to the process
	c.Send(Cmd(OpAdd, 1, 2))                             // wrong arity
	c.Shell().Send(append(Cmd(OpAdd, 1).Append(nil), 0)) // trailing byte
	c.Send(Cmd(OpAdd, 5))
	f := waitFrame(t, c, "commands handled", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied+f.Dropped == 5 })
	if f.Dropped != 4 || f.Meta.Sum != 5 {
		t.Fatalf("dropped %d sum %v, want 4 and 5", f.Dropped, f.Meta.Sum)
	}
	if err := c.Shell().Send(make([]byte, CommandSize+1)); !errors.Is(err, venom.ErrTooLarge) {
		t.Fatalf("oversized command: %v", err)
	}
}
