package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/demo/window"
	"github.com/venomrt/venomrt/internal/proctest"
)

// The test binary is venomrt-window when it is given arguments (it links
// Ebiten, so it needs a display from its package init: run the tests
// under xvfb-run, scripts/xrun.sh).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		main()
		return
	}
	proctest.Main(m, demotest.Helpers(window.Run))
}

func self(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}

// As the supervisor starts it, with every child flag, headless: it runs
// its frames, prints the status line and logs as the child render.
func TestChildHeadless(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	cmd := self("proc", "render", "--instance", inst, "--bodies", "5", "--agents", "1", "--seed", "2", "--fresh",
		"--net-addr", "127.0.0.1:1", "--net-send-rate", "9", "--headless", "--frames", "30")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if !strings.Contains(string(out), "render frames=30 ") {
		t.Errorf("stdout %q, want the status line with frames=30", out)
	}
	if !strings.Contains(stderr.String(), "proc=render") || !strings.Contains(stderr.String(), "renderer running headless") {
		t.Errorf("stderr %q, want the child's log lines", stderr.String())
	}
}

// Exit codes are the supervisor's: 2 for -h or a bad command line (a
// screenshot asked of a headless renderer too, refused before anything
// starts), 1 for an error (a game that cannot be reached).
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"-h"}, 2}, {[]string{"proc", "nosuch"}, 2}, {[]string{"--connect", "http://h:1"}, 2}, {[]string{"--headless", "--screenshot", "x.png"}, 2}, {[]string{"--connect", "ws://127.0.0.1:1", "--connect-timeout", "1ms", "--headless"}, 1}} {
		err := self(tc.args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Errorf("%q: %v, want exit code %d", tc.args, err, tc.code)
		}
	}
}

// Run by hand beside a running simulation, the window draws it and writes
// the screenshot.
func TestScreenshot(t *testing.T) {
	demotest.NeedDisplay(t)
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	demotest.StartSim(t, inst)
	file := filepath.Join(t.TempDir(), "shot.png")
	r := proctest.StartCmd(t, self("render", "--instance", inst, "--screenshot", file, "--frames", "90"))
	r.Wait(t, 90*time.Second)
	demotest.CheckShot(t, file)
}
