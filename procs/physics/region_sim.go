package physics

// DESIGN: a world cut into regions, and a body crossing a border exactly
// once.
//
// A world of Count regions is cut into vertical strips (Strip): region k
// owns the bodies whose centre lies in [Lo, Hi). Strips rather than
// tiles: a region has at most two neighbours, so each border is one pair
// of numbered streams, and gravity along y spreads piles over every
// strip, which keeps the load even.
//
// Every region's World is the whole world's (its Params: size, walls,
// gravity) holding only the region's bodies. Each tick a region:
//
//  1. reads each neighbour's newest snapshot (engine.Follower) and, if it
//     is live and sound (check: its shape and numbers, and every body of
//     it this region uses), drops from its outbox toward that
//     neighbour the entries whose number ≤ the neighbour's Got of that
//     stream (they are the neighbour's now: counted in Handed), adopts
//     the neighbour's outbox entries toward it whose number > its own
//     Got (in order, sorted into its bodies by ID) and sets Got to the
//     last one adopted, and takes the neighbour's bodies near the border
//     as ghosts;
//  2. steps its bodies with the ghosts (each side keeps only its own
//     bodies' results: a pair across the border is solved by both sides,
//     each applying its half);
//  3. moves every body whose centre passed a border by more than
//     Hysteresis from its bodies to the outbox toward that neighbour,
//     numbered Sent+1, Sent+2… (an outbox holds at most OutboxCap; a
//     body that finds it full stays owned, stepped beyond the border,
//     until there is room). Outbox bodies are frozen.
//
// Then engine.Run publishes the snapshot: bodies, outboxes and the
// numbers, all at once. That is the whole protocol's state: nothing of
// it lives outside the snapshots, so a region killed at any instant is
// restored from its last published snapshot, where an adoption or a drop
// not yet published never happened. In every published world each id is
// exactly once either in some region's bodies or in an outbox entry
// whose number is above its receiver's published Got (in flight); an
// entry at or below it is the receiver's already (delivered) and is not
// counted (CountWorld counts so). The sender drops an entry only once
// the receiver's own snapshot shows it adopted; the receiver adopts
// only numbers above the Got it published with the bodies adopted
// before. A neighbour down, stale or refused: no ghosts, no adoption, no
// drop — its entries wait in the outbox until it is back (no loss).
//
// A neighbour's snapshot is refused (never adopted from, never used as
// ghosts; counted in Region.Refused, logged once per change of reason)
// when it is of another world (id or size) or region count, of another
// index than that neighbour's, when its counts do not add up, a body is
// bad, or its numbers do not fit: an outbox longer than its stream, a
// Got above what this region sent, a stream to this region behind what
// it adopted, numbers that went back since the last snapshot accepted.

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// The handover's constants.
const (
	// Hysteresis is how far (px) a body's centre must pass a border
	// before it is handed over, so a body resting on a border is not
	// handed back and forth every tick.
	Hysteresis = 2
	// OutboxCap is the most bodies one outbox holds; a body crossing a
	// border while its outbox is full stays owned until there is room.
	OutboxCap = 4096
)

// Sides of a region.
const (
	left  = 0
	right = 1
)

// region is a Sim's part in a world of several regions: the outboxes,
// the streams' numbers and the neighbours followed.
type region struct {
	index, count int
	lo, hi       float32
	out          [2][]Body     // outboxes toward the left and right neighbours
	sent, got    [2]uint64     // the streams' numbers, per side
	nb           [2]*neighbour // nil at the world's edges

	handed, adopted  uint64
	refused          uint32
	exNanos, exBytes uint32

	// reach is how far past a border the region's own bodies may touch
	// in the next step: the largest radius, Hysteresis and a step's
	// largest horizontal move (Emigrate measures them).
	reach  float32
	ghosts []Body
	take   []Body // adoptions of this tick
	// takeAfter is the number just before take's first.
	takeAfter uint64
	ids       []uint32 // outbox ids, sorted: adoption's check
	log       *slog.Logger
}

// neighbour is a region next to this one, followed.
type neighbour struct {
	side, index int
	f           *engine.Follower[Meta, Body]
	reads       uint64 // f's Reads when Cur was last checked
	ok          bool   // Cur was accepted
	reason      string // the last refusal's reason, "" while accepted
	// seen, sent and got: the last accepted snapshot's numbers of the
	// streams with this region, which must never go back.
	seen      bool
	sent, got uint64
	replaced  uint64 // f's Replaced when seen was last reset
	// ghosts are Cur's bodies near the border, checked.
	ghosts []Body
}

func (p *Sim) newRegion(width float32) (*region, error) {
	count := p.regions()
	if p.Region < 0 || p.Region >= count {
		return nil, fmt.Errorf("%w: region %d of %d", ErrBadValue, p.Region, count)
	}
	if p.Neighbour == nil {
		return nil, fmt.Errorf("%w: region %d of %d without Neighbour", ErrBadValue, p.Region, count)
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	r := &region{index: p.Region, count: count, log: log.With("region", p.Region, "regions", count)}
	r.lo, r.hi = Strip(width, p.Region, count)
	for s, i := range [2]int{p.Region - 1, p.Region + 1} {
		if i >= 0 && i < count {
			r.nb[s] = &neighbour{side: s, index: i, f: engine.Follow(p.Neighbour(i), Schema, engine.FollowOptions{})}
		}
	}
	r.reach = MaxRadius + Hysteresis
	return r, nil
}

func (r *region) close() {
	for _, nb := range r.nb {
		if nb != nil {
			nb.f.Close()
		}
	}
}

// restoreRegion is Restore for a region.
func (p *Sim) restoreRegion(f *engine.Frame[Meta, Body]) error {
	if p.r != nil { // the engine starts fresh after a refusal: one set of followers
		p.r.close()
		p.r = nil
	}
	if f == nil {
		if p.countErr != nil {
			return p.countErr
		}
		return p.startRegion()
	}
	err := p.restoreSnapshot(f)
	if err != nil {
		p.refused = true
		if p.r != nil {
			p.r.close()
			p.r = nil
		}
	}
	return err
}

// restoreSnapshot resumes a region from its own snapshot, checked.
func (p *Sim) restoreSnapshot(f *engine.Frame[Meta, Body]) error {
	m := &f.Meta.Region
	count := max(int(m.Count), 1)
	if count != p.regions() {
		p.countErr = countError(count, p.regions())
		return p.countErr
	}
	items := f.Items
	switch {
	case int(m.Index) != p.Region:
		return fmt.Errorf("%w: the snapshot is region %d's, this is region %d", ErrBadValue, m.Index, p.Region)
	case m.World == 0:
		return fmt.Errorf("%w: the snapshot has no world id", ErrBadValue)
	case uint64(m.Owned)+uint64(m.OutLeft)+uint64(m.OutRight) != uint64(len(items)):
		return fmt.Errorf("%w: the snapshot's %d + %d + %d bodies are not its %d items", ErrBadValue, m.Owned, m.OutLeft, m.OutRight, len(items))
	case m.SentLeft < uint64(m.OutLeft) || m.SentRight < uint64(m.OutRight):
		return fmt.Errorf("%w: outboxes of %d and %d beyond streams at %d and %d", ErrBadValue, m.OutLeft, m.OutRight, m.SentLeft, m.SentRight)
	case p.Region == 0 && m.OutLeft != 0, p.Region == count-1 && m.OutRight != 0:
		return fmt.Errorf("%w: an outbox beyond the world's edge", ErrBadValue)
	}
	w, err := Restore(f.Meta.Params, items[:m.Owned])
	if err != nil {
		return err
	}
	r, err := p.newRegion(w.p.Width)
	if err != nil {
		return err
	}
	outL := items[m.Owned : m.Owned+m.OutLeft]
	outR := items[m.Owned+m.OutLeft:]
	ids := make([]uint32, 0, len(outL)+len(outR))
	for _, out := range [][]Body{outL, outR} {
		for i := range out {
			if err := checkBody(&out[i], 0); err != nil {
				r.close()
				return fmt.Errorf("outbox body %d: %w", i, err)
			}
			ids = append(ids, out[i].ID)
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		if _, owned := w.find(id); owned || (i > 0 && ids[i-1] == id) {
			r.close()
			return fmt.Errorf("%w: body %d twice in the snapshot", ErrBadValue, id)
		}
	}
	r.out[left] = append(make([]Body, 0, len(outL)), outL...)
	r.out[right] = append(make([]Body, 0, len(outR)), outR...)
	r.sent = [2]uint64{m.SentLeft, m.SentRight}
	r.got = [2]uint64{m.GotLeft, m.GotRight}
	r.handed, r.adopted = m.Handed, m.Adopted
	w.SetIDSpace(p.Region, count, 0)
	p.w, p.world, p.r = w, m.World, r
	return nil
}

// startRegion starts a region without a snapshot. A neighbour's world
// that is not this run's (or any, when this region's own snapshot was
// refused) is joined empty: the world goes on, this region takes up its
// streams where the neighbours have them. Otherwise the region makes its
// strip of a fresh world: the whole world from the seed (the ids a
// single process would give), of which it keeps the bodies in its strip.
func (p *Sim) startRegion() error {
	params := p.params()
	r, err := p.newRegion(params.Width)
	if err != nil {
		return err
	}
	var join *engine.Frame[Meta, Body]
	for _, nb := range r.nb {
		if nb == nil {
			continue
		}
		nb.f.Poll()
		if !nb.f.Have() {
			continue
		}
		m := &nb.f.Cur.Meta.Region
		if int(m.Count) != r.count || int(m.Index) != nb.index || m.World == 0 {
			continue // not a neighbour of ours: the loop refuses it
		}
		if m.World != p.worldID() || p.refused {
			join = &nb.f.Cur
		}
	}
	if join == nil {
		w, err := New(params, p.Bodies)
		if err != nil {
			r.close()
			return err
		}
		w.keepStrip(p.Region, r.count)
		w.SetIDSpace(p.Region, r.count, uint32(p.Bodies))
		p.w, p.world = w, p.worldID()
	} else {
		p.world = join.Meta.Region.World
		w, err := Restore(join.Meta.Params, nil)
		if err != nil {
			r.close()
			return err
		}
		r.lo, r.hi = Strip(w.p.Width, p.Region, r.count)
		// Ids above every one the neighbours know, so none that an
		// earlier life of this region made comes again.
		var above uint32
		for _, nb := range r.nb {
			if nb == nil || !nb.f.Have() || nb.f.Cur.Meta.Region.World != p.world {
				continue
			}
			cur := &nb.f.Cur
			above = max(above, cur.Meta.NextID)
			for i := range cur.Items {
				above = max(above, cur.Items[i].ID)
			}
			if cur.Meta.Region.Owned+cur.Meta.Region.OutLeft+cur.Meta.Region.OutRight != uint32(len(cur.Items)) {
				continue
			}
			out, sent, got := toward(&cur.Meta.Region, cur.Items, nb.side)
			// What the neighbour adopted of ours is all it will; what
			// it still holds for us is ours to adopt.
			r.sent[nb.side] = got
			r.got[nb.side] = sent - min(sent, uint64(len(out)))
		}
		w.SetIDSpace(p.Region, r.count, above)
		p.w = w
		r.log.Info("joined a running world empty", "world", fmt.Sprintf("%#x", p.world))
	}
	// A follower that found no channel waits its retry before it looks
	// again: one made anew looks at the first tick.
	for s, nb := range r.nb {
		if nb != nil && !nb.f.Connected() {
			nb.f.Close()
			r.nb[s].f = engine.Follow(nb.f.Channel(), Schema, engine.FollowOptions{})
		}
	}
	p.r = r
	return nil
}

// keepStrip keeps the bodies in region k's strip of count.
func (w *World) keepStrip(k, count int) {
	kept := w.bodies[:0]
	for _, b := range w.bodies {
		if StripOf(b.X, w.p.Width, count) == k {
			kept = append(kept, b)
		}
	}
	w.bodies = kept
}

// toward is what region m, the neighbour on side s of a region, publishes
// of the streams with that region: its outbox toward it, the number of
// the last body it sent it, and the number of the last body it adopted
// from it. m's counts must add up to len(items).
func toward(m *Region, items []Body, s int) (out []Body, sent, got uint64) {
	o, l := m.Owned, m.OutLeft
	if s == left { // the neighbour is on our left: its right stream
		return items[o+l : o+l+m.OutRight], m.SentRight, m.GotRight
	}
	return items[o : o+l], m.SentLeft, m.GotLeft
}

// stepRegion is Step for a region.
func (p *Sim) stepRegion(dt time.Duration) {
	r := p.r
	start := time.Now()
	r.exBytes = 0
	r.ghosts = r.ghosts[:0]
	for _, nb := range r.nb {
		if nb != nil {
			p.exchange(nb)
		}
	}
	r.exNanos = uint32(min(time.Since(start), math.MaxUint32))
	p.w.SetGhosts(r.ghosts)
	p.w.Step(dt.Seconds())
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if r.nb[left] != nil {
		lo = r.lo - Hysteresis
	}
	if r.nb[right] != nil {
		hi = r.hi + Hysteresis
	}
	nl, nr := len(r.out[left]), len(r.out[right])
	var maxR, maxVX float32
	r.out[left], r.out[right], maxR, maxVX = p.w.Emigrate(lo, hi, r.out[left], r.out[right], OutboxCap, OutboxCap)
	r.out[left], r.out[right] = mutateHandover(r.out[left], nl, r.out[right], nr) // as they were, but in chaos's mutation test
	r.sent[left] += uint64(len(r.out[left]) - nl)
	r.sent[right] += uint64(len(r.out[right]) - nr)
	r.reach = maxR + Hysteresis + maxVX*float32(min(dt.Seconds(), MaxDT))
}

// exchange reads a neighbour's newest snapshot and, if it is live and
// sound, drops what it adopted of ours, adopts what it sent us, and
// takes its bodies near the border as ghosts.
func (p *Sim) exchange(nb *neighbour) {
	r := p.r
	switch nb.f.Poll() {
	case engine.FollowLive:
	case engine.FollowIncompatible:
		if reason := fmt.Sprint(nb.f.Err()); reason != nb.reason {
			r.refused++
			r.note(nb, reason)
		}
		return
	default:
		return // down or not there yet: hold everything for it
	}
	cur := &nb.f.Cur
	if st := nb.f.Stats(); st.Reads != nb.reads {
		nb.reads = st.Reads
		if st.Replaced != nb.replaced {
			// A segment made anew (a region that lost its own joined
			// the world): its numbers start where it took them up,
			// which may be below what the one before it published.
			nb.replaced, nb.seen = st.Replaced, false
		}
		r.exBytes += uint32(Schema.Size(len(cur.Items)))
		err := p.check(nb, cur)
		if err == nil {
			err = p.prepareAdoption(nb, cur)
		}
		nb.ok = err == nil
		if err != nil {
			r.refused++
			r.note(nb, err.Error())
			return
		}
		r.note(nb, "")
	}
	if !nb.ok {
		return
	}
	_, sent, got := toward(&cur.Meta.Region, cur.Items, nb.side)
	// Delivered: the neighbour's own snapshot shows it adopted these.
	s := nb.side
	if first := r.sent[s] - uint64(len(r.out[s])) + 1; got >= first {
		k := int(min(got-first+1, uint64(len(r.out[s]))))
		r.out[s] = append(r.out[s][:0], r.out[s][k:]...)
		r.handed += uint64(k)
	}
	if len(r.take) > 0 {
		// Checked with the snapshot: Adopt refuses nothing prepareAdoption
		// let through, but if it did, nothing is adopted and Got stays.
		if err := p.w.Adopt(r.take); err != nil {
			nb.ok = false
			r.refused++
			r.note(nb, err.Error())
			r.take = r.take[:0]
			return
		}
		r.got[s] = r.takeAfter + uint64(len(r.take))
		r.adopted += uint64(len(r.take))
		r.take = r.take[:0]
	}
	nb.seen, nb.sent, nb.got = true, sent, got
	r.ghosts = append(r.ghosts, nb.ghosts...)
}

// check reports why a neighbour's snapshot cannot be used, or nil.
func (p *Sim) check(nb *neighbour, f *engine.Frame[Meta, Body]) error {
	r := p.r
	m := &f.Meta.Region
	wp := &p.w.p
	switch {
	case m.World != p.world:
		return fmt.Errorf("foreign world %#x (ours %#x)", m.World, p.world)
	case int(m.Count) != r.count:
		return fmt.Errorf("a world of %d regions (ours %d)", m.Count, r.count)
	case int(m.Index) != nb.index:
		return fmt.Errorf("region %d's snapshot on region %d's channel", m.Index, nb.index)
	case f.Meta.Width != wp.Width || f.Meta.Height != wp.Height:
		return fmt.Errorf("a world of %v×%v (ours %v×%v)", f.Meta.Width, f.Meta.Height, wp.Width, wp.Height)
	case uint64(m.Owned)+uint64(m.OutLeft)+uint64(m.OutRight) != uint64(len(f.Items)):
		return fmt.Errorf("%d + %d + %d bodies in %d items", m.Owned, m.OutLeft, m.OutRight, len(f.Items))
	case m.SentLeft < uint64(m.OutLeft) || m.SentRight < uint64(m.OutRight):
		return fmt.Errorf("outboxes of %d and %d beyond streams at %d and %d", m.OutLeft, m.OutRight, m.SentLeft, m.SentRight)
	case m.Index == 0 && (m.OutLeft != 0 || m.SentLeft != 0 || m.GotLeft != 0),
		int(m.Index) == r.count-1 && (m.OutRight != 0 || m.SentRight != 0 || m.GotRight != 0):
		return fmt.Errorf("a stream beyond the world's edge")
	}
	out, sent, got := toward(m, f.Items, nb.side)
	s := nb.side
	switch {
	case got > r.sent[s]:
		return fmt.Errorf("it adopted up to %d of our stream, which is at %d", got, r.sent[s])
	case sent < r.got[s]:
		return fmt.Errorf("its stream to us is at %d, we adopted up to %d", sent, r.got[s])
	case nb.seen && (sent < nb.sent || got < nb.got):
		return fmt.Errorf("numbers went back: sent %d, adopted %d after %d, %d", sent, got, nb.sent, nb.got)
	}
	// Ghosts: the neighbour's bodies that can touch ours (chosen by
	// their centre alone, with the largest radius any may have, so that
	// a bad radius is checked rather than skipped). Of the neighbour's
	// bodies only these and the outbox to us are used: only they are
	// checked — the rest may be what they like, none of it reaches us.
	nb.ghosts = nb.ghosts[:0]
	own := f.Items[:m.Owned]
	for i := range own {
		b := &own[i]
		if (s == left && b.X+MaxRadius+r.reach >= r.lo) || (s == right && b.X-MaxRadius-r.reach <= r.hi) {
			if err := checkBody(b, 0); err != nil {
				return fmt.Errorf("body %d: %v", i, err)
			}
			nb.ghosts = append(nb.ghosts, *b)
		}
	}
	for i := range out {
		b := &out[i]
		if err := checkBody(b, 0); err != nil {
			return fmt.Errorf("outbox body %d: %v", i, err)
		}
		if (s == left && !(b.X >= r.lo)) || (s == right && !(b.X < r.hi)) {
			return fmt.Errorf("outbox body %d at x %v, not on our side of the border", b.ID, b.X)
		}
	}
	return nil
}

// prepareAdoption puts in r.take the entries of the neighbour's outbox
// toward this region to adopt (numbers above Got, as many as fit), and
// refuses ids this region holds.
func (p *Sim) prepareAdoption(nb *neighbour, f *engine.Frame[Meta, Body]) error {
	r := p.r
	r.take = r.take[:0]
	out, sent, got := toward(&f.Meta.Region, f.Items, nb.side)
	first := sent - uint64(len(out)) + 1 // out[0]'s number
	skip := uint64(0)
	if r.got[nb.side] >= first {
		skip = r.got[nb.side] - first + 1
	}
	if skip >= uint64(len(out)) {
		return nil
	}
	room := MaxBodies - p.w.Len() - len(r.out[left]) - len(r.out[right])
	take := out[skip:]
	take = take[:min(len(take), max(room, 0))]
	if len(take) == 0 {
		return nil
	}
	// None may be here already, nor twice in what is taken. Our
	// outbox's entries this snapshot shows delivered are dropped before
	// the adoption (a body handed over and straight back is not two).
	r.ids = r.ids[:0]
	for side, o := range r.out {
		if side == nb.side {
			if first := r.sent[side] - uint64(len(o)) + 1; got >= first {
				o = o[min(got-first+1, uint64(len(o))):]
			}
		}
		for i := range o {
			r.ids = append(r.ids, o[i].ID)
		}
	}
	for i := range take {
		r.ids = append(r.ids, take[i].ID)
		if _, dup := p.w.find(take[i].ID); dup {
			return fmt.Errorf("adopting body %d, which is ours", take[i].ID)
		}
	}
	slices.Sort(r.ids)
	for i := 1; i < len(r.ids); i++ {
		if r.ids[i] == r.ids[i-1] {
			return fmt.Errorf("adopting body %d, which is in our outbox or taken twice", r.ids[i])
		}
	}
	r.take = append(r.take, take...)
	// The entries before the ones taken were ours already (or gone in
	// a clear): Got counts on from the one before the first taken.
	r.takeAfter = first + skip - 1
	return nil
}

// note logs a neighbour's refusal when its reason changed, and its
// acceptance after refusals.
func (r *region) note(nb *neighbour, reason string) {
	if reason == nb.reason {
		return
	}
	if reason == "" {
		r.log.Info("neighbour's snapshot accepted again", "neighbour", nb.index)
	} else {
		r.log.Warn("neighbour's snapshot refused", "neighbour", nb.index, "reason", reason, "refused", r.refused)
	}
	nb.reason = reason
}

// snapshotRegion is Snapshot for a region: its bodies, then the outboxes.
func (p *Sim) snapshotRegion(m *Meta, items []Body) []Body {
	r := p.r
	m.Params = p.w.Params()
	m.Region = Region{
		World: p.world, Index: uint32(r.index), Count: uint32(r.count),
		Owned: uint32(p.w.Len()), OutLeft: uint32(len(r.out[left])), OutRight: uint32(len(r.out[right])),
		Refused: r.refused, SentLeft: r.sent[left], SentRight: r.sent[right], GotLeft: r.got[left], GotRight: r.got[right],
		Lo: r.lo, Hi: r.hi, ExchangeNanos: r.exNanos, ExchangeBytes: r.exBytes, Handed: r.handed, Adopted: r.adopted,
	}
	items = append(items, p.w.Bodies()...)
	items = append(items, r.out[left]...)
	return append(items, r.out[right]...)
}

// spawnHere reports whether a spawn at x is this region's to make (the
// strip holding x), once its values are checked against the whole world
// so that every region answers alike, and that it fits.
func (p *Sim) spawnHere(x float32, n int, check error) (bool, error) {
	if check != nil || StripOf(x, p.w.p.Width, p.r.count) != p.r.index {
		return false, check
	}
	return true, p.room(n)
}

// impulseRegion pushes body id wherever this region holds it: among its
// bodies, or in flight from here (the push goes with it); an id another
// region holds is not an error here.
func (p *Sim) impulseRegion(id uint32, dx, dy float32) error {
	if err := checkImpulse(id, dx, dy); err != nil {
		return err
	}
	w, r := p.w, p.r
	if i, ok := w.find(id); ok {
		w.push(&w.bodies[i], dx, dy)
		return nil
	}
	for s := range r.out {
		for i := range r.out[s] {
			if r.out[s][i].ID == id {
				w.push(&r.out[s][i], dx, dy)
				return nil
			}
		}
	}
	return nil
}

// room reports whether n more bodies fit the region's snapshot (its
// bodies and outboxes) and id space.
func (p *Sim) room(n int) error {
	r := p.r
	if have := p.w.Len() + len(r.out[left]) + len(r.out[right]); have+n > MaxBodies {
		return fmt.Errorf("%w: %d + %d would exceed %d", ErrTooMany, have, n, MaxBodies)
	}
	return p.w.room(n)
}

// resetRegion starts the region's strip again: the whole world of n
// bodies from the seed, of which it keeps its strip's, with ids of its
// own space (other regions may still hold the old ids for a tick or two:
// the reset reaches each region at its own tick).
func (p *Sim) resetRegion(n int) error {
	r, old := p.r, p.w.p
	params := p.params()
	params.Width, params.Height = old.Width, old.Height
	w, err := New(params, n)
	if err != nil {
		return err
	}
	w.keepStrip(r.index, r.count)
	w.p.NextID = old.NextID
	w.SetIDSpace(r.index, r.count, 0)
	if err := w.room(w.Len()); err != nil {
		return err
	}
	for i := range w.bodies {
		w.bodies[i].ID = w.p.NextID
		w.p.NextID += w.step()
	}
	p.w = w
	r.out[left], r.out[right] = r.out[left][:0], r.out[right][:0]
	return nil
}
