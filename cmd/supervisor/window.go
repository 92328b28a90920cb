package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The renderer's window is a binary of its own, cmd/venomrt-window: Ebiten
// opens the display in a package init, so a binary that links it panics
// without one, and the supervisor must run anywhere. The supervisor starts
// the window as its child "render" where a display exists and runs its
// own headless renderer ("supervisor proc render --headless") otherwise.

// windowName is the window binary's file name.
const windowName = "venomrt-window"

// findWindow finds the window binary: the one named by --window
// (flagPath), else venomrt-window beside this executable, else on PATH.
// It returns "" and the reason when there is no display (DISPLAY and
// WAYLAND_DISPLAY unset) or no such binary.
func findWindow(flagPath string) (path, why string) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return "", "no DISPLAY (the window needs an X display: set DISPLAY, e.g. run under xvfb-run)"
	}
	if flagPath != "" {
		if err := isExecutable(flagPath); err != nil {
			return "", fmt.Sprintf("--window %s: %v", flagPath, err)
		}
		if abs, err := filepath.Abs(flagPath); err == nil {
			flagPath = abs
		}
		return flagPath, ""
	}
	beside := "this binary"
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), windowName)
		if isExecutable(p) == nil {
			return p, ""
		}
		beside = self
	}
	if p, err := exec.LookPath(windowName); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, ""
	}
	return "", fmt.Sprintf("no %s binary beside %s or on PATH: build it with `make run` (into ./bin), "+
		"or go build ./cmd/venomrt-window, or pass --window PATH", windowName, beside)
}

// isExecutable says why path is not an executable file, or nil.
func isExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// findRenderer is findWindow for the game's flags: --headless asks for no
// window.
func (g *gameFlags) findRenderer() (path, why string) {
	if g.headless {
		return "", "--headless"
	}
	return findWindow(g.window)
}

// pickRenderer decides, once per run, how the child render runs: the
// window binary it finds, or this binary headless, and then logs one line
// saying which — and, headless, why and how to get the window.
func (g *gameFlags) pickRenderer(log *slog.Logger) (why string) {
	g.windowBin, why = g.findRenderer()
	switch {
	case g.windowBin != "":
		log.Info("renderer: window", "binary", g.windowBin)
	case g.headless || os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
		log.Info("renderer runs headless: " + why)
	default:
		log.Warn("renderer runs headless: " + why)
	}
	return why
}

// renderCommand is the command of the child render: the window binary
// picked for the run, else this binary headless.
func (g *gameFlags) renderCommand(self string) *exec.Cmd {
	if g.windowBin != "" {
		return exec.Command(g.windowBin, append([]string{"proc", "render"}, g.childArgs()...)...)
	}
	return exec.Command(self, append([]string{"proc", "render", "--headless"}, g.childArgs()...)...)
}

// execWindow replaces this process by the window binary at path, drawing
// what "supervisor render" was asked to draw; it returns only on failure.
func (g *gameFlags) execWindow(path, connect, name string, timeout time.Duration) error {
	argv := []string{path, "render", "--instance", g.instance, "--name", name, "--connect-timeout", timeout.String()}
	if connect != "" {
		argv = append(argv, "--connect", connect)
	}
	if g.screenshot != "" {
		argv = append(argv, "--screenshot", g.screenshot)
	}
	if g.frames > 0 {
		argv = append(argv, "--frames", strconv.Itoa(g.frames))
	}
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("render: exec %s: %w", path, err)
	}
	return nil
}
