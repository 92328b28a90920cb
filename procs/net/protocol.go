// Package netproc is the networking process: players join over WebSocket,
// receive the world as a stream of binary snapshots (quantised deltas
// against the last one they acknowledged) and send input that is
// forwarded to physics as commands. It also serves a browser client at
// GET /. docs/PROTOCOL.md describes the wire protocol byte by byte.
package netproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the protocol version: a client joins with ?v=Version in the
// URL of its WebSocket handshake.
const Version = 3

// Limits of the protocol.
const (
	MaxFrame    = 64      // bytes of one client message; larger closes the connection
	MaxName     = 16      // bytes of a player name; longer names are cut
	MaxPlayers  = 32      // default player limit
	InputRate   = 60      // inputs per second per player (token bucket)
	InputBurst  = 60      // token bucket depth
	MaxItems    = 1 << 16 // bodies (or agents) in one snapshot
	MaxChildren = 128     // supervised children in one snapshot: a group of game.MaxGroup (64) members and the rest
)

// Path is where the WebSocket endpoint is served; GET / is the browser
// client.
const Path = "/ws"

// Subpixel is the fixed-point scale of positions and radii on the wire:
// they travel as integers in 1/Subpixel px, velocities in whole px/s. A
// renderer needs no more, deltas of integers are exact, and bodies at rest
// stop appearing in deltas.
const Subpixel = 16

// maxFixed bounds every fixed-point value (±(2^30-1)), so that the
// difference of two fits an int32 without overflow.
const maxFixed = 1<<30 - 1

// Fixed converts px (or px/s with scale 1) to the wire's integers,
// clamping to ±(2^30−1) and mapping NaN to 0.
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
	ID      uint32
	Name    string
	Color   uint32     // 0xRRGGBB
	Cursor  [2]float32 // world px, in steps of 1/Subpixel px
	RTTNano int64      // round-trip time of the last ping, in whole µs
}

// Child is one supervised process as the supervisor's status shows it.
type Child struct {
	Name     string
	State    string // supervisor.ChildState's name: "running", "backoff", ...
	Pid      uint32
	Restarts uint32
	Tick     uint64 // newest tick of its slice
	Age      int64  // ns (whole µs) from that tick to this snapshot, -1 when none
	Reason   string
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

	// Simulated ns of the physics and ai snapshots (engine.Header.SimTime),
	// known to the server only: the time between a base and a snapshot
	// sets how far positions are predicted from velocities.
	physicsTime, aiTime int64
}

// Input is one input message from a player. HasCursor says whether Cursor
// counts (an input may be a click without a cursor move, or the reverse).
type Input struct {
	Cursor    [2]float32
	HasCursor bool
	Spawn     bool
	Explode   bool
}

// ErrBadMessage wraps every error decoding a message from the network.
var ErrBadMessage = errors.New("netproc: bad message")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadMessage}, args...)...)
}

// Client → server message kinds (the first byte of a binary frame).
const (
	msgAck   = 1 // seq uvarint
	msgInput = 2 // bits u8, then x, y float32 LE when bit 0 is set
	// msgView: x, y, w, h float32 LE — the player's view (area of
	// interest). Version 3 clients that never send it get the default
	// view; it was added to version 3 without a new version number, since
	// no message a client already sent changed (a server older than it
	// closes the connection of a client that sends it).
	msgView = 3
)

// View is the rectangle of the world a player sees, in world px: net
// sends the player the bodies whose centre lies in it widened by
// ViewMargin on every side — all of them when the view covers the whole
// world and it has at most MaxWholeBodies (as net sent every player
// before views), else at most MaxViewBodies, the nearest the view's
// centre. A player that never sends one has the zero View: the whole
// world, within the same caps.
type View struct {
	X, Y, W, H float32
}

// Limits of a view.
const (
	// ViewMargin widens a view on every side (px), so a body entering it
	// is already known to the client, with its velocity.
	ViewMargin = 64
	// MaxWholeBodies: a world of at most this many bodies, all in a
	// player's view, is sent whole — the default world's 2,000 and a few
	// spawns, whose stream is ≈ 120 KB/s at 20 Hz with every body moving
	// (3 bytes a moving body a snapshot).
	MaxWholeBodies = 2048
	// MaxViewBodies bounds the bodies of a player's snapshot otherwise:
	// a view holding more gets the ones nearest its centre. A cropped
	// stream costs more a body than a whole one (bodies cross the crop's
	// edge: sent in full as they enter, ≈ 25 % more in BenchmarkBytesAOI),
	// so the cap is that much below MaxWholeBodies: a player's bytes stay
	// ≈ 120 KB/s whatever the world's size and density.
	MaxViewBodies = 1664
	// MaxViewCoord bounds a view's position and size: twice the largest
	// world side (physics.MaxWorld), enough for any view of any world
	// with room to scroll past its edges.
	MaxViewCoord = 2 << 16
)

// Whole reports whether v is the zero View: the whole world.
func (v View) Whole() bool { return v == View{} }

// Check reports whether v is a view a player may have: every value
// finite, the position within ±MaxViewCoord, the size positive and at
// most MaxViewCoord (or the zero View).
func (v View) Check() error {
	if v.Whole() {
		return nil
	}
	for _, f := range [...]float32{v.X, v.Y, v.W, v.H} {
		if !finite32(f) {
			return fmt.Errorf("view (%v, %v) %v×%v is not finite", v.X, v.Y, v.W, v.H)
		}
	}
	switch {
	case !(v.W > 0) || !(v.H > 0):
		return fmt.Errorf("view size %v×%v, want both > 0", v.W, v.H)
	case v.W > MaxViewCoord || v.H > MaxViewCoord:
		return fmt.Errorf("view size %v×%v, want each at most %d", v.W, v.H, MaxViewCoord)
	case v.X < -MaxViewCoord || v.X > MaxViewCoord || v.Y < -MaxViewCoord || v.Y > MaxViewCoord:
		return fmt.Errorf("view at (%v, %v), want each coordinate within ±%d", v.X, v.Y, MaxViewCoord)
	}
	return nil
}

// AppendView appends the client message setting the player's view to v.
func AppendView(b []byte, v View) []byte {
	b = append(b, msgView)
	for _, f := range [...]float32{v.X, v.Y, v.W, v.H} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// Input bits.
const (
	inCursor  = 1 << 0
	inSpawn   = 1 << 1
	inExplode = 1 << 2
	inKnown   = inCursor | inSpawn | inExplode
)

// AppendAck appends the client message acknowledging snapshot seq.
func AppendAck(b []byte, seq uint64) []byte {
	return binary.AppendUvarint(append(b, msgAck), seq)
}

// AppendInput appends the client message for in.
func AppendInput(b []byte, in Input) []byte {
	var bits byte
	if in.HasCursor {
		bits |= inCursor
	}
	if in.Spawn {
		bits |= inSpawn
	}
	if in.Explode {
		bits |= inExplode
	}
	b = append(b, msgInput, bits)
	if in.HasCursor {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(in.Cursor[0]))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(in.Cursor[1]))
	}
	return b
}

// ClientMessage is one decoded client → server message: an ack (Ack
// set), a view (HasView set) or an input.
type ClientMessage struct {
	Ack     bool
	Seq     uint64 // the acknowledged snapshot
	HasView bool
	View    View
	Input   Input
}

// ParseClientMessage decodes one client message, checking every byte: an
// unknown kind, unknown input bits, a cursor that is not finite, a view
// that View.Check refuses, a short or long message are errors wrapping
// ErrBadMessage.
func ParseClientMessage(b []byte) (ClientMessage, error) {
	if len(b) == 0 {
		return ClientMessage{}, bad("empty message")
	}
	switch b[0] {
	case msgAck:
		seq, n := binary.Uvarint(b[1:])
		if n <= 0 || 1+n != len(b) || (n > 1 && b[n] == 0) {
			return ClientMessage{}, bad("ack: want kind 1 and one uvarint")
		}
		return ClientMessage{Ack: true, Seq: seq}, nil
	case msgInput:
		if len(b) < 2 {
			return ClientMessage{}, bad("input: no bits")
		}
		bits := b[1]
		if bits&^inKnown != 0 {
			return ClientMessage{}, bad("input: unknown bits %#x", bits&^inKnown)
		}
		want := 2
		if bits&inCursor != 0 {
			want = 10
		}
		if len(b) != want {
			return ClientMessage{}, bad("input: %d bytes, want %d", len(b), want)
		}
		in := Input{HasCursor: bits&inCursor != 0, Spawn: bits&inSpawn != 0, Explode: bits&inExplode != 0}
		if in.HasCursor {
			x := math.Float32frombits(binary.LittleEndian.Uint32(b[2:]))
			y := math.Float32frombits(binary.LittleEndian.Uint32(b[6:]))
			if !finite32(x) || !finite32(y) {
				return ClientMessage{}, bad("input: cursor (%v, %v) is not finite", x, y)
			}
			in.Cursor = [2]float32{x, y}
		}
		return ClientMessage{Input: in}, nil
	case msgView:
		if len(b) != 17 {
			return ClientMessage{}, bad("view: %d bytes, want 17", len(b))
		}
		f := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[1+4*i:])) }
		v := View{f(0), f(1), f(2), f(3)}
		if err := v.Check(); err != nil {
			return ClientMessage{}, bad("%v", err)
		}
		return ClientMessage{HasView: true, View: v}, nil
	}
	return ClientMessage{}, bad("unknown message kind %d", b[0])
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
