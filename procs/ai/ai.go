// Package ai is the pure simulation core of the AI process: agents that
// read the physics bodies every tick, steer, and ask physics to push the
// bodies they reach.
//
// Three kinds of agent share one world. Seekers chase the nearest body and
// push it when they reach it; fleers run from seekers and bodies that come
// near; flockers flock (separation, alignment, cohesion) among themselves.
// With no bodies to read (physics down, or its snapshot stale) every agent
// keeps moving: seekers and lone agents wander.
//
// As in package physics, the whole state is a fixed-layout Params value and
// a []Agent slice, the PRNG state included, so the process can publish both
// to shared memory and a restarted process resumes from its last snapshot
// with Restore. A World is deterministic: the same Params, commands, and
// sequence of Step calls with the same bodies give bit-identical agents and
// pushes, on one binary and architecture.
//
// The package knows nothing of processes or shared memory. A World is not
// safe for concurrent use.
package ai

import (
	"errors"
	"fmt"
	"math"

	"github.com/venomrt/venomrt/procs/physics"
)

// Limits on what a World accepts. Commands, snapshots and bodies come from
// other processes, so every value is checked against them before use.
const (
	MaxAgents    = 4096    // agents in one World
	MaxPushLimit = 64      // the largest allowed Params.MaxPushes
	MaxWorld     = 1 << 16 // px, the largest Width or Height
	MinWorld     = 64      // px, the smallest Width or Height
	MaxDT        = 0.1     // s; a longer Step is shortened to this
	// MaxBodyMass is the largest body mass Step believes; bodies claiming
	// more are ignored, which keeps every Push far inside
	// physics.MaxImpulse.
	MaxBodyMass = 1e5
)

// Errors returned by World methods, wrapped with context; compare with
// errors.Is.
var (
	// ErrBadValue reports a NaN, an infinity or a value out of its range.
	ErrBadValue = errors.New("ai: bad value")
	// ErrTooMany reports that a command would exceed MaxAgents (or that
	// agent IDs are exhausted).
	ErrTooMany = errors.New("ai: too many agents")
)

// Kind is what an agent does.
type Kind uint32

// The kinds of agent. Zero is no kind, so a zeroed or corrupt Agent is
// recognisably invalid.
const (
	Seeker  Kind = 1 + iota // chases the nearest body and pushes it
	Fleer                   // runs from nearby seekers and bodies
	Flocker                 // flocks with the other flockers
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Seeker:
		return "seeker"
	case Fleer:
		return "fleer"
	case Flocker:
		return "flocker"
	}
	return fmt.Sprintf("Kind(%d)", uint32(k))
}

func (k Kind) valid() bool { return k >= Seeker && k <= Flocker }

// Agent is one steering agent. Its layout is fixed (40 bytes, fixed-size
// numeric fields only) so a []Agent can be copied into shared memory as is.
// Coordinates match package physics: x right, y down, px.
type Agent struct {
	ID       uint32  // unique, > 0, never reused; ascending in World order
	Kind     Kind    // Seeker, Fleer or Flocker
	X, Y     float32 // position, px
	VX, VY   float32 // velocity, px/s
	Target   uint32  // ID of the body a seeker is chasing; 0 for none
	Heading  float32 // wander heading, radians in [-π, π]
	Cooldown float32 // seconds before this agent may push again, ≥ 0
	_        uint32  // padding to a multiple of 8 bytes
}

// Push is an impulse the AI asks physics to apply to one body, in the units
// of physics.World.Impulse: (DX, DY) in mass·px/s.
type Push struct {
	BodyID uint32
	DX, DY float32
}

// Params is the configuration and the scalar state of a World. Its layout
// is fixed (72 bytes) so it can be published next to the agents: together
// they are everything needed to continue exactly.
type Params struct {
	Seed      uint64 // the seed New started from, kept for reference
	RNG       uint64 // PRNG state; advances every step
	Steps     uint64 // Step calls since New
	NextID    uint32 // ID of the next spawned agent
	MaxPushes uint32 // pushes one Step may return, ≤ MaxPushLimit

	Width, Height float32 // world size, px; should match physics
	MaxSpeed      float32 // px/s
	MaxForce      float32 // steering acceleration limit, px/s²
	ViewRadius    float32 // how far a flocker sees other flockers, px
	FleeRadius    float32 // how near a threat makes a fleer run, px
	ReachDist     float32 // a seeker pushes a body this close to its edge, px
	PushSpeed     float32 // velocity change a push gives a body, px/s
	PushCooldown  float32 // seconds between one agent's pushes
	_             uint32  // padding to a multiple of 8 bytes
}

// DefaultParams returns the default configuration, matching
// physics.DefaultParams' 1280×720 world.
func DefaultParams() Params {
	return Params{
		Seed:         1,
		NextID:       1,
		MaxPushes:    8,
		Width:        1280,
		Height:       720,
		MaxSpeed:     160,
		MaxForce:     480,
		ViewRadius:   48,
		FleeRadius:   96,
		ReachDist:    4,
		PushSpeed:    300,
		PushCooldown: 0.5,
	}
}

// Validate reports whether p is usable, with an error wrapping ErrBadValue
// that names the first bad field. RNG, Steps and NextID accept any value.
func (p *Params) Validate() error {
	bad := func(what string, v float32, lo, hi float32) error {
		return fmt.Errorf("%w: %s %v, want [%v, %v]", ErrBadValue, what, v, lo, hi)
	}
	switch {
	case !inRange(p.Width, MinWorld, MaxWorld):
		return bad("width", p.Width, MinWorld, MaxWorld)
	case !inRange(p.Height, MinWorld, MaxWorld):
		return bad("height", p.Height, MinWorld, MaxWorld)
	case !inRange(p.MaxSpeed, 1, 1e4):
		return bad("max speed", p.MaxSpeed, 1, 1e4)
	case !inRange(p.MaxForce, 1, 1e5):
		return bad("max force", p.MaxForce, 1, 1e5)
	case !inRange(p.ViewRadius, 1, 1024):
		return bad("view radius", p.ViewRadius, 1, 1024)
	case !inRange(p.FleeRadius, 1, 1024):
		return bad("flee radius", p.FleeRadius, 1, 1024)
	case !inRange(p.ReachDist, 0, 256):
		return bad("reach distance", p.ReachDist, 0, 256)
	case !inRange(p.PushSpeed, 0, 5000):
		return bad("push speed", p.PushSpeed, 0, 5000)
	case !inRange(p.PushCooldown, 0, 60):
		return bad("push cooldown", p.PushCooldown, 0, 60)
	case p.MaxPushes > MaxPushLimit:
		return fmt.Errorf("%w: max pushes %d, want [0, %d]", ErrBadValue, p.MaxPushes, MaxPushLimit)
	}
	return nil
}

// World is a running AI simulation. Its state is Params plus agents; the
// rest are buffers reused from step to step, so a steady-state Step
// allocates nothing.
type World struct {
	p      Params
	agents []Agent // ascending by ID

	pushes    []Push       // returned by Step, reused
	acc       [][2]float32 // each agent's steering this step
	bodyBins  bins         // the usable bodies of this step, by cell
	agentBins bins         // the agents, by cell

	// naive swaps the body grid for a scan of every body when seeking: the
	// baseline the benchmark and tests compare the grid against.
	naive bool
}

// New returns a World with n agents (0 ≤ n ≤ MaxAgents) at random places
// drawn from p.Seed: a quarter seekers, a quarter fleers, half flockers. It
// restarts p.RNG from p.Seed, p.Steps from 0 and p.NextID from 1.
func New(p Params, n int) (*World, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if n < 0 || n > MaxAgents {
		return nil, fmt.Errorf("%w: %d agents, want [0, %d]", ErrTooMany, n, MaxAgents)
	}
	p.RNG = p.Seed
	p.Steps = 0
	p.NextID = 1
	w := &World{p: p, agents: make([]Agent, 0, max(n, 16)), pushes: make([]Push, 0, p.MaxPushes)}
	kinds := [...]Kind{Seeker, Flocker, Fleer, Flocker}
	for i := range n {
		x := randFloat(&w.p.RNG) * p.Width
		y := randFloat(&w.p.RNG) * p.Height
		w.add(kinds[i%len(kinds)], x, y)
	}
	return w, nil
}

// Restore returns a World that continues from a snapshot of Params and
// agents, as published by a World's Params and Agents. The snapshot is
// untrusted (it comes from shared memory): Restore checks every field and
// returns an error wrapping ErrBadValue or ErrTooMany rather than a World
// that could misbehave. It copies agents; the caller may reuse the slice.
func Restore(p Params, agents []Agent) (*World, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(agents) > MaxAgents {
		return nil, fmt.Errorf("%w: snapshot holds %d agents, limit %d", ErrTooMany, len(agents), MaxAgents)
	}
	var last uint32
	for i := range agents {
		a := &agents[i]
		if err := checkAgent(a, last); err != nil {
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		last = a.ID
	}
	switch {
	case last == math.MaxUint32:
		p.NextID = last // IDs are exhausted: Spawn refuses
	case p.NextID <= last:
		p.NextID = last + 1
	}
	w := &World{p: p, agents: make([]Agent, len(agents), max(len(agents), 16)), pushes: make([]Push, 0, p.MaxPushes)}
	copy(w.agents, agents)
	return w, nil
}

// checkAgent validates one restored agent; last is the previous agent's ID.
func checkAgent(a *Agent, last uint32) error {
	switch {
	case a.ID <= last:
		return fmt.Errorf("%w: ID %d not above the previous ID %d", ErrBadValue, a.ID, last)
	case !a.Kind.valid():
		return fmt.Errorf("%w: ID %d has kind %d", ErrBadValue, a.ID, uint32(a.Kind))
	// Step puts any agent back inside the world and under MaxSpeed; these
	// bounds only keep the arithmetic on the way there finite.
	case !inRange(a.X, -MaxWorld, 2*MaxWorld) || !inRange(a.Y, -MaxWorld, 2*MaxWorld):
		return fmt.Errorf("%w: ID %d has position (%v, %v)", ErrBadValue, a.ID, a.X, a.Y)
	case !inRange(a.VX, -1e5, 1e5) || !inRange(a.VY, -1e5, 1e5):
		return fmt.Errorf("%w: ID %d has velocity (%v, %v)", ErrBadValue, a.ID, a.VX, a.VY)
	case !inRange(a.Heading, -4, 4):
		return fmt.Errorf("%w: ID %d has heading %v", ErrBadValue, a.ID, a.Heading)
	case !inRange(a.Cooldown, 0, 60):
		return fmt.Errorf("%w: ID %d has cooldown %v", ErrBadValue, a.ID, a.Cooldown)
	}
	return nil
}

// Params returns the current Params, including the RNG state and step count
// that a snapshot must carry.
func (w *World) Params() Params { return w.p }

// Agents returns the agents in ascending ID order. The slice is the World's
// own: read it, copy it, but do not modify it or keep it past the next call
// to a World method.
func (w *World) Agents() []Agent { return w.agents }

// Len returns the number of agents.
func (w *World) Len() int { return len(w.agents) }

// Spawn adds an agent of the given kind at (x, y), which must lie inside
// the world, heading in a random direction.
func (w *World) Spawn(kind Kind, x, y float32) error {
	if !kind.valid() {
		return fmt.Errorf("%w: kind %d", ErrBadValue, uint32(kind))
	}
	if !inRange(x, 0, w.p.Width) || !inRange(y, 0, w.p.Height) {
		return fmt.Errorf("%w: position (%v, %v) outside the %v×%v world", ErrBadValue, x, y, w.p.Width, w.p.Height)
	}
	if len(w.agents) >= MaxAgents {
		return fmt.Errorf("%w: already %d", ErrTooMany, len(w.agents))
	}
	if w.p.NextID == math.MaxUint32 {
		return fmt.Errorf("%w: agent IDs exhausted", ErrTooMany)
	}
	w.add(kind, x, y)
	return nil
}

// Clear removes every agent. IDs are not reused afterwards.
func (w *World) Clear() {
	w.agents = w.agents[:0]
}

// add appends an agent with the next ID, a random heading and half the
// top speed along it.
func (w *World) add(kind Kind, x, y float32) {
	h := (2*randFloat(&w.p.RNG) - 1) * math.Pi
	sin, cos := math.Sincos(float64(h))
	v := w.p.MaxSpeed / 2
	w.agents = append(w.agents, Agent{
		ID: w.p.NextID, Kind: kind,
		X: x, Y: y, VX: float32(cos) * v, VY: float32(sin) * v,
		Heading: h,
	})
	w.p.NextID++
}

// splitmix64 advances the state and returns the next value. Any uint64 is a
// valid state, which is what lets the state live in Params and come back
// from a snapshot.
func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// randFloat returns a uniform float32 in [0, 1).
func randFloat(s *uint64) float32 {
	return float32(splitmix64(s)>>40) / (1 << 24)
}

// usable reports whether a body read from physics can be believed. Bodies
// come from another process's shared memory: a corrupt one is skipped, not
// trusted.
func usable(b *physics.Body) bool {
	// Positions are bounded, not just finite, so squared distances stay
	// finite too.
	return b.ID != 0 && inRange(b.X, -MaxWorld, 2*MaxWorld) && inRange(b.Y, -MaxWorld, 2*MaxWorld) &&
		inRange(b.R, 0, physics.MaxRadius) && b.Mass > 0 && b.Mass <= MaxBodyMass
}

// finite reports whether f is neither NaN nor an infinity.
func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// inRange reports whether lo ≤ f ≤ hi; it is false for NaN.
func inRange(f, lo, hi float32) bool { return f >= lo && f <= hi }

func sqrt(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// limit scales (x, y) down to length n if it is longer.
func limit(x, y, n float32) (float32, float32) {
	l2 := x*x + y*y
	if l2 > n*n {
		k := n / sqrt(l2)
		x *= k
		y *= k
	}
	return x, y
}
