package ai

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world"
)

// Ops of the ai process's commands.
const (
	// OpSpawn spawns an agent: kind, x, y.
	OpSpawn = engine.OpUser + iota
	// OpClear removes every agent.
	OpClear
	// OpReset starts again from the seed with n agents: [n].
	OpReset
)

// Schema is the shape of the ai channel's snapshots.
var Schema = engine.MustSchema[Params, Agent]()

// Sim is the ai process: agents that read the physics slice every tick,
// steer, and push bodies through commands to physics.
type Sim struct {
	Seed   uint64
	Agents int
	// Physics are the channels of physics's regions, region i's at i
	// (game.Env.Members("physics")): one for a world not cut in regions.
	// The agents see every region's bodies as one world.
	Physics []string
	Log     *slog.Logger

	w      *World
	phys   *world.Follower
	bodies []physics.Body // the regions' bodies merged, reused every tick
}

// Restore resumes from a snapshot, or starts fresh.
func (p *Sim) Restore(f *engine.Frame[Params, Agent]) error {
	if f != nil {
		w, err := Restore(f.Meta, f.Items)
		if err != nil {
			return err
		}
		p.w = w
		return nil
	}
	return p.fresh(p.Agents)
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
	switch c.Op {
	case OpSpawn:
		if c.Argc < 3 {
			return fmt.Errorf("%w: spawn wants kind, x, y", engine.ErrBadCommand)
		}
		k := Kind(c.Args[0])
		if float64(k) != c.Args[0] || !k.valid() {
			return fmt.Errorf("%w: agent kind %v", ErrBadValue, c.Args[0])
		}
		return p.w.Spawn(k, float32(c.Args[1]), float32(c.Args[2]))
	case OpClear:
		p.w.Clear()
		return nil
	case OpReset:
		n := c.Arg(0, float64(p.Agents))
		if n < 0 || n > MaxAgents {
			return fmt.Errorf("%w: reset to %v agents", ErrBadValue, n)
		}
		return p.fresh(int(n))
	}
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step reads the newest physics snapshot, steers, and sends the pushes.
// With physics down it steps on without bodies: agents wander.
func (p *Sim) Step(dt time.Duration) {
	bodies := p.readPhysics()
	for _, push := range p.w.Step(dt.Seconds(), bodies) {
		// A full lane (physics down for long) or none yet drops pushes:
		// they are steering, not input, and the next tick makes new ones.
		// The push goes to the region whose snapshot holds the body.
		if p.phys == nil || p.phys.Send(engine.Cmd(physics.OpImpulse, float64(push.BodyID), float64(push.DX), float64(push.DY))) != nil {
			break
		}
	}
}

// readPhysics follows every region of physics: the bodies of the regions
// that are live (owned, and in flight between regions), none of a region
// that is down (its slice stale) or not there.
func (p *Sim) readPhysics() []physics.Body {
	if len(p.Physics) == 0 {
		return nil
	}
	if p.phys == nil {
		p.phys = world.Follow(p.Physics, engine.FollowOptions{})
	}
	p.phys.Poll()
	p.bodies = p.phys.Append(p.bodies[:0], true)
	if len(p.bodies) == 0 {
		return nil // as a physics down: agents wander
	}
	return p.bodies
}

// Snapshot publishes the params and every agent.
func (p *Sim) Snapshot(m *Params, items []Agent) []Agent {
	*m = p.w.Params()
	return append(items, p.w.Agents()...)
}

// Close lets go of the physics channel.
func (p *Sim) Close() {
	if p.phys != nil {
		p.phys.Close()
	}
}

// Run runs the ai process on channel until ctx ends.
func Run(ctx context.Context, channel, physicsChannel string, seed uint64, agents int, log *slog.Logger) error {
	p := &Sim{Seed: seed, Agents: agents, Physics: []string{physicsChannel}, Log: log}
	defer p.Close()
	return engine.Run(ctx, Schema, p, engine.Options{Channel: channel, Rate: 30, DataSize: Schema.Size(MaxAgents), Log: log})
}
