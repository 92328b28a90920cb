package window_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/demo/window"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
)

// The test binary links Ebiten, which needs a display from its package
// init: run these tests under xvfb-run (scripts/xrun.sh).
func TestMain(m *testing.M) {
	proctest.Main(m, demotest.Helpers(window.Run))
}

// A screenshot after 120 frames shows the world and the HUD.
func TestScreenshot(t *testing.T) {
	demotest.NeedDisplay(t)
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	demotest.StartSim(t, inst)
	file := filepath.Join(t.TempDir(), "shot.png")
	r := proctest.Start(t, "render", inst, "window", file, "120")
	r.Wait(t, 90*time.Second)
	demotest.CheckShot(t, file)
}

// With physics SIGKILLed mid-run, the renderer keeps drawing frames while
// it is down, and the screenshot still shows the bodies.
func TestPhysicsKilled(t *testing.T) {
	demotest.NeedDisplay(t)
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	phys := demotest.StartSim(t, inst)
	file := filepath.Join(t.TempDir(), "shot.png")
	const frames = 240
	r := proctest.Start(t, "render", inst, "window", file, strconv.Itoa(frames))
	w := demotest.WatchRender(t, inst)
	proctest.Eventually(t, 60*time.Second, "the renderer draws 20 frames", func() bool { return w.Frames() >= 20 })

	phys.Kill(t)
	pc, err := engine.Connect(inst+".physics", physics.Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var pf engine.Frame[physics.Meta, physics.Body]
	if err := pc.Read(&pf); err != nil {
		t.Fatal(err)
	}
	downTick := pf.Tick
	f0 := w.Frames()
	proctest.Eventually(t, 60*time.Second, "frames advance while physics is down", func() bool { return w.Frames() >= f0+30 })
	if err := pc.Read(&pf); err != nil || pf.Tick != downTick {
		t.Fatalf("physics tick moved while it was dead: %d → %d (%v)", downTick, pf.Tick, err)
	}
	t.Logf("frames %d → %d while physics was down", f0, w.Frames())
	if w.Frames() >= frames {
		t.Fatalf("renderer finished (%d frames) before physics came back: raise the frame count", w.Frames())
	}

	// Physics comes back, adopting its segment, and carries on from its tick.
	proctest.Start(t, "physics", inst)
	proctest.Eventually(t, 20*time.Second, "physics resumes", func() bool { return pc.Read(&pf) == nil && pf.Tick > downTick })

	r.Wait(t, 120*time.Second)
	body, hud := demotest.ShotStats(t, file)
	t.Logf("body-colored pixels %d, bright HUD pixels %d", body, hud)
	if body < 5000 {
		t.Errorf("%d pixels in body colors, want at least 5000", body)
	}
}

// A renderer drawing from the network stream shows the world and the HUD
// as one reading shared memory does.
func TestRemoteScreenshot(t *testing.T) {
	demotest.NeedDisplay(t)
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	demotest.StartSim(t, inst)
	_, url := demotest.StartNet(t, inst, "127.0.0.1:0")
	file := filepath.Join(t.TempDir(), "remote.png")
	r := proctest.Start(t, "render", "remote-"+inst, "window", file, "120", url)
	r.Wait(t, 90*time.Second)
	demotest.CheckShot(t, file)
}

// With --headless, or with no display named, the window binary's
// renderer is demo's headless loop — the game declares both and the
// runtime picks — so it refuses a screenshot before anything starts, and
// runs its frames without drawing.
func TestRendererFallsBackToHeadless(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		display string
	}{{"headless", []string{"--headless"}, ":0"}, {"no display", nil, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DISPLAY", tc.display)
			t.Setenv("WAYLAND_DISPLAY", "")
			inst := proctest.Name(t)
			demotest.Cleanup(t, inst)
			g := demo.Game(window.Run)
			args := append([]string{"render", "--instance", inst}, tc.args...)
			shot := append(args, "--screenshot", filepath.Join(t.TempDir(), "x.png"))
			if err := g.Command(context.Background(), shot, io.Discard, io.Discard); !errors.Is(err, game.ErrUsage) || !strings.Contains(err.Error(), "--screenshot needs the window") {
				t.Fatalf("screenshot: %v, want a usage error: it needs the window", err)
			}
			var out strings.Builder
			if err := g.Command(context.Background(), append(args, "--frames", "3"), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "render frames=3 ") {
				t.Errorf("status %q, want the headless loop's line with frames=3", out.String())
			}
		})
	}
}
