package engine

import (
	"errors"
	"fmt"
	"time"
)

// TickBuckets is how many buckets a Counters' tick-time histogram has.
const TickBuckets = 16

// TickBounds are the upper bounds, inclusive, of the tick-time
// histogram's buckets but the last, which takes every longer tick. They
// are fixed (a 1-2.5-5 series from 25µs to 1s), not derived from a
// process's rate, so two processes, or two builds, add up bucket by
// bucket, as Prometheus needs of a histogram's `le` labels.
var TickBounds = [TickBuckets - 1]time.Duration{
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// CountersMagic opens a Counters block kept by this version of the
// engine: "VCN1". A block of zeros is one nobody keeps (a snapshot
// encoded without an Owner, such as the supervisor's status); any other
// value is a block written by other code, which Check refuses.
const CountersMagic = 0x314e4356

// Counters are the numbers a process keeps for watching (PROGRAM top,
// /metrics): a fixed-bucket histogram of its tick times and counters of
// what it did, in every snapshot's Header. They live beside the state
// they describe, under the same seqlock (venom's snapshot ring): a
// reader gets them lock-free, never torn, and consistent with the tick
// in the same header; the owner never waits for a reader. They carry on
// across a warm restart with the rest of the header, so they count
// since the world began; a fresh start (--fresh, a snapshot refused)
// starts them at zero, which Prometheus takes for a counter reset.
//
// An Owner keeps them: Publish counts a tick whenever Header.Tick moved
// since its last publish, taking Header.StepNanos as the tick's time;
// Poll counts the commands it took. The inputs applied and refused are
// Header.Applied and Header.Dropped, the ticks skipped Header.Lag.
// Nothing here allocates or locks.
type Counters struct {
	Magic   uint32 // CountersMagic
	Buckets uint32 // TickBuckets
	// Ticks counts the ticks observed: the sum of Hist.
	Ticks uint64
	// Misses counts the ticks longer than the step (1/Rate): deadline
	// misses.
	Misses uint64
	// TickNanos is the sum of the ticks' times.
	TickNanos uint64
	// Hist counts ticks by time: Hist[i] those longer than TickBounds[i-1]
	// and at most TickBounds[i]; the last, those longer than every bound.
	Hist [TickBuckets]uint64
	// Commands counts the commands Poll took: applied, refused and
	// malformed alike.
	Commands uint64
	// Publishes counts the snapshots published.
	Publishes uint64
	// lastTick is the Header.Tick of the last tick counted.
	lastTick uint64
	_        uint64 // room for one more without moving the rest
}

// ErrCounters means a Counters block read from shared memory is not
// this engine's or does not add up: it was written by other code, or
// corrupted, and is not to be trusted.
var ErrCounters = errors.New("engine: counters block refused")

// Kept reports whether the block is kept by an Owner at all (a block of
// zeros is not: nothing to show, nothing to refuse).
func (c *Counters) Kept() bool { return c.Magic != 0 }

// Check says whether a block read from shared memory can be trusted:
// this engine's magic and bucket count, the histogram adding up to
// Ticks, no more misses than ticks. A block nobody keeps (Kept false)
// passes. The error wraps ErrCounters and says what is wrong.
func (c *Counters) Check() error {
	if *c == (Counters{}) {
		return nil
	}
	if c.Magic != CountersMagic {
		return fmt.Errorf("%w: magic %#x, want %#x (another engine's or corrupt)", ErrCounters, c.Magic, uint32(CountersMagic))
	}
	if c.Buckets != TickBuckets {
		return fmt.Errorf("%w: %d buckets, want %d", ErrCounters, c.Buckets, TickBuckets)
	}
	var sum uint64
	for _, n := range c.Hist {
		if sum+n < sum {
			return fmt.Errorf("%w: histogram overflows", ErrCounters)
		}
		sum += n
	}
	if sum != c.Ticks {
		return fmt.Errorf("%w: histogram holds %d ticks, counter says %d", ErrCounters, sum, c.Ticks)
	}
	if c.Misses > c.Ticks {
		return fmt.Errorf("%w: %d misses in %d ticks", ErrCounters, c.Misses, c.Ticks)
	}
	return nil
}

// bucket is the histogram bucket of a tick of d nanoseconds.
func bucket(d uint64) int {
	for i, b := range TickBounds {
		if d <= uint64(b) {
			return i
		}
	}
	return TickBuckets - 1
}

// observe counts one tick of d nanoseconds at rate ticks per second (0:
// no deadline to miss).
func (c *Counters) observe(d uint64, rate uint32) {
	c.Ticks++
	c.TickNanos += d
	c.Hist[bucket(d)]++
	if rate > 0 && d > uint64(time.Second)/uint64(rate) {
		c.Misses++
	}
}

// count is the Owner's bookkeeping at each publish (h is the header to
// publish): a tick when h.Tick moved since the last one counted.
func (c *Counters) count(h *Header) {
	c.Magic, c.Buckets = CountersMagic, TickBuckets
	c.Publishes++
	if h.Tick != c.lastTick {
		c.observe(h.StepNanos, h.Rate)
		c.lastTick = h.Tick
	}
}

// Quantile estimates the q-quantile (0..1) of the ticks counted in
// hist, which is a difference of two histograms (the last seconds) or a
// whole one, interpolating linearly inside the bucket it falls in (as
// Prometheus's histogram_quantile does). The last bucket, unbounded,
// answers its lower bound. No ticks: 0.
func Quantile(hist *[TickBuckets]uint64, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range hist {
		if n == 0 || seen+float64(n) < rank {
			seen += float64(n)
			continue
		}
		if i == TickBuckets-1 {
			return TickBounds[TickBuckets-2]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = TickBounds[i-1]
		}
		hi := TickBounds[i]
		return lo + time.Duration(float64(hi-lo)*(rank-seen)/float64(n))
	}
	return TickBounds[TickBuckets-2]
}
