// Package world reads a physics world cut into regions as one world: it
// follows every region's channel (a process group's members, game.Env's
// Members("physics")) with engine.Follower, merges their bodies — each
// region's own and those in flight between regions — into one list, and
// sends a physics command to the region(s) it touches. The demo's
// renderer, ai and net read physics through it; a world of one region is
// read exactly as one physics channel was.
package world

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
)

// Follower follows every region of one physics world. It is used from one
// goroutine, as engine.Follower is.
type Follower struct {
	// Members follow the regions' channels, member i region i.
	Members []*engine.Follower[physics.Meta, physics.Body]
}

// Follow makes a Follower of the regions' channels, in region order
// (channels[i] is region i's). It connects on its first Poll.
func Follow(channels []string, o engine.FollowOptions) *Follower {
	w := &Follower{}
	for _, ch := range channels {
		w.Members = append(w.Members, engine.Follow(ch, physics.Schema, o))
	}
	return w
}

// Poll takes the newest snapshot of every region and returns the world's
// state: live when every region is, waiting when none has a snapshot yet,
// stale otherwise (a region down: its last snapshot is kept), and
// incompatible when a region's channel is of another schema.
func (w *Follower) Poll() engine.FollowState {
	live, have := 0, 0
	incompatible := false
	for _, m := range w.Members {
		switch m.Poll() {
		case engine.FollowLive:
			live++
		case engine.FollowIncompatible:
			incompatible = true
		}
		if m.Have() {
			have++
		}
	}
	switch {
	case incompatible:
		return engine.FollowIncompatible
	case have == 0:
		return engine.FollowWaiting
	case live == len(w.Members):
		return engine.FollowLive
	}
	return engine.FollowStale
}

// Have reports whether any region has a snapshot.
func (w *Follower) Have() bool {
	for _, m := range w.Members {
		if m.Have() {
			return true
		}
	}
	return false
}

// Params are the world's parameters, from the first region with a
// snapshot (every region of a world carries the same size and gravity),
// and whether there is one.
func (w *Follower) Params() (physics.Params, bool) {
	for _, m := range w.Members {
		if m.Have() {
			return m.Cur.Meta.Params, true
		}
	}
	return physics.Params{}, false
}

// Append appends every body of the world to dst, region by region: each
// region's own bodies, then those in its outboxes still in flight (an
// entry its receiver's snapshot shows adopted is the receiver's, and is
// not appended twice). With live, only the regions whose snapshot is live
// count (a reader that must not act on a stale region's bodies).
func (w *Follower) Append(dst []physics.Body, live bool) []physics.Body {
	for i, m := range w.Members {
		if !m.Have() || (live && m.State() != engine.FollowLive) {
			continue
		}
		cur, left, right := w.Frames(i)
		dst = AppendRegion(dst, cur, left, right)
	}
	return dst
}

// Frames are region i's newest frame and its neighbours' (nil where there
// is no neighbour or no snapshot of it), as AppendRegion takes them.
func (w *Follower) Frames(i int) (cur, left, right *engine.Frame[physics.Meta, physics.Body]) {
	at := func(j int) *engine.Frame[physics.Meta, physics.Body] {
		if j < 0 || j >= len(w.Members) || !w.Members[j].Have() {
			return nil
		}
		return &w.Members[j].Cur
	}
	return at(i), at(i - 1), at(i + 1)
}

// AppendRegion appends a region's bodies to dst: its own, then those in
// flight to its neighbours. left and right are the neighbours' newest
// frames (nil: none, or not known), whose Got numbers tell which outbox
// entries they have already adopted.
func AppendRegion(dst []physics.Body, cur, left, right *engine.Frame[physics.Meta, physics.Body]) []physics.Body {
	owned, _, _ := Split(&cur.Meta, cur.Items)
	return AppendInFlight(append(dst, owned...), cur, left, right)
}

// AppendInFlight appends to dst the bodies in flight from a region to its
// neighbours that they have not adopted (AppendRegion without the
// region's own bodies).
func AppendInFlight(dst []physics.Body, cur, left, right *engine.Frame[physics.Meta, physics.Body]) []physics.Body {
	_, outL, outR := Split(&cur.Meta, cur.Items)
	rg := &cur.Meta.Region
	var gotL, gotR uint64
	if left != nil {
		gotL = left.Meta.Region.GotRight
	}
	if right != nil {
		gotR = right.Meta.Region.GotLeft
	}
	dst = append(dst, physics.InFlight(outL, rg.SentLeft, gotL)...)
	return append(dst, physics.InFlight(outR, rg.SentRight, gotR)...)
}

// Split cuts a region's snapshot items into its parts: its own bodies,
// the outbox to its left neighbour, the outbox to its right. The meta's
// counts come from shared memory: they are clamped to the items, so a
// meta that does not add up gives what it can and never a panic. A
// snapshot of a process that is not cut in regions (Count 0: a writer
// older than regions) is all owned.
func Split(m *physics.Meta, items []physics.Body) (owned, left, right []physics.Body) {
	if m.Region.Count == 0 {
		return items, nil, nil
	}
	n := uint64(len(items))
	o := min(uint64(m.Region.Owned), n)
	l := min(uint64(m.Region.OutLeft), n-o)
	r := min(uint64(m.Region.OutRight), n-o-l)
	return items[:o], items[o : o+l], items[o+l : o+l+r]
}

// Targets are the regions a physics command goes to, of a world of n
// regions width px wide (0: not known yet); holder finds the region whose
// snapshot holds a body (-1: none). Spawns go to the region whose strip
// holds their x, an impulse to the region holding its body, anything else
// (an explosion, which may reach across borders, clear, gravity, reset,
// the engine's faults) to every region. Where the region cannot be told
// (the world's width unknown, the body in no snapshot) the command goes
// to every region: a region that does not hold what a command is about
// takes it as a no-op.
func Targets(c engine.Command, n int, width float32, holder func(id uint32) int) (first, last int) {
	if n <= 1 {
		return 0, 0
	}
	switch c.Op {
	case physics.OpSpawn, physics.OpSpawnBurst:
		if width > 0 && c.Argc >= 1 {
			// physics.StripOf, as the regions decide which of them
			// makes it: the same float32 x, the same rounded borders.
			k := physics.StripOf(float32(c.Args[0]), width, n)
			return k, k
		}
	case physics.OpImpulse:
		if c.Argc >= 1 && c.Args[0] >= 0 && c.Args[0] <= math.MaxUint32 && holder != nil {
			if k := holder(uint32(c.Args[0])); k >= 0 && k < n {
				return k, k
			}
		}
	}
	return 0, n - 1
}

// Send sends a physics command to the region(s) it touches (Targets). It
// returns nil when every target took it, else the targets' errors joined,
// each naming its channel. A reader that must not lose a command to a
// region that is down queues it per region instead (net does: Targets,
// then each member's Send).
func (w *Follower) Send(c engine.Command) error {
	if len(w.Members) == 0 {
		return fmt.Errorf("world: %w: no physics channel", engine.ErrNotConnected)
	}
	var width float32
	if p, ok := w.Params(); ok {
		width = p.Width
	}
	first, last := Targets(c, len(w.Members), width, w.Holder)
	var errs []error
	for i := first; i <= last; i++ {
		if err := w.Members[i].Send(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.Members[i].Channel(), err))
		}
	}
	return errors.Join(errs...)
}

// Holder is the region whose newest snapshot holds body id, owned or in
// flight (-1: none). Owned bodies are found by binary search (they are in
// ascending ID order), outboxes by a walk: they are short.
func (w *Follower) Holder(id uint32) int {
	for i, m := range w.Members {
		if !m.Have() {
			continue
		}
		owned, l, r := Split(&m.Cur.Meta, m.Cur.Items)
		k := sort.Search(len(owned), func(j int) bool { return owned[j].ID >= id })
		if k < len(owned) && owned[k].ID == id {
			return i
		}
		for _, out := range [2][]physics.Body{l, r} {
			for j := range out {
				if out[j].ID == id {
					return i
				}
			}
		}
	}
	return -1
}

// Close lets go of every region's channel.
func (w *Follower) Close() {
	for _, m := range w.Members {
		m.Close()
	}
}
