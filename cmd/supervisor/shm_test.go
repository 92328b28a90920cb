package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	gameapi "github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// These tests run in a mount namespace of their own, with a small tmpfs
// over /dev/shm, as a container started with a small --shm-size has it.

// runToEnd runs "supervisor run" to its end and returns its exit status
// and output.
func runToEnd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := execSelf(append([]string{"run", "--headless"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A refusal is at once; a game that started is stopped, and fails.
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// refusal checks run's refusal for want of shared memory and returns the
// bytes it says are needed, free and held by stale segments.
func refusal(t *testing.T, code int, out string) (need, free, stale int64) {
	t.Helper()
	t.Logf("run (exit %d):\n%s", code, out)
	if code != engine.ExitNoSpace {
		t.Fatalf("run exited %d, want %d (no space)", code, engine.ExitNoSpace)
	}
	m := regexp.MustCompile(`(?s)not enough shared memory in /dev/shm to start the game \(nothing was started\):\n` +
		`  needed: [^\n]*\((\d+) bytes\) for 5 segments \(physics [^,]+, ai [^,]+, net [^,]+, render [^,]+, sup [^)]+\)[^\n]*\n` +
		`  free: +[^\n]*\((\d+) bytes\) of [^\n]*\n` +
		`  stale: +[^\n]*\((\d+) bytes\) held by \d+ segments? of dead owners: '[^ ]+ rm --stale' removes them[^\n]*\n` +
		`  more: +in a container, give it a larger /dev/shm: docker run --shm-size=\d+m`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run's refusal does not say what is needed, free, stale and how to get more:\n%s", out)
	}
	for _, bad := range []string{"child started", "SIGBUS", "supervisor started"} {
		if strings.Contains(out, bad) {
			t.Errorf("run printed %q: it started something", bad)
		}
	}
	need, _ = strconv.ParseInt(m[1], 10, 64)
	free, _ = strconv.ParseInt(m[2], 10, 64)
	stale, _ = strconv.ParseInt(m[3], 10, 64)
	if need <= free {
		t.Errorf("refused with %d bytes needed and %d free", need, free)
	}
	return need, free, stale
}

// (b) In a /dev/shm too small for the game, run refuses before it
// starts anything: non-zero, saying how much is needed, how much is free,
// what stale segments hold and how to get more, leaving /dev/shm as it
// was.
func TestRunRefusesSmallShm(t *testing.T) {
	if !proctest.SmallShm(t, 200<<10) {
		return
	}
	// A stale segment: its owner has closed it.
	d, err := venom.Create("other.stale", venom.Config{DataSize: 16 << 10, MaxClients: 2})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	info, err := venom.Inspect("other.stale")
	if err != nil || info.Owned {
		t.Fatalf("stale segment: %+v %v", info, err)
	}
	before, _ := venom.FreeSpace()
	code, out := runToEnd(t, "--instance", "small")
	need, free, stale := refusal(t, code, out)
	if free != before.Free || stale != info.Reserved {
		t.Errorf("refusal says %d free and %d stale, want %d and %d", free, stale, before.Free, info.Reserved)
	}
	if need < 1<<20 {
		t.Errorf("the demo needs %d bytes of /dev/shm? want its snapshot rings at least", need)
	}
	if names, _ := venom.List(); len(names) != 1 || names[0] != "other.stale" {
		t.Errorf("segments after the refusal: %v, want only the stale one", names)
	}
	if after, _ := venom.FreeSpace(); after != before {
		t.Errorf("/dev/shm %+v after the refusal, %+v before", after, before)
	}
}

// (c) A second game, started while a first holds most of /dev/shm,
// refuses cleanly; the first runs on untouched, also through a SIGKILL of
// its physics, whose successor adopts the segment already reserved.
func TestSecondGameRefusedFirstRuns(t *testing.T) {
	if !proctest.SmallShm(t, 64<<10) {
		return
	}
	// How much the game needs, as run says when it refuses.
	code, out := runToEnd(t, "--instance", "probe")
	need, _, _ := refusal(t, code, out)
	size := venom.PageAligned(need + need/2)
	if err := unix.Mount("tmpfs", venom.Dir, "", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("remount /dev/shm at %d bytes: %v", size, err)
	}
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	first, inst := startGame(t, "--net-addr", addr)
	st := statusClient(t, inst)
	untouched := func(f *engine.Frame[supervisor.Meta, supervisor.ChildStatus]) bool {
		for _, c := range f.Items {
			if c.State != supervisor.ChildRunning || c.Restarts != 0 {
				return false
			}
		}
		return len(f.Items) == 4
	}
	waitStatus(t, st, "every child of the first game running", untouched)
	c := physicsClient(t, inst)
	p0 := readPhysics(t, c, "physics ticking", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > 0 })
	pid := ownerPid(t, inst+".physics")
	sp, _ := venom.FreeSpace()
	t.Logf("the first game holds %d of %d bytes: %d free", sp.Size-sp.Free, sp.Size, sp.Free)

	addr2, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	code, out = runToEnd(t, "--instance", inst+"-2", "--net-addr", addr2)
	need2, free2, _ := refusal(t, code, out)
	if need2 != need || free2 != sp.Free {
		t.Errorf("second game: %d needed and %d free, want %d and %d", need2, free2, need, sp.Free)
	}
	if after, _ := venom.FreeSpace(); after != sp {
		t.Errorf("/dev/shm %+v after the refusal, %+v before", after, sp)
	}
	names, _ := venom.List()
	for _, n := range names {
		if !strings.HasPrefix(n, inst+".") {
			t.Errorf("segment %s: want only the first game's", n)
		}
	}

	// The first game ran on: the same processes, ticking.
	before := readPhysics(t, c, "physics ticking on", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > p0.Tick })
	if f := waitStatus(t, st, "the first game untouched", untouched); ownerPid(t, inst+".physics") != pid || before.Epoch != p0.Epoch {
		t.Errorf("physics changed owner (%d → %d) or epoch (%d → %d) meanwhile", pid, f.Items[0].Pid, p0.Epoch, before.Epoch)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	after := readPhysics(t, c, "physics restarted", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.Epoch > before.Epoch && f.Tick > before.Tick
	})
	info, err := venom.Inspect(inst + ".physics")
	if err != nil || !info.Owned || info.Daemon.Pid == pid || info.Reserved < info.Size {
		t.Errorf("physics after the SIGKILL: %+v %v, want a new owner of the whole segment", info, err)
	}
	waitStatus(t, st, "physics running again, the rest untouched", func(f *engine.Frame[supervisor.Meta, supervisor.ChildStatus]) bool {
		for _, c := range f.Items {
			want := uint32(0)
			if c.NameString() == "physics" {
				want = 1
			}
			if c.State != supervisor.ChildRunning || c.Restarts != want {
				return false
			}
		}
		return true
	})
	if now, _ := venom.FreeSpace(); now != sp {
		t.Errorf("/dev/shm %+v after physics's successor adopted its segment, %+v before", now, sp)
	}
	t.Logf("physics: epoch %d → %d, tick %d → %d, pid %d → %d", before.Epoch, after.Epoch, before.Tick, after.Tick, pid, info.Daemon.Pid)
	first.Cmd.Process.Signal(syscall.SIGTERM)
	first.Wait(t, 30*time.Second)
	for _, l := range first.Lines() {
		if strings.Contains(l, "no space") || strings.Contains(l, "failed") {
			t.Errorf("the first game printed %q", l)
		}
	}
}

// A child whose channel /dev/shm cannot back says so on one line and
// exits with engine.ExitNoSpace, which the supervisor takes for "do not
// restart": an engine.Run process and the renderer alike, and leaves no
// segment behind.
func TestProcNoSpaceExit(t *testing.T) {
	if !proctest.SmallShm(t, 16<<10) {
		return
	}
	for _, name := range []string{"physics", "render"} {
		cmd := execSelf("proc", name, "--instance", "tiny", "--headless")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		err := cmd.Run()
		timer.Stop()
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		t.Logf("proc %s: %v: %q", name, err, lines)
		if code := cmd.ProcessState.ExitCode(); code != engine.ExitNoSpace {
			t.Errorf("proc %s exited %d, want %d", name, code, engine.ExitNoSpace)
		}
		if len(lines) != 1 || !regexp.MustCompile(`^venomrt: .*venom: create "tiny\.`+name+`": venom: no space in /dev/shm: the segment needs .* \(\d+ bytes\), .* \(\d+ bytes\) free`).MatchString(lines[0]) {
			t.Errorf("proc %s's stderr: %q, want one line saying the bytes needed and free", name, lines)
		}
	}
	if names, _ := venom.List(); len(names) != 0 {
		t.Errorf("segments left: %v", names)
	}
}

// run's status line says why a failed child is not coming back.
func TestStatusLineFailedReason(t *testing.T) {
	var c supervisor.ChildStatus
	copy(c.Name[:], "physics")
	copy(c.Reason[:], "exit 78: no space in /dev/shm")
	c.State, c.TickAge = supervisor.ChildFailed, -1
	if got, want := gameapi.StatusLine([]supervisor.ChildStatus{c}), `physics failed pid=0 restarts=0 tick=0 age=0s reason="exit 78: no space in /dev/shm"`; got != want {
		t.Errorf("status line %q, want %q", got, want)
	}
}

func statusClient(t *testing.T, inst string) *engine.Client[supervisor.Meta, supervisor.ChildStatus] {
	t.Helper()
	var c *engine.Client[supervisor.Meta, supervisor.ChildStatus]
	proctest.Eventually(t, 20*time.Second, "status channel", func() bool {
		var err error
		c, err = engine.Connect(supervisor.StatusChannel(inst), supervisor.StatusSchema)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func waitStatus(t *testing.T, c *engine.Client[supervisor.Meta, supervisor.ChildStatus], what string, cond func(f *engine.Frame[supervisor.Meta, supervisor.ChildStatus]) bool) engine.Frame[supervisor.Meta, supervisor.ChildStatus] {
	t.Helper()
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	deadline := time.Now().Add(60 * time.Second)
	for c.Read(&f) != nil || !cond(&f) {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, c := range f.Items {
				fmt.Fprintf(&b, "\n  %s %s restarts %d reason %q", c.NameString(), c.StateName(), c.Restarts, c.ReasonString())
			}
			t.Fatalf("not within 60s: %s:%s", what, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}
