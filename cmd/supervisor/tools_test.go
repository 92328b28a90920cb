package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// ownSegment is the helper "own": it creates the segment args[0], says
// "owned" and holds it until SIGTERM (closing it) or SIGKILL (leaving it
// with a dead owner, as a crashed process does).
func ownSegment(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("own: want one segment name, got %q", args)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	d, err := venom.Create(args[0], venom.Config{DataSize: 64})
	if err != nil {
		return fmt.Errorf("own: %w", err)
	}
	defer d.Close()
	fmt.Println("owned")
	<-ctx.Done()
	return nil
}

// ownedSegment starts a process that owns segment name and returns it;
// the segment is removed when the test ends.
func ownedSegment(t *testing.T, name string) *proctest.Proc {
	t.Helper()
	t.Cleanup(func() { venom.Remove(name) })
	p := proctest.Start(t, "own", name)
	p.Expect(t, `^owned$`, 20*time.Second)
	return p
}

// staleSegment leaves segment name behind a SIGKILLed owner and returns
// that owner's pid.
func staleSegment(t *testing.T, name string) int {
	t.Helper()
	p := ownedSegment(t, name)
	p.Kill(t)
	return p.Pid()
}

func exists(name string) bool {
	_, err := os.Stat(venom.Path(name))
	return err == nil
}

// runSupervisor runs the supervisor binary's command line, as a person
// would, and returns its output.
func runSupervisor(args ...string) (string, error) {
	out, err := execSelf(args...).CombinedOutput()
	return string(out), err
}

// lsColumns splits ls's table: cells are padded by two spaces or more,
// and a cell ("12ms ago", "1.5 KiB") holds single spaces at most.
var lsColumns = regexp.MustCompile(`\s{2,}`)

// lsTable runs ls and returns its header and its rows by segment name.
func lsTable(t *testing.T) (header []string, rows map[string][]string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run([]string{"ls"}, &out, &errOut); err != nil {
		t.Fatalf("ls: %v\n%s", err, errOut.String())
	}
	rows = map[string][]string{}
	for i, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		cells := lsColumns.Split(strings.TrimSpace(line), -1)
		if i == 0 {
			header = cells
			continue
		}
		rows[cells[0]] = cells
	}
	return header, rows
}

// ls shows, for each of a running game's channels, the pid the
// supervisor launched as owner, "alive", the epoch of a first run, the
// client slots taken, the age of the newest snapshot and the segment's
// size; for a segment whose owner was SIGKILLed, that owner and "dead".
func TestLs(t *testing.T) {
	inst := proctest.Name(t)
	deadPid := staleSegment(t, inst+".dead")
	g := runGame(t, inst)
	children := []string{"physics", "ai", "net", "render"}
	for _, name := range children {
		g.running(t, name)
	}
	// Connected: physics has at least the supervisor's watcher and us.
	g.physics(t, g.running(t, "physics").Pid)

	// Compare ls with a status taken before and after it, so that a
	// child restarting meanwhile is not a mismatch.
	var header []string
	var rows map[string][]string
	var st engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	proctest.Eventually(t, 30*time.Second, "ls between two equal statuses", func() bool {
		st = g.status(t)
		header, rows = lsTable(t)
		again := g.status(t)
		for i, c := range st.Items {
			if c.Pid != again.Items[i].Pid || c.Restarts != again.Items[i].Restarts {
				return false
			}
		}
		return true
	})
	want := []string{"NAME", "OWNER", "STATE", "EPOCH", "CLIENTS", "QUEUED", "LAST PUBLISH", "SIZE", "STANDBY"}
	if !slices.Equal(header, want) {
		t.Fatalf("ls header %q, want %q", header, want)
	}
	check := func(name string, owner int, state string, epoch uint64) []string {
		t.Helper()
		row, ok := rows[name]
		if !ok {
			t.Errorf("ls: no row for %s", name)
			return nil
		}
		if len(row) != len(want) {
			t.Errorf("ls row %q: %d columns, want %d", row, len(row), len(want))
			return nil
		}
		if row[1] != strconv.Itoa(owner) || row[2] != state || row[3] != strconv.FormatUint(epoch, 10) {
			t.Errorf("ls %s: owner %s, state %s, epoch %s; want %d, %s, %d", name, row[1], row[2], row[3], owner, state, epoch)
		}
		for _, col := range []int{4, 5} {
			if n, err := strconv.Atoi(row[col]); err != nil || n < 0 {
				t.Errorf("ls %s: %s %q, want a count", name, want[col], row[col])
			}
		}
		if fi, err := os.Stat(venom.Path(name)); err != nil || row[7] != wantSize(fi.Size()) {
			t.Errorf("ls %s: size %q; the file: %v, %v", name, row[7], fi.Size(), err)
		}
		return row
	}
	for _, name := range children {
		c, _ := childOf(st, name)
		// A channel's epoch counts the processes that owned it.
		row := check(inst+"."+name, int(c.Pid), "alive", uint64(c.Restarts)+1)
		if row == nil {
			continue
		}
		if age, ok := strings.CutSuffix(row[6], " ago"); !ok {
			t.Errorf("ls %s: last publish %q, want a duration ago", name, row[6])
		} else if _, err := time.ParseDuration(age); err != nil {
			t.Errorf("ls %s: last publish %q: %v", name, row[6], err)
		}
		if clients, _ := strconv.Atoi(row[4]); name == "physics" && clients < 2 {
			t.Errorf("ls physics: %d clients, want the supervisor's and the test's at least", clients)
		}
	}
	check(inst+".sup", g.cmd.Process.Pid, "alive", 1)
	if row := check(inst+".dead", deadPid, "dead", 1); row != nil && (row[4] != "0" || row[5] != "0" || row[6] != "never") {
		t.Errorf("ls %s: %q, want no client, nothing queued, never published", inst+".dead", row)
	}
	if t.Failed() {
		var b strings.Builder
		for name, row := range rows {
			if strings.HasPrefix(name, inst+".") {
				fmt.Fprintf(&b, "%q\n", row)
			}
		}
		t.Logf("ls rows of %s:\n%s", inst, b.String())
	}
}

// rm --stale --instance removes that instance's segments whose owner is
// dead, and nothing else: not its live ones, not another instance's stale
// ones (even one whose name starts with the instance's). rm NAME removes
// that segment; a missing or malformed name is an error naming it.
func TestRm(t *testing.T) {
	inst := proctest.Name(t)
	other := inst + "-other" // shares inst's prefix, but not "<inst>."
	mine, live, theirs := inst+".stale", inst+".live", other+".stale"
	staleSegment(t, mine)
	owner := ownedSegment(t, live)
	staleSegment(t, theirs)

	out, err := runSupervisor("rm", "--stale", "--instance", inst)
	if err != nil || out != "removed "+mine+"\n" {
		t.Fatalf("rm --stale --instance %s: %v\n%s\nwant only %s removed", inst, err, out, mine)
	}
	if exists(mine) || !exists(live) || !exists(theirs) {
		t.Fatalf("after rm --stale --instance %s: %s exists %v (want false), %s %v, %s %v (want true)",
			inst, mine, exists(mine), live, exists(live), theirs, exists(theirs))
	}

	if out, err := runSupervisor("rm", theirs); err != nil || out != "removed "+theirs+"\n" || exists(theirs) {
		t.Fatalf("rm %s: %v, exists after: %v\n%s", theirs, err, exists(theirs), out)
	}
	for _, tc := range []struct {
		args []string
		is   error
		want string
	}{
		{[]string{"rm", theirs}, venom.ErrNotFound, theirs},
		{[]string{"rm", "no/such"}, venom.ErrName, "no/such"},
		{[]string{"rm"}, nil, "--stale"},
		{[]string{"rm", "--instance", inst}, nil, "--instance only limits --stale"},
	} {
		var out, errOut bytes.Buffer
		err := run(tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%q: %v, want an error with %q (is %v)", tc.args, err, tc.want, tc.is)
		}
	}
	if !exists(live) {
		t.Fatalf("%s removed by a failed rm", live)
	}
	owner.Cmd.Process.Signal(syscall.SIGTERM)
	owner.Wait(t, 10*time.Second)
}

// Each fault, sent with "supervisor fault physics KIND", has its effect on
// a running game, as the supervisor's status, the game's log and the
// physics slice show it. One game serves them in turn; its failure
// threshold is high so that the faults' restarts never fail physics.
func TestFault(t *testing.T) {
	inst := proctest.Name(t)
	g := runGame(t, inst, "--failure-threshold", "100")
	before := g.running(t, "physics")
	c := g.physics(t, before.Pid)

	// restarted waits for the physics process after pid, running.
	restarted := func(t *testing.T, prev supervisor.ChildStatus) supervisor.ChildStatus {
		t.Helper()
		next := g.child(t, "physics", "restarted after pid "+itoa(int(prev.Pid)), func(c supervisor.ChildStatus) bool {
			return c.Restarts > prev.Restarts && c.State == supervisor.ChildRunning && c.Pid != 0 && c.Pid != prev.Pid
		})
		proctest.Eventually(t, 10*time.Second, "the faulted physics process gone", func() bool { return gone(int(prev.Pid)) })
		return next
	}
	fault := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := runSupervisor(append([]string{"fault", "physics"}, append(args, "--instance", inst)...)...)
		if err != nil || !strings.Contains(out, "sent "+args[0]+" to "+inst+".physics") {
			t.Fatalf("fault physics %q: %v\n%s", args, err, out)
		}
	}

	t.Run("exit", func(t *testing.T) {
		prev := g.running(t, "physics")
		fault(t, "exit", "--code", "3")
		next := restarted(t, prev)
		if next.ExitCode != 3 || next.ReasonString() != "exit 3" {
			t.Fatalf("physics ended with code %d, reason %q; want 3, %q", next.ExitCode, next.ReasonString(), "exit 3")
		}
	})
	t.Run("panic", func(t *testing.T) {
		prev := g.running(t, "physics")
		fault(t, "panic")
		next := restarted(t, prev)
		// A Go panic prints its value and exits 2. (The runtime writes
		// "panic: " and the value apart, so another process's log line
		// may come between them in the shared log: look for the value.)
		if next.ExitCode != 2 || next.ReasonString() != "exit 2" {
			t.Errorf("physics ended with code %d, reason %q; want a panic's 2, %q", next.ExitCode, next.ReasonString(), "exit 2")
		}
		g.waitLog(t, `fault injected: panic`)
	})
	t.Run("hang", func(t *testing.T) {
		prev := g.running(t, "physics")
		fault(t, "hang")
		next := restarted(t, prev)
		if !strings.HasPrefix(next.ReasonString(), "hung: ") {
			t.Errorf("physics ended with reason %q, want it seen as hung", next.ReasonString())
		}
		g.waitLog(t, `msg="child hung" .*child=physics .*pid=`+itoa(int(prev.Pid))+` `)
	})
	t.Run("midpublish", func(t *testing.T) {
		prev := g.running(t, "physics")
		var last engine.Frame[physics.Meta, physics.Body]
		if err := c.Read(&last); err != nil {
			t.Fatal(err)
		}
		fault(t, "midpublish")
		// Read all along: every snapshot whole (it decodes, the world
		// keeps its bodies, ticks never go back), until the successor's.
		var f engine.Frame[physics.Meta, physics.Body]
		reads := 0
		proctest.Eventually(t, 30*time.Second, "a successor's snapshot", func() bool {
			if err := c.Read(&f); err != nil {
				t.Fatalf("read %d across the fault: %v", reads, err)
			}
			reads++
			if f.Tick < last.Tick || len(f.Items) != testBodies {
				t.Fatalf("read %d across the fault: tick %d after %d, %d bodies (want %d)", reads, f.Tick, last.Tick, len(f.Items), testBodies)
			}
			if f.Epoch == last.Epoch {
				last.Tick = f.Tick
				return false
			}
			return true
		})
		// Restored from the newest whole snapshot: its tick continues.
		if f.Epoch < last.Epoch || f.Tick < last.Tick {
			t.Errorf("successor: epoch %d, tick %d; want a later epoch, tick from %d on", f.Epoch, f.Tick, last.Tick)
		}
		next := restarted(t, prev)
		if next.ExitCode != 128+int32(syscall.SIGKILL) || next.ReasonString() != "killed by SIGKILL" {
			t.Errorf("physics ended with code %d, reason %q; want it killed by itself mid-publish", next.ExitCode, next.ReasonString())
		}
		t.Logf("%d reads across the fault; successor at tick %d, epoch %d", reads, f.Tick, f.Epoch)
	})
	t.Run("slow", func(t *testing.T) {
		// Each tick longer than the hang timeout: slow, yet beating, so
		// not hung.
		const ms, ticks = 1500, 2
		if time.Duration(ms)*time.Millisecond <= supervisor.DefaultHangTimeout {
			t.Fatalf("a %dms tick is within the hang timeout %v: the test would prove nothing", ms, supervisor.DefaultHangTimeout)
		}
		prev := g.running(t, "physics")
		var f engine.Frame[physics.Meta, physics.Body]
		same := func() bool {
			c, _ := childOf(g.status(t), "physics")
			if c.Pid != prev.Pid || c.Restarts != prev.Restarts || c.State != supervisor.ChildRunning {
				t.Fatalf("physics slowed down: %s pid %d, %d restarts (reason %q); want it running on, pid %d",
					c.StateName(), c.Pid, c.Restarts, c.ReasonString(), prev.Pid)
			}
			return c.Pid == prev.Pid
		}
		fault(t, "slow", "--ms", strconv.Itoa(ms), "--ticks", strconv.Itoa(ticks))
		proctest.Eventually(t, 20*time.Second, "a slow tick", func() bool {
			return same() && c.Read(&f) == nil && f.StepNanos >= ms*uint64(time.Millisecond)
		})
		slowTick := f.Tick
		proctest.Eventually(t, 30*time.Second, "ticks at speed again", func() bool {
			return same() && c.Read(&f) == nil && f.Tick > slowTick+30 && f.StepNanos < ms*uint64(time.Millisecond)
		})
		if rx := regexp.MustCompile(`msg="child hung" .*child=physics pid=` + itoa(int(prev.Pid)) + ` `); rx.MatchString(g.logText(t)) {
			t.Errorf("slow physics pid %d was seen as hung", prev.Pid)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		out, err := runSupervisor("fault", "physics", "bogus", "--instance", inst)
		if err == nil || !strings.Contains(out, `unknown kind "bogus"`) {
			t.Fatalf("fault physics bogus: %v\n%s", err, out)
		}
	})
}

// wantSize is how ls prints a segment's size.
func wantSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
