package physics

import (
	"fmt"
	"math"
	"slices"
)

// What a World offers a region of a world cut into strips (region_sim.go
// runs the protocol; these are its pure parts): ghosts to collide with,
// bodies leaving past a border, bodies arriving, and ids of its own.

// Strip is the strip region k of count owns in a world width wide:
// Lo ≤ x < Hi, with Lo = width·k/count and Hi = width·(k+1)/count (the
// last strip's Hi is width itself). Every process computes it alike.
func Strip(width float32, k, count int) (lo, hi float32) {
	if count <= 1 {
		return 0, width
	}
	lo = float32(float64(width) * float64(k) / float64(count))
	hi = width
	if k+1 < count {
		hi = float32(float64(width) * float64(k+1) / float64(count))
	}
	return lo, hi
}

// WorldWidth is the width (px) of a world of bodies that keeps the
// default world's density: 1280 px per 10,000 bodies, at least the
// default 1280 and at most MaxWorld (Sim.Width for a world of any size:
// 100,000 bodies take 12,800 px).
func WorldWidth(bodies int) float32 {
	return float32(min(max(1280, 1280*float64(bodies)/10000), MaxWorld))
}

// StripOf is the region of count whose strip holds x (clamped to the
// world: x left of 0 is region 0's, x at or past width the last's).
func StripOf(x, width float32, count int) int {
	if count <= 1 || !(x > 0) {
		return 0
	}
	k := int(float64(x) * float64(count) / float64(width))
	k = min(max(k, 0), count-1)
	// Strip's bounds are rounded to float32: the division's guess may be
	// one off right at a border.
	if lo, _ := Strip(width, k, count); x < lo && k > 0 {
		k--
	} else if _, hi := Strip(width, k, count); x >= hi && k+1 < count {
		k++
	}
	return k
}

// SetGhosts makes bodies the next Step's ghosts: the World's bodies
// collide with them as with their own (with the ghosts' real masses),
// but the ghosts are neither moved nor kept — their owner steps them.
// The World copies them; Step forgets them.
func (w *World) SetGhosts(ghosts []Body) {
	w.ghosts = append(w.ghosts[:0], ghosts...)
}

// SetIDSpace makes the ids of the bodies the World makes from now on
// those of region k of count: NextID moves up to the next id ≡ k
// (mod count) at or above max(NextID, above+1), and advances by count, so
// regions make unique ids without talking. count 1 is the whole world's
// (NextID advances by 1).
func (w *World) SetIDSpace(k, count int, above uint32) {
	step := uint64(max(count, 1))
	next := max(uint64(w.p.NextID), uint64(above)+1)
	next += (uint64(k) + step - next%step) % step
	if next > math.MaxUint32 {
		next = math.MaxUint32 // ids exhausted: room refuses every spawn
	}
	w.p.NextID, w.idStep = uint32(next), uint32(step)
}

// Emigrate takes out of the World the bodies whose centre lies left of
// lo or right of hi, appending them (in ID order) to left and right, at
// most until each holds capLeft and capRight bodies — a body that does
// not fit stays. It returns the outboxes and the largest radius and
// horizontal speed of the bodies that stay (what a neighbour's ghosts
// must reach). One pass over the bodies, no allocation beyond the
// outboxes' growth.
func (w *World) Emigrate(lo, hi float32, left, right []Body, capLeft, capRight int) (l, r []Body, maxR, maxVX float32) {
	bodies := w.bodies
	kept := 0
	for i := range bodies {
		b := &bodies[i]
		switch {
		case b.X < lo && len(left) < capLeft:
			left = append(left, *b)
			continue
		case b.X > hi && len(right) < capRight:
			right = append(right, *b)
			continue
		}
		maxR = max(maxR, b.R)
		maxVX = max(maxVX, b.VX, -b.VX)
		if kept != i { // nothing is written until a body has left
			bodies[kept] = *b
		}
		kept++
	}
	w.bodies = bodies[:kept]
	return left, right, maxR, maxVX
}

// Adopt adds bodies handed over by another region, keeping the World's
// ascending ID order. Each is checked as Restore checks a snapshot's
// body, and none may share an ID with the World's bodies or another of
// bodies; on error nothing changes.
func (w *World) Adopt(bodies []Body) error {
	if len(bodies) == 0 {
		return nil
	}
	if len(w.bodies)+len(bodies) > MaxBodies {
		return fmt.Errorf("%w: %d + %d would exceed %d", ErrTooMany, len(w.bodies), len(bodies), MaxBodies)
	}
	for i := range bodies {
		b := &bodies[i]
		if err := checkBody(b, 0); err != nil {
			return fmt.Errorf("adopted body %d: %w", i, err)
		}
		if _, ok := w.find(b.ID); ok {
			return fmt.Errorf("%w: adopted body %d is already here", ErrBadValue, b.ID)
		}
	}
	n := len(w.bodies)
	w.bodies = append(w.bodies, bodies...)
	in := w.bodies[n:]
	for i := range in {
		in[i].Flags &= knownFlags
	}
	if !slices.IsSortedFunc(in, byID) {
		slices.SortFunc(in, byID)
	}
	for i := 1; i < len(in); i++ {
		if in[i].ID == in[i-1].ID {
			w.bodies = w.bodies[:n]
			return fmt.Errorf("%w: body %d adopted twice at once", ErrBadValue, in[i].ID)
		}
	}
	if n == 0 || w.bodies[n-1].ID < in[0].ID {
		return nil // arrived in order: nothing to merge
	}
	// Merge from the back in place: the own bodies above the first
	// arrival shift up by as many arrivals as are below them.
	i, j, k := n-1, len(in)-1, len(w.bodies)-1
	// in aliases the tail it is merged into: copy it aside first.
	w.arrivals = append(w.arrivals[:0], in...)
	tmp := w.arrivals
	for j >= 0 {
		if i >= 0 && w.bodies[i].ID > tmp[j].ID {
			w.bodies[k] = w.bodies[i]
			i--
		} else {
			w.bodies[k] = tmp[j]
			j--
		}
		k--
	}
	return nil
}

func byID(a, b Body) int {
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}
