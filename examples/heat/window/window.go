// Package window is the heat example's renderer in an Ebiten window: the
// grid as colored cells, the heaters as discs, a line of status; a left
// click heats the grid where it lands, a right click cools it.
//
// Importing it links Ebiten (v2.8.8), which opens the display in a
// package init: a program that imports it panics before main on a
// machine without one. Only cmd/heat-window imports it.
package window

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/ebitenutil"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/examples/heat"
)

const (
	screenWidth  = 640
	screenHeight = 480
	clickHeat    = 80 // degrees a click adds (or takes, right button) within clickRadius cells
	clickRadius  = 2
)

// Game is the Ebiten game: Update reads every slice and takes the mouse,
// Draw draws what Update read.
type Game struct {
	ctx    context.Context
	o      heat.Options
	v      *heat.View
	cells  *ebiten.Image // one pixel per cell
	pix    []byte
	frames int // frames drawn that show the grid and the heaters
	done   bool
	err    error
}

// Update reads the slices, publishes the renderer's, and turns clicks
// into heat commands for the grid.
func (g *Game) Update() error {
	if g.done || g.ctx.Err() != nil {
		return ebiten.Termination
	}
	g.v.Frame(false, ebiten.ActualFPS())
	m := g.v.Grid.Cur.Meta
	if !g.v.Grid.Have() || m.Width == 0 || m.Height == 0 {
		return nil
	}
	mx, my := ebiten.CursorPosition()
	cx, cy := mx*int(m.Width)/screenWidth, my*int(m.Height)/screenHeight
	for _, b := range [...]struct {
		button ebiten.MouseButton
		amount float64
	}{{ebiten.MouseButtonLeft, clickHeat}, {ebiten.MouseButtonRight, -clickHeat}} {
		if inpututil.IsMouseButtonJustPressed(b.button) && cx >= 0 && cx < int(m.Width) && cy >= 0 && cy < int(m.Height) {
			// A full lane (the grid down for long) drops the click.
			g.v.Grid.Send(engine.Cmd(heat.OpHeat, float64(cx), float64(cy), b.amount, clickRadius))
		}
	}
	return nil
}

// Draw draws the grid, the heaters and the status line; after o.Frames
// such frames it writes o.Screenshot and ends the game.
func (g *Game) Draw(screen *ebiten.Image) {
	screen.Fill(color.RGBA{8, 8, 16, 255})
	grid, heaters := g.v.Grid, g.v.Heaters
	if !grid.Have() {
		ebitenutil.DebugPrint(screen, "waiting for the grid...")
		return
	}
	w, h := int(grid.Cur.Meta.Width), int(grid.Cur.Meta.Height)
	if g.cells == nil || g.cells.Bounds().Dx() != w || g.cells.Bounds().Dy() != h {
		g.cells, g.pix = ebiten.NewImage(w, h), make([]byte, 4*w*h)
	}
	for i, c := range grid.Cur.Items[:min(len(grid.Cur.Items), w*h)] {
		rgba := heat.Color(c.T)
		copy(g.pix[4*i:], []byte{rgba.R, rgba.G, rgba.B, 255})
	}
	g.cells.WritePixels(g.pix)
	var op ebiten.DrawImageOptions
	op.GeoM.Scale(screenWidth/float64(w), screenHeight/float64(h))
	if grid.State() != engine.FollowLive {
		op.ColorScale.Scale(0.5, 0.5, 0.5, 1) // its owner is down: dimmed
	}
	screen.DrawImage(g.cells, &op)

	sx, sy := float32(screenWidth)/float32(w), float32(screenHeight)/float32(h)
	ring, core := color.RGBA{20, 20, 20, 255}, color.RGBA{250, 250, 250, 255}
	if heaters.State() != engine.FollowLive {
		core = color.RGBA{120, 120, 120, 255}
	}
	for _, ht := range heaters.Cur.Items {
		x, y := ht.X*sx, ht.Y*sy
		vector.DrawFilledCircle(screen, x, y, 7, ring, true)
		vector.DrawFilledCircle(screen, x, y, 5, core, true)
	}
	m := grid.Cur.Meta
	ebitenutil.DebugPrint(screen, fmt.Sprintf("heat  grid %dx%d tick %d  mean %.1f  max %.1f  heaters %d  FPS %.0f\nclick: heat  right-click: cool",
		w, h, grid.Cur.Tick, m.Mean, m.Max, len(heaters.Cur.Items), ebiten.ActualFPS()))

	if heaters.Have() {
		g.frames++
	}
	if g.o.Frames > 0 && g.frames >= g.o.Frames && !g.done {
		if g.o.Screenshot != "" {
			g.err = writePNG(screen, g.o.Screenshot)
			g.o.Log.Info("screenshot written", "file", g.o.Screenshot, "frames", g.frames, "err", g.err)
		}
		g.done = true
	}
}

// Layout is the fixed logical screen; the grid is scaled to fill it.
func (g *Game) Layout(int, int) (int, int) { return screenWidth, screenHeight }

// Run runs the renderer in a window until ctx ends, the window is closed
// (nil: the game is over) or o.Frames frames are done. It needs a
// display: the game runs it as its Renderer.Window only where one exists
// and --headless is not given (heat.RunHeadless otherwise).
func Run(ctx context.Context, o heat.Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	v, err := heat.OpenView(o.Instance, o.Log)
	if err != nil {
		return err
	}
	defer v.Close()
	g := &Game{ctx: ctx, o: o, v: v}
	ebiten.SetWindowSize(screenWidth, screenHeight)
	ebiten.SetWindowTitle("heat — " + o.Instance)
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	ebiten.SetRunnableOnUnfocused(true)
	if err := ebiten.RunGame(g); err != nil {
		return fmt.Errorf("heat window: %w", err)
	}
	return g.err
}

// writePNG writes the screen to file.
func writePNG(screen *ebiten.Image, file string) error {
	b := screen.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	screen.ReadPixels(img.Pix)
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("heat window: screenshot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("heat window: screenshot %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("heat window: screenshot %s: %w", file, err)
	}
	return nil
}
