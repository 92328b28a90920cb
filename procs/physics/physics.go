// Package physics is the pure simulation core of the physics process: 2D
// circles with gravity, walls and circle–circle collisions found through a
// uniform-grid broad phase.
//
// The whole state of a World is a Params value and a []Body slice. Both have
// a fixed layout (fixed-size numeric fields only), so the process can copy
// them into shared memory as they are, and a restarted process can resume
// from its last snapshot with Restore and continue exactly as the old one
// would have. For that reason even the random number generator's state is a
// field of Params.
//
// A World is deterministic: the same Params, the same commands and the same
// sequence of Step calls give bit-identical bodies. It iterates in index
// order, never over a map, and never reads the clock. Results are identical
// for one binary on one architecture; compilers may fuse multiply-adds
// differently on other architectures.
//
// The package knows nothing of processes or shared memory; the process loop
// calls Restore (or New), the command methods, Step, and then publishes
// Params and Bodies. A World is not safe for concurrent use.
package physics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Limits on what a World accepts. Commands and snapshots come from other
// processes, so every value is checked against them before use.
const (
	MaxBodies     = 1 << 17       // bodies in one World (131,072: a world of 100,000 fits one process)
	MinRadius     = 0.5           // px, the smallest body radius
	MaxRadius     = 64            // px, the largest body radius
	MaxBurst      = 1000          // bodies in one SpawnBurst
	MinWorld      = 4 * MaxRadius // px, the smallest Width or Height
	MaxWorld      = 1 << 16       // px, the largest Width or Height
	MaxGravity    = 1e5           // px/s², per component
	MaxImpulse    = 1e9           // mass·px/s, per component of one Impulse
	MaxSpeedLimit = 1e5           // px/s, the largest allowed Params.MaxSpeed
	MaxIterations = 8             // collision solver passes per step
	MaxDT         = 0.1           // s; a longer Step is shortened to this
	MinMass       = 1e-3          // the smallest mass Restore accepts
	MaxMass       = 1e9           // the largest mass Restore accepts
)

// Errors returned by World methods, wrapped with context; compare with
// errors.Is.
var (
	// ErrBadValue reports a NaN, an infinity or a value out of its range.
	ErrBadValue = errors.New("physics: bad value")
	// ErrTooMany reports that a command would exceed MaxBodies (or that
	// body IDs are exhausted).
	ErrTooMany = errors.New("physics: too many bodies")
	// ErrNotFound reports a body ID that is not in the World.
	ErrNotFound = errors.New("physics: no such body")
)

// Body flags.
const (
	// FlagContact is set by Step on a body that touched another body during
	// that step, so a renderer can highlight collisions.
	FlagContact uint32 = 1 << iota

	knownFlags = FlagContact
)

// Body is one circle. Its layout is fixed (32 bytes, fixed-size numeric
// fields only) so that a []Body can be copied into shared memory as is.
// Coordinates are screen-like: x grows to the right, y grows downward.
type Body struct {
	ID     uint32  // unique, > 0, never reused; ascending in World order
	Flags  uint32  // FlagContact; other bits are zero
	X, Y   float32 // centre, px
	VX, VY float32 // velocity, px/s
	R      float32 // radius, px, in [MinRadius, MaxRadius]
	Mass   float32 // R² for bodies made here (uniform density)
}

// Params is the configuration and the scalar state of a World. Its layout is
// fixed (64 bytes) so it can be published next to the bodies: together they
// are everything needed to continue a simulation exactly.
type Params struct {
	Seed   uint64 // the seed New started from, kept for reference
	RNG    uint64 // PRNG state; advances whenever random bodies are made
	Steps  uint64 // Step calls since New
	NextID uint32 // ID of the next spawned body

	// Iterations is the number of collision solver passes per step, 1 to
	// MaxIterations: more passes settle piles with less overlap.
	Iterations uint32

	Width, Height      float32 // world size, px, in [MinWorld, MaxWorld]
	GravityX, GravityY float32 // px/s²
	Restitution        float32 // bounciness of walls and collisions, [0, 1]
	MaxSpeed           float32 // px/s; faster bodies are slowed to it
	SpawnMinR          float32 // radius range of randomly made bodies, px
	SpawnMaxR          float32
}

// DefaultParams returns the default configuration: a 1280×720 world with
// downward gravity of 400 px/s², restitution 0.8 and random bodies of radius
// 2 to 5 px (small enough that 10,000 of them fill under half the world).
func DefaultParams() Params {
	return Params{
		Seed:        1,
		NextID:      1,
		Iterations:  2,
		Width:       1280,
		Height:      720,
		GravityX:    0,
		GravityY:    400,
		Restitution: 0.8,
		MaxSpeed:    2000,
		SpawnMinR:   2,
		SpawnMaxR:   5,
	}
}

// Validate reports whether p is usable, with an error wrapping ErrBadValue
// that names the first bad field. RNG, Steps and NextID accept any value.
func (p *Params) Validate() error {
	switch {
	case !inRange(p.Width, MinWorld, MaxWorld) || !inRange(p.Height, MinWorld, MaxWorld):
		return fmt.Errorf("%w: world size %v×%v, want each in [%v, %v]", ErrBadValue, p.Width, p.Height, MinWorld, MaxWorld)
	case !inRange(p.GravityX, -MaxGravity, MaxGravity) || !inRange(p.GravityY, -MaxGravity, MaxGravity):
		return fmt.Errorf("%w: gravity (%v, %v), want each component within ±%v", ErrBadValue, p.GravityX, p.GravityY, MaxGravity)
	case !inRange(p.Restitution, 0, 1):
		return fmt.Errorf("%w: restitution %v, want [0, 1]", ErrBadValue, p.Restitution)
	case !(p.MaxSpeed > 0) || p.MaxSpeed > MaxSpeedLimit:
		return fmt.Errorf("%w: max speed %v, want (0, %v]", ErrBadValue, p.MaxSpeed, MaxSpeedLimit)
	case !inRange(p.SpawnMinR, MinRadius, MaxRadius) || !inRange(p.SpawnMaxR, p.SpawnMinR, MaxRadius):
		return fmt.Errorf("%w: spawn radius range [%v, %v], want %v ≤ min ≤ max ≤ %v", ErrBadValue, p.SpawnMinR, p.SpawnMaxR, MinRadius, MaxRadius)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("%w: %d solver iterations, want [1, %d]", ErrBadValue, p.Iterations, MaxIterations)
	}
	return nil
}

// World is a running simulation. Its state is Params plus bodies; the rest
// are buffers reused from step to step so a steady-state Step allocates
// nothing.
type World struct {
	p      Params
	bodies []Body // ascending by ID, which is what Impulse's search relies on

	grid    grid
	pairs   []pair
	moved   [][2]float32 // positions after integration, before the solver
	invMass []float32    // 1/Mass of each body, for the solver

	// ghosts are other processes' bodies the next Step collides this
	// World's bodies with (SetGhosts); Step empties it.
	ghosts   []Body
	arrivals []Body // Adopt's copy of the bodies it merges in
	// idStep is how far NextID advances per body made: 1 for a whole
	// world, the region count for a region, whose ids then stay in its
	// own residue class (SetIDSpace). 0 means 1.
	idStep uint32

	// naive swaps the grid for the O(n²) pair search: the baseline the
	// benchmarks and tests compare the grid against.
	naive bool
}

// New returns a World with n random bodies (0 ≤ n ≤ MaxBodies) drawn from
// p.Seed: the same p and n always give the same bodies. New restarts
// p.RNG from p.Seed, p.Steps from 0 and p.NextID from 1.
func New(p Params, n int) (*World, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if n < 0 || n > MaxBodies {
		return nil, fmt.Errorf("%w: %d bodies, want [0, %d]", ErrTooMany, n, MaxBodies)
	}
	p.RNG = p.Seed
	p.Steps = 0
	p.NextID = 1
	w := &World{p: p, bodies: make([]Body, 0, max(n, 64))}
	for range n {
		r := w.randRange(p.SpawnMinR, p.SpawnMaxR)
		x := w.randRange(r, p.Width-r)
		y := w.randRange(r, p.Height-r)
		vx := w.randRange(-100, 100)
		vy := w.randRange(-100, 100)
		w.add(x, y, vx, vy, r)
	}
	return w, nil
}

// Restore returns a World that continues from a snapshot of Params and
// bodies, as published by a World's Params and Bodies. The snapshot is
// untrusted (it comes from shared memory): Restore checks every field and
// returns an error wrapping ErrBadValue or ErrTooMany rather than a World
// that could misbehave. It copies bodies; the caller may reuse the slice.
//
// A NextID at or below the last body's ID is raised past it, so IDs stay
// unique even if a snapshot was torn between its parts.
func Restore(p Params, bodies []Body) (*World, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(bodies) > MaxBodies {
		return nil, fmt.Errorf("%w: snapshot holds %d bodies, limit %d", ErrTooMany, len(bodies), MaxBodies)
	}
	var last uint32
	for i := range bodies {
		b := &bodies[i]
		if err := checkBody(b, last); err != nil {
			return nil, fmt.Errorf("body %d: %w", i, err)
		}
		last = b.ID
	}
	switch {
	case last == math.MaxUint32:
		p.NextID = last // IDs are exhausted: room refuses every spawn
	case p.NextID <= last:
		p.NextID = last + 1
	}
	w := &World{p: p, bodies: make([]Body, len(bodies), max(len(bodies), 64))}
	copy(w.bodies, bodies)
	for i := range w.bodies {
		w.bodies[i].Flags &= knownFlags
	}
	return w, nil
}

// checkBody validates one restored body; last is the previous body's ID.
func checkBody(b *Body, last uint32) error {
	switch {
	case b.ID <= last:
		return fmt.Errorf("%w: ID %d not above the previous ID %d", ErrBadValue, b.ID, last)
	// Step puts any body back inside the walls and under MaxSpeed; these
	// bounds only keep the arithmetic on the way there finite.
	case !inRange(b.X, -2*MaxWorld, 2*MaxWorld) || !inRange(b.Y, -2*MaxWorld, 2*MaxWorld):
		return fmt.Errorf("%w: ID %d has position (%v, %v)", ErrBadValue, b.ID, b.X, b.Y)
	case !inRange(b.VX, -10*MaxSpeedLimit, 10*MaxSpeedLimit) || !inRange(b.VY, -10*MaxSpeedLimit, 10*MaxSpeedLimit):
		return fmt.Errorf("%w: ID %d has velocity (%v, %v)", ErrBadValue, b.ID, b.VX, b.VY)
	case !inRange(b.R, MinRadius, MaxRadius):
		return fmt.Errorf("%w: ID %d has radius %v, want [%v, %v]", ErrBadValue, b.ID, b.R, MinRadius, MaxRadius)
	case !inRange(b.Mass, MinMass, MaxMass):
		return fmt.Errorf("%w: ID %d has mass %v, want [%v, %v]", ErrBadValue, b.ID, b.Mass, MinMass, MaxMass)
	}
	return nil
}

// Params returns the current Params, including the RNG state and step count
// that a snapshot must carry.
func (w *World) Params() Params { return w.p }

// Bodies returns the bodies in ascending ID order. The slice is the World's
// own: read it, copy it, but do not modify it or keep it past the next call
// to a World method.
func (w *World) Bodies() []Body { return w.bodies }

// Len returns the number of bodies.
func (w *World) Len() int { return len(w.bodies) }

// Body returns the body with the given ID.
func (w *World) Body(id uint32) (Body, bool) {
	i, ok := w.find(id)
	if !ok {
		return Body{}, false
	}
	return w.bodies[i], true
}

// find returns the index of the body with the given ID. Bodies are only ever
// appended with growing IDs (or all cleared), so they stay sorted.
func (w *World) find(id uint32) (int, bool) {
	return slices.BinarySearchFunc(w.bodies, id, func(b Body, id uint32) int {
		switch {
		case b.ID < id:
			return -1
		case b.ID > id:
			return 1
		}
		return 0
	})
}

// add appends a body with the next ID. The caller has checked the values
// and the limits.
func (w *World) add(x, y, vx, vy, r float32) {
	x = clamp(x, r, w.p.Width-r)
	y = clamp(y, r, w.p.Height-r)
	vx, vy = limit(vx, vy, w.p.MaxSpeed)
	w.bodies = append(w.bodies, Body{ID: w.p.NextID, X: x, Y: y, VX: vx, VY: vy, R: r, Mass: r * r})
	w.p.NextID += w.step()
}

// step is NextID's stride.
func (w *World) step() uint32 { return max(w.idStep, 1) }

// randRange returns a uniform float32 in [lo, hi) from the World's PRNG.
func (w *World) randRange(lo, hi float32) float32 {
	return lo + (hi-lo)*randFloat(&w.p.RNG)
}

// splitmix64 advances the state and returns the next value. It is tiny,
// passes BigCrush, and any uint64 (zero included) is a valid state, which is
// what lets the state live in Params and come back from a snapshot.
func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// randFloat returns a uniform float32 in [0, 1) built from 24 random bits,
// all that a float32 mantissa holds.
func randFloat(s *uint64) float32 {
	return float32(splitmix64(s)>>40) / (1 << 24)
}

// finite reports whether f is neither NaN nor an infinity.
func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// inRange reports whether lo ≤ f ≤ hi; it is false for NaN.
func inRange(f, lo, hi float32) bool { return f >= lo && f <= hi }

// clamp limits f to [lo, hi]; lo wins if the range is empty.
func clamp(f, lo, hi float32) float32 {
	if f > hi {
		f = hi
	}
	if f < lo {
		f = lo
	}
	return f
}

// limit scales (vx, vy) down to length maxLen if it is longer.
func limit(vx, vy, maxLen float32) (float32, float32) {
	s2 := vx*vx + vy*vy
	if s2 > maxLen*maxLen {
		k := maxLen / sqrt(s2)
		vx *= k
		vy *= k
	}
	return vx, vy
}

func sqrt(f float32) float32 { return float32(math.Sqrt(float64(f))) }
