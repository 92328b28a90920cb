package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/internal/proctest"
)

// supProc is a supervisor started by a test with its stdout and stderr in
// files, so that a test can read what it logged while it runs and after.
type supProc struct {
	cmd      *exec.Cmd
	out, log string // files
	done     chan struct{}
	err      error
}

// startSup runs the test binary as the supervisor with args, in env (nil:
// this process's). It is SIGKILLed when the test ends.
func startSup(t *testing.T, env []string, args ...string) *supProc {
	t.Helper()
	dir := t.TempDir()
	p := &supProc{out: filepath.Join(dir, "stdout"), log: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	p.cmd = execSelf(args...)
	if env != nil {
		p.cmd.Env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	out, err := os.Create(p.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the supervisor and its children have their own
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.cmd.Stdout, p.cmd.Stderr = out, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%q logged:\n%s", args, p.stderr())
		}
	})
	return p
}

// wait waits for the supervisor to exit 0.
func (p *supProc) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("supervisor: %v\n%s", p.err, p.stderr())
		}
	case <-time.After(within):
		t.Fatalf("supervisor still running after %v\n%s", within, p.stderr())
	}
}

// stop sends SIGTERM and waits for the supervisor to exit 0.
func (p *supProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
}

func (p *supProc) stderr() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// headlessLines are the lines the supervisor logged about running the
// renderer headless.
func (p *supProc) headlessLines() []string {
	var lines []string
	for _, l := range strings.Split(p.stderr(), "\n") {
		if strings.Contains(l, "renderer runs headless:") {
			lines = append(lines, l)
		}
	}
	return lines
}

// envWithout is this process's environment without the variables named.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}

// buildWindow builds cmd/venomrt-window (cgo, Ebiten) into a directory of
// the test's and returns its path.
func buildWindow(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), demo.WindowBinary)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/venomrt/venomrt/cmd/venomrt-window").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/venomrt-window: %v\n%s", err, out)
	}
	return bin
}

// The supervisor links no Ebiten (Ebiten's package init needs a display).
func TestSupervisorLinksNoEbiten(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/venomrt/venomrt/cmd/supervisor").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/venomrt/venomrt/demo") {
		t.Fatalf("go list -deps ./cmd/supervisor does not list demo: %q", deps)
	}
	for _, pkg := range deps {
		if strings.Contains(pkg, "hajimehoshi/ebiten") || strings.HasSuffix(pkg, "/demo/window") {
			t.Errorf("cmd/supervisor depends on %s", pkg)
		}
	}
}

// Without a display the supervisor works: ls lists segments, and run
// starts the whole game with the renderer headless, saying why in one
// line, and stops cleanly.
func TestNoDisplay(t *testing.T) {
	env := envWithout("DISPLAY", "WAYLAND_DISPLAY")
	ls := execSelf("ls")
	ls.Env = append(env, "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	ls.Stderr = &stderr
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("ls without DISPLAY: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(string(out), "NAME ") {
		t.Errorf("ls without DISPLAY printed %q", out)
	}

	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	inst := proctest.Name(t)
	t.Cleanup(func() { removeInstance(inst) })
	p := startSup(t, env, "run", "--instance", inst, "--bodies", "100", "--agents", "10", "--net-addr", addr, "--duration", "2m")
	w := demotest.WatchRender(t, inst)
	proctest.Eventually(t, 60*time.Second, "the renderer draws headless frames", func() bool {
		m := w.Meta()
		return m.Headless == 1 && m.Frames > 10
	})
	p.stop(t)
	lines := p.headlessLines()
	if len(lines) != 1 || !strings.Contains(lines[0], "no DISPLAY") {
		t.Errorf("headless lines %q, want one that says no DISPLAY\n%s", lines, p.stderr())
	}
}

// With a display but no window binary beside the supervisor or on PATH,
// run falls back to the headless renderer and says so in one line, which
// a restart of the renderer does not repeat.
func TestRunWithoutWindowBinary(t *testing.T) {
	env := append(envWithout("DISPLAY", "WAYLAND_DISPLAY", "PATH"),
		"DISPLAY=:4242", // a display nothing may open: there is no window binary to
		"PATH="+t.TempDir())
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	inst := proctest.Name(t)
	t.Cleanup(func() { removeInstance(inst) })
	p := startSup(t, env, "run", "--instance", inst, "--bodies", "100", "--agents", "10", "--net-addr", addr, "--duration", "2m")
	w := demotest.WatchRender(t, inst)
	var first uint32
	proctest.Eventually(t, 60*time.Second, "the renderer draws headless frames", func() bool {
		m := w.Meta()
		first = m.Pid
		return m.Headless == 1 && m.Frames > 10 && m.Pid != 0
	})
	if err := syscall.Kill(int(first), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 60*time.Second, "a new renderer draws headless frames", func() bool {
		m := w.Meta()
		return m.Headless == 1 && m.Pid != first && m.Pid != 0
	})
	p.stop(t)
	lines := p.headlessLines()
	if len(lines) != 1 || !strings.Contains(lines[0], "no venomrt-window binary beside") || !strings.Contains(lines[0], "--window") {
		t.Errorf("headless lines %q, want one that says there is no window binary and how to get one\n%s", lines, p.stderr())
	}
}

// Under a display, run with --window draws in the window binary's window:
// the screenshot shows the world and the HUD.
func TestRunWindowScreenshot(t *testing.T) {
	demotest.NeedDisplay(t)
	bin := buildWindow(t)
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	inst := proctest.Name(t)
	t.Cleanup(func() { removeInstance(inst) })
	file := filepath.Join(t.TempDir(), "shot.png")
	p := startSup(t, nil, "run", "--window", bin, "--instance", inst, "--bodies", "2000", "--agents", "50", "--net-addr", addr,
		"--screenshot", file, "--frames", "120", "--duration", "5m")
	p.wait(t, 3*time.Minute)
	demotest.CheckShot(t, file)
	if lines := p.headlessLines(); len(lines) != 0 || !strings.Contains(p.stderr(), "renderer: window") {
		t.Errorf("want the window picked and no headless line:\n%s", p.stderr())
	}
}

// "supervisor render" runs the window binary when there is a display: here
// drawing a game over the network into a screenshot.
func TestRenderExecsWindow(t *testing.T) {
	demotest.NeedDisplay(t)
	bin := buildWindow(t)
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	startGame(t, "--net-addr", addr, "--bodies", "2000")
	file := filepath.Join(t.TempDir(), "remote.png")
	p := startSup(t, nil, "render", "--window", bin, "--connect", "ws://"+addr, "--name", "shot",
		"--screenshot", file, "--frames", "120")
	p.wait(t, 3*time.Minute)
	demotest.CheckShot(t, file)
}

// A screenshot needs the window: without a display, run and render say
// so at once instead of starting a renderer that cannot draw.
func TestScreenshotNeedsWindow(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	inst := proctest.Name(t)
	t.Cleanup(func() { removeInstance(inst) })
	file := filepath.Join(t.TempDir(), "x.png")
	for _, args := range [][]string{
		{"run", "--instance", inst, "--screenshot", file},
		{"render", "--instance", inst, "--screenshot", file},
		{"render", "--window", "/nonexistent", "--instance", inst, "--screenshot", file},
	} {
		var out, errb bytes.Buffer
		err := run(args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "--screenshot needs the window") || !strings.Contains(err.Error(), "no DISPLAY") {
			t.Errorf("%q: %v, want the error that a screenshot needs the window and a display", args, err)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Errorf("%s written", file)
	}
}
