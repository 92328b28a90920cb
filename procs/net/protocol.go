// Package netproc is the networking process: players join over WebSocket,
// receive the world as a stream of snapshots (deltas against the last one
// they acknowledged) and send input that is forwarded to physics as
// commands. docs/PROTOCOL.md describes the wire protocol.
package netproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Version is the protocol version a join must carry.
const Version = 2

// Limits of the protocol.
const (
	MaxFrame   = 4 << 10 // bytes of one client frame; larger closes the connection
	MaxName    = 16      // bytes of a player name; longer names are cut
	MaxPlayers = 32      // default player limit
	InputRate  = 60      // inputs per second per player (token bucket)
	InputBurst = 60      // token bucket depth
)

// Subpixel is the fixed-point scale of positions and radii on the wire:
// they travel as integers in 1/Subpixel px, velocities in whole px/s. A
// renderer needs no more, deltas of integers are exact, and bodies at rest
// stop appearing in deltas.
const Subpixel = 16

// maxFixed bounds every fixed-point value (±(2^30-1)), so that the
// difference of two fits an int32 without overflow.
const maxFixed = 1<<30 - 1

// Fixed converts px (or px/s with scale 1) to the wire's integers,
// clamping to ±2^30 and mapping NaN to 0.
func Fixed(v float32, scale float32) int32 {
	f := float64(v) * float64(scale)
	switch {
	case f != f:
		return 0
	case f >= maxFixed:
		return maxFixed
	case f <= -maxFixed:
		return -maxFixed
	}
	return int32(math.Round(f))
}

// Body is one physics body as the protocol carries it.
type Body struct {
	ID     uint32
	Flags  uint32
	X, Y   int32 // centre, 1/Subpixel px
	VX, VY int32 // velocity, px/s
	R      int32 // radius, 1/Subpixel px
}

// Agent is one ai agent as the protocol carries it.
type Agent struct {
	ID     uint32
	Kind   uint32 // ai.Kind
	X, Y   int32  // 1/Subpixel px
	VX, VY int32  // px/s
}

// PlayerState is one player as the protocol carries it.
type PlayerState struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	Color   uint32     `json:"color"`
	Cursor  [2]float32 `json:"cursor"`
	RTTNano int64      `json:"rtt"`
}

// Child is one supervised process as the supervisor's status shows it.
type Child struct {
	Name     string `json:"name"`
	State    string `json:"state"` // engine.ChildState's name: "running", "backoff", ...
	Pid      uint32 `json:"pid"`
	Restarts uint32 `json:"restarts"`
	Tick     uint64 `json:"tick"` // newest tick of its slice
	Age      int64  `json:"age"`  // ns from that tick to this snapshot, -1 when none
	Reason   string `json:"reason,omitempty"`
}

// Snapshot is the whole world a client sees: every slice of the game.
// Bodies and agents are ascending by ID, players by ID, children in the
// supervisor's order. Children is empty when there is no supervisor.
type Snapshot struct {
	Tick        uint64 // net's tick
	PhysicsTick uint64 // tick of the physics snapshot the bodies come from
	AITick      uint64 // tick of the ai snapshot the agents come from
	Width       float32
	Height      float32
	Bodies      []Body
	Agents      []Agent
	Players     []PlayerState
	Children    []Child
}

// Move is a body of a delta whose flags and radius did not change: its
// position and velocity as differences from the base.
type Move struct {
	ID       uint32
	DX, DY   int32
	DVX, DVY int32
}

// Delta turns a base snapshot into a newer one. Bodies are new bodies and
// bodies whose flags or radius changed, whole; Moved are the bodies that
// only moved; Removed are the IDs of the base's bodies that are gone. All
// three ascend by ID. The scalars, agents, players and children (small)
// are sent whole.
type Delta struct {
	Tick        uint64
	PhysicsTick uint64
	AITick      uint64
	Width       float32
	Height      float32
	Bodies      []Body
	Moved       []Move
	Removed     []uint32
	Agents      []Agent
	Players     []PlayerState
	Children    []Child
}

// Diff is the delta from base to cur. Both must have their bodies
// ascending by ID (as physics publishes them).
func Diff(base, cur *Snapshot) Delta {
	d := Delta{Tick: cur.Tick, PhysicsTick: cur.PhysicsTick, AITick: cur.AITick, Width: cur.Width, Height: cur.Height,
		Agents: cur.Agents, Players: cur.Players, Children: cur.Children}
	i, j := 0, 0
	for i < len(base.Bodies) || j < len(cur.Bodies) {
		switch {
		case j == len(cur.Bodies) || (i < len(base.Bodies) && base.Bodies[i].ID < cur.Bodies[j].ID):
			d.Removed = append(d.Removed, base.Bodies[i].ID)
			i++
		case i == len(base.Bodies) || cur.Bodies[j].ID < base.Bodies[i].ID:
			d.Bodies = append(d.Bodies, cur.Bodies[j])
			j++
		default:
			a, b := base.Bodies[i], cur.Bodies[j]
			switch {
			case a.Flags != b.Flags || a.R != b.R:
				d.Bodies = append(d.Bodies, b)
			case a != b:
				d.Moved = append(d.Moved, Move{ID: b.ID, DX: b.X - a.X, DY: b.Y - a.Y, DVX: b.VX - a.VX, DVY: b.VY - a.VY})
			}
			i++
			j++
		}
	}
	return d
}

// ErrBadDelta is returned by Apply for a delta that does not fit its base.
var ErrBadDelta = errors.New("netproc: delta does not fit its base")

// Apply returns base with d applied; base is not modified. A delta that
// does not fit base (an ID out of order, a moved or removed ID not in the
// base, a value out of range) is an error wrapping ErrBadDelta.
func Apply(base *Snapshot, d *Delta) (Snapshot, error) {
	out := Snapshot{Tick: d.Tick, PhysicsTick: d.PhysicsTick, AITick: d.AITick, Width: d.Width, Height: d.Height,
		Agents: d.Agents, Players: d.Players, Children: d.Children}
	out.Bodies = make([]Body, 0, max(0, len(base.Bodies)+len(d.Bodies)-len(d.Removed)))
	var n, m, k int // next of d.Bodies, d.Moved, d.Removed
	for _, b := range base.Bodies {
		for n < len(d.Bodies) && d.Bodies[n].ID < b.ID {
			if err := appendAscending(&out.Bodies, d.Bodies[n]); err != nil {
				return Snapshot{}, err
			}
			n++
		}
		switch {
		case k < len(d.Removed) && d.Removed[k] == b.ID:
			k++
			continue
		case n < len(d.Bodies) && d.Bodies[n].ID == b.ID:
			b = d.Bodies[n]
			n++
		case m < len(d.Moved) && d.Moved[m].ID == b.ID:
			mv := d.Moved[m]
			var ok bool
			if b, ok = moved(b, mv); !ok {
				return Snapshot{}, fmt.Errorf("%w: body %d moved out of range", ErrBadDelta, b.ID)
			}
			m++
		}
		if err := appendAscending(&out.Bodies, b); err != nil {
			return Snapshot{}, err
		}
	}
	for ; n < len(d.Bodies); n++ {
		if err := appendAscending(&out.Bodies, d.Bodies[n]); err != nil {
			return Snapshot{}, err
		}
	}
	if m != len(d.Moved) || k != len(d.Removed) {
		return Snapshot{}, fmt.Errorf("%w: it moves %d and removes %d bodies not in its base (or out of order)",
			ErrBadDelta, len(d.Moved)-m, len(d.Removed)-k)
	}
	return out, nil
}

func appendAscending(bodies *[]Body, b Body) error {
	if n := len(*bodies); n > 0 && (*bodies)[n-1].ID >= b.ID {
		return fmt.Errorf("%w: body %d out of order", ErrBadDelta, b.ID)
	}
	*bodies = append(*bodies, b)
	return nil
}

func moved(b Body, mv Move) (Body, bool) {
	add := func(v, d int32) (int32, bool) {
		s := int64(v) + int64(d)
		return int32(s), s >= -maxFixed && s <= maxFixed
	}
	var ok [4]bool
	b.X, ok[0] = add(b.X, mv.DX)
	b.Y, ok[1] = add(b.Y, mv.DY)
	b.VX, ok[2] = add(b.VX, mv.DVX)
	b.VY, ok[3] = add(b.VY, mv.DVY)
	return b, ok == [4]bool{true, true, true, true}
}

// Client → server messages share one shape; Type says which fields count.
type clientMsg struct {
	Type    string      `json:"type"`              // join | input | ack
	Name    string      `json:"name,omitempty"`    // join
	Version int         `json:"version,omitempty"` // join
	Cursor  *[2]float32 `json:"cursor,omitempty"`  // input
	Spawn   bool        `json:"spawn,omitempty"`   // input
	Explode bool        `json:"explode,omitempty"` // input
	Seq     uint64      `json:"seq,omitempty"`     // ack
}

// Server → client messages.
type serverMsg struct {
	Type     string    `json:"type"` // welcome | snapshot
	ID       uint32    `json:"id,omitempty"`
	Tick     uint64    `json:"tick"`
	Seq      uint64    `json:"seq"`
	Base     uint64    `json:"base"` // 0: Snapshot is full; else Delta applies to the snapshot of seq Base
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Delta    *Delta    `json:"delta,omitempty"`
}

// Input is one input message from a player. HasCursor says whether Cursor
// counts (an input may be a click without a cursor move, or the reverse).
type Input struct {
	Cursor    [2]float32
	HasCursor bool
	Spawn     bool
	Explode   bool
}

func (in Input) marshal() []byte {
	m := clientMsg{Type: "input", Spawn: in.Spawn, Explode: in.Explode}
	if in.HasCursor {
		c := in.Cursor
		m.Cursor = &c
	}
	b, _ := json.Marshal(m)
	return b
}
