package game

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine"
)

// findWindow takes --window, else the game's window binary beside this
// program, else on PATH, and says why there is none.
func TestFindWindow(t *testing.T) {
	const windowName = "example-window"
	g := New("x").Add(Sim("sim", newIdle, engine.Options{})).
		Render(Renderer{Headless: func(context.Context, Env) error { return nil }, WindowBinary: windowName})
	find := func(window string, headless bool) (string, string) {
		f := g.newFlags("run", false)
		f.Window, f.Headless = window, headless
		return g.findWindow(f)
	}
	exe := func(dir string) string {
		p := filepath.Join(dir, windowName)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pathDir := t.TempDir()
	onPath := exe(pathDir)
	t.Setenv("PATH", pathDir)
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("DISPLAY", "")
	if p, why := find(onPath, false); p != "" || !strings.Contains(why, "no DISPLAY") {
		t.Errorf("no display: %q %q, want none and why", p, why)
	}
	t.Setenv("WAYLAND_DISPLAY", "wayland-0")
	if p, _ := find("", false); p != onPath {
		t.Errorf("WAYLAND_DISPLAY only: %q, want %q", p, onPath)
	}
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("DISPLAY", ":0")

	named := exe(t.TempDir())
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, want, why string }{
		{named, named, ""},
		{"/nonexistent/" + windowName, "", "--window /nonexistent/" + windowName},
		{plain, "", "not an executable file"},
		{filepath.Dir(named), "", "not an executable file"},
		{"", onPath, ""},
	} {
		p, why := find(tc.flag, false)
		if p != tc.want || !strings.Contains(why, tc.why) || (p == "") == (why == "") {
			t.Errorf("findWindow(%q) = %q, %q; want %q and a reason with %q", tc.flag, p, why, tc.want, tc.why)
		}
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	beside := filepath.Join(filepath.Dir(self), windowName)
	if _, err := os.Stat(beside); err == nil {
		t.Fatalf("%s exists already", beside)
	}
	exe(filepath.Dir(self))
	t.Cleanup(func() { os.Remove(beside) })
	if p, _ := find("", false); p != beside {
		t.Errorf("beside this binary: %q, want %q (before PATH's %q)", p, beside, onPath)
	}
	os.Remove(beside)

	t.Setenv("PATH", t.TempDir())
	if p, why := find("", false); p != "" || !strings.Contains(why, "no "+windowName+" binary beside "+self+" or on PATH") ||
		!strings.Contains(why, "make run") || !strings.Contains(why, "--window") {
		t.Errorf("no binary: %q %q, want none, and where it looked and how to get one", p, why)
	}
	if p, why := find(named, true); p != "" || why != "--headless" {
		t.Errorf("--headless: %q %q, want none because of --headless", p, why)
	}
}

// The declaration owns the window-or-headless choice: in the window
// binary (Window set) the renderer draws where a display exists and
// --headless is not given, and runs its Headless loop otherwise; a flag
// only a window can serve is refused, before anything starts, wherever
// the renderer would run headless.
func TestRendererPicksWindowOrHeadless(t *testing.T) {
	var ran []string
	needs := ""
	r := Renderer{
		Headless: func(_ context.Context, env Env) error {
			ran = append(ran, fmt.Sprint("headless ", env.Headless))
			return nil
		},
		Window:      func(_ context.Context, env Env) error { ran = append(ran, "window"); return nil },
		NeedsWindow: func() string { return needs },
	}
	g := New("x").Add(Sim("sim", newIdle, engine.Options{})).Render(r)
	render := func(display string, args ...string) error {
		t.Setenv("WAYLAND_DISPLAY", "")
		t.Setenv("DISPLAY", display)
		return g.Command(context.Background(), append([]string{"render"}, args...), io.Discard, io.Discard)
	}
	for _, tc := range []struct {
		display string
		args    []string
		want    string
	}{
		{":0", nil, "window"},
		{":0", []string{"--headless"}, "headless true"},
		{"", nil, "headless true"},
	} {
		ran = nil
		if err := render(tc.display, tc.args...); err != nil || len(ran) != 1 || ran[0] != tc.want {
			t.Errorf("DISPLAY=%q render %q: ran %q (%v), want %q", tc.display, tc.args, ran, err, tc.want)
		}
	}
	needs = "--shot"
	ran = nil
	if err := render("", nil...); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--shot needs the window") || len(ran) != 0 {
		t.Errorf("a window-only flag without a display: %v, ran %q; want a usage error before anything ran", err, ran)
	}
	if err := render(":0", nil...); err != nil || len(ran) != 1 || ran[0] != "window" {
		t.Errorf("a window-only flag with a display: %v, ran %q; want the window", err, ran)
	}
}
