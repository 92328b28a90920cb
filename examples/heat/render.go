package heat

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// Options are what the renderer runs with: the game's environment and
// the renderer's flags.
type Options struct {
	game.Env
	// Screenshot is a PNG file the window writes after Frames frames
	// that show the grid, then ends (the window only: the headless loop
	// returns ErrNoDisplay).
	Screenshot string
	// Frames > 0 ends the renderer after that many frames.
	Frames int
}

// ErrNoDisplay is a screenshot asked of the headless renderer.
var ErrNoDisplay = errors.New("heat: a screenshot needs the window: run heat-window with a display (DISPLAY set, e.g. under xvfb-run)")

// RenderMeta is the renderer's own state, published on
// "<instance>.render" every frame: the supervisor sees its heartbeat,
// chaos its frames (Header.Tick is the frame counter).
type RenderMeta struct {
	Frames   uint64  // frames drawn, by this renderer and the ones before it
	FPS      float32 // measured frames per second
	Pid      uint32  // the renderer's process
	Headless uint32  // 1 when not drawing
	_        uint32
}

// ReadStat is one slice the renderer reads: an item of its slice.
type ReadStat struct {
	Name   [8]byte // "grid", "heaters", "sup", NUL-padded
	Tick   uint64  // the newest tick read
	Reads  uint64  // snapshots read
	Errors uint64  // failed reads
}

// RenderSchema is the shape of the renderer's channel.
var RenderSchema = engine.MustSchema[RenderMeta, ReadStat]()

// renderConfig is the renderer's channel: small snapshots, few commands
// (faults, from the fault and chaos tools).
var renderConfig = venom.Config{DataSize: 1024, History: 2, CmdSlots: 16, RespSize: engine.MaxAnswerSize, MaxClients: 8}

// View is an open renderer: it follows the grid, the heaters and the
// supervisor's status, once per frame, never blocking their writers, and
// owns the renderer's own channel, on which it publishes a snapshot per
// frame and takes the engine's faults (engine.Owner: it crashes, hangs
// or slows down like any process). The headless loop and the window
// both draw from one. It is used from one goroutine.
type View struct {
	Grid    *engine.Follower[GridMeta, Cell]                          // <instance>.grid
	Heaters *engine.Follower[HeatersMeta, Heater]                     // <instance>.heaters
	Status  *engine.Follower[supervisor.Meta, supervisor.ChildStatus] // the supervisor's, <instance>.sup

	w     *engine.Owner[RenderMeta, ReadStat]
	stats []ReadStat
}

// OpenView follows an instance's slices (lazily: they may not exist
// yet) and owns its renderer channel, "<instance>.render", adopting the
// one a dead renderer left. Another live renderer is an error.
func OpenView(instance string, log *slog.Logger) (*View, error) {
	w, err := engine.Own(context.Background(), RenderSchema, engine.OwnOptions[RenderMeta, ReadStat]{
		Channel: instance + "." + game.RenderName, Config: renderConfig, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("heat: render: %w", err)
	}
	return &View{
		Grid:    engine.Follow(instance+".grid", GridSchema, engine.FollowOptions{}),
		Heaters: engine.Follow(instance+".heaters", HeatersSchema, engine.FollowOptions{}),
		Status:  engine.Follow(supervisor.StatusChannel(instance), supervisor.StatusSchema, engine.FollowOptions{}),
		w:       w,
	}, nil
}

// Frames counts frames, carried on from the renderer before this one
// (the renderer's Header.Tick, which never goes back).
func (v *View) Frames() uint64 { return v.w.Header().Tick }

// Frame follows every slice, counts a frame and publishes the
// renderer's snapshot, then carries out a fault sent to the renderer.
func (v *View) Frame(headless bool, fps float64) {
	start := time.Now()
	v.Grid.Poll()
	v.Heaters.Poll()
	v.Status.Poll()
	h := v.w.Header()
	h.Tick++
	h.Rate = 60
	m := RenderMeta{Frames: h.Tick, FPS: float32(fps), Pid: uint32(os.Getpid())}
	if headless {
		m.Headless = 1
	}
	v.stats = v.stats[:0]
	v.stats = appendStat(v.stats, "grid", v.Grid.Cur.Tick, v.Grid.Stats())
	v.stats = appendStat(v.stats, "heaters", v.Heaters.Cur.Tick, v.Heaters.Stats())
	v.stats = appendStat(v.stats, "sup", v.Status.Cur.Tick, v.Status.Stats())
	v.w.Poll()
	// The frame's time is the renderer's tick time (its counters: top,
	// /metrics).
	h.StepNanos = uint64(time.Since(start))
	if err := v.w.Publish(&m, v.stats); err != nil {
		slog.Warn("heat: render: publish", "err", err)
	}
}

func appendStat(stats []ReadStat, name string, tick uint64, s engine.FollowStats) []ReadStat {
	st := ReadStat{Tick: tick, Reads: s.Reads, Errors: s.Errors}
	copy(st.Name[:], name)
	return append(stats, st)
}

// StatusLine is the headless renderer's line: its frames, the grid, the
// heaters and, per child, what the supervisor says of it.
func (v *View) StatusLine(fps float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "render frames=%d fps=%.1f", v.Frames(), fps)
	if g := v.Grid; g.Have() {
		m := g.Cur.Meta
		fmt.Fprintf(&b, " | grid tick=%d %dx%d mean=%.1f max=%.1f heats=%d", g.Cur.Tick, m.Width, m.Height, m.Mean, m.Max, m.Heats)
	} else {
		b.WriteString(" | grid: no data")
	}
	if h := v.Heaters; h.Have() {
		var power float32
		for _, ht := range h.Cur.Items {
			power += ht.Power
		}
		fmt.Fprintf(&b, " | heaters tick=%d n=%d setpoint=%.0f power=%.0f", h.Cur.Tick, len(h.Cur.Items), h.Cur.Meta.Setpoint, power)
	} else {
		b.WriteString(" | heaters: no data")
	}
	if v.Status.Have() {
		for _, c := range v.Status.Cur.Items {
			fmt.Fprintf(&b, " | %s %s pid=%d restarts=%d", c.NameString(), c.StateName(), c.Pid, c.Restarts)
		}
	}
	return b.String()
}

// Close lets go of every slice and of the renderer's channel; its
// segment stays for the next renderer.
func (v *View) Close() {
	v.Grid.Close()
	v.Heaters.Close()
	v.Status.Close()
	v.w.Close()
}

// RunHeadless is the renderer without a window: the window's reads at
// 60 Hz, a status line per second on o.Out. It runs until ctx ends or
// o.Frames frames are done (nil: the game is over).
func RunHeadless(ctx context.Context, o Options) error {
	if o.Screenshot != "" {
		return ErrNoDisplay
	}
	if o.Frames < 0 {
		return fmt.Errorf("heat: --frames %d, want >= 0", o.Frames)
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	v, err := OpenView(o.Instance, o.Log)
	if err != nil {
		return err
	}
	defer v.Close()
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	frames, lastFrames, lastLine, fps := 0, 0, time.Now(), 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v.Frame(true, fps)
		frames++
		if now := time.Now(); now.Sub(lastLine) >= time.Second {
			fps = float64(frames-lastFrames) / now.Sub(lastLine).Seconds()
			lastLine, lastFrames = now, frames
			fmt.Fprintln(out, v.StatusLine(fps))
		}
		if o.Frames > 0 && frames >= o.Frames {
			fmt.Fprintln(out, v.StatusLine(fps))
			return nil
		}
	}
}

// palette are the colormap's stops: temperature, color.
var palette = []struct {
	t float32
	c color.RGBA
}{
	{-20, color.RGBA{10, 20, 90, 255}},
	{Ambient, color.RGBA{30, 80, 200, 255}},
	{25, color.RGBA{40, 170, 190, 255}},
	{Setpoint, color.RGBA{240, 170, 40, 255}},
	{100, color.RGBA{225, 50, 30, 255}},
	{250, color.RGBA{255, 245, 210, 255}},
}

// Color is the color of a cell at temperature t: dark blue when cold,
// through blue, teal and orange at the setpoint, to red and white-hot.
func Color(t float32) color.RGBA {
	if !(t > palette[0].t) {
		return palette[0].c
	}
	for i := 1; i < len(palette); i++ {
		a, b := palette[i-1], palette[i]
		if t <= b.t {
			f := (t - a.t) / (b.t - a.t)
			mix := func(x, y uint8) uint8 { return uint8(float32(x) + (float32(y)-float32(x))*f + 0.5) }
			return color.RGBA{mix(a.c.R, b.c.R), mix(a.c.G, b.c.G), mix(a.c.B, b.c.B), 255}
		}
	}
	return palette[len(palette)-1].c
}
