package netproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/venomrt/venomrt/procs/physics"
)

// randSnapshot is a random world; with a base, a random successor of it:
// bodies removed, moved, restyled (flags, radius) and added, agents
// likewise, players come and go, cursors and round trips change.
func randSnapshot(r *rand.Rand, base *Snapshot) Snapshot {
	i32 := func(n int64) int32 { return int32(r.Int64N(2*n+1) - n) }
	s := Snapshot{Tick: r.Uint64(), PhysicsTick: r.Uint64(), AITick: r.Uint64(), Width: r.Float32() * 2000, Height: r.Float32() * 1000,
		physicsTime: r.Int64N(1e12), aiTime: r.Int64N(1e12)}
	if base != nil {
		s.physicsTime = base.physicsTime + r.Int64N(2e8) - 1e7 // now and then backwards: no prediction
		s.aiTime = base.aiTime + r.Int64N(2e8)
	}
	big := r.IntN(4) == 0 // values across the whole range, or game-like ones
	span := func(game int64) int64 {
		if big {
			return maxFixed
		}
		return game
	}
	next := uint32(r.IntN(3))
	if base != nil {
		for _, b := range base.Bodies {
			switch r.IntN(6) {
			case 0: // removed
			case 1, 2: // moved
				b.X, b.VY = i32(span(20000)), i32(span(800))
				s.Bodies = append(s.Bodies, b)
			case 3: // grown, or touching, and perhaps moved
				b.R, b.Flags = i32(span(1000)), r.Uint32N(2)
				if r.IntN(2) == 0 {
					b.Y += int32(r.IntN(50))
				}
				s.Bodies = append(s.Bodies, b)
			default:
				s.Bodies = append(s.Bodies, b)
			}
			next = max(next, b.ID)
		}
		for _, a := range base.Agents {
			if r.IntN(8) != 0 {
				a.X, a.VX = a.X+int32(r.IntN(40)), i32(span(100))
				s.Agents = append(s.Agents, a)
			}
		}
	}
	for range r.IntN(50) {
		if next >= math.MaxUint32-4 {
			break
		}
		next += uint32(1 + r.IntN(3))
		s.Bodies = append(s.Bodies, Body{ID: next, Flags: r.Uint32N(2), X: i32(span(20000)), Y: i32(span(1000)),
			VX: i32(span(5000)), VY: i32(span(5000)), R: i32(span(200))})
	}
	if r.IntN(10) == 0 && next < math.MaxUint32-4 { // the largest id there is
		s.Bodies = append(s.Bodies, Body{ID: math.MaxUint32, X: 1, R: 16})
	}
	id := uint32(1)
	if n := len(s.Agents); n > 0 {
		id = s.Agents[n-1].ID + 1
	}
	for range r.IntN(5) {
		s.Agents = append(s.Agents, Agent{ID: id, Kind: 1 + r.Uint32N(3), X: i32(span(9999)), Y: i32(span(9999)), VX: 1, VY: -1})
		id += 1 + r.Uint32N(4)
	}
	names := []string{"ann", "bob", "a name longer than sixteen bytes", ""}
	pid := uint32(0)
	var was []PlayerState
	if base != nil {
		was = base.Players
	}
	for i := range r.IntN(5) {
		pid += 1 + r.Uint32N(3)
		p := PlayerState{ID: pid, Name: names[(int(pid)+i)%len(names)], Color: r.Uint32N(1 << 24),
			Cursor: [2]float32{float32(r.IntN(1<<20)) / Subpixel, -float32(r.IntN(1<<14)) / Subpixel}, RTTNano: r.Int64N(1e6) * 1000}
		for _, w := range was {
			if w.ID == pid && r.IntN(2) == 0 {
				p = w // unchanged but for the cursor
				p.Cursor[0]++
			}
		}
		s.Players = append(s.Players, p)
	}
	for range r.IntN(3) {
		c := Child{Name: "physics", State: "running", Pid: r.Uint32(), Restarts: r.Uint32N(9), Tick: r.Uint64(), Age: -1}
		if r.IntN(2) == 0 {
			c.Age, c.Reason, c.State = r.Int64N(1e9)*1000, "exit status 2", "backoff"
		}
		s.Children = append(s.Children, c)
	}
	return s
}

// wireForm is s as a client receives it: names cut, the server's own
// fields gone, empty lists empty.
func wireForm(s Snapshot) Snapshot {
	s.physicsTime, s.aiTime = 0, 0
	s.Bodies = append([]Body{}, s.Bodies...)
	s.Agents = append([]Agent{}, s.Agents...)
	s.Players = append([]PlayerState{}, s.Players...)
	for i := range s.Players {
		s.Players[i].Name = cut(s.Players[i].Name, MaxName)
	}
	s.Children = append([]Child{}, s.Children...)
	return s
}

// decode parses and decodes a server message against base.
func decode(t testing.TB, b []byte, base *Snapshot) (ServerMessage, Snapshot) {
	t.Helper()
	m, err := ParseServerMessage(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	s, err := m.World(base)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m, s
}

// TestWireRoundTrip: what the client decodes is exactly the server's
// snapshot (in fixed point), full or as a delta against what the client
// decoded before, over chains of random worlds.
func TestWireRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for chain := range 60 {
		cur := randSnapshot(r, nil)
		full, err := AppendSnapshot(nil, 1, 0, nil, &cur)
		if err != nil {
			t.Fatal(err)
		}
		w := welcomeFrom(full, 7)
		m, got := decode(t, w, nil)
		if !m.Welcome || m.ID != 7 || m.Seq != 1 || m.Base != 0 {
			t.Fatalf("welcome header %+v", m)
		}
		if !reflect.DeepEqual(got, wireForm(cur)) {
			t.Fatalf("chain %d: full snapshot\n got %+v\nwant %+v", chain, got, wireForm(cur))
		}
		for seq := uint64(2); seq < 12; seq++ {
			next := randSnapshot(r, &cur)
			b, err := AppendSnapshot(nil, seq, seq-1, &cur, &next)
			if err != nil {
				t.Fatal(err)
			}
			m, dec := decode(t, b, &got)
			if m.Welcome || m.Seq != seq || m.Base != seq-1 {
				t.Fatalf("header %+v", m)
			}
			if !reflect.DeepEqual(dec, wireForm(next)) {
				t.Fatalf("chain %d seq %d: delta\n got %+v\nwant %+v", chain, seq, dec, wireForm(next))
			}
			cur, got = next, dec
		}
	}
	// A body crossing the whole fixed-point range in one delta, at the
	// largest velocities and predictor.
	far := Snapshot{Bodies: []Body{{ID: 1, X: -maxFixed, Y: maxFixed, VX: -maxFixed, VY: maxFixed, R: 1}}}
	near := Snapshot{Bodies: []Body{{ID: 1, X: maxFixed, Y: -maxFixed, VX: maxFixed, VY: -maxFixed, R: 1}}, physicsTime: 2e9}
	for _, pair := range [][2]Snapshot{{far, near}, {near, far}, {near, near}} {
		b, err := AppendSnapshot(nil, 2, 1, &pair[0], &pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if _, got := decode(t, b, &pair[0]); !reflect.DeepEqual(got.Bodies, pair[1].Bodies) {
			t.Fatalf("delta across the range: %+v, want %+v", got.Bodies, pair[1].Bodies)
		}
	}
}

// TestWireManyChildren: a game with a group of game.MaxGroup members (64
// regions, ai, net, render: 67 children) goes over the wire whole; one
// child more than MaxChildren is an error, not a snapshot cut short.
func TestWireManyChildren(t *testing.T) {
	var s Snapshot
	for i := range 67 {
		s.Children = append(s.Children, Child{Name: fmt.Sprintf("physics-%d", i), State: "running", Pid: uint32(100 + i), Age: -1})
	}
	b, err := AppendSnapshot(nil, 1, 0, nil, &s)
	if err != nil {
		t.Fatalf("67 children: %v", err)
	}
	if _, got := decode(t, welcomeFrom(b, 1), nil); len(got.Children) != 67 || got.Children[66].Name != "physics-66" {
		t.Fatalf("decoded %d children, want 67 ending with physics-66", len(got.Children))
	}
	s.Children = make([]Child, MaxChildren+1)
	if _, err := AppendSnapshot(nil, 1, 0, nil, &s); err == nil {
		t.Fatalf("%d children encoded, want an error", MaxChildren+1)
	}
}

// TestWireUnchangedIsSmall: a delta of a world against itself carries
// no body, and a world of bodies at rest costs next to nothing.
func TestWireUnchangedIsSmall(t *testing.T) {
	w, err := physics.New(physics.DefaultParams(), 2000)
	if err != nil {
		t.Fatal(err)
	}
	s := worldAt(w, 1)
	b, err := AppendSnapshot(nil, 2, 1, s, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 40 {
		t.Fatalf("a delta of 2000 unchanged bodies takes %d bytes: % x", len(b), b)
	}
}

// validMessages are a full snapshot and a delta against it, for the
// refusal tests and the fuzzers' seeds.
func validMessages(t testing.TB) (base Snapshot, full, delta []byte) {
	r := rand.New(rand.NewPCG(3, 4))
	base = randSnapshot(r, nil)
	for len(base.Bodies) < 5 || len(base.Players) == 0 {
		base = randSnapshot(r, nil)
	}
	next := randSnapshot(r, &base)
	var err error
	if full, err = AppendSnapshot(nil, 1, 0, nil, &base); err != nil {
		t.Fatal(err)
	}
	if delta, err = AppendSnapshot(nil, 2, 1, &base, &next); err != nil {
		t.Fatal(err)
	}
	return wireForm(base), full, delta
}

// msg builds a server message by hand: kind, seq, base, then the world's
// parts as given.
func msg(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func f32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// bitsOf writes Rice values with fresh contexts, one per value (k = 0).
func bitsOf(vs ...uint64) []byte {
	w := bitWriter{}
	for _, v := range vs {
		c := newRice()
		w.rice(&c, v)
	}
	w.flush()
	return append(uv(uint64(len(w.b))), w.b...)
}

// TestWireRefusesBadMessages: every truncation of a valid message, and
// each kind of hostile message, is an error wrapping ErrBadMessage that
// names the problem — never a panic, a hang or a value out of range.
func TestWireRefusesBadMessages(t *testing.T) {
	base, full, delta := validMessages(t)
	for name, b := range map[string][]byte{"full": full, "delta": delta} {
		var bs *Snapshot
		if name == "delta" {
			bs = &base
		}
		for n := range len(b) {
			m, err := ParseServerMessage(b[:n])
			if err == nil {
				_, err = m.World(bs)
			}
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("%s cut to %d of %d bytes: %v, want ErrBadMessage", name, n, len(b), err)
			}
		}
		m, err := ParseServerMessage(append(append([]byte{}, b...), 0))
		if err == nil {
			_, err = m.World(bs)
		}
		if err == nil || !strings.Contains(err.Error(), "after the world") {
			t.Fatalf("%s with a byte more: %v", name, err)
		}
	}

	world := func(bodies, agents []byte, rest ...[]byte) []byte {
		return msg(append([][]byte{uv(5, 6, 7), f32(1280, 720), bodies, agents}, rest...)...)
	}
	empty := msg(uv(0, 0, 0, 0, 0), bitsOf())
	noPlayers := uv(0, 0)
	one := Snapshot{Bodies: []Body{{ID: 4, X: 16, Y: 16, R: 16}}}
	for _, tc := range []struct {
		name string
		b    []byte
		base *Snapshot
		want string
	}{
		{"empty", nil, nil, "kind: message ends"},
		{"unknown kind", msg([]byte{9}, uv(1, 0)), nil, "unknown message kind 9"},
		{"seq 0", msg([]byte{msgSnapshot}, uv(0, 0)), nil, "seq 0"},
		{"base after seq", msg([]byte{msgSnapshot}, uv(3, 3)), nil, "base 3 is not before seq 3"},
		{"welcome delta", msg([]byte{msgWelcome}, uv(1, 3, 2)), nil, "welcome must be full"},
		{"overlong varint", msg([]byte{msgSnapshot}, bytes.Repeat([]byte{0xff}, 11)), nil, "varint"},
		{"delta without its base", msg([]byte{msgSnapshot}, uv(3, 2), world(empty, empty, noPlayers)), nil, "base given false"},
		{"NaN width", msg([]byte{msgSnapshot}, uv(1, 0), uv(1, 1, 1), f32(float32(math.NaN()), 1)), nil, "width NaN is not finite"},
		{"removed from an empty base", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(1, 0, 0, 0, 0), bitsOf(4)), empty, noPlayers)), nil, "removed 1, at most 0"},
		{"too many bodies for the bytes", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 60000, 0, 0, 0), bitsOf(1)), empty, noPlayers)), nil, "cannot fit"},
		{"more bodies than MaxItems", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, MaxItems+1, 0, 0, 0), bitsOf(1)), empty, noPlayers)), nil, "added 65537, at most 65536"},
		{"predictor too large", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 0, 0, 0, maxPredict+1), bitsOf()), empty, noPlayers)), nil, "predictor"},
		{"bit stream longer than the message", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 0, 0, 0, 0, 200)), empty, noPlayers)), nil, "bit stream bytes 200"},
		{"bits left over", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 0, 0, 0, 0), bitsOf(0, 0, 0, 0, 0, 0, 0, 0, 0)), empty, noPlayers)), nil, "bits left over"},
		{"id past uint32", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 1, 0, 0, 0), bitsOf(1<<32, 0, 0, 0, 0, 0, 0)), empty, noPlayers)), nil, "id 4294967296 out of range"},
		{"x out of range", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 1, 0, 0, 0), bitsOf(1, 0, 1<<33, 0, 0, 0, 0)), empty, noPlayers)), nil, "out of range"},
		{"escape of 41 bits", msg([]byte{msgSnapshot}, uv(1, 0), world(msg(uv(0, 1, 0, 0, 0), append(uv(7), 0, 0, 0xa4, 0, 0, 0, 0)), empty, noPlayers)), nil, "escaped value of 41 bits"},
		{"moved id not in the base", msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(0, 0, 1, 0, 0), bitsOf(9, 0, 0, 0, 0)), empty, noPlayers)), &one, "moved"},
		{"removed id not in the base", msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(1, 0, 0, 0, 0), bitsOf(3)), empty, noPlayers)), &one, "removed"},
		{"added id in the base", msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(0, 1, 0, 0, 0), bitsOf(4, 0, 0, 0, 0, 0, 0)), empty, noPlayers)), &one, "added id 4 is in the base"},
		{"moved out of range", msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(0, 0, 1, 0, 0), bitsOf(4, 0, 0, zigzag(maxFixed), 0)), empty, noPlayers)), &one, "position of 4 out of range"},
		{"velocity out of range", msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(0, 0, 1, 0, 0), bitsOf(4, zigzag(maxFixed+1), 0, 0, 0)), empty, noPlayers)), &one, "velocity of 4 out of range"},
		{"new player without a name", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(1, 0), []byte{0}, uv(0, 0), uv(0))), nil, "new but has no name"},
		{"unknown player bits", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(1, 0), []byte{0x81}, uv(0, 0), uv(0))), nil, "player bits"},
		{"long player name", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(1, 0), []byte{1, 40}, bytes.Repeat([]byte{'a'}, 40), uv(0))), nil, "player name of 40 bytes"},
		{"cursor out of range", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(1, 0), []byte{1, 1, 'a', 0, 0, 0}, uv(4*maxCursor, 0), uv(0))), nil, "cursor of player 0 out of range"},
		{"too many children", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(0), uv(MaxChildren+1))), nil, "children 129, at most 128"},
		{"children truncated", msg([]byte{msgSnapshot}, uv(1, 0), world(empty, empty, uv(0), uv(2), []byte{3, 'a', 'b'})), nil, "child name: message ends"},
	} {
		m, err := ParseServerMessage(tc.b)
		if err == nil {
			_, err = m.World(tc.base)
		}
		if !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadMessage with %q", tc.name, err, tc.want)
		}
	}
	// The hand-built pieces do make a valid message when nothing is wrong.
	good := msg([]byte{msgSnapshot}, uv(2, 1), world(msg(uv(0, 1, 1, 0, 0), bitsOf(5, 0, 1, 2, 3, 4, 5, 4, 0, 0, 0, 0)), empty, noPlayers))
	m, err := ParseServerMessage(good)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.World(&one)
	if err != nil {
		t.Fatalf("a valid hand-built message: %v", err)
	}
	if want := []Body{{ID: 4, X: 16, Y: 16, R: 16}, {ID: 5, X: -1, Y: 1, VX: -2, VY: 2, R: -3}}; !reflect.DeepEqual(s.Bodies, want) {
		t.Fatalf("hand-built bodies %+v, want %+v", s.Bodies, want)
	}
}

func TestClientMessages(t *testing.T) {
	for _, in := range []Input{{}, {Spawn: true}, {Explode: true, HasCursor: true, Cursor: [2]float32{-3.5, 1e6}},
		{HasCursor: true, Spawn: true, Explode: true}} {
		m, err := ParseClientMessage(AppendInput(nil, in))
		if err != nil || m.Ack || m.Input != in {
			t.Errorf("input %+v: %+v %v", in, m, err)
		}
	}
	if m, err := ParseClientMessage(AppendAck(nil, 1<<40)); err != nil || !m.Ack || m.Seq != 1<<40 {
		t.Errorf("ack: %+v %v", m, err)
	}
	nan := AppendInput(nil, Input{HasCursor: true, Cursor: [2]float32{float32(math.NaN()), 0}})
	inf := AppendInput(nil, Input{HasCursor: true, Cursor: [2]float32{0, float32(math.Inf(1))}})
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"unknown kind", []byte{7}, "unknown message kind 7"},
		{"ack without seq", []byte{msgAck}, "ack"},
		{"ack with a byte more", append(AppendAck(nil, 5), 0), "ack"},
		{"input without bits", []byte{msgInput}, "no bits"},
		{"unknown bits", []byte{msgInput, 0x10}, "unknown bits 0x10"},
		{"short cursor", []byte{msgInput, inCursor, 0, 0, 0}, "5 bytes, want 10"},
		{"cursor without the bit", []byte{msgInput, inSpawn, 0, 0, 0, 0, 0, 0, 0, 0}, "10 bytes, want 2"},
		{"NaN cursor", nan, "not finite"},
		{"infinite cursor", inf, "not finite"},
	} {
		if _, err := ParseClientMessage(tc.b); !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadMessage with %q", tc.name, err, tc.want)
		}
	}
}

// checkSnapshot checks what a decoder may return: ascending ids, every
// value in range.
func checkSnapshot(t *testing.T, s Snapshot) {
	t.Helper()
	for i, b := range s.Bodies {
		if i > 0 && b.ID <= s.Bodies[i-1].ID {
			t.Fatalf("body %d out of order", b.ID)
		}
		for _, v := range []int32{b.X, b.Y, b.VX, b.VY, b.R} {
			if !inFixed(int64(v)) {
				t.Fatalf("body %+v out of range", b)
			}
		}
	}
	for i, a := range s.Agents {
		if i > 0 && a.ID <= s.Agents[i-1].ID {
			t.Fatalf("agent %d out of order", a.ID)
		}
	}
	if !finite32(s.Width) || !finite32(s.Height) {
		t.Fatalf("world size %v×%v", s.Width, s.Height)
	}
}

// FuzzServerMessage: the client's decoder against anything. It never
// panics; what it accepts is in range, and encodes back to a message that
// decodes to the same world.
func FuzzServerMessage(f *testing.F) {
	base, full, delta := validMessages(f)
	f.Add(full)
	f.Add(delta)
	f.Add(welcomeFrom(full, 3))
	f.Add([]byte{msgSnapshot, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseServerMessage(b)
		if err != nil {
			return
		}
		var bs *Snapshot
		if m.Base != 0 {
			bs = &base
		}
		s, err := m.World(bs)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error not wrapping ErrBadMessage: %v", err)
			}
			return
		}
		checkSnapshot(t, s)
		again, err := AppendSnapshot(nil, 1, 0, nil, &s)
		if err != nil {
			t.Fatalf("a decoded world does not encode: %v", err)
		}
		if _, s2 := decode(t, again, nil); !reflect.DeepEqual(s2, wireForm(s)) {
			t.Fatalf("re-encoded world differs:\n%+v\n%+v", s2, s)
		}
	})
}

// FuzzClientMessage: the server's decoder against anything: it never
// panics, and what it accepts encodes back to a message that means the
// same.
func FuzzClientMessage(f *testing.F) {
	f.Add(AppendAck(nil, 77))
	f.Add(AppendInput(nil, Input{HasCursor: true, Cursor: [2]float32{1, 2}, Spawn: true}))
	f.Add(AppendInput(nil, Input{Explode: true}))
	f.Add([]byte{msgInput, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error not wrapping ErrBadMessage: %v", err)
			}
			return
		}
		var again []byte
		if m.Ack {
			again = AppendAck(nil, m.Seq)
		} else {
			if m.Input.HasCursor && (!finite32(m.Input.Cursor[0]) || !finite32(m.Input.Cursor[1])) {
				t.Fatalf("accepted cursor %v", m.Input.Cursor)
			}
			again = AppendInput(nil, m.Input)
		}
		if m2, err := ParseClientMessage(again); err != nil || !reflect.DeepEqual(m2, m) {
			t.Fatalf("%x: %+v, re-encoded %x: %+v %v", b, m, again, m2, err)
		}
	})
}

// TestV2Baseline: the benchmarks' version 2 baseline still encodes what
// version 2 sent (Apply of the decoded delta is the new world).
func TestV2Baseline(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		base := randSnapshot(r, nil)
		cur := randSnapshot(r, &base)
		d, err := v2MarshalDelta(v2Diff(&base, &cur))
		if err != nil {
			t.Fatal(err)
		}
		var back v2Delta
		if err := v2UnmarshalDelta(&back, d); err != nil {
			t.Fatal(err)
		}
		got, err := v2Apply(&base, &back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Bodies, cur.Bodies) && len(cur.Bodies) > 0 {
			t.Fatalf("v2 round trip: %+v, want %+v", got.Bodies, cur.Bodies)
		}
	}
}

// FuzzJoinRequest: the join the server reads from a handshake's URL. It
// never panics, accepts only version 3 at Path, and never yields a name
// longer than MaxName.
func FuzzJoinRequest(f *testing.F) {
	for _, s := range []string{"/ws?v=3&name=ann", "/ws?v=2", "/?v=3", "/ws?v=3&name=" + strings.Repeat("x", 40), "/ws?v=03&v=3", "/ws?name=%ff%fe&v=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		name, err := joinRequest(&http.Request{URL: u})
		if err != nil {
			var k errKick
			if !errors.As(err, &k) || len(k.reason) == 0 {
				t.Fatalf("%q: %v, want a kick with a reason", target, err)
			}
			return
		}
		if u.Path != Path || u.Query().Get("v") != "3" || len(name) > MaxName || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			t.Fatalf("%q accepted: name %q", target, name)
		}
	})
}

// TestJoinName: a name is cut between characters, never inside one, and
// loses invalid UTF-8 and control characters (a leading NUL would empty
// it in the net slice); what is left comes back whole from the slice.
func TestJoinName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"ann", "ann"},
		{strings.Repeat("é", 9), strings.Repeat("é", 8)},         // 18 bytes: 16
		{strings.Repeat("a", 15) + "€", strings.Repeat("a", 15)}, // the euro (3 bytes) would end at byte 18
		{strings.Repeat("a", 14) + "€", strings.Repeat("a", 14)},
		{strings.Repeat("a", 13) + "€", strings.Repeat("a", 13) + "€"},
		{"\x00bob", "bob"},
		{"b\x00o\nb\x7f", "bob"},
		{"\xffbob\xfe", "bob"},
		{"", ""},
	} {
		u := &url.URL{Path: Path, RawQuery: url.Values{"v": {"3"}, "name": {tc.name}}.Encode()}
		got, err := joinRequest(&http.Request{URL: u})
		if err != nil || got != tc.want {
			t.Errorf("name %q: %q, %v; want %q", tc.name, got, err, tc.want)
			continue
		}
		var p Player
		copy(p.Name[:], got)
		if p.NameString() != tc.want {
			t.Errorf("name %q: the slice gives back %q", tc.name, p.NameString())
		}
	}
}

// TestJoinRefusals: the reason a refused join is given names what is
// wrong: the version (none, or another), or the path.
func TestJoinRefusals(t *testing.T) {
	for _, tc := range []struct{ target, reason string }{
		{"/", reasonVersion},
		{"/ws?name=ann", reasonVersion},
		{"/?v=2", `protocol version "2" is not served`},
		{"/?v=3&name=ann", `no game at path "/": join at /ws?v=3&name=NAME`},
		{"/game?v=3", `no game at path "/game"`},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		_, err = joinRequest(&http.Request{URL: u})
		var k errKick
		if !errors.As(err, &k) || !strings.HasPrefix(k.reason, tc.reason) {
			t.Errorf("%s: %v, want a kick beginning %q", tc.target, err, tc.reason)
		}
	}
}
