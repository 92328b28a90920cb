package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
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

// The three forms of the command line and the supervisor's child flags.
func TestParse(t *testing.T) {
	child := []string{"proc", "render", "--instance", "g1", "--bodies", "300", "--agents", "20", "--seed", "7",
		"--net-addr", "127.0.0.1:7777", "--net-send-rate", "20", "--fresh", "--headless", "--screenshot", "s.png", "--frames", "9"}
	for _, tc := range []struct {
		args  []string
		want  demo.Options
		child bool
	}{
		{child, demo.Options{Instance: "g1", Headless: true, Screenshot: "s.png", Frames: 9}, true},
		{[]string{"--connect", "ws://h:1", "--name", "ann", "--connect-timeout", "3s"},
			demo.Options{Instance: "venomrt", Connect: "ws://h:1", Player: "ann", ConnectTimeout: 3 * time.Second}, false},
		{[]string{"render", "--instance", "x", "--frames", "5"}, demo.Options{Instance: "x", Frames: 5}, false},
		{[]string{"--instance", "x", "render"}, demo.Options{Instance: "x"}, false},
	} {
		o, c, err := parse(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if tc.want.Player == "" {
			tc.want.Player = "render"
		}
		if tc.want.ConnectTimeout == 0 {
			tc.want.ConnectTimeout = demo.DefaultConnectTimeout
		}
		if o.Instance != tc.want.Instance || o.Headless != tc.want.Headless || o.Screenshot != tc.want.Screenshot ||
			o.Frames != tc.want.Frames || o.Connect != tc.want.Connect || o.Player != tc.want.Player ||
			o.ConnectTimeout != tc.want.ConnectTimeout || c != tc.child {
			t.Errorf("%q: %+v child=%v, want %+v child=%v", tc.args, o, c, tc.want, tc.child)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"proc", "physics"}, "runs only the child render"},
		{[]string{"draw"}, "unexpected arguments"},
		{[]string{"--connect", "http://h:1"}, "want ws://HOST:PORT"},
		{[]string{"--bogus"}, "not defined"},
		{[]string{"--frames", "-1"}, "want >= 0"},
	} {
		if _, _, err := parse(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
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

// Exit codes are the supervisor's: 2 for -h, 1 for an error.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"-h"}, 2}, {[]string{"proc", "ai"}, 1}, {[]string{"--headless", "--screenshot", "x.png"}, 1}} {
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
