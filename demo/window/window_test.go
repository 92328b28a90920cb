package window_test

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/demo/window"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world/worldtest"
)

// The test binary links Ebiten, which needs a display from its package
// init: run these tests under xvfb-run (scripts/xrun.sh).
func TestMain(m *testing.M) {
	h := demotest.Helpers(window.Run)
	h["regions"] = helperRegions
	proctest.Main(m, h)
}

// regions INSTANCE FILE BORDERS: the window over physics in two regions,
// INSTANCE.physics-0 and -1, a screenshot after 30 frames, the borders
// drawn when BORDERS is 1.
func helperRegions(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return window.Run(ctx, demo.Options{Instance: args[0], Physics: []string{args[0] + ".physics-0", args[0] + ".physics-1"},
		Screenshot: args[1], Frames: 30, Borders: args[2] == "1", Log: demotest.Quiet(), Out: io.Discard})
}

// A world of two regions, 2560×720 px, is drawn whole, scaled to fit the
// 1280×720 window (half size, letterboxed above and below); the border
// between the regions (x 1280 in the world, 640 on the screen) is drawn
// with the debug key's state on, and nowhere with it off.
func TestRegionBorders(t *testing.T) {
	demotest.NeedDisplay(t)
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	for i := range 2 {
		r := worldtest.Start(t, fmt.Sprintf("%s.physics-%d", inst, i))
		r.Publish(t, worldtest.Meta(i, 2, 2560, 720, 200, 0, 0),
			worldtest.Bodies(uint32(1+200*i), 200, 1280*float32(i)+20, 1280*float32(i+1)-20, 500))
	}
	magenta := func(on bool) (border, elsewhere, bodies int) {
		file := filepath.Join(t.TempDir(), "shot.png")
		flag := "0"
		if on {
			flag = "1"
		}
		proctest.Start(t, "regions", inst, file, flag).Wait(t, 90*time.Second)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < 720; y++ {
			for x := 0; x < 1280; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				r, g, b = r>>8, g>>8, b>>8
				switch {
				case r > 200 && b > 200 && g < 80:
					if x >= 636 && x <= 643 {
						border++
					} else {
						elsewhere++
					}
				case max(r, g, b)-min(r, g, b) >= 60 && max(r, g, b) >= 90:
					bodies++
					if y < 180 || y > 540 {
						t.Errorf("a body's pixel at (%d, %d): the 2560×720 world drawn at half size is at y 180..540", x, y)
						return
					}
				}
			}
		}
		return border, elsewhere, bodies
	}
	border, elsewhere, bodies := magenta(true)
	t.Logf("borders on: %d border pixels at x 640, %d magenta elsewhere (region labels are white), %d body pixels", border, elsewhere, bodies)
	if border < 300 {
		t.Errorf("%d border pixels at x 640, want a line down the world's 360 rows", border)
	}
	if bodies < 200 {
		t.Errorf("%d body pixels, want the bodies of both regions", bodies)
	}
	border, elsewhere, _ = magenta(false)
	if border+elsewhere != 0 {
		t.Errorf("borders off: %d magenta pixels at x 640, %d elsewhere, want none", border, elsewhere)
	}
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
