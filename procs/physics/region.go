package physics

// Meta is what a physics channel's snapshot carries beside its bodies:
// the World's Params (embedded: a reader's f.Meta.Width is the world's
// width) and the process's part in a world cut into regions.
//
// The items of a snapshot are, in order: the region's own bodies
// (Region.Owned, ascending ID), then the bodies in flight to the left
// neighbour (Region.OutLeft, oldest first), then those in flight to the
// right neighbour (Region.OutRight). A reader that wants every body the
// region holds takes all items; one that wants only what the region
// steps takes the first Owned.
type Meta struct {
	Params
	Region Region
}

// Region is a physics process's part in a world of Count vertical strips
// (a world of one process is one region: Index 0, Count 1, every body
// owned). Its handover fields are the protocol by which a body crosses a
// border exactly once (see DESIGN in region_sim.go): each direction is a
// numbered stream; the sender keeps a body in its outbox until the
// receiver's own snapshot shows it adopted (Got ≥ the body's number),
// and the receiver adopts only numbers above its Got.
type Region struct {
	// World identifies one world: every region of it carries the same,
	// and a neighbour's snapshot with another is foreign and refused.
	World uint64
	Index uint32 // this region, 0 ≤ Index < Count
	Count uint32 // regions in the world

	Owned    uint32 // items[:Owned] are this region's bodies
	OutLeft  uint32 // the next OutLeft items are in flight to region Index-1
	OutRight uint32 // the next OutRight items are in flight to region Index+1
	Refused  uint32 // neighbour snapshots refused (foreign, inconsistent, corrupt) since the process started

	// SentLeft is the number of the newest body handed to the left
	// neighbour: the outbox's item k (0-based) carries number
	// SentLeft-OutLeft+1+k. Numbers start at 1 and never repeat.
	SentLeft, SentRight uint64
	// GotLeft is the number of the newest body adopted from the left
	// neighbour's stream to this region (its SentRight numbers).
	GotLeft, GotRight uint64

	Lo, Hi float32 // the strip this region owns: Lo ≤ x < Hi, px

	// ExchangeNanos and ExchangeBytes are what the last tick spent
	// reading its neighbours' snapshots: the border exchange's cost.
	ExchangeNanos, ExchangeBytes uint32
	// Handed counts bodies this region handed over (each counted once,
	// when the receiver's snapshot showed it adopted); Adopted counts
	// bodies it adopted.
	Handed, Adopted uint64
}

// InFlight returns the entries of an outbox that its receiver has not
// adopted — the rule CountWorld counts by and readers draw by: entry k
// (of len(out)) carries number sent-len(out)+1+k, and the receiver has
// adopted every number up to got. Numbers that do not fit (sent below
// the outbox's length, from an unchecked snapshot) give the whole outbox.
func InFlight(out []Body, sent, got uint64) []Body {
	n := uint64(len(out))
	if n == 0 || got >= sent {
		return nil
	}
	if sent < n {
		return out
	}
	first := sent - n + 1 // number of out[0]
	if got < first {
		return out
	}
	return out[got-first+1:]
}
