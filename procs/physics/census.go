package physics

import (
	"errors"
	"fmt"
	"slices"
)

// Snap is one region's published snapshot as CountWorld reads it: its
// Meta and its items (an engine.Frame's Meta and Items).
type Snap struct {
	Meta  Meta
	Items []Body
}

// Census is what CountWorld found in one consistent set of a world's
// region snapshots.
type Census struct {
	World   uint64 // the world's id
	Regions int    // its region count

	// Owned counts the bodies in the regions' own sets; InFlight the
	// outbox entries whose number is above their receiver's Got (handed
	// over, not yet adopted); Delivered the outbox entries at or below
	// it (the receiver's already: not counted again).
	Owned, InFlight, Delivered int
	// Total is Owned + InFlight: the world's bodies.
	Total int
	// IDs are the distinct ids counted (owned or in flight), ascending.
	IDs []uint32
	// Doubled are the ids counted more than once, ascending: each is a
	// body that exists twice.
	Doubled []uint32
}

// ErrCensus is CountWorld's error for a set of snapshots that is not one
// world's: compare with errors.Is.
var ErrCensus = errors.New("physics: not one world's snapshots")

// CountWorld counts every body of a world from one consistent set of its
// regions' snapshots (one per region, any order; read as a consistent
// cut: no region published between the first read and the last, or the
// counts may be off by a handover under way). Each id is counted where
// the handover protocol says it lives: in a region's own set, or in an
// outbox entry whose number is above the receiving neighbour's Got; an
// entry at or below it is delivered (the receiver owns the body) and
// only counted in Delivered. A world where every body is exactly once
// has no Doubled and the Total of its last census (when nothing spawned
// or was removed); a lost body is missing from IDs (Census.Lost).
//
// It is pure: tests and chaos call it on snapshots read however they
// like. Snapshots that are not one world's (other ids or counts, an
// index missing or twice, counts that do not add up) give an error
// wrapping ErrCensus.
func CountWorld(snaps []Snap) (Census, error) {
	var c Census
	if len(snaps) == 0 {
		return c, fmt.Errorf("%w: no snapshots", ErrCensus)
	}
	c.World = snaps[0].Meta.Region.World
	c.Regions = max(int(snaps[0].Meta.Region.Count), 1)
	if len(snaps) != c.Regions {
		return c, fmt.Errorf("%w: %d snapshots of a world of %d regions", ErrCensus, len(snaps), c.Regions)
	}
	byIndex := make([]*Snap, c.Regions)
	for i := range snaps {
		s := &snaps[i]
		m := &s.Meta.Region
		switch {
		case m.World != c.World:
			return c, fmt.Errorf("%w: worlds %#x and %#x", ErrCensus, c.World, m.World)
		case max(int(m.Count), 1) != c.Regions:
			return c, fmt.Errorf("%w: counts %d and %d", ErrCensus, c.Regions, m.Count)
		case int(m.Index) >= c.Regions || byIndex[m.Index] != nil:
			return c, fmt.Errorf("%w: region %d missing or twice", ErrCensus, m.Index)
		case uint64(m.Owned)+uint64(m.OutLeft)+uint64(m.OutRight) != uint64(len(s.Items)):
			return c, fmt.Errorf("%w: region %d's %d + %d + %d bodies are not its %d items", ErrCensus, m.Index, m.Owned, m.OutLeft, m.OutRight, len(s.Items))
		case m.SentLeft < uint64(m.OutLeft) || m.SentRight < uint64(m.OutRight):
			return c, fmt.Errorf("%w: region %d's outboxes are longer than its streams", ErrCensus, m.Index)
		}
		byIndex[m.Index] = s
	}
	ids := make([]uint32, 0, 1024)
	for k, s := range byIndex {
		m := &s.Meta.Region
		ids = append(ids, idsOf(s.Items[:m.Owned])...)
		c.Owned += int(m.Owned)
		for side, nb := range [2]int{k - 1, k + 1} {
			out, sent, _ := toward(m, s.Items, 1-side) // region k's outbox toward side
			if len(out) == 0 {
				continue
			}
			got := uint64(0) // no receiver: nobody adopted any of it
			if nb >= 0 && nb < c.Regions {
				_, _, got = toward(&byIndex[nb].Meta.Region, byIndex[nb].Items, side)
			}
			flying := InFlight(out, sent, got)
			c.Delivered += len(out) - len(flying)
			c.InFlight += len(flying)
			ids = append(ids, idsOf(flying)...)
		}
	}
	slices.Sort(ids)
	c.Total = len(ids)
	c.IDs = ids[:0:0]
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			if n := len(c.Doubled); n == 0 || c.Doubled[n-1] != id {
				c.Doubled = append(c.Doubled, id)
			}
			continue
		}
		c.IDs = append(c.IDs, id)
	}
	return c, nil
}

func idsOf(bodies []Body) []uint32 {
	ids := make([]uint32, len(bodies))
	for i := range bodies {
		ids[i] = bodies[i].ID
	}
	return ids
}

// Lost are the ids of want (ascending) that the census did not find.
func (c *Census) Lost(want []uint32) []uint32 {
	var lost []uint32
	for _, id := range want {
		if _, ok := slices.BinarySearch(c.IDs, id); !ok {
			lost = append(lost, id)
		}
	}
	return lost
}
