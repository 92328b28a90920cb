package gametest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/gametest"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// Start runs the game as a process tree under an instance of the test's
// own: the supervisor is the test's child, every process the
// supervisor's, each publishing on "<instance>.<process>"; Stop ends
// them all and removes every segment.
func TestStartAndStop(t *testing.T) {
	g, err := gametest.Launch(gametest.Options{Instance: gametest.Instance(t), Args: []string{"run"}})
	check(t, err)
	t.Cleanup(func() { g.Stop() })
	check(t, g.Ready())
	st, err := g.Status()
	check(t, err)
	if len(st) != 2 || st[0].NameString() != "a" || st[1].NameString() != "b" {
		t.Fatalf("status %+v: want children a and b", st)
	}
	pids := map[int]bool{}
	for _, c := range st {
		if c.State != supervisor.ChildRunning || c.Pid == 0 || int(c.Pid) == g.Pid() || pids[int(c.Pid)] {
			t.Errorf("%s: %s pid %d: want running, a pid of its own", c.NameString(), c.StateName(), c.Pid)
		}
		pids[int(c.Pid)] = true
	}
	f, err := gametest.WaitFor(g, "a", tallySchema, func(f *engine.Frame[tally, entry]) bool { return f.Meta.Ticks > 5 })
	check(t, err)
	if f.Tick < 5 {
		t.Errorf("tick %d with %d ticks counted", f.Tick, f.Meta.Ticks)
	}
	if _, err := os.Stat(venom.Path(g.Channel("a"))); err != nil {
		t.Fatalf("a's segment: %v", err)
	}

	check(t, g.Stop())
	if g.Err() != nil {
		t.Errorf("the game exited with %v, want status 0", g.Err())
	}
	for _, c := range st {
		// A reaped child has no /proc entry: Stop waited for the
		// supervisor, which waited for its children.
		if _, err := os.Stat("/proc/" + strconv.Itoa(int(c.Pid))); err == nil {
			t.Errorf("%s's pid %d still exists after Stop", c.NameString(), c.Pid)
		}
	}
	if left, _ := filepath.Glob(venom.Path(g.Instance() + ".*")); len(left) > 0 {
		t.Errorf("segments left: %v", left)
	}
	if _, err := gametest.Newest(g, "a", tallySchema); err == nil {
		t.Error("a read after Stop succeeded")
	}
	if !strings.Contains(g.Output(), "proc=a") || !strings.Contains(g.Output(), "proc=b") {
		t.Errorf("the processes' logs not captured: %q", g.Output())
	}
}

// Kill SIGKILLs the child's real pid and returns once a successor — a
// new pid — runs and publishes; the child's state, and the numbered
// commands sent before and while it was down, carry over exactly once.
func TestKillAndSuccessor(t *testing.T) {
	g := gametest.Start(t, "run")
	s, err := g.Sender("a")
	check(t, err)
	for i := 1; i <= 5; i++ {
		check(t, s.Send(engine.Cmd(opAdd, float64(i))))
	}
	a, h, err := s.Settle()
	check(t, err)
	if !a.Exact() || h.LastInput != 5 {
		t.Fatalf("before the kill: %+v, last input %d", a, h.LastInput)
	}
	before, err := g.Child("a")
	check(t, err)
	b, err := g.Child("b")
	check(t, err)

	after, err := g.Kill("a")
	check(t, err)
	if after.Pid == before.Pid || after.Pid == 0 || after.Restarts != before.Restarts+1 {
		t.Errorf("pid %d → %d, restarts %d → %d: want a new pid, one restart", before.Pid, after.Pid, before.Restarts, after.Restarts)
	}
	for i := 6; i <= 10; i++ {
		check(t, s.Send(engine.Cmd(opAdd, float64(i))))
	}
	a, _, err = s.Settle()
	check(t, err)
	if !a.Exact() || a.Applied != 10 {
		t.Errorf("account %+v: want 10 applied once each", a)
	}
	f, err := gametest.Newest(g, "a", tallySchema)
	check(t, err)
	if f.Meta.Sum != 55 || f.Meta.Adds != 10 {
		t.Errorf("sum %v of %d adds, want 55 of 10", f.Meta.Sum, f.Meta.Adds)
	}
	if b2, err := g.Child("b"); err != nil || b2.Pid != b.Pid || b2.Restarts != 0 {
		t.Errorf("b: pid %d → %d, %d restarts (%v): want untouched", b.Pid, b2.Pid, b2.Restarts, err)
	}
}

// A command refused by the process reaches the sender with the
// process's reason; an applied one is nil.
func TestAskRefused(t *testing.T) {
	g := gametest.Start(t, "run")
	check(t, g.Ask("b", engine.Cmd(opAdd, 2)))
	err := g.Ask("b", engine.Cmd(opAdd, -1))
	var refused *engine.RefusedError
	if !errors.Is(err, engine.ErrRefused) || !errors.As(err, &refused) || !strings.Contains(refused.Reason, "amounts are never negative") {
		t.Fatalf("ask -1: %v, want refused with the process's reason", err)
	}
	f, err := gametest.WaitFor(g, "b", tallySchema, func(f *engine.Frame[tally, entry]) bool { return f.Meta.Adds >= 1 })
	check(t, err)
	if f.Meta.Sum != 2 || f.Meta.Adds != 1 {
		t.Errorf("sum %v of %d adds, want 2 of 1: the refused add changed the state", f.Meta.Sum, f.Meta.Adds)
	}
}

// One process alone: "proc NAME" owns its channel and publishes.
func TestStartProc(t *testing.T) {
	g := gametest.Start(t, "proc", "b")
	info, err := venom.Inspect(g.Channel("b"))
	check(t, err)
	if !info.Owned || info.Daemon.Pid != g.Pid() {
		t.Errorf("b's owner pid %d, want the process started, %d", info.Daemon.Pid, g.Pid())
	}
	if _, err := g.Status(); err == nil {
		t.Error("a status without a supervisor")
	}
}

// The restore check passes for a Sim whose snapshot is its whole state,
// and fails, naming the tick, for one that keeps state outside it.
func TestCheckRestore(t *testing.T) {
	cmds := func(tick int) []engine.Command {
		if tick%3 == 0 {
			return []engine.Command{engine.Cmd(opAdd, float64(tick)), engine.Cmd(opAdd, -1)}
		}
		return nil
	}
	c := &counter{}
	check(t, c.Restore(nil))
	check(t, c.Handle(engine.Cmd(opAdd, 7)))
	check(t, gametest.CheckRestore(gametest.RestoreCheck[tally, entry]{Schema: tallySchema, Steps: 50, Commands: cmds}, c, &counter{}))

	f := &forgetful{}
	check(t, f.Restore(nil))
	f.Step(0) // hidden is now 0.5, and the snapshot does not say so
	err := gametest.CheckRestore(gametest.RestoreCheck[tally, entry]{Schema: tallySchema, Steps: 50}, f, &forgetful{})
	if !errors.Is(err, gametest.ErrDiverged) || !strings.Contains(err.Error(), "after tick 4 of 50") {
		t.Fatalf("forgetful: %v, want diverged after tick 4", err)
	}
	t.Log(err)
}

// Wait gives up at its deadline, saying what did not happen, and
// returns as soon as the condition holds.
func TestWait(t *testing.T) {
	err := gametest.Wait(30*time.Millisecond, "the impossible", func() bool { return false })
	if !errors.Is(err, gametest.ErrTimeout) || !strings.Contains(err.Error(), "the impossible") {
		t.Errorf("%v, want a timeout naming what", err)
	}
	n := 0
	check(t, gametest.Wait(time.Second, "three looks", func() bool { n++; return n == 3 }))
	if n != 3 {
		t.Errorf("%d looks, want 3", n)
	}
}

// Instance names are unique per call, and usable as an instance.
func TestInstance(t *testing.T) {
	a, b := gametest.Instance(t), gametest.Instance(t)
	if a == b || len(a) > 40 {
		t.Errorf("%q, %q: want two names of at most 40 bytes", a, b)
	}
	long := strings.Repeat("x", 100)
	t.Run(long, func(t *testing.T) {
		if n := gametest.Instance(t); len(n) > 40 {
			t.Errorf("%q: %d bytes", n, len(n))
		}
	})
}

// The account catches a numbered command lost or doubled: the process
// is told to drop one input (engine.OpDropInput) and double another,
// and the Sender's account says so.
func TestAccountCatchesLossAndDouble(t *testing.T) {
	g := gametest.Start(t, "proc", "a")
	s, err := g.Sender("a")
	check(t, err)
	check(t, s.Input(3))
	c, err := engine.Connect(g.Channel("a"), tallySchema)
	check(t, err)
	defer c.Close()
	// The faults go on a lane of their own: each is waited for before
	// the input it spoils is sent.
	fault := func(op engine.Op) {
		t.Helper()
		h, err := g.Header("a")
		check(t, err)
		check(t, c.Send(engine.Cmd(op)))
		check(t, g.Wait("the fault taken", func() bool { n, err := g.Header("a"); return err == nil && n.Applied > h.Applied }))
	}
	_, _, err = s.Settle()
	check(t, err)
	fault(engine.OpDropInput)
	check(t, s.Input(1)) // input 4, dropped
	fault(engine.OpDoubleInput)
	check(t, s.Input(2)) // input 5 applied twice, 6 once
	a, _, err := s.Settle()
	check(t, err)
	if a.Exact() || a.Lost != 1 || a.Doubled != 1 {
		t.Errorf("account %+v: want one lost, one doubled", a)
	}
}

// Kill fails when no successor comes: a child failed at its first
// restart (a failure threshold below one, no standby) is never replaced,
// and Kill says so at its deadline instead of returning.
func TestKillWithoutSuccessorFails(t *testing.T) {
	g, err := gametest.Launch(gametest.Options{Instance: gametest.Instance(t), Timeout: 3 * time.Second,
		Args: []string{"run", "--standby=false", "--failure-threshold=0.5"}})
	check(t, err)
	t.Cleanup(func() { g.Stop() })
	// The game's own start may take longer than the short timeout on a
	// loaded machine: Ready is tried again, each try bounded by it.
	check(t, gametest.Wait(gametest.DefaultTimeout, "the game ready", func() bool { return g.Ready() == nil }))
	_, err = g.Kill("a")
	if !errors.Is(err, gametest.ErrTimeout) || !strings.Contains(err.Error(), "successor") {
		t.Fatalf("kill: %v, want a timeout waiting for a successor", err)
	}
	if c, err := g.Child("a"); err != nil || c.State != supervisor.ChildFailed {
		t.Errorf("a: %s (%v), want failed", c.StateName(), err)
	}
}
