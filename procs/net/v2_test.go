package netproc

// Protocol version 2, kept in the tests only: the same-run baseline of
// the benchmarks (bytes, encode and decode time against version 3 on the
// same world). This is version 2's code as it was at commit 42ebc52
// (procs/net/wire.go and the delta of protocol.go), renamed; players and
// children are written with version 2's JSON field names.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// v2Player and v2Child are PlayerState and Child with version 2's JSON
// names.
type v2Player struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	Color   uint32     `json:"color"`
	Cursor  [2]float32 `json:"cursor"`
	RTTNano int64      `json:"rtt"`
}

type v2Child struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Pid      uint32 `json:"pid"`
	Restarts uint32 `json:"restarts"`
	Tick     uint64 `json:"tick"`
	Age      int64  `json:"age"`
	Reason   string `json:"reason,omitempty"`
}

func v2Players(ps []PlayerState) []v2Player {
	out := make([]v2Player, len(ps))
	for i, p := range ps {
		out[i] = v2Player(p)
	}
	return out
}

func v2Children(cs []Child) []v2Child {
	out := make([]v2Child, len(cs))
	for i, c := range cs {
		out[i] = v2Child(c)
	}
	return out
}

func fromV2Players(ps []v2Player) []PlayerState {
	out := make([]PlayerState, len(ps))
	for i, p := range ps {
		out[i] = PlayerState(p)
	}
	return out
}

func fromV2Children(cs []v2Child) []Child {
	out := make([]Child, len(cs))
	for i, c := range cs {
		out[i] = Child(c)
	}
	return out
}

// v2Message is a whole version 2 server message, as net sent it.
func v2Message(seq, base uint64, tick uint64, world []byte) []byte {
	field := "delta"
	if base == 0 {
		field = "snapshot"
	}
	return fmt.Appendf(nil, `{"type":"snapshot","tick":%d,"seq":%d,"base":%d,"%s":%s}`, tick, seq, base, field, world)
}

// Move is a body of a delta whose flags and radius did not change: its
// position and velocity as differences from the base.
type v2Move struct {
	ID       uint32
	DX, DY   int32
	DVX, DVY int32
}

// v2Delta turns a base snapshot into a newer one. Bodies are new bodies and
// bodies whose flags or radius changed, whole; Moved are the bodies that
// only moved; Removed are the IDs of the base's bodies that are gone. All
// three ascend by ID. The scalars, agents, players and children (small)
// are sent whole.
type v2Delta struct {
	Tick        uint64
	PhysicsTick uint64
	AITick      uint64
	Width       float32
	Height      float32
	Bodies      []Body
	Moved       []v2Move
	Removed     []uint32
	Agents      []Agent
	Players     []PlayerState
	Children    []Child
}

// Diff is the delta from base to cur. Both must have their bodies
// ascending by ID (as physics publishes them).
func v2Diff(base, cur *Snapshot) v2Delta {
	d := v2Delta{Tick: cur.Tick, PhysicsTick: cur.PhysicsTick, AITick: cur.AITick, Width: cur.Width, Height: cur.Height,
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
				d.Moved = append(d.Moved, v2Move{ID: b.ID, DX: b.X - a.X, DY: b.Y - a.Y, DVX: b.VX - a.VX, DVY: b.VY - a.VY})
			}
			i++
			j++
		}
	}
	return d
}

// errV2Badv2Delta is returned by Apply for a delta that does not fit its base.
var errV2Badv2Delta = errors.New("netproc: delta does not fit its base")

// Apply returns base with d applied; base is not modified. A delta that
// does not fit base (an ID out of order, a moved or removed ID not in the
// base, a value out of range) is an error wrapping errV2Badv2Delta.
func v2Apply(base *Snapshot, d *v2Delta) (Snapshot, error) {
	out := Snapshot{Tick: d.Tick, PhysicsTick: d.PhysicsTick, AITick: d.AITick, Width: d.Width, Height: d.Height,
		Agents: d.Agents, Players: d.Players, Children: d.Children}
	out.Bodies = make([]Body, 0, max(0, len(base.Bodies)+len(d.Bodies)-len(d.Removed)))
	var n, m, k int // next of d.Bodies, d.Moved, d.Removed
	for _, b := range base.Bodies {
		for n < len(d.Bodies) && d.Bodies[n].ID < b.ID {
			if err := v2AppendAscending(&out.Bodies, d.Bodies[n]); err != nil {
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
			if b, ok = v2Moved(b, mv); !ok {
				return Snapshot{}, fmt.Errorf("%w: body %d moved out of range", errV2Badv2Delta, b.ID)
			}
			m++
		}
		if err := v2AppendAscending(&out.Bodies, b); err != nil {
			return Snapshot{}, err
		}
	}
	for ; n < len(d.Bodies); n++ {
		if err := v2AppendAscending(&out.Bodies, d.Bodies[n]); err != nil {
			return Snapshot{}, err
		}
	}
	if m != len(d.Moved) || k != len(d.Removed) {
		return Snapshot{}, fmt.Errorf("%w: it moves %d and removes %d bodies not in its base (or out of order)",
			errV2Badv2Delta, len(d.Moved)-m, len(d.Removed)-k)
	}
	return out, nil
}

func v2AppendAscending(bodies *[]Body, b Body) error {
	if n := len(*bodies); n > 0 && (*bodies)[n-1].ID >= b.ID {
		return fmt.Errorf("%w: body %d out of order", errV2Badv2Delta, b.ID)
	}
	*bodies = append(*bodies, b)
	return nil
}

func v2Moved(b Body, mv v2Move) (Body, bool) {
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

// The wire form of snapshots and deltas: bodies, agents and moves are flat
// arrays of integers (7, 6 and 5 per item), which is several times smaller
// than an object per item and cheap to write. A move's ID is its gap from
// the previous move's (the first from 0).
const (
	v2BodyInts  = 7 // id, flags, x, y, vx, vy, r
	v2AgentInts = 6 // id, kind, x, y, vx, vy
	v2MoveInts  = 5 // id gap, dx, dy, dvx, dvy
)

// v2WireWorld is the wire form as decoded: the integer arrays are kept raw
// and parsed by v2ParseInts, several times faster than encoding/json's
// reflection over []int64.
type v2WireWorld struct {
	Tick        uint64          `json:"tick"`
	PhysicsTick uint64          `json:"physicsTick"`
	AITick      uint64          `json:"aiTick"`
	Width       float32         `json:"w"`
	Height      float32         `json:"h"`
	RawBodies   json.RawMessage `json:"bodies"`
	RawMoved    json.RawMessage `json:"moved"`
	RawRemoved  json.RawMessage `json:"removed"`
	RawAgents   json.RawMessage `json:"agents"`
	Players     []v2Player      `json:"players"`
	Children    []v2Child       `json:"children"`

	Bodies, Moved, Removed, Agents []int64 `json:"-"`
}

func (w *v2WireWorld) decode(b []byte) error {
	if err := json.Unmarshal(b, w); err != nil {
		return err
	}
	for _, a := range []struct {
		name string
		raw  json.RawMessage
		out  *[]int64
	}{{"bodies", w.RawBodies, &w.Bodies}, {"moved", w.RawMoved, &w.Moved}, {"removed", w.RawRemoved, &w.Removed}, {"agents", w.RawAgents, &w.Agents}} {
		var err error
		if *a.out, err = v2ParseInts(a.raw); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	return nil
}

// v2ParseInts parses a JSON array of integers ("[1,-2,3]"); null or nothing
// is empty. Anything else — a fraction, a string, a value past int64 — is
// an error.
func v2ParseInts(raw []byte) ([]int64, error) {
	raw = v2TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, fmt.Errorf("not an array of integers")
	}
	body := raw[1 : len(raw)-1]
	out := make([]int64, 0, len(body)/4)
	if len(v2TrimSpace(body)) == 0 {
		return out, nil
	}
	for i := 0; ; {
		for i < len(body) && v2IsSpace(body[i]) {
			i++
		}
		neg := i < len(body) && body[i] == '-'
		if neg {
			i++
		}
		start := i
		var v uint64
		for i < len(body) && body[i] >= '0' && body[i] <= '9' {
			if v > (math.MaxInt64-9)/10 {
				return nil, fmt.Errorf("integer out of range")
			}
			v = v*10 + uint64(body[i]-'0')
			i++
		}
		if i == start || (body[start] == '0' && i-start > 1) {
			return nil, fmt.Errorf("not an array of integers")
		}
		x := int64(v)
		if neg {
			x = -x
		}
		out = append(out, x)
		for i < len(body) && v2IsSpace(body[i]) {
			i++
		}
		if i == len(body) {
			return out, nil
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("not an array of integers")
		}
		i++
	}
}

// v2TrimSpace trims JSON's white space (bytes.TrimSpace trims more).
func v2TrimSpace(b []byte) []byte {
	for len(b) > 0 && v2IsSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && v2IsSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func v2IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// v2MarshalSnapshot writes the snapshot in its wire form.
func v2MarshalSnapshot(s Snapshot) ([]byte, error) {
	return v2AppendWorld(make([]byte, 0, 256+36*len(s.Bodies)+32*len(s.Agents)), s.Tick, s.PhysicsTick, s.AITick, s.Width, s.Height, s.Bodies, nil, nil, s.Agents, s.Players, s.Children)
}

// v2MarshalDelta writes the delta in its wire form.
func v2MarshalDelta(d v2Delta) ([]byte, error) {
	return v2AppendWorld(make([]byte, 0, 256+36*len(d.Bodies)+24*len(d.Moved)+32*len(d.Agents)), d.Tick, d.PhysicsTick, d.AITick, d.Width, d.Height, d.Bodies, d.Moved, d.Removed, d.Agents, d.Players, d.Children)
}

func v2AppendWorld(b []byte, tick, pt, at uint64, w, h float32, bodies []Body, moves []v2Move, removed []uint32,
	agents []Agent, players []PlayerState, children []Child) ([]byte, error) {
	if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) || math.IsNaN(float64(h)) || math.IsInf(float64(h), 0) {
		return nil, fmt.Errorf("netproc: world size %v×%v is not finite", w, h)
	}
	b = append(b, `{"tick":`...)
	b = strconv.AppendUint(b, tick, 10)
	b = append(b, `,"physicsTick":`...)
	b = strconv.AppendUint(b, pt, 10)
	b = append(b, `,"aiTick":`...)
	b = strconv.AppendUint(b, at, 10)
	b = append(b, `,"w":`...)
	b = strconv.AppendFloat(b, float64(w), 'g', -1, 32)
	b = append(b, `,"h":`...)
	b = strconv.AppendFloat(b, float64(h), 'g', -1, 32)
	b = append(b, `,"bodies":[`...)
	for i, x := range bodies {
		b = v2AppendInts(b, i == 0, int64(x.ID), int64(x.Flags), int64(x.X), int64(x.Y), int64(x.VX), int64(x.VY), int64(x.R))
	}
	b = append(b, ']')
	if len(moves) > 0 {
		b = append(b, `,"moved":[`...)
		prev := uint32(0)
		for i, m := range moves {
			b = v2AppendInts(b, i == 0, int64(m.ID)-int64(prev), int64(m.DX), int64(m.DY), int64(m.DVX), int64(m.DVY))
			prev = m.ID
		}
		b = append(b, ']')
	}
	if len(removed) > 0 {
		b = append(b, `,"removed":[`...)
		for i, id := range removed {
			b = v2AppendInts(b, i == 0, int64(id))
		}
		b = append(b, ']')
	}
	b = append(b, `,"agents":[`...)
	for i, a := range agents {
		b = v2AppendInts(b, i == 0, int64(a.ID), int64(a.Kind), int64(a.X), int64(a.Y), int64(a.VX), int64(a.VY))
	}
	b = append(b, `],"players":`...)
	var err error
	if b, err = v2AppendJSON(b, v2NonNil(v2Players(players))); err != nil {
		return nil, err
	}
	b = append(b, `,"children":`...)
	if b, err = v2AppendJSON(b, v2NonNil(v2Children(children))); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func v2NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func v2AppendInts(b []byte, first bool, v ...int64) []byte {
	for i, x := range v {
		if i > 0 || !first {
			b = append(b, ',')
		}
		b = v2AppendInt(b, x)
	}
	return b
}

// appendInt is strconv.AppendInt for base 10, without its generality:
// encoding is net's hot path.
func v2AppendInt(b []byte, x int64) []byte {
	if x < 0 {
		b = append(b, '-')
		if x == math.MinInt64 {
			return append(b, "9223372036854775808"...)
		}
		x = -x
	}
	var buf [20]byte
	i := len(buf)
	for x >= 10 {
		i--
		buf[i] = byte('0' + x%10)
		x /= 10
	}
	i--
	buf[i] = byte('0' + x)
	return append(b, buf[i:]...)
}

func v2AppendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// v2UnmarshalSnapshot reads a snapshot in its wire form, checking every value.
func v2UnmarshalSnapshot(s *Snapshot, b []byte) error {
	var w v2WireWorld
	if err := w.decode(b); err != nil {
		return fmt.Errorf("netproc: snapshot: %w", err)
	}
	if len(w.Moved) > 0 || len(w.Removed) > 0 {
		return fmt.Errorf("netproc: snapshot: moved or removed bodies in a full snapshot")
	}
	bodies, agents, err := w.items()
	if err != nil {
		return fmt.Errorf("netproc: snapshot: %w", err)
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i].ID <= bodies[i-1].ID {
			return fmt.Errorf("netproc: snapshot: body %d out of order", bodies[i].ID)
		}
	}
	*s = Snapshot{Tick: w.Tick, PhysicsTick: w.PhysicsTick, AITick: w.AITick, Width: w.Width, Height: w.Height,
		Bodies: bodies, Agents: agents, Players: fromV2Players(w.Players), Children: fromV2Children(w.Children)}
	return nil
}

// v2UnmarshalDelta reads a delta in its wire form, checking every value.
func v2UnmarshalDelta(d *v2Delta, b []byte) error {
	var w v2WireWorld
	if err := w.decode(b); err != nil {
		return fmt.Errorf("netproc: delta: %w", err)
	}
	bodies, agents, err := w.items()
	if err != nil {
		return fmt.Errorf("netproc: delta: %w", err)
	}
	if len(w.Moved)%v2MoveInts != 0 {
		return fmt.Errorf("netproc: delta: moved has %d values, not a multiple of %d", len(w.Moved), v2MoveInts)
	}
	moves := make([]v2Move, 0, len(w.Moved)/v2MoveInts)
	id := int64(0)
	for v := w.Moved; len(v) > 0; v = v[v2MoveInts:] {
		if v[0] < 1 {
			return fmt.Errorf("netproc: delta: move id gap %d, want >= 1", v[0])
		}
		if id += v[0]; id > math.MaxUint32 {
			return fmt.Errorf("netproc: delta: move id %d out of range", id)
		}
		if !v2Within(v[1:5], 2*maxFixed) {
			return fmt.Errorf("netproc: delta: move of body %d out of range", id)
		}
		moves = append(moves, v2Move{ID: uint32(id), DX: int32(v[1]), DY: int32(v[2]), DVX: int32(v[3]), DVY: int32(v[4])})
	}
	removed := make([]uint32, 0, len(w.Removed))
	for _, r := range w.Removed {
		if r < 0 || r > math.MaxUint32 {
			return fmt.Errorf("netproc: delta: removed id %d out of range", r)
		}
		removed = append(removed, uint32(r))
	}
	*d = v2Delta{Tick: w.Tick, PhysicsTick: w.PhysicsTick, AITick: w.AITick, Width: w.Width, Height: w.Height,
		Bodies: bodies, Moved: moves, Removed: removed, Agents: agents, Players: fromV2Players(w.Players), Children: fromV2Children(w.Children)}
	return nil
}

// items decodes the flat arrays of bodies and agents.
func (w *v2WireWorld) items() ([]Body, []Agent, error) {
	if len(w.Bodies)%v2BodyInts != 0 {
		return nil, nil, fmt.Errorf("bodies has %d values, not a multiple of %d", len(w.Bodies), v2BodyInts)
	}
	if len(w.Agents)%v2AgentInts != 0 {
		return nil, nil, fmt.Errorf("agents has %d values, not a multiple of %d", len(w.Agents), v2AgentInts)
	}
	bodies := make([]Body, 0, len(w.Bodies)/v2BodyInts)
	for v := w.Bodies; len(v) > 0; v = v[v2BodyInts:] {
		if !v2IsID(v[0]) || !v2IsID(v[1]) || !v2Within(v[2:7], maxFixed) {
			return nil, nil, fmt.Errorf("body %v out of range", v[:v2BodyInts])
		}
		bodies = append(bodies, Body{ID: uint32(v[0]), Flags: uint32(v[1]), X: int32(v[2]), Y: int32(v[3]),
			VX: int32(v[4]), VY: int32(v[5]), R: int32(v[6])})
	}
	agents := make([]Agent, 0, len(w.Agents)/v2AgentInts)
	for v := w.Agents; len(v) > 0; v = v[v2AgentInts:] {
		if !v2IsID(v[0]) || !v2IsID(v[1]) || !v2Within(v[2:6], maxFixed) {
			return nil, nil, fmt.Errorf("agent %v out of range", v[:v2AgentInts])
		}
		agents = append(agents, Agent{ID: uint32(v[0]), Kind: uint32(v[1]), X: int32(v[2]), Y: int32(v[3]),
			VX: int32(v[4]), VY: int32(v[5])})
	}
	return bodies, agents, nil
}

// v2IsID reports whether v fits a uint32 (ids, flags, kinds).
func v2IsID(v int64) bool { return v >= 0 && v <= math.MaxUint32 }

// within reports whether every value is within ±limit: maxFixed for
// fixed-point values, twice that for the differences of a move.
func v2Within(v []int64, limit int64) bool {
	for _, x := range v {
		if x < -limit || x > limit {
			return false
		}
	}
	return true
}
