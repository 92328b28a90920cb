package venom

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executes itself as a daemon or client process: with
// VENOM_HELPER set, TestMain runs that helper instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("VENOM_HELPER"); mode != "" {
		h, ok := helpers[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", mode)
			os.Exit(2)
		}
		if err := h(strings.Fields(os.Getenv("VENOM_ARGS"))); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var helpers = map[string]func(args []string) error{}

// proc is a helper process started by a test.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   []string
	done  chan struct{}
	err   error
}

// startProc starts the test binary as helper mode with args. The process
// is killed and reaped when the test ends.
func startProc(t testing.TB, mode string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VENOM_HELPER="+mode, "VENOM_ARGS="+strings.Join(args, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = cmd.Wait()
		if p.err != nil && stderr.Len() > 0 {
			p.err = fmt.Errorf("%w: %s", p.err, stderr.String())
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// expect waits for an output line matching re.
func (p *proc) expect(t testing.TB, re string, within time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case line := <-p.lines:
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-p.done:
			// Drain what was printed before the exit.
			for {
				select {
				case line := <-p.lines:
					if m := rx.FindStringSubmatch(line); m != nil {
						return m
					}
				default:
					t.Fatalf("pid %d exited (%v) before printing %q", p.cmd.Process.Pid, p.err, re)
				}
			}
		case <-timer.C:
			t.Fatalf("pid %d printed no %q within %v", p.cmd.Process.Pid, re, within)
		}
	}
}

// wait waits for the process to exit and fails the test if it did not
// exit 0 in time.
func (p *proc) wait(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("pid %d: %v", p.cmd.Process.Pid, p.err)
		}
	case <-time.After(within):
		t.Fatalf("pid %d still running after %v", p.cmd.Process.Pid, within)
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("pid %d not reaped after SIGKILL", p.cmd.Process.Pid)
	}
}

// chanName makes a channel name unique to this process and test, and
// removes its segment when the test ends.
func chanName(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d.%s", os.Getpid(), regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 64 {
		name = name[:64]
	}
	Remove(name)
	t.Cleanup(func() { Remove(name) })
	return name
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for step := time.Millisecond; !cond(); step = min(2*step, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(step)
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
