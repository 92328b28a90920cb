package engine

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

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
		c, err = Connect(ch, counterSlice)
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

func TestSIGTERMPublishesAndExitsZero(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "counter", ch, "50")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpAdd, 3))
	waitFrame(t, c, "add applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied == 1 })
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.Wait(t, 10*time.Second) // fails unless it exits 0
	info, err := venom.Inspect(ch)
	if err != nil || info.Owned {
		t.Fatalf("after SIGTERM: %+v %v", info, err)
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
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpSlow, 30, 5))
	waitFrame(t, c, "slow ticks", func(f *Frame[counterMeta, counterItem]) bool { return f.StepNanos >= uint64(30*time.Millisecond) })
	c.Send(Cmd(OpHang))
	var info venom.DaemonInfo
	proctest.Eventually(t, 10*time.Second, "heartbeat stops", func() bool {
		a, _ := c.Shell().Daemon()
		time.Sleep(100 * time.Millisecond) // two readings 100ms apart: 10 ticks at 100 Hz
		info, _ = c.Shell().Daemon()
		return a.Beats == info.Beats
	})
	if !info.Alive {
		t.Fatal("hung process is not alive")
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
