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
	// Width is a fresh world's width, px (0: DefaultParams', 1280). A
	// world of many bodies wants room as well as regions: 1280 px per
	// 10,000 bodies keeps the default world's density. A restored world
	// keeps the width it had.
	Width float32

	w     *World
	world uint64  // the world's id (Region.World)
	r     *region // the region's part, when Regions > 1
	// countErr is a restore refused because the snapshot is of another
	// region count: the fresh start engine.Run then asks for fails with
	// it too, so the process stops instead of silently starting over.
	countErr error
	// refused is set when a region's own snapshot was refused (the
	// engine then starts it fresh): it joins its neighbours' world
	// rather than make its strip's bodies again.
	refused bool
}

// Restore resumes from a snapshot, or starts a fresh world.
func (p *Sim) Restore(f *engine.Frame[Meta, Body]) error {
	if p.regions() > 1 {
		return p.restoreRegion(f)
	}
	if f != nil {
		if c := f.Meta.Region.Count; c > 1 {
			p.countErr = countError(int(c), 1)
			return p.countErr
		}
		w, err := Restore(f.Meta.Params, f.Items)
		if err != nil {
			return err
		}
		p.w = w
		p.world = f.Meta.Region.World
		if p.world == 0 {
			p.world = p.worldID()
		}
		return nil
	}
	if p.countErr != nil {
		return p.countErr
	}
	p.world = p.worldID()
	return p.fresh(p.Bodies)
}

// regions is the region count (Regions, 0 meaning 1).
func (p *Sim) regions() int { return max(p.Regions, 1) }

// params are a fresh world's Params.
func (p *Sim) params() Params {
	params := DefaultParams()
	params.Seed, params.RNG = p.Seed, p.Seed
	if p.Width > 0 {
		params.Width = p.Width
	}
	return params
}

// worldID is the id of a fresh world of this run: WorldID, or one
// derived from Seed.
func (p *Sim) worldID() uint64 {
	if p.WorldID != 0 {
		return p.WorldID
	}
	s := p.Seed
	return splitmix64(&s) | 1
}

// countError is the refusal of a snapshot made by a world of have
// regions in a run of want.
func countError(have, want int) error {
	return fmt.Errorf("%w: the snapshot is of a world of %d region(s), this run has %d: run with --regions %d or --fresh",
		ErrBadValue, have, want, have)
}

func (p *Sim) fresh(n int) error {
	w, err := New(p.params(), n)
	if err != nil {
		return err
	}
	p.w = w
	return nil
}

// Handle applies one command. In a world of regions a command reaches
// the regions it touches: every region checks its values against the
// whole world (so all answer alike), a spawn is made by the region whose
// strip holds its x, an impulse by the region holding its body, and
// explode, clear, gravity and reset act on each region's own bodies.
func (p *Sim) Handle(c engine.Command) error {
	r, w := p.r, p.w
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
		x, y, vx, vy, rad := a(0), a(1), a(2), a(3), float32(c.Arg(4, 8))
		if r != nil {
			if here, err := p.spawnHere(x, 1, w.checkSpawn(x, y, vx, vy, rad)); !here || err != nil {
				return err
			}
		}
		return w.Spawn(x, y, vx, vy, rad)
	case OpSpawnBurst:
		if err := need(3); err != nil {
			return err
		}
		n := c.Args[2]
		if n < 1 || n > MaxBurst {
			return fmt.Errorf("%w: burst of %v bodies", ErrBadValue, n)
		}
		if r != nil {
			if here, err := p.spawnHere(a(0), int(n), w.checkInside(a(0), a(1))); !here || err != nil {
				return err
			}
		}
		return w.SpawnBurst(a(0), a(1), int(n))
	case OpImpulse:
		if err := need(3); err != nil {
			return err
		}
		if c.Args[0] < 0 || c.Args[0] > 1<<32-1 {
			return fmt.Errorf("%w: body id %v", ErrBadValue, c.Args[0])
		}
		if r != nil {
			return p.impulseRegion(uint32(c.Args[0]), a(1), a(2))
		}
		return w.Impulse(uint32(c.Args[0]), a(1), a(2))
	case OpExplode:
		if err := need(4); err != nil {
			return err
		}
		return w.Explode(a(0), a(1), a(2), a(3))
	case OpClear:
		w.Clear()
		if r != nil {
			r.out[left], r.out[right] = r.out[left][:0], r.out[right][:0]
		}
		return nil
	case OpGravity:
		if err := need(2); err != nil {
			return err
		}
		return w.SetGravity(a(0), a(1))
	case OpReset:
		n := c.Arg(0, float64(p.Bodies))
		if n < 0 || n > MaxBodies {
			return fmt.Errorf("%w: reset to %v bodies", ErrBadValue, n)
		}
		if r != nil {
			return p.resetRegion(int(n))
		}
		return p.fresh(int(n))
	}
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step advances the world (a region first exchanges with its
// neighbours, then hands over what crossed its borders).
func (p *Sim) Step(dt time.Duration) {
	if p.r != nil {
		p.stepRegion(dt)
		return
	}
	p.w.Step(dt.Seconds())
}

// Snapshot publishes the params and every body (a region: its own
// bodies, then its outboxes).
func (p *Sim) Snapshot(m *Meta, items []Body) []Body {
	if p.r != nil {
		return p.snapshotRegion(m, items)
	}
	m.Params = p.w.Params()
	n := p.w.Len()
	m.Region = Region{World: p.world, Count: 1, Owned: uint32(n), Hi: m.Params.Width}
	return append(items, p.w.Bodies()...)
}

// Close lets go of the neighbours' channels (a region's followers). The
// process's end does as much; a test that drops a Sim calls it.
func (p *Sim) Close() {
	if p.r != nil {
		p.r.close()
	}
}

// World is the simulation, for tests and benchmarks.
func (p *Sim) World() *World { return p.w }

// Run runs the physics process on channel until ctx ends.
func Run(ctx context.Context, channel string, seed uint64, bodies int, log *slog.Logger) error {
	p := &Sim{Seed: seed, Bodies: bodies}
	return engine.Run(ctx, Schema, p, engine.Options{Channel: channel, Rate: 60, DataSize: DataSize, Log: log})
}
