package physics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// Ops of the physics process's commands.
const (
	// OpSpawn spawns one body: x, y [, vx, vy, r].
	OpSpawn = engine.OpUser + iota
	// OpSpawnBurst spawns n random bodies around x, y: x, y, n.
	OpSpawnBurst
	// OpImpulse pushes a body: id, dx, dy.
	OpImpulse
	// OpExplode pushes every body near x, y away: x, y, radius, strength.
	OpExplode
	// OpClear removes every body.
	OpClear
	// OpGravity sets gravity: gx, gy.
	OpGravity
	// OpReset starts the world again from its seed with n bodies: [n].
	OpReset
)

// Schema is the shape of the physics channel's snapshots.
var Schema = engine.MustSchema[Meta, Body]()

// DataSize is the snapshot buffer the physics channel needs: MaxBodies.
var DataSize = Schema.Size(MaxBodies)

// Sim is the physics process: an engine.Sim over a World.
type Sim struct {
	Seed   uint64 // seed of a fresh world
	Bodies int    // bodies of a fresh world (the whole world's, over every region)

	// Region and Regions place the process in a world cut into Regions
	// vertical strips (a process group: game.Env's Index and Count); 0
	// Regions means 1, the whole world in this process.
	Region, Regions int
	// Neighbour names region i's channel (game.Env.Member), for
	// 0 ≤ i < Regions; needed when Regions > 1.
	Neighbour func(i int) string
	// WorldID is the id a fresh world of this run takes (game.Env.RunID):
	// regions that start fresh with the same World make one world; 0
	// derives it from Seed.
	WorldID uint64
	// Log receives the region's refusals of its neighbours' snapshots.
	Log *slog.Logger

	w *World
}

// Restore resumes from a snapshot, or starts a fresh world.
func (p *Sim) Restore(f *engine.Frame[Meta, Body]) error {
	if f != nil {
		w, err := Restore(f.Meta.Params, f.Items)
		if err != nil {
			return err
		}
		p.w = w
		return nil
	}
	return p.fresh(p.Bodies)
}

func (p *Sim) fresh(n int) error {
	params := DefaultParams()
	params.Seed, params.RNG = p.Seed, p.Seed
	w, err := New(params, n)
	if err != nil {
		return err
	}
	p.w = w
	return nil
}

// Handle applies one command.
func (p *Sim) Handle(c engine.Command) error {
	a := func(i int) float32 { return float32(c.Arg(i, 0)) }
	need := func(n int) error {
		if c.Argc < n {
			return fmt.Errorf("%w: op %d wants %d arguments, got %d", engine.ErrBadCommand, c.Op, n, c.Argc)
		}
		return nil
	}
	switch c.Op {
	case OpSpawn:
		if err := need(2); err != nil {
			return err
		}
		return p.w.Spawn(a(0), a(1), a(2), a(3), float32(c.Arg(4, 8)))
	case OpSpawnBurst:
		if err := need(3); err != nil {
			return err
		}
		n := c.Args[2]
		if n < 1 || n > MaxBurst {
			return fmt.Errorf("%w: burst of %v bodies", ErrBadValue, n)
		}
		return p.w.SpawnBurst(a(0), a(1), int(n))
	case OpImpulse:
		if err := need(3); err != nil {
			return err
		}
		if c.Args[0] < 0 || c.Args[0] > 1<<32-1 {
			return fmt.Errorf("%w: body id %v", ErrBadValue, c.Args[0])
		}
		return p.w.Impulse(uint32(c.Args[0]), a(1), a(2))
	case OpExplode:
		if err := need(4); err != nil {
			return err
		}
		return p.w.Explode(a(0), a(1), a(2), a(3))
	case OpClear:
		p.w.Clear()
		return nil
	case OpGravity:
		if err := need(2); err != nil {
			return err
		}
		return p.w.SetGravity(a(0), a(1))
	case OpReset:
		n := c.Arg(0, float64(p.Bodies))
		if n < 0 || n > MaxBodies {
			return fmt.Errorf("%w: reset to %v bodies", ErrBadValue, n)
		}
		return p.fresh(int(n))
	}
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step advances the world.
func (p *Sim) Step(dt time.Duration) { p.w.Step(dt.Seconds()) }

// Snapshot publishes the params and every body.
func (p *Sim) Snapshot(m *Meta, items []Body) []Body {
	m.Params = p.w.Params()
	n := p.w.Len()
	m.Region = Region{Count: 1, Owned: uint32(n), Hi: m.Params.Width}
	return append(items, p.w.Bodies()...)
}

// World is the simulation, for tests and benchmarks.
func (p *Sim) World() *World { return p.w }

// Run runs the physics process on channel until ctx ends.
func Run(ctx context.Context, channel string, seed uint64, bodies int, log *slog.Logger) error {
	p := &Sim{Seed: seed, Bodies: bodies}
	return engine.Run(ctx, Schema, p, engine.Options{Channel: channel, Rate: 60, DataSize: DataSize, Log: log})
}
