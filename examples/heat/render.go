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
	"syscall"
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
var renderConfig = venom.Config{DataSize: 1024, History: 2, CmdSlots: 16, CmdSize: engine.CommandSize, RespSize: 64, MaxClients: 8}

// View is an open renderer: it reads the grid, the heaters and the
// supervisor's status once per frame, never blocking their writers, and
// publishes the renderer's own slice. The headless loop and the window
// both draw from one. It is used from one goroutine.
type View struct {
	Grid    *Source[GridMeta, Cell]                          // <instance>.grid
	Heaters *Source[HeatersMeta, Heater]                     // <instance>.heaters
	Status  *Source[supervisor.Meta, supervisor.ChildStatus] // the supervisor's, <instance>.sup
	// Frames counts frames, carried on from the renderer before this one
	// (the channel's Header.Tick never goes back).
	Frames uint64

	d      *venom.Daemon
	h      engine.Header
	buf    []byte
	stats  []ReadStat
	log    *slog.Logger
	fault  engine.Command
	slow   int           // frames still to slow down
	slowBy time.Duration // by how much each
}

// OpenView connects to an instance's slices (lazily: they may not exist
// yet) and creates its renderer channel, "<instance>.render", or adopts
// the one a dead renderer left. Another live renderer is an error.
func OpenView(instance string, log *slog.Logger) (*View, error) {
	if log == nil {
		log = slog.Default()
	}
	ch := instance + "." + game.RenderName
	d, err := venom.Create(ch, renderConfig)
	if errors.Is(err, venom.ErrIncompatible) {
		log.Warn("render channel of another shape: replacing it", "channel", ch)
		if err := venom.Remove(ch); err != nil {
			return nil, fmt.Errorf("heat: render: %w", err)
		}
		d, err = venom.Create(ch, renderConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("heat: render channel %s: %w", ch, err)
	}
	v := &View{
		Grid:    NewSource(instance+".grid", GridSchema),
		Heaters: NewSource(instance+".heaters", HeatersSchema),
		Status:  NewSource(supervisor.StatusChannel(instance), supervisor.StatusSchema),
		d:       d, buf: make([]byte, renderConfig.DataSize), log: log,
	}
	if d.Adopted() {
		// Carry the frame counter on from the renderer that died.
		var f engine.Frame[RenderMeta, ReadStat]
		if n, _, err := d.Read(v.buf); err == nil && RenderSchema.Decode(v.buf[:n], &f) == nil {
			v.Frames, v.h = f.Meta.Frames, f.Header
		}
	}
	return v, nil
}

// Frame reads every slice, counts a frame and publishes the renderer's
// snapshot, then carries out a fault sent to the renderer (fault render
// panic, chaos): it crashes, hangs or slows down like any process.
func (v *View) Frame(headless bool, fps float64) {
	now := time.Now()
	v.Grid.Read(now)
	v.Heaters.Read(now)
	v.Status.Read(now)
	v.Frames++
	m := RenderMeta{Frames: v.Frames, FPS: float32(fps), Pid: uint32(os.Getpid())}
	if headless {
		m.Headless = 1
	}
	v.stats = v.stats[:0]
	for _, s := range []struct {
		name              string
		tick, reads, errs uint64
	}{
		{"grid", v.Grid.Frame.Tick, v.Grid.Reads, v.Grid.Errors},
		{"heaters", v.Heaters.Frame.Tick, v.Heaters.Reads, v.Heaters.Errors},
		{"sup", v.Status.Frame.Tick, v.Status.Reads, v.Status.Errors},
	} {
		st := ReadStat{Tick: s.tick, Reads: s.reads, Errors: s.errs}
		copy(st.Name[:], s.name)
		v.stats = append(v.stats, st)
	}
	v.h.Tick, v.h.Mono, v.h.Rate, v.h.Epoch = v.Frames, venom.Monotonic(), 60, v.d.Epoch()
	n, err := RenderSchema.Encode(v.buf, v.h, &m, v.stats)
	if err == nil {
		_, err = v.d.Publish(v.buf[:n])
	}
	if err != nil {
		v.log.Warn("render: publish", "err", err)
	}
	v.d.Poll(v.handle)
	v.takeFault(n)
}

// handle takes the engine's fault ops sent to the renderer; the
// renderer has no ops of its own.
func (v *View) handle(_ venom.ClientID, b, _ []byte) int {
	c, err := engine.DecodeCommand(b)
	if err != nil || c.Op >= engine.OpUser {
		v.h.Dropped++
		return 0
	}
	v.h.Applied++
	if c.Op != engine.OpInput {
		v.fault = c
	}
	return 0
}

// takeFault carries out the last fault handed in, after the publish
// (the daemon's lanes advance as it polls, so a restarted renderer is
// not handed it again).
func (v *View) takeFault(n int) {
	c := v.fault
	v.fault = engine.Command{}
	if v.slow > 0 {
		v.slow--
		time.Sleep(v.slowBy)
	}
	if c.Op != engine.OpNone {
		v.log.Warn("fault injected", "channel", v.d.Name(), "op", c.Op, "frame", v.Frames)
	}
	switch c.Op {
	case engine.OpPanic:
		panic(fmt.Sprintf("heat: render: fault injected at frame %d", v.Frames))
	case engine.OpExit:
		os.Exit(int(min(max(c.Arg(0, 1), 0), 255)))
	case engine.OpMidPublish:
		// Half a snapshot, then death: readers keep the previous one.
		if buf, err := v.d.Begin(); err == nil {
			copy(buf, v.buf[:n/2])
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		hang()
	case engine.OpHang:
		hang()
	case engine.OpSlow:
		v.slowBy = time.Duration(min(max(c.Arg(0, 50), 0), 1000)) * time.Millisecond
		v.slow = int(min(max(c.Arg(1, 60), 0), 10_000))
	}
}

// hang stops for good: no frame, no heartbeat.
func hang() {
	for {
		time.Sleep(time.Hour)
	}
}

// StatusLine is the headless renderer's line: its frames, the grid, the
// heaters and, per child, what the supervisor says of it.
func (v *View) StatusLine(fps float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "render frames=%d fps=%.1f", v.Frames, fps)
	if g := v.Grid; g.Have {
		m := g.Frame.Meta
		fmt.Fprintf(&b, " | grid tick=%d %dx%d mean=%.1f max=%.1f heats=%d", g.Frame.Tick, m.Width, m.Height, m.Mean, m.Max, m.Heats)
	} else {
		b.WriteString(" | grid: no data")
	}
	if h := v.Heaters; h.Have {
		var power float32
		for _, ht := range h.Frame.Items {
			power += ht.Power
		}
		fmt.Fprintf(&b, " | heaters tick=%d n=%d setpoint=%.0f power=%.0f", h.Frame.Tick, len(h.Frame.Items), h.Frame.Meta.Setpoint, power)
	} else {
		b.WriteString(" | heaters: no data")
	}
	if v.Status.Have {
		for _, c := range v.Status.Frame.Items {
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
	v.d.Close()
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
