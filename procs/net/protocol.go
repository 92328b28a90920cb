// Package netproc is the networking process: players join over WebSocket,
// receive the world as a stream of snapshots (deltas against the last one
// they acknowledged) and send input that is forwarded to physics as
// commands. docs/PROTOCOL.md describes the wire protocol.
package netproc

import (
	"encoding/json"
	"fmt"
	"math"
)

// Version is the protocol version a join must carry.
const Version = 1

// Limits of the protocol.
const (
	MaxFrame   = 4 << 10 // bytes of one client frame; larger closes the connection
	MaxName    = 16      // bytes of a player name; longer names are cut
	MaxPlayers = 32      // default player limit
	InputRate  = 60      // inputs per second per player (token bucket)
	InputBurst = 60      // token bucket depth
)

// Body is one physics body as the protocol carries it.
type Body struct {
	ID    uint32  `json:"id"`
	Flags uint32  `json:"f,omitempty"`
	X     float32 `json:"x"`
	Y     float32 `json:"y"`
	VX    float32 `json:"vx"`
	VY    float32 `json:"vy"`
	R     float32 `json:"r"`
}

// PlayerState is one player as the protocol carries it.
type PlayerState struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	Color   uint32     `json:"color"`
	Cursor  [2]float32 `json:"cursor"`
	RTTNano int64      `json:"rtt"`
}

// Snapshot is the whole world a client sees: bodies ascending by ID and
// the players ascending by ID.
type Snapshot struct {
	Tick        uint64        `json:"tick"`        // net's tick
	PhysicsTick uint64        `json:"physicsTick"` // tick of the physics snapshot the bodies come from
	Width       float32       `json:"w"`
	Height      float32       `json:"h"`
	Bodies      []Body        `json:"bodies"`
	Players     []PlayerState `json:"players"`
}

// Delta turns a base snapshot into a newer one. Bodies are changed or new
// bodies (ascending by ID); Removed are the IDs of the base's bodies that are
// gone (ascending). The scalars and the (small) players list are sent
// whole.
type Delta struct {
	Tick        uint64        `json:"tick"`
	PhysicsTick uint64        `json:"physicsTick"`
	Width       float32       `json:"w"`
	Height      float32       `json:"h"`
	Bodies      []Body        `json:"bodies,omitempty"`
	Removed     []uint32      `json:"removed,omitempty"`
	Players     []PlayerState `json:"players"`
}

// Diff is the delta from base to cur. Both must have their bodies
// ascending by ID (as physics publishes them).
func Diff(base, cur *Snapshot) Delta {
	d := Delta{Tick: cur.Tick, PhysicsTick: cur.PhysicsTick, Width: cur.Width, Height: cur.Height,
		Players: clonePlayers(cur.Players)}
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
			if !sameBody(base.Bodies[i], cur.Bodies[j]) {
				d.Bodies = append(d.Bodies, cur.Bodies[j])
			}
			i++
			j++
		}
	}
	return d
}

// sameBody compares bit patterns, so that -0 and 0 (and any NaN) are told
// apart and Apply(base, Diff(base, cur)) is exactly cur.
func sameBody(a, b Body) bool {
	f := math.Float32bits
	return a.ID == b.ID && a.Flags == b.Flags && f(a.X) == f(b.X) && f(a.Y) == f(b.Y) &&
		f(a.VX) == f(b.VX) && f(a.VY) == f(b.VY) && f(a.R) == f(b.R)
}

// Apply returns base with d applied; base is not modified. A delta that
// does not fit base (a removed or changed ID out of order) is an error.
func Apply(base *Snapshot, d *Delta) (Snapshot, error) {
	out := Snapshot{Tick: d.Tick, PhysicsTick: d.PhysicsTick, Width: d.Width, Height: d.Height,
		Players: clonePlayers(d.Players)}
	out.Bodies = make([]Body, 0, max(0, len(base.Bodies)+len(d.Bodies)-len(d.Removed)))
	i, j, k := 0, 0, 0 // base, d.Bodies, d.Removed
	for i < len(base.Bodies) || j < len(d.Bodies) {
		var b *Body
		if i < len(base.Bodies) {
			b = &base.Bodies[i]
		}
		switch {
		case b != nil && k < len(d.Removed) && d.Removed[k] == b.ID:
			i++
			k++
		case b != nil && (j == len(d.Bodies) || b.ID < d.Bodies[j].ID):
			out.Bodies = append(out.Bodies, *b)
			i++
		case b != nil && b.ID == d.Bodies[j].ID:
			out.Bodies = append(out.Bodies, d.Bodies[j])
			i++
			j++
		default:
			if n := len(out.Bodies); n > 0 && out.Bodies[n-1].ID >= d.Bodies[j].ID {
				return Snapshot{}, fmt.Errorf("netproc: delta body %d out of order", d.Bodies[j].ID)
			}
			out.Bodies = append(out.Bodies, d.Bodies[j])
			j++
		}
	}
	if k != len(d.Removed) {
		return Snapshot{}, fmt.Errorf("netproc: delta removes %d bodies not in its base", len(d.Removed)-k)
	}
	return out, nil
}

func clonePlayers(p []PlayerState) []PlayerState {
	if p == nil {
		return nil
	}
	return append([]PlayerState{}, p...)
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

// Input is one input message from a player.
type Input struct {
	Cursor  [2]float32
	Spawn   bool
	Explode bool
}

func (in Input) marshal() []byte {
	c := in.Cursor
	b, _ := json.Marshal(clientMsg{Type: "input", Cursor: &c, Spawn: in.Spawn, Explode: in.Explode})
	return b
}
