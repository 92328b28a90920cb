//go:build headless

package demo

import "context"

// Run runs the renderer until ctx ends or Options.Frames frames are done.
// This build (tag headless) has no Ebiten: the renderer always runs
// headless, and a screenshot is an error.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	return runHeadless(ctx, o)
}
