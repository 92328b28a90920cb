//go:build !headless

package demo_test

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
)

func needDisplay(t *testing.T) {
	if os.Getenv("DISPLAY") == "" {
		t.Skip("no DISPLAY: run under xvfb-run")
	}
}

// shotStats counts the pixels of a screenshot in body colors (strongly
// saturated: agents, HUD and background are not) and the bright pixels of
// the HUD area.
func shotStats(t *testing.T, file string) (body, hud int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("screenshot %v, want 1280×720", b)
	}
	hudArea := image.Rect(0, 0, 300, 40)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			hi, lo := max(r, g, bl), min(r, g, bl)
			if hi-lo >= 60 && hi >= 90 {
				body++
			}
			if image.Pt(x, y).In(hudArea) && lo >= 150 {
				hud++
			}
		}
	}
	return body, hud
}

// checkShot checks that a screenshot shows the world and the HUD.
func checkShot(t *testing.T, file string) {
	t.Helper()
	body, hud := shotStats(t, file)
	t.Logf("body-colored pixels %d, bright HUD pixels %d", body, hud)
	if body < 5000 {
		t.Errorf("%d pixels in body colors, want at least 5000", body)
	}
	if hud < 100 {
		t.Errorf("%d bright pixels in the HUD area, want at least 100", hud)
	}
}

// A screenshot after 120 frames shows the world and the HUD.
func TestScreenshot(t *testing.T) {
	needDisplay(t)
	inst := proctest.Name(t)
	cleanup(t, inst)
	startSim(t, inst)
	file := filepath.Join(t.TempDir(), "shot.png")
	r := proctest.Start(t, "render", inst, "window", file, "120")
	r.Wait(t, 90*time.Second)
	checkShot(t, file)
}

// With physics SIGKILLed mid-run, the renderer keeps drawing frames while
// it is down, and the screenshot still shows the bodies.
func TestPhysicsKilled(t *testing.T) {
	needDisplay(t)
	inst := proctest.Name(t)
	cleanup(t, inst)
	phys := startSim(t, inst)
	file := filepath.Join(t.TempDir(), "shot.png")
	const frames = 240
	r := proctest.Start(t, "render", inst, "window", file, strconv.Itoa(frames))
	w := watchRender(t, inst)
	proctest.Eventually(t, 60*time.Second, "the renderer draws 20 frames", func() bool { return w.frames() >= 20 })

	phys.Kill(t)
	pc, err := engine.Connect(inst+".physics", physics.Slice)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var pf engine.Frame[physics.Params, physics.Body]
	if err := pc.Read(&pf); err != nil {
		t.Fatal(err)
	}
	downTick := pf.Tick
	f0 := w.frames()
	proctest.Eventually(t, 60*time.Second, "frames advance while physics is down", func() bool { return w.frames() >= f0+30 })
	if err := pc.Read(&pf); err != nil || pf.Tick != downTick {
		t.Fatalf("physics tick moved while it was dead: %d → %d (%v)", downTick, pf.Tick, err)
	}
	t.Logf("frames %d → %d while physics was down", f0, w.frames())
	if w.frames() >= frames {
		t.Fatalf("renderer finished (%d frames) before physics came back: raise the frame count", w.frames())
	}

	// Physics comes back, adopting its segment, and carries on from its tick.
	proctest.Start(t, "physics", inst)
	proctest.Eventually(t, 20*time.Second, "physics resumes", func() bool { return pc.Read(&pf) == nil && pf.Tick > downTick })

	r.Wait(t, 120*time.Second)
	body, hud := shotStats(t, file)
	t.Logf("body-colored pixels %d, bright HUD pixels %d", body, hud)
	if body < 5000 {
		t.Errorf("%d pixels in body colors, want at least 5000", body)
	}
}

// A renderer drawing from the network stream shows the world and the HUD
// as one reading shared memory does.
func TestRemoteScreenshot(t *testing.T) {
	needDisplay(t)
	inst := proctest.Name(t)
	cleanup(t, inst)
	startSim(t, inst)
	_, url := startNet(t, inst, "127.0.0.1:0")
	file := filepath.Join(t.TempDir(), "remote.png")
	r := proctest.Start(t, "render", "remote-"+inst, "window", file, "120", url)
	r.Wait(t, 90*time.Second)
	checkShot(t, file)
}
