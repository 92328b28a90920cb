// Package window is the demo renderer's Ebiten window: each frame it draws
// the slices a demo.Session reads — bodies interpolated between the two
// newest physics snapshots, agents, players' cursors and a HUD — and turns
// mouse and keys into commands.
//
// Importing it links Ebiten (v2.8.8), which opens the display in a package
// init: a program that imports it panics before main on a machine without
// one. Only the window binary, cmd/venomrt-window, imports it; the
// supervisor starts that binary as its child "render" where a display
// exists and runs demo's headless renderer otherwise.
package window

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/ebitenutil"
	"github.com/hajimehoshi/ebiten/v2/inpututil"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// screenWidth and screenHeight are the logical screen: the default
// physics world, 1280×720.
const (
	screenWidth  = 1280
	screenHeight = 720
)

// background is the screen's clear color.
var background = color.RGBA{14, 16, 22, 255}

// speedColor is the color of a body moving at speed px/s: blue when slow,
// through cyan, green and yellow, to red when fast. Every such color is
// strongly saturated; agents and the HUD are not.
func speedColor(speed float32) color.RGBA {
	stops := [...]color.RGBA{{40, 110, 255, 255}, {0, 210, 230, 255}, {50, 220, 70, 255}, {250, 215, 30, 255}, {255, 50, 40, 255}}
	t := min(max(float64(speed)/700, 0), 1) * float64(len(stops)-1)
	i := min(int(t), len(stops)-2)
	f := t - float64(i)
	a, b := stops[i], stops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*f) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

var agentColors = map[ai.Kind]color.RGBA{
	ai.Seeker:  {245, 245, 245, 255},
	ai.Fleer:   {245, 215, 225, 255},
	ai.Flocker: {210, 225, 245, 255},
}

const discR = 16 // radius of the disc sprite

// game is the Ebiten game: Update takes input and publishes the
// renderer's slice, Draw reads every slice and draws it.
type game struct {
	ctx context.Context
	o   demo.Options
	s   *demo.Session
	r   *demo.Reader

	disc, tri, pixel *ebiten.Image
	op               ebiten.DrawImageOptions

	frames, updates uint64
	hud             bool
	borders         bool // the regions' borders drawn (debug key B)
	msg             string
	msgUntil        time.Time
	done            bool
	err             error
}

func newGame(ctx context.Context, s *demo.Session) *game {
	g := &game{ctx: ctx, o: s.Options, s: s, r: s.Reader, hud: true, borders: s.Options.Borders}
	g.disc = ebiten.NewImageFromImage(discImage(discR))
	g.tri = ebiten.NewImageFromImage(triangleImage(16))
	g.pixel = ebiten.NewImage(1, 1)
	g.pixel.Fill(color.White)
	return g
}

// discImage is a white anti-aliased disc of radius r.
func discImage(r int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 2*r, 2*r))
	for y := range 2 * r {
		for x := range 2 * r {
			d := math.Hypot(float64(x)+0.5-float64(r), float64(y)+0.5-float64(r))
			a := min(max(float64(r)-d, 0), 1)
			v := uint8(255 * a)
			img.SetRGBA(x, y, color.RGBA{v, v, v, v})
		}
	}
	return img
}

// triangleImage is a white triangle pointing along +x in an n×n square.
func triangleImage(n int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			// Apex at (n, n/2), base from (0, 0) to (0, n).
			fx, fy := float64(x)+0.5, float64(y)+0.5
			half := float64(n) / 2 * (1 - fx/float64(n))
			if math.Abs(fy-float64(n)/2) <= half {
				img.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
			}
		}
	}
	return img
}

// view maps world px to screen px: screen = world·scale + offset. The
// whole world fits the screen with its aspect kept, centred, the rest
// letterboxed: the default 1280×720 world fills it, a world of many
// regions (up to 12,800 px wide for 100,000 bodies) is drawn smaller.
type view struct {
	scale, ox, oy float64
}

func (v view) x(wx float32) float64 { return float64(wx)*v.scale + v.ox }
func (v view) y(wy float32) float64 { return float64(wy)*v.scale + v.oy }

// world is the screen position (mx, my) in world px.
func (v view) world(mx, my int) (float64, float64) {
	return (float64(mx) - v.ox) / v.scale, (float64(my) - v.oy) / v.scale
}

// worldView is the view of the world the newest snapshots show.
func (g *game) worldView() view {
	w, h, ok := g.r.WorldSize()
	if !ok {
		return view{scale: 1}
	}
	s := min(screenWidth/float64(w), screenHeight/float64(h))
	return view{scale: s, ox: (screenWidth - float64(w)*s) / 2, oy: (screenHeight - float64(h)*s) / 2}
}

// Update takes input and publishes the renderer's slice.
func (g *game) Update() error {
	if g.done || g.ctx.Err() != nil {
		return ebiten.Termination
	}
	g.updates++
	g.input()
	g.s.Publish(demo.RenderMeta{Frames: g.frames, Updates: g.updates, FPS: ebiten.ActualFPS(), TPS: ebiten.ActualTPS()})
	return nil
}

func (g *game) say(format string, args ...any) {
	g.msg, g.msgUntil = fmt.Sprintf(format, args...), time.Now().Add(3*time.Second)
}

func (g *game) send(child string, cmd engine.Command, what string) {
	if err := g.r.Send(child, cmd); err != nil {
		g.say("%s: %v", what, err)
		return
	}
	g.say("%s", what)
}

func (g *game) input() {
	mx, my := ebiten.CursorPosition()
	wx, wy := g.worldView().world(mx, my)
	g.r.Cursor(wx, wy)
	if inpututil.IsMouseButtonJustPressed(ebiten.MouseButtonLeft) {
		g.send("physics", engine.Cmd(physics.OpSpawnBurst, wx, wy, 20), fmt.Sprintf("spawn 20 at %.0f,%.0f", wx, wy))
	}
	if inpututil.IsMouseButtonJustPressed(ebiten.MouseButtonRight) {
		g.send("physics", engine.Cmd(physics.OpExplode, wx, wy, 200, 1200), fmt.Sprintf("explode at %.0f,%.0f", wx, wy))
	}
	for key, child := range map[ebiten.Key]string{ebiten.KeyDigit1: "physics", ebiten.KeyDigit2: "ai", ebiten.KeyDigit3: "net"} {
		if inpututil.IsKeyJustPressed(key) {
			g.send(child, engine.Cmd(engine.OpPanic), "panic → "+child)
		}
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyK) {
		// One process: a region of physics, not the whole group.
		var children []string
		for _, p := range g.r.Regions {
			children = append(children, p.Name)
		}
		children = append(children, "ai", "net")
		faults := []struct {
			name string
			cmd  engine.Command
		}{{"panic", engine.Cmd(engine.OpPanic)}, {"exit 3", engine.Cmd(engine.OpExit, 3)},
			{"hang", engine.Cmd(engine.OpHang)}, {"die mid-publish", engine.Cmd(engine.OpMidPublish)}}
		c, f := children[rand.IntN(len(children))], faults[rand.IntN(len(faults))]
		g.send(c, f.cmd, "chaos: "+f.name+" → "+c)
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyR) {
		g.send("physics", engine.Cmd(physics.OpReset), "reset physics")
		g.send("ai", engine.Cmd(ai.OpReset), "reset physics and ai")
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyH) {
		g.hud = !g.hud
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyB) {
		g.borders = !g.borders
	}
}

// Draw reads every slice and draws the world and the HUD.
func (g *game) Draw(screen *ebiten.Image) {
	// The frame's time, read and draw (the CPU's part: Ebiten sends the
	// GPU its batch after Draw), is the renderer's tick time in its
	// counters, published by the next Update (a screenshot's writing
	// is not the frame's).
	start := time.Now()
	g.r.Frame()
	g.frames++
	now := venom.Monotonic()
	screen.Fill(background)
	v := g.worldView()

	physDown := g.r.PhysicsDown()
	op := &g.op
	op.Filter = ebiten.FilterLinear
	bodies := g.r.Bodies(now)
	from := 0
	for i, end := range g.r.Spans {
		// A region whose process is down is drawn dimmed; the others
		// move on.
		dim := g.r.RegionDown(i) != ""
		for _, b := range bodies[from:end] {
			// At least a pixel across, however small a wide world draws.
			r := max(float64(b.R)*v.scale, 0.75)
			op.GeoM.Reset()
			op.GeoM.Translate(-discR, -discR)
			op.GeoM.Scale(r/discR, r/discR)
			op.GeoM.Translate(v.x(b.X), v.y(b.Y))
			op.ColorScale.Reset()
			op.ColorScale.ScaleWithColor(speedColor(float32(math.Hypot(float64(b.VX), float64(b.VY)))))
			if dim {
				op.ColorScale.Scale(0.5, 0.5, 0.5, 1)
			}
			screen.DrawImage(g.disc, op)
		}
		from = end
	}
	if g.borders {
		g.drawBorders(screen, v)
	}

	aiDown := g.r.AIDown()
	for _, a := range g.r.AI.Cur.Items {
		op.GeoM.Reset()
		op.GeoM.Translate(-8, -8)
		op.GeoM.Scale(0.75, 0.6)
		op.GeoM.Rotate(math.Atan2(float64(a.VY), float64(a.VX)))
		op.GeoM.Translate(v.x(a.X), v.y(a.Y))
		op.ColorScale.Reset()
		c, ok := agentColors[a.Kind]
		if !ok {
			c = color.RGBA{200, 200, 200, 255}
		}
		op.ColorScale.ScaleWithColor(c)
		if aiDown != "" {
			op.ColorScale.Scale(0.4, 0.4, 0.4, 1)
		}
		screen.DrawImage(g.tri, op)
	}

	for _, p := range g.r.Players() {
		g.drawPlayer(screen, p, v)
	}

	// Labels of the slices whose owner is down.
	y := screenHeight/2 - 20
	for _, d := range []struct{ name, why string }{{"physics", physDown}, {"ai", aiDown}} {
		if d.why == "" {
			continue
		}
		s := fmt.Sprintf("%s: %s", d.name, d.why)
		x := screenWidth/2 - 3*len(s)
		g.rect(screen, x-8, y-4, 6*len(s)+16, 24, color.RGBA{0, 0, 0, 200})
		ebitenutil.DebugPrintAt(screen, s, x, y)
		y += 28
	}

	if g.hud {
		g.drawHUD(screen, now)
	}
	g.s.FrameTime(time.Since(start))

	if g.o.Frames > 0 && g.frames >= uint64(g.o.Frames) && !g.done {
		if g.o.Screenshot != "" {
			g.err = writePNG(screen, g.o.Screenshot)
			g.o.Log.Info("screenshot written", "file", g.o.Screenshot, "frames", g.frames, "err", g.err)
		}
		g.done = true
	}
}

// borderColor draws the regions' borders: magenta, a hue no body's
// speed color has.
var borderColor = color.RGBA{255, 0, 255, 255}

// drawBorders draws, with the debug key B, a vertical line at each
// border between two regions of physics (region k owns x in
// [W·k/N, W·(k+1)/N)) and each region's index at the top of its strip.
func (g *game) drawBorders(screen *ebiten.Image, v view) {
	w, h, ok := g.r.WorldSize()
	n := len(g.r.Regions)
	if !ok {
		return
	}
	top, bottom := int(v.y(0)), int(v.y(h))
	for k := range n {
		lo := w * float32(k) / float32(n)
		if k > 0 {
			g.rect(screen, int(v.x(lo))-1, top, 2, bottom-top, borderColor)
		}
		label := fmt.Sprintf("region %d", k)
		if down := g.r.RegionDown(k); down != "" {
			label += " (" + down + ")"
		}
		ebitenutil.DebugPrintAt(screen, label, int(v.x(lo))+4, bottom-18)
	}
}

// drawPlayer draws a player's cursor: a cross in its color, its name
// beside.
func (g *game) drawPlayer(screen *ebiten.Image, p netproc.Player, v view) {
	x, y := int(v.x(p.CursorX)), int(v.y(p.CursorY))
	c := color.RGBA{uint8(p.Color >> 16), uint8(p.Color >> 8), uint8(p.Color), 255}
	g.rect(screen, x-7, y-1, 15, 3, c)
	g.rect(screen, x-1, y-7, 3, 15, c)
	ebitenutil.DebugPrintAt(screen, p.NameString(), x+9, y-16)
}

func (g *game) rect(screen *ebiten.Image, x, y, w, h int, c color.RGBA) {
	var op ebiten.DrawImageOptions
	op.GeoM.Scale(float64(w), float64(h))
	op.GeoM.Translate(float64(x), float64(y))
	op.ColorScale.ScaleWithColor(c)
	screen.DrawImage(g.pixel, &op)
}

func (g *game) drawHUD(screen *ebiten.Image, now int64) {
	where := "instance=" + g.o.Instance
	help := "click: spawn  right-click: explode  1/2/3: panic physics/ai/net  K: chaos  R: reset  H: HUD  B: region borders"
	if g.o.Connect != "" {
		where = "remote"
		help = "click: spawn  right-click: explode  H: HUD  (faults and resets: on the game's machine)"
	}
	lines := []string{
		fmt.Sprintf("venomrt  %s  FPS %.1f  TPS %.1f  read %s  bodies %d  agents %d  players %d",
			where, ebiten.ActualFPS(), ebiten.ActualTPS(), time.Duration(g.r.ReadNanos).Round(100*time.Nanosecond),
			g.r.BodyCount(), len(g.r.AI.Cur.Items), len(g.r.Players())),
	}
	lines = append(lines, g.r.HUDLines(now)...)
	lines = append(lines, help)
	if g.msg != "" && time.Now().Before(g.msgUntil) {
		lines = append(lines, "> "+g.msg)
	}
	w := 0
	for _, l := range lines {
		w = max(w, len(l))
	}
	g.rect(screen, 0, 0, 6*w+12, 16*len(lines)+8, color.RGBA{0, 0, 0, 170})
	ebitenutil.DebugPrintAt(screen, strings.Join(lines, "\n"), 6, 4)
}

// Layout is the fixed logical screen.
func (g *game) Layout(int, int) (int, int) { return screenWidth, screenHeight }

// writePNG writes the screen to file as a PNG.
func writePNG(screen *ebiten.Image, file string) error {
	b := screen.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	screen.ReadPixels(img.Pix)
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("window: screenshot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("window: screenshot %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("window: screenshot %s: %w", file, err)
	}
	return nil
}

// Run runs the renderer in a window until ctx ends, its window is closed
// (nil: the game is over) or o.Frames frames are done. It needs a
// display: the game runs it as its Renderer.Window only where one exists
// and --headless is not given (demo.Run, the headless loop, otherwise).
func Run(ctx context.Context, o demo.Options) error {
	s, err := demo.Open(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	g := newGame(ctx, s)
	ebiten.SetWindowSize(screenWidth, screenHeight)
	ebiten.SetWindowTitle("venomrt — " + g.o.Instance)
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	ebiten.SetRunnableOnUnfocused(true)
	g.o.Log.Info("renderer running", "instance", g.o.Instance, "display", os.Getenv("DISPLAY"), "connect", g.o.Connect)
	if err := ebiten.RunGame(g); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	return g.err
}
