package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/venomrt/venomrt/venom"
)

// Run is the headless renderer: the same reads as the window, at 60 Hz,
// without drawing, and a status line per second on Options.Out. It runs
// until ctx ends (nil) or Options.Frames frames are done. A screenshot is
// ErrNoDisplay: drawing is package demo/window's.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.Screenshot != "" {
		return ErrNoDisplay
	}
	s, err := Open(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	o, r := s.Options, s.Reader
	o.Log.Info("renderer running headless", "instance", o.Instance, "connect", o.Connect)
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	var frames uint64
	lastLine, lastFrames := time.Now(), uint64(0)
	fps := 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		r.Frame()
		frames++
		s.Publish(RenderMeta{Frames: frames, Updates: frames, FPS: fps, TPS: fps, Headless: 1})
		if now := time.Now(); now.Sub(lastLine) >= time.Second {
			fps = float64(frames-lastFrames) / now.Sub(lastLine).Seconds()
			lastLine, lastFrames = now, frames
			fmt.Fprintln(o.Out, statusLine(r, frames, fps))
		}
		if o.Frames > 0 && frames >= uint64(o.Frames) {
			fmt.Fprintln(o.Out, statusLine(r, frames, fps))
			return nil
		}
	}
}

func statusLine(r *Reader, frames uint64, fps float64) string {
	now := venom.Monotonic()
	var b strings.Builder
	fmt.Fprintf(&b, "render frames=%d fps=%.1f %s", frames, fps, r.Counts())
	for _, l := range r.HUDLines(now) {
		b.WriteString(" | ")
		b.WriteString(strings.Join(strings.Fields(l), " "))
	}
	return b.String()
}
