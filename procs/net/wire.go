package netproc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The wire form of snapshots and deltas: bodies, agents and moves are flat
// arrays of integers (7, 6 and 5 per item), which is several times smaller
// than an object per item and cheap to write. A move's ID is its gap from
// the previous move's (the first from 0).
const (
	bodyInts  = 7 // id, flags, x, y, vx, vy, r
	agentInts = 6 // id, kind, x, y, vx, vy
	moveInts  = 5 // id gap, dx, dy, dvx, dvy
)

// wireWorld is the wire form as decoded: the integer arrays are kept raw
// and parsed by parseInts, several times faster than encoding/json's
// reflection over []int64.
type wireWorld struct {
	Tick        uint64          `json:"tick"`
	PhysicsTick uint64          `json:"physicsTick"`
	AITick      uint64          `json:"aiTick"`
	Width       float32         `json:"w"`
	Height      float32         `json:"h"`
	RawBodies   json.RawMessage `json:"bodies"`
	RawMoved    json.RawMessage `json:"moved"`
	RawRemoved  json.RawMessage `json:"removed"`
	RawAgents   json.RawMessage `json:"agents"`
	Players     []PlayerState   `json:"players"`
	Children    []Child         `json:"children"`

	Bodies, Moved, Removed, Agents []int64 `json:"-"`
}

func (w *wireWorld) decode(b []byte) error {
	if err := json.Unmarshal(b, w); err != nil {
		return err
	}
	for _, a := range []struct {
		name string
		raw  json.RawMessage
		out  *[]int64
	}{{"bodies", w.RawBodies, &w.Bodies}, {"moved", w.RawMoved, &w.Moved}, {"removed", w.RawRemoved, &w.Removed}, {"agents", w.RawAgents, &w.Agents}} {
		var err error
		if *a.out, err = parseInts(a.raw); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	return nil
}

// parseInts parses a JSON array of integers ("[1,-2,3]"); null or nothing
// is empty. Anything else — a fraction, a string, a value past int64 — is
// an error.
func parseInts(raw []byte) ([]int64, error) {
	raw = trimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, fmt.Errorf("not an array of integers")
	}
	body := raw[1 : len(raw)-1]
	out := make([]int64, 0, len(body)/4)
	if len(trimSpace(body)) == 0 {
		return out, nil
	}
	for i := 0; ; {
		for i < len(body) && isSpace(body[i]) {
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
		for i < len(body) && isSpace(body[i]) {
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

// trimSpace trims JSON's white space (bytes.TrimSpace trims more).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// MarshalJSON writes the snapshot in its wire form.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	return appendWorld(make([]byte, 0, 256+36*len(s.Bodies)+32*len(s.Agents)), s.Tick, s.PhysicsTick, s.AITick, s.Width, s.Height, s.Bodies, nil, nil, s.Agents, s.Players, s.Children)
}

// MarshalJSON writes the delta in its wire form.
func (d Delta) MarshalJSON() ([]byte, error) {
	return appendWorld(make([]byte, 0, 256+36*len(d.Bodies)+24*len(d.Moved)+32*len(d.Agents)), d.Tick, d.PhysicsTick, d.AITick, d.Width, d.Height, d.Bodies, d.Moved, d.Removed, d.Agents, d.Players, d.Children)
}

func appendWorld(b []byte, tick, pt, at uint64, w, h float32, bodies []Body, moves []Move, removed []uint32,
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
		b = appendInts(b, i == 0, int64(x.ID), int64(x.Flags), int64(x.X), int64(x.Y), int64(x.VX), int64(x.VY), int64(x.R))
	}
	b = append(b, ']')
	if len(moves) > 0 {
		b = append(b, `,"moved":[`...)
		prev := uint32(0)
		for i, m := range moves {
			b = appendInts(b, i == 0, int64(m.ID)-int64(prev), int64(m.DX), int64(m.DY), int64(m.DVX), int64(m.DVY))
			prev = m.ID
		}
		b = append(b, ']')
	}
	if len(removed) > 0 {
		b = append(b, `,"removed":[`...)
		for i, id := range removed {
			b = appendInts(b, i == 0, int64(id))
		}
		b = append(b, ']')
	}
	b = append(b, `,"agents":[`...)
	for i, a := range agents {
		b = appendInts(b, i == 0, int64(a.ID), int64(a.Kind), int64(a.X), int64(a.Y), int64(a.VX), int64(a.VY))
	}
	b = append(b, `],"players":`...)
	var err error
	if b, err = appendJSON(b, nonNil(players)); err != nil {
		return nil, err
	}
	b = append(b, `,"children":`...)
	if b, err = appendJSON(b, nonNil(children)); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func appendInts(b []byte, first bool, v ...int64) []byte {
	for i, x := range v {
		if i > 0 || !first {
			b = append(b, ',')
		}
		b = appendInt(b, x)
	}
	return b
}

// appendInt is strconv.AppendInt for base 10, without its generality:
// encoding is net's hot path.
func appendInt(b []byte, x int64) []byte {
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

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// UnmarshalJSON reads a snapshot in its wire form, checking every value.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var w wireWorld
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
		Bodies: bodies, Agents: agents, Players: w.Players, Children: w.Children}
	return nil
}

// UnmarshalJSON reads a delta in its wire form, checking every value.
func (d *Delta) UnmarshalJSON(b []byte) error {
	var w wireWorld
	if err := w.decode(b); err != nil {
		return fmt.Errorf("netproc: delta: %w", err)
	}
	bodies, agents, err := w.items()
	if err != nil {
		return fmt.Errorf("netproc: delta: %w", err)
	}
	if len(w.Moved)%moveInts != 0 {
		return fmt.Errorf("netproc: delta: moved has %d values, not a multiple of %d", len(w.Moved), moveInts)
	}
	moves := make([]Move, 0, len(w.Moved)/moveInts)
	id := int64(0)
	for v := w.Moved; len(v) > 0; v = v[moveInts:] {
		if v[0] < 1 {
			return fmt.Errorf("netproc: delta: move id gap %d, want >= 1", v[0])
		}
		if id += v[0]; id > math.MaxUint32 {
			return fmt.Errorf("netproc: delta: move id %d out of range", id)
		}
		if !within(v[1:5], 2*maxFixed) {
			return fmt.Errorf("netproc: delta: move of body %d out of range", id)
		}
		moves = append(moves, Move{ID: uint32(id), DX: int32(v[1]), DY: int32(v[2]), DVX: int32(v[3]), DVY: int32(v[4])})
	}
	removed := make([]uint32, 0, len(w.Removed))
	for _, r := range w.Removed {
		if r < 0 || r > math.MaxUint32 {
			return fmt.Errorf("netproc: delta: removed id %d out of range", r)
		}
		removed = append(removed, uint32(r))
	}
	*d = Delta{Tick: w.Tick, PhysicsTick: w.PhysicsTick, AITick: w.AITick, Width: w.Width, Height: w.Height,
		Bodies: bodies, Moved: moves, Removed: removed, Agents: agents, Players: w.Players, Children: w.Children}
	return nil
}

// items decodes the flat arrays of bodies and agents.
func (w *wireWorld) items() ([]Body, []Agent, error) {
	if len(w.Bodies)%bodyInts != 0 {
		return nil, nil, fmt.Errorf("bodies has %d values, not a multiple of %d", len(w.Bodies), bodyInts)
	}
	if len(w.Agents)%agentInts != 0 {
		return nil, nil, fmt.Errorf("agents has %d values, not a multiple of %d", len(w.Agents), agentInts)
	}
	bodies := make([]Body, 0, len(w.Bodies)/bodyInts)
	for v := w.Bodies; len(v) > 0; v = v[bodyInts:] {
		if !isID(v[0]) || !isID(v[1]) || !within(v[2:7], maxFixed) {
			return nil, nil, fmt.Errorf("body %v out of range", v[:bodyInts])
		}
		bodies = append(bodies, Body{ID: uint32(v[0]), Flags: uint32(v[1]), X: int32(v[2]), Y: int32(v[3]),
			VX: int32(v[4]), VY: int32(v[5]), R: int32(v[6])})
	}
	agents := make([]Agent, 0, len(w.Agents)/agentInts)
	for v := w.Agents; len(v) > 0; v = v[agentInts:] {
		if !isID(v[0]) || !isID(v[1]) || !within(v[2:6], maxFixed) {
			return nil, nil, fmt.Errorf("agent %v out of range", v[:agentInts])
		}
		agents = append(agents, Agent{ID: uint32(v[0]), Kind: uint32(v[1]), X: int32(v[2]), Y: int32(v[3]),
			VX: int32(v[4]), VY: int32(v[5])})
	}
	return bodies, agents, nil
}

// isID reports whether v fits a uint32 (ids, flags, kinds).
func isID(v int64) bool { return v >= 0 && v <= math.MaxUint32 }

// within reports whether every value is within ±limit: maxFixed for
// fixed-point values, twice that for the differences of a move.
func within(v []int64, limit int64) bool {
	for _, x := range v {
		if x < -limit || x > limit {
			return false
		}
	}
	return true
}
