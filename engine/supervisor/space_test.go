package supervisor

import (
	"context"
	"errors"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["exitcode"] = func(args []string) error { code, _ := strconv.Atoi(args[0]); os.Exit(code); return nil }
	helpers["sizedcounter"] = helperSizedCounter
	helpers["nospacesup"] = helperNoSpaceSupervisor
}

// sizedcounter CHANNEL DATASIZE: a counter whose snapshot buffers are
// DATASIZE bytes, ending as a process's main does: its error on one line
// of stderr and the exit status ExitCode gives.
func helperSizedCounter(args []string) error {
	size, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rate := 100
	if len(args) > 2 {
		rate, _ = strconv.Atoi(args[2])
	}
	if err := engine.Run(ctx, counterSchema, &counter{}, engine.Options{Channel: args[0], Rate: rate, DataSize: size}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(engine.ExitCode(err))
	}
	return nil
}

// nospacesup INSTANCE: supervises two permanent counters whose channels
// cannot fit in /dev/shm and a temporary sleeper.
func helperNoSpaceSupervisor(args []string) error {
	inst := args[0]
	s, err := New(Options{Instance: inst},
		sizedSpec(inst, "a", 1<<20, nil), sizedSpec(inst, "b", 1<<20, nil),
		ChildSpec{Name: "sleeper", Restart: Temporary, Command: func() *exec.Cmd { return quick(proctest.Command("sleeper")) }})
	if err != nil {
		return err
	}
	return s.Run(context.Background())
}

// sizedSpec is a permanent sizedcounter child with snapshots of size
// bytes; its standard error goes to stderr.
func sizedSpec(inst, name string, size int, stderr io.Writer) ChildSpec {
	ch := inst + "." + name
	return ChildSpec{
		Name:    name,
		Channel: ch,
		Command: func() *exec.Cmd {
			cmd := quick(proctest.Command("sizedcounter", ch, strconv.Itoa(size)))
			cmd.Stderr = stderr
			return cmd
		},
		HangTimeout: 3 * time.Second,
	}
}

// exitSpec is a child that exits with code at once.
func exitSpec(name string, policy Restart, code int) ChildSpec {
	return ChildSpec{Name: name, Restart: policy, Command: func() *exec.Cmd { return quick(proctest.Command("exitcode", strconv.Itoa(code))) }}
}

// count is how many lines of the log have every one of fields.
func (h *harness) count(fields ...string) int {
	n := 0
	for _, line := range h.log.lines() {
		all := true
		for _, f := range fields {
			all = all && strings.Contains(line+" ", " "+f+" ")
		}
		if all {
			n++
		}
	}
	return n
}

// A child that exits with ExitNoSpace is failed at once, whatever its
// policy, with the reason in the status (and the status slice, which the
// HUD draws): launched once, no restart scheduled. The others carry on.
func TestSupervisorExitNoSpaceFailsAtOnce(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{BackoffMin: time.Millisecond},
		exitSpec("full", Permanent, engine.ExitNoSpace), exitSpec("full-t", Transient, engine.ExitNoSpace), counterSpec(inst, "ok"))
	const reason = "exit 78: no space in /dev/shm"
	for _, name := range []string{"full", "full-t"} {
		c := h.waitChild(name, "failed", 15*time.Second, func(c ChildStatus) bool { return c.State == ChildFailed })
		if c.Restarts != 0 || c.ExitCode != engine.ExitNoSpace || c.ReasonString() != reason || c.Pid != 0 {
			t.Errorf("%s, exit code %d: want failed at once, exit code %d, reason %q", describeChild(c), c.ExitCode, engine.ExitNoSpace, reason)
		}
		if n := h.count(`msg="child started"`, "child="+name); n != 1 {
			t.Errorf("%s started %d times, want once", name, n)
		}
		if h.logged(`msg="restart scheduled"`, "child="+name) {
			t.Errorf("a restart of %s was scheduled", name)
		}
		if !h.logged("level=ERROR", `msg="child failed"`, "child="+name, `reason="`+reason+`"`) {
			t.Errorf("no \"child failed\" line for %s with its reason", name)
		}
	}
	h.waitChild("ok", "running", 15*time.Second, running)
	sup, err := engine.Connect(StatusChannel(inst), StatusSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	var f engine.Frame[Meta, ChildStatus]
	proctest.Eventually(t, 10*time.Second, "the status slice showing the failure", func() bool {
		if sup.Read(&f) != nil || len(f.Items) != 3 {
			return false
		}
		c := f.Items[0]
		return c.State == ChildFailed && c.ReasonString() == reason && f.Items[2].State == ChildRunning
	})
	if ok := h.child("ok"); ok.Restarts != 0 || !running(ok) {
		t.Errorf("the other child: %s", describeChild(ok))
	}
}

// When every permanent child has failed, Run stops the rest and returns
// ErrAllFailed, saying so in the log, instead of running on with nothing.
func TestSupervisorAllPermanentFailed(t *testing.T) {
	inst := instance(t)
	lb := &logBuf{}
	s, err := New(Options{Instance: inst, BackoffMin: time.Millisecond, FailureThreshold: 1,
		Log: slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), lb), nil))},
		exitSpec("nospace", Permanent, engine.ExitNoSpace), exitSpec("crasher", Permanent, 1),
		ChildSpec{Name: "sleeper", Restart: Temporary, Command: func() *exec.Cmd { return quick(proctest.Command("sleeper")) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- s.Run(ctx) }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run still running 60s after its children started")
	}
	if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "nospace (exit 78: no space in /dev/shm)") || !strings.Contains(err.Error(), "crasher (exit 1)") {
		t.Fatalf("Run: %v, want ErrAllFailed naming both children and why", err)
	}
	log := strings.Join(lb.lines(), "\n")
	for _, want := range []string{`level=ERROR msg="every permanent child failed: stopping"`, `msg="supervisor stopped" instance=` + inst + ` why="every permanent child failed"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no line with %s", want)
		}
	}
	for _, c := range s.Status() {
		want := ChildFailed
		if c.NameString() == "sleeper" {
			want = ChildStopped
		}
		if c.State != want || c.Pid != 0 {
			t.Errorf("after Run: %s, want %s", describeChild(c), want)
		}
	}
	if segs := segments(inst); len(segs) > 0 {
		t.Errorf("segments left: %v", segs)
	}
}

// In a /dev/shm too small for one child's channel: that child's
// engine.Run fails at once with ErrNoSpace, which its main reports on one
// line, and exits with ExitNoSpace; the supervisor fails it without a
// restart, leaves no segment of it, and the rest of the game runs on.
func TestNoSpaceChildInSmallShm(t *testing.T) {
	sup, _ := venom.SegmentSize(StatusConfig(2))
	small, _ := venom.SegmentSize(engine.ChannelConfig(engine.Options{DataSize: 8 << 10}))
	size := venom.PageAligned(sup) + venom.PageAligned(small) + 64<<10
	if !proctest.SmallShm(t, size) {
		return
	}
	inst := instance(t)
	stderr := &logBuf{}
	h := startSupervisor(t, inst, Options{BackoffMin: time.Millisecond},
		sizedSpec(inst, "big", 1<<20, stderr), sizedSpec(inst, "small", 8<<10, os.Stderr))
	c := h.waitChild("big", "failed", 20*time.Second, func(c ChildStatus) bool { return c.State == ChildFailed })
	if c.Restarts != 0 || c.ExitCode != engine.ExitNoSpace || c.ReasonString() != "exit 78: no space in /dev/shm" {
		t.Errorf("%s exit code %d", describeChild(c), c.ExitCode)
	}
	h.waitChild("small", "running", 20*time.Second, running)
	lines := strings.Split(strings.TrimSpace(strings.Join(stderr.lines(), "\n")), "\n")
	t.Logf("big's stderr: %q", lines)
	if len(lines) != 1 || !regexp.MustCompile(`^engine: run "`+regexp.QuoteMeta(inst)+`\.big": (engine: [a-z]+ "[^"]+": )?venom: create "[^"]+": venom: no space in /dev/shm: the segment needs .* \(\d+ bytes\), .* \(\d+ bytes\) free`).MatchString(lines[0]) {
		t.Errorf("big's stderr: %q, want one line saying the bytes needed and free", lines)
	}
	if _, err := os.Stat(venom.Path(inst + ".big")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("big's segment: %v, want none", err)
	}
	cl := connectCounter(t, inst+".small")
	waitFrame(t, cl, "small ticking", func(f *engine.Frame[counterMeta, counterItem]) bool { return f.Tick > 20 })
	if c := h.child("small"); c.Restarts != 0 || !running(c) {
		t.Errorf("small: %s", describeChild(c))
	}
}

// A supervisor whose permanent children all lack the space for their
// channels ends with a non-zero status and a line that says why.
func TestNoSpaceSupervisorExits(t *testing.T) {
	sup, _ := venom.SegmentSize(StatusConfig(3))
	if !proctest.SmallShm(t, venom.PageAligned(sup)+64<<10) {
		return
	}
	inst := instance(t)
	p := proctest.StartCmd(t, quick(proctest.Command("nospacesup", inst)))
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the supervisor still runs 60s after its children could not start")
	}
	err := p.Err()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(err.Error(), "every permanent child failed: a (exit 78: no space in /dev/shm), b (exit 78: no space in /dev/shm)") {
		t.Fatalf("supervisor: %v, want a non-zero exit saying every permanent child failed", err)
	}
	if segs := segments(inst); len(segs) > 0 {
		t.Errorf("segments left: %v", segs)
	}
}

// These tests run in a mount namespace of their own, with a small tmpfs
// over /dev/shm, as a container started with a small --shm-size has it.

// TestRestartReplacesSegment: a successor that finds its channel's segment
// of another shape replaces it (engine.Run removes it and creates its own);
// the supervisor then watches the new segment from its first snapshot, not
// from the old segment's count. (Kept, the old count held the child
// "starting" until the new segment passed it, or until its start timeout:
// the 20 s renderer outlier of the chaos runs.)
func TestRestartReplacesSegment(t *testing.T) {
	inst := instance(t)
	ch := inst + ".a"
	launches := 0
	sp := ChildSpec{Name: "a", Channel: ch, HangTimeout: 3 * time.Second, StartTimeout: time.Minute,
		Command: func() *exec.Cmd {
			launches++
			if launches == 1 { // fast, to leave a high count behind
				return quick(proctest.Command("sizedcounter", ch, "8192", "1000"))
			}
			return quick(proctest.Command("sizedcounter", ch, "16384", "50"))
		}}
	h := startSupervisor(t, inst, Options{}, sp)
	first := h.waitChild("a", "running", 30*time.Second, running)
	var old uint64
	proctest.Eventually(t, 30*time.Second, "1,000 snapshots", func() bool {
		info, err := venom.Inspect(ch)
		old = info.Daemon.Latest
		return err == nil && old > 1000
	})
	if err := syscall.Kill(int(first.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := h.waitChild("a", "running again", 60*time.Second, func(c ChildStatus) bool { return running(c) && c.Pid != first.Pid && c.Pid != 0 })
	info, err := venom.Inspect(ch)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.DataSize != 16384 {
		t.Fatalf("segment of %d bytes, want the successor's 16384: not replaced", info.Config.DataSize)
	}
	// At 50 Hz the new segment passes the old count of > 1,000 after 20 s.
	if info.Daemon.Latest >= old {
		t.Errorf("pid %d running only once its new segment's count (%d) passed the old one's (%d)", second.Pid, info.Daemon.Latest, old)
	}
	t.Logf("old segment's count %d; the new one's when running: %d", old, info.Daemon.Latest)
}
