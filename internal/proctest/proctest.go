// Package proctest runs helper processes for tests: the test binary
// re-executes itself in a helper mode, so every process a test talks to is
// a real OS process that the test can signal and kill.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers maps a helper mode to the function that runs it with its args.
type Helpers map[string]func(args []string) error

// Main is a package's TestMain: with PROCTEST_HELPER set it runs that
// helper and exits (0 when it returns nil), otherwise it runs the tests.
func Main(m *testing.M, helpers Helpers) {
	if mode := os.Getenv("PROCTEST_HELPER"); mode != "" {
		h, ok := helpers[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", mode)
			os.Exit(2)
		}
		if err := h(strings.Fields(os.Getenv("PROCTEST_ARGS"))); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Proc is a helper process started by a test.
type Proc struct {
	Cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   []string
	done  chan struct{}
	err   error
}

// Start starts the test binary as helper mode with args. The process is
// killed and reaped when the test ends, and dies with the test process.
func Start(t testing.TB, mode string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, Command(mode, args...))
}

// Command is the command Start runs, for a test that needs to adjust it
// (its environment, its process attributes) before StartCmd.
func Command(mode string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCTEST_HELPER="+mode, "PROCTEST_ARGS="+strings.Join(args, " "))
	return cmd
}

// StartCmd starts cmd and follows its standard output line by line.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
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
		if msg := stderr.String(); p.err != nil && msg != "" {
			p.err = fmt.Errorf("%w: %s", p.err, msg)
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Lines returns every line the process has printed so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.all...)
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Proc) Err() error { <-p.done; return p.err }

// Expect waits for an output line matching re and returns its submatches.
func (p *Proc) Expect(t testing.TB, re string, within time.Duration) []string {
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
					t.Fatalf("pid %d exited (%v) before printing %q", p.Cmd.Process.Pid, p.err, re)
				}
			}
		case <-timer.C:
			t.Fatalf("pid %d printed no %q within %v", p.Cmd.Process.Pid, re, within)
		}
	}
}

// Wait waits for the process to exit and fails the test if it did not
// exit 0 in time.
func (p *Proc) Wait(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("pid %d: %v", p.Cmd.Process.Pid, p.err)
		}
	case <-time.After(within):
		t.Fatalf("pid %d still running after %v", p.Cmd.Process.Pid, within)
	}
}

// Kill sends SIGKILL and waits until the process is reaped.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.Cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("pid %d not reaped after SIGKILL", p.Cmd.Process.Pid)
	}
}

// Name makes a name unique to this process and test, usable as a venom
// channel name or an instance name (at most 40 bytes, leaving room for a
// suffix). Removing what it names is the caller's business.
func Name(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d.%s", os.Getpid(), regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 40 {
		// Keep names of long tests with a common prefix apart.
		h := fnv.New32a()
		h.Write([]byte(name))
		name = fmt.Sprintf("%s.%08x", name[:31], h.Sum32())
	}
	return name
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for step := time.Millisecond; !cond(); step = min(2*step, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(step)
	}
}

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Buffer is a bytes.Buffer that several goroutines may write while a
// test reads it: a process's output, a logger's.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
