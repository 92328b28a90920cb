// Package heat is a small game on venomrt's public API, and nothing
// else: a heat-diffusion grid and a few heaters that keep it warm, two
// OS processes that read each other's slices every tick.
//
//   - "grid" (60 Hz) is a 2D temperature field, 64×48 cells by default,
//     one item per cell. Each tick heat diffuses to the neighbours and
//     every cell cools toward Ambient; each heater in the heaters' slice
//     warms the cell under it by its power. Commands: heat a cell (and
//     its neighbours within a radius) by an amount, clear.
//   - "heaters" (30 Hz) are movers that read the grid's slice, steer
//     toward the coldest side, keep apart, and set their power by how far
//     the temperature around them is below the setpoint. Commands: spawn,
//     remove all, setpoint.
//   - "render" reads both slices at 60 Hz: a status line per second
//     headless, or the window (heat-window, package window) where a
//     display exists. A click heats the grid.
//
// Game declares all three on package engine/game, which gives the
// program run, proc, render, ls, rm and fault, and registers two tools:
// chaos (engine/chaos) and bench (engine/bench, without its plot). It
// registers no NATS bridge, so the program links no NATS and no plotting
// library. Both
// simulations are deterministic for a seed, their commands and what they
// read of each other, and keep their whole state in their slice: a
// process killed at any moment comes back from its last snapshot, and
// the commands sent while it was down are applied exactly once.
package heat

import (
	"context"
	"flag"
	"fmt"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bench"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
)

// WindowBinary is the file name of the window binary
// (examples/heat/cmd/heat-window), which "heat run" starts as its
// renderer where a display exists: found beside heat, on PATH, or by
// --window.
const WindowBinary = "heat-window"

// Game declares the heat game: the processes grid and heaters, their
// flags, bench's size knob (--width) and the renderer. window runs the
// renderer with a window: the window binary passes window.Run; the main
// binary passes nil, runs the headless loop itself and starts
// WindowBinary as its renderer where a display exists. Both binaries
// declare the same game, so they take the same flags.
func Game(window func(ctx context.Context, o Options) error) *game.Game {
	var f struct {
		width, height, heaters, frames int
		seed                           uint64
		screenshot                     string
	}
	g := game.New("heat")
	g.Flags(func(fs *flag.FlagSet) {
		fs.IntVar(&f.width, "width", 64, fmt.Sprintf("grid columns of a fresh grid, %d..%d", MinSide, MaxSide))
		fs.IntVar(&f.height, "height", 0, "grid rows of a fresh grid (0: three quarters of --width)")
		fs.IntVar(&f.heaters, "heaters", 6, fmt.Sprintf("heaters in a fresh world, 0..%d", MaxHeaters))
		fs.Uint64Var(&f.seed, "seed", 1, "seed of a fresh grid and heaters (and of chaos's faults)")
		fs.StringVar(&f.screenshot, "screenshot", "", "window: write a PNG to this file after --frames frames (default 60), then end the game")
		fs.IntVar(&f.frames, "frames", 0, "end the game after the renderer's first N frames (0: never)")
	})
	// height is the rows of a fresh grid. It is worked out where it is
	// used, never stored in the flag: the flags' values are what every
	// child is given, and bench gives each child a --width of its own.
	height := func() int {
		if f.height == 0 {
			return max(f.width*3/4, MinSide)
		}
		return f.height
	}
	g.Prepare(func(string, *flag.FlagSet) error {
		if err := checkSize(f.width, height()); err != nil {
			return fmt.Errorf("--width %d --height %d: %w", f.width, f.height, err)
		}
		if f.heaters < 0 || f.heaters > MaxHeaters {
			return fmt.Errorf("--heaters %d, want 0..%d", f.heaters, MaxHeaters)
		}
		if f.frames < 0 {
			return fmt.Errorf("--frames %d, want >= 0", f.frames)
		}
		return nil
	})
	g.Add(
		game.Sim("grid", func(env game.Env) (engine.Sim[GridMeta, Cell], error) {
			return &GridProc{Seed: f.seed, Width: f.width, Height: height(), Heaters: env.Channel("heaters")}, nil
		}, engine.Options{Rate: 60, DataSize: GridSchema.Size(MaxCells)}),
		game.Sim("heaters", func(env game.Env) (engine.Sim[HeatersMeta, Heater], error) {
			return &HeatersProc{Seed: f.seed, N: f.heaters, Width: f.width, Height: height(), Grid: env.Channel("grid")}, nil
		}, engine.Options{Rate: 30, DataSize: HeatersSchema.Size(MaxHeaters)}),
	)
	// bench --width 64,128,256 runs the game at each width (the height
	// follows, three quarters of it, unless --height is given).
	g.Sized(game.Size{Flag: "width", Default: []int{64, 128, 256}, Max: MaxSide})

	opts := func(env game.Env) Options {
		o := Options{Env: env, Screenshot: f.screenshot, Frames: f.frames}
		if o.Screenshot != "" && o.Frames == 0 {
			o.Frames = 60
		}
		return o
	}
	// The runtime picks: the window binary where a display exists, this
	// program's headless loop elsewhere; a screenshot asked of a headless
	// renderer is refused before anything starts.
	r := game.Renderer{WindowBinary: WindowBinary,
		Headless: func(ctx context.Context, env game.Env) error { return RunHeadless(ctx, opts(env)) },
		NeedsWindow: func() string {
			if f.screenshot != "" {
				return "--screenshot"
			}
			return ""
		}}
	if window != nil {
		r.Window = func(ctx context.Context, env game.Env) error { return window(ctx, opts(env)) }
	}
	g.Render(r)
	g.Use(chaos.Tool(), bench.Tool())
	return g
}
