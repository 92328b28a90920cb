//go:build !headless

package demo

import (
	"context"
	"os"
)

// Run runs the renderer until ctx ends, its window is closed (nil: the
// game is over) or Options.Frames frames are done. Without a display, or
// with Options.Headless, the read loop runs without drawing.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.Headless || os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return runHeadless(ctx, o)
	}
	return runWindow(ctx, o)
}
