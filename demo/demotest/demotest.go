// Package demotest is what the renderer's tests share — the headless
// renderer's in package demo, the window's in demo/window, the
// supervisor's and the window binary's: helper processes for the
// simulation, the render channel's frame counter, and the check that a
// screenshot shows the world and the HUD.
//
// It imports no Ebiten: a test binary that uses it runs without a display.
package demotest

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// Helpers are the helper processes of the renderer's tests, for
// proctest.Main; run is the renderer under test (demo.Run or window.Run).
//
//	physics INSTANCE [BODIES]      the physics process (2000 bodies by default)
//	ai INSTANCE                    the ai process with 200 agents
//	net INSTANCE ADDR              the net process; prints "listening ADDR"
//	render INSTANCE window|headless SCREENSHOT|- FRAMES [URL]
//	                               the renderer, from shared memory or (with URL) from a net process
func Helpers(run func(context.Context, demo.Options) error) proctest.Helpers {
	return proctest.Helpers{
		"physics": helperPhysics,
		"ai":      helperAI,
		"net":     helperNet,
		"render":  func(args []string) error { return helperRender(run, args) },
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// Quiet is a logger for helper processes: warnings and errors only, on
// stderr.
func Quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func helperPhysics(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	bodies := 2000
	if len(args) > 1 {
		bodies, _ = strconv.Atoi(args[1])
	}
	return physics.Run(ctx, args[0]+".physics", 1, bodies, Quiet())
}

func helperAI(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return ai.Run(ctx, args[0]+".ai", args[0]+".physics", 1, 200, Quiet())
}

func helperRender(run func(context.Context, demo.Options) error, args []string) error {
	ctx, stop := signalContext()
	defer stop()
	o := demo.Options{Instance: args[0], Headless: args[1] == "headless", Log: Quiet(), Out: os.Stdout}
	if args[2] != "-" {
		o.Screenshot = args[2]
	}
	o.Frames, _ = strconv.Atoi(args[3])
	if len(args) > 4 {
		o.Connect, o.Player = args[4], "viewer"
	}
	return run(ctx, o)
}

func helperNet(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return netproc.Run(ctx, netproc.Options{Channel: args[0] + ".net", Physics: args[0] + ".physics", AI: args[0] + ".ai",
		Status: args[0] + ".sup", Addr: args[1], Log: Quiet(), OnListen: func(addr string) { fmt.Println("listening", addr) }})
}

// StartNet starts the helper net for inst on addr and returns it and its
// ws:// URL.
func StartNet(t testing.TB, inst, addr string) (*proctest.Proc, string) {
	t.Helper()
	n := proctest.Start(t, "net", inst, addr)
	return n, "ws://" + n.Expect(t, `^listening (\S+)`, 20*time.Second)[1]
}

// Cleanup removes an instance's channels when the test ends.
func Cleanup(t testing.TB, inst string) {
	t.Cleanup(func() {
		for _, c := range []string{"physics", "ai", "render", "sup", "net"} {
			venom.Remove(inst + "." + c)
		}
	})
}

// StartSim starts the helpers physics and ai for inst and waits for
// physics to publish.
func StartSim(t testing.TB, inst string) (phys *proctest.Proc) {
	t.Helper()
	phys = proctest.Start(t, "physics", inst)
	proctest.Start(t, "ai", inst)
	proctest.Eventually(t, 20*time.Second, "physics publishes", func() bool {
		c, err := engine.Connect(inst+".physics", physics.Schema)
		if err != nil {
			return false
		}
		defer c.Close()
		var f engine.Frame[physics.Meta, physics.Body]
		return c.Read(&f) == nil && len(f.Items) > 0
	})
	return phys
}

// RenderWatch reads a renderer's own slice.
type RenderWatch struct {
	c *engine.Client[demo.RenderMeta, demo.SliceStat]
	f engine.Frame[demo.RenderMeta, demo.SliceStat]
}

// WatchRender waits for inst's render channel and connects to it; the
// client is closed when the test ends.
func WatchRender(t testing.TB, inst string) *RenderWatch {
	t.Helper()
	w := &RenderWatch{}
	proctest.Eventually(t, 30*time.Second, "the render channel exists", func() bool {
		c, err := engine.Connect(demo.RenderChannel(inst), demo.RenderSchema)
		if err != nil {
			return false
		}
		w.c = c
		return true
	})
	t.Cleanup(func() { w.c.Close() })
	return w
}

// Meta is the renderer's newest snapshot (zero before it publishes).
func (w *RenderWatch) Meta() demo.RenderMeta {
	if w.c.Read(&w.f) != nil {
		return demo.RenderMeta{}
	}
	return w.f.Meta
}

// Frames is the renderer's frame counter (0 before it publishes).
func (w *RenderWatch) Frames() uint64 { return w.Meta().Frames }

// NeedDisplay skips a test that draws when there is no X display.
func NeedDisplay(t testing.TB) {
	t.Helper()
	if os.Getenv("DISPLAY") == "" {
		t.Skip("no DISPLAY: run under xvfb-run (scripts/xrun.sh)")
	}
}

// ShotStats counts the pixels of a screenshot in body colors (strongly
// saturated: agents, HUD and background are not) and the bright pixels of
// the HUD area. The screenshot must be the window's 1280×720.
func ShotStats(t testing.TB, file string) (body, hud int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
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

// CheckShot checks that a screenshot shows the world (at least 5000
// pixels in body colors) and the HUD.
func CheckShot(t testing.TB, file string) {
	t.Helper()
	body, hud := ShotStats(t, file)
	t.Logf("body-colored pixels %d, bright HUD pixels %d", body, hud)
	if body < 5000 {
		t.Errorf("%d pixels in body colors, want at least 5000", body)
	}
	if hud < 100 {
		t.Errorf("%d bright pixels in the HUD area, want at least 100", hud)
	}
}
