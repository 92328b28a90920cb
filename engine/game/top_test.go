package game_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/engine/watch"
	"github.com/venomrt/venomrt/venom"
)

// TestTop: top --json of a running game says what ls and the status
// slice say (pid, state, restarts, epoch), after a SIGKILL of the
// process too, and its counters move; off a terminal, the plain view is
// lines of text without a terminal's escape codes.
func TestTop(t *testing.T) {
	instance := fmt.Sprintf("top%d", os.Getpid())
	runGame(t, instance)
	status := func() (supervisor.ChildStatus, bool) {
		c, err := engine.Connect(supervisor.StatusChannel(instance), supervisor.StatusSchema)
		if err != nil {
			return supervisor.ChildStatus{}, false
		}
		defer c.Close()
		var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if c.Read(&f) != nil || len(f.Items) != 1 {
			return supervisor.ChildStatus{}, false
		}
		return f.Items[0], true
	}
	waitStatus := func(what string, cond func(c supervisor.ChildStatus) bool) supervisor.ChildStatus {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if c, ok := status(); ok && cond(c) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("not within 30s: %s", what)
			}
		}
	}
	top := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"top", "--instance", instance, "-n", "1", "--interval", "200ms"}, args...)
		if err := exampleGame().Command(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("top: %v: %s", err, errOut.String())
		}
		return out.String()
	}
	check := func(restarts uint32) {
		t.Helper()
		st := waitStatus(fmt.Sprintf("the counter running after %d restarts", restarts), func(c supervisor.ChildStatus) bool {
			return c.StateName() == "running" && c.Restarts == restarts && c.Tick > 0
		})
		var sample struct{ Games []watch.Game }
		if err := json.Unmarshal([]byte(top("--json")), &sample); err != nil {
			t.Fatal(err)
		}
		if len(sample.Games) != 1 || len(sample.Games[0].Processes) != 1 {
			t.Fatalf("top --json: %+v, want one game of one process", sample)
		}
		p := sample.Games[0].Processes[0]
		info, err := venom.Inspect(instance + ".counter")
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "counter" || p.State != st.StateName() || p.Pid != int(st.Pid) || p.Pid != info.Daemon.Pid ||
			p.Restarts != st.Restarts || p.Epoch != info.Daemon.Epoch || !p.Owned {
			t.Fatalf("top says %+v; the status %s pid %d restarts %d; ls pid %d epoch %d", p,
				st.StateName(), st.Pid, st.Restarts, info.Daemon.Pid, info.Daemon.Epoch)
		}
		if !p.Counted || p.Note != "" || p.TicksTotal == 0 || p.TicksPerSec <= 0 || p.Rate != 100 {
			t.Fatalf("top's counters: %+v, want ticks counted and moving at a rate of 100", p)
		}
		if sample.Games[0].Supervisor == 0 || sample.Games[0].Restarts != uint64(restarts) {
			t.Fatalf("top's totals: %+v", sample.Games[0])
		}
	}
	check(0)
	st, _ := status()
	if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	check(1)

	plain := top("--sort", "cpu")
	if strings.Contains(plain, "\x1b") || !strings.Contains(plain, "PROCESS") || !strings.Contains(plain, "\ncounter ") {
		t.Fatalf("top off a terminal:\n%q", plain)
	}
	var out bytes.Buffer
	if err := exampleGame().Command(context.Background(), []string{"top", "--sort", "nope"}, &out, &out); game.ExitCode(err) != 2 {
		t.Fatalf("top --sort nope: %v", err)
	}
}

// openPTY opens a pseudo-terminal pair: the master to read what a
// program draws, the slave to be its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160})
	return m, s
}

// TestTopOnATerminal: on a terminal top is the live view — the
// alternate screen, redrawn in place, the header in bold — without
// querying the terminal first, and q quits it.
func TestTopOnATerminal(t *testing.T) {
	instance := fmt.Sprintf("toptty%d", os.Getpid())
	runGame(t, instance)
	m, s := openPTY(t)
	defer m.Close()
	cmd := exec.Command(os.Args[0], "top", "--instance", instance, "--interval", "100ms")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var screen bytes.Buffer
	read := make(chan []byte)
	go func() {
		for {
			b := make([]byte, 4096)
			n, err := m.Read(b)
			if err != nil {
				close(read)
				return
			}
			read <- b[:n]
		}
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(screen.String(), "counter  running") || strings.Count(screen.String(), "PROCESS") < 2 {
		select {
		case b, ok := <-read:
			if !ok {
				t.Fatalf("top ended early:\n%q", screen.String())
			}
			screen.Write(b)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("no live view within 30s:\n%q", screen.String())
		}
	}
	out := screen.String()
	if !strings.Contains(out, "\x1b[?1049h") || !strings.Contains(out, "\x1b[1mPROCESS") {
		t.Fatalf("not the live view (alternate screen, bold header):\n%q", out)
	}
	if strings.Contains(out, "\x1b]11;?") {
		t.Fatalf("top queried the terminal's colours (a 5 s wait where the terminal does not answer):\n%q", out)
	}
	m.Write([]byte("q"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("top after q: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("q did not quit top")
	}
}

// runGame runs the example game headless as instance until the test
// ends, then removes its segments.
func runGame(t *testing.T, instance string) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- exampleGame().Command(ctx, []string{"run", "--headless", "--instance", instance, "--duration", "1m"}, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
		exampleGame().RemoveSegments(instance)
	})
}
