package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/venomrt/venomrt/venom"
	"golang.org/x/sys/unix"
)

// Defaults of FollowOptions.
const (
	// DefaultStale is how old a followed snapshot may be before its
	// owner is taken for down: a second, as the supervisor's default
	// hang timeout — an owner that has published nothing for that long
	// is being replaced — and 30 ticks of the slowest process in the
	// project, so the scheduling jitter of a loaded machine never trips
	// it.
	DefaultStale = time.Second
	// DefaultRetry is how often a Follower looks again for a channel it
	// could not connect to, or, while the snapshot is stale, checks
	// whether the channel's segment was replaced.
	DefaultRetry = 500 * time.Millisecond
)

// FollowOptions configure a Follower.
type FollowOptions struct {
	// Stale is the age (now − Header.Mono) past which the newest
	// snapshot is stale: its owner down, hung or being replaced
	// (default DefaultStale).
	Stale time.Duration
	// Retry bounds how often a missing channel is looked for and a
	// stale one checked for replacement (default DefaultRetry).
	Retry time.Duration
	// Prev keeps the snapshot before Cur in Prev, for interpolation.
	Prev bool
	// Shell are the venom options of the connection.
	Shell []venom.Option
}

// FollowState is what a Follower knows of its channel.
type FollowState uint8

// States of a Follower.
const (
	// FollowWaiting: no snapshot yet. The channel does not exist (its
	// owner has not created it) or nothing is published on it.
	FollowWaiting FollowState = iota
	// FollowLive: Cur is the newest snapshot, younger than Stale.
	FollowLive
	// FollowStale: Cur is the last snapshot read, older than Stale: the
	// owner is down, hung or being replaced. Cur stays as it was.
	FollowStale
	// FollowIncompatible: the channel holds snapshots of another schema
	// (other code, another version): nothing is read from it, Cur holds
	// nothing, and Err says what was found. The Follower looks again
	// every Retry, in case its owner is replaced.
	FollowIncompatible
)

func (s FollowState) String() string {
	switch s {
	case FollowWaiting:
		return "waiting"
	case FollowLive:
		return "live"
	case FollowStale:
		return "stale"
	case FollowIncompatible:
		return "incompatible"
	}
	return fmt.Sprintf("FollowState(%d)", uint8(s))
}

// FollowStats count a Follower's work.
type FollowStats struct {
	Reads    uint64 // new snapshots taken (by Poll or Take)
	Copies   uint64 // snapshots copied out of shared memory (none while Cur is the newest)
	Errors   uint64 // failed reads and connects (a missing channel is not one)
	Restarts uint64 // times the owner's epoch moved: a restart, a standby taking over
	Replaced uint64 // times the segment followed was found removed or replaced (--fresh, rm): connected again
}

// ErrNotConnected is a Follower's Send while it has no connection.
var ErrNotConnected = errors.New("engine: not connected")

// Follower follows another process's channel: it connects lazily,
// reconnects when the channel's segment is replaced, reads the newest
// snapshot without ever blocking the owner, and says how old it is and
// which owner (epoch) made it. Call Poll once per tick or frame, then use
// Cur (and Prev). It never hands out a torn snapshot (venom copies whole
// snapshots only) or a foreign one (another schema is FollowIncompatible,
// not data), and in steady state it allocates nothing.
//
// Across the owner's restarts — a crash, a hang killed by the
// supervisor, a standby taking over — the segment is adopted: the
// Follower keeps its connection, Cur goes stale meanwhile, and the
// successor's snapshots carry a new Epoch (counted in Restarts). Across
// a removal (--fresh, rm) the segment is unlinked and created anew: the
// Follower notices it while Cur is stale (the file's inode changed, or is
// gone) and connects to the new one (counted in Replaced).
//
// A Follower is used from one goroutine.
type Follower[M, T any] struct {
	// Cur is the newest snapshot read (valid when Have).
	Cur Frame[M, T]
	// Prev is the snapshot just before Cur (valid when HavePrev), with
	// FollowOptions.Prev.
	Prev Frame[M, T]

	channel  string
	path     string
	sl       Schema[M, T]
	o        FollowOptions
	c        *Client[M, T]
	ino      uint64 // inode of the segment c maps
	seq      uint64 // Cur's publish sequence number on c (0: none read from c)
	have     bool
	havePrev bool
	state    FollowState
	err      error
	epoch    uint64
	next     int64 // venom.Monotonic before which no connect or inode check is tried
	stats    FollowStats
}

// Follow makes a Follower of channel, whose snapshots have schema sl. It
// connects on its first Poll.
func Follow[M, T any](channel string, sl Schema[M, T], o FollowOptions) *Follower[M, T] {
	if o.Stale <= 0 {
		o.Stale = DefaultStale
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	return &Follower[M, T]{channel: channel, path: venom.Path(channel), sl: sl, o: o}
}

// Channel is the channel followed.
func (f *Follower[M, T]) Channel() string { return f.channel }

// State is what the last Poll found.
func (f *Follower[M, T]) State() FollowState { return f.state }

// Have reports whether Cur holds a snapshot.
func (f *Follower[M, T]) Have() bool { return f.have }

// HavePrev reports whether Prev holds the snapshot published just before
// Cur (with FollowOptions.Prev).
func (f *Follower[M, T]) HavePrev() bool { return f.havePrev }

// Age is how old Cur is at venom.Monotonic time now: now − Cur.Mono.
func (f *Follower[M, T]) Age(now int64) time.Duration {
	if !f.have {
		return 0
	}
	return time.Duration(now - f.Cur.Mono)
}

// Epoch is the epoch of Cur's owner (venom's: bumped by every process
// that creates or adopts the channel), 0 before a snapshot.
func (f *Follower[M, T]) Epoch() uint64 { return f.epoch }

// Err is why the Follower is not live: the last connect or read error,
// nil when live.
func (f *Follower[M, T]) Err() error { return f.err }

// Connected reports whether the Follower holds a connection.
func (f *Follower[M, T]) Connected() bool { return f.c != nil }

// Stats are the Follower's counts.
func (f *Follower[M, T]) Stats() FollowStats { return f.stats }

// Poll takes the newest snapshot, copying only what is new: nothing
// while Cur is still the newest (one atomic load tells); otherwise the
// newest once, into storage Cur keeps. With Prev, Cur becomes Prev (a
// swap) when the newest is the one after it, and the newest is copied
// over the frame Prev drops. It returns the state, also State.
func (f *Follower[M, T]) Poll() FollowState {
	now := venom.Monotonic()
	if f.c == nil && !f.connect(now) {
		return f.settle(now)
	}
	f.readNew(now)
	return f.settle(now)
}

// settle sets the state from Cur's age, and while Cur is stale checks
// (every Retry) whether the channel's segment was replaced.
func (f *Follower[M, T]) settle(now int64) FollowState {
	switch {
	case f.state == FollowIncompatible && !f.have:
		// Stays until a snapshot of ours is read.
	case !f.have:
		f.state = FollowWaiting
	case now-f.Cur.Mono <= int64(f.o.Stale):
		f.state, f.err = FollowLive, nil
	default:
		f.state = FollowStale
		if f.c != nil && now >= f.next {
			f.next = now + int64(f.o.Retry)
			if ino := inode(f.path); ino != f.ino {
				// Removed, or removed and created anew: the owner we
				// map is gone for good.
				f.err = fmt.Errorf("engine: follow %q: segment replaced", f.channel)
				f.drop()
				f.stats.Replaced++
				f.next = now // connect to the new one at the next Poll
			}
		}
	}
	return f.state
}

// connect attaches to the channel, at most every Retry.
func (f *Follower[M, T]) connect(now int64) bool {
	if now < f.next {
		return false
	}
	f.next = now + int64(f.o.Retry)
	before := inode(f.path)
	if before == 0 {
		f.err = fmt.Errorf("engine: follow %q: %w", f.channel, venom.ErrNotFound)
		return false
	}
	c, err := Connect(f.channel, f.sl, f.o.Shell...)
	if err != nil {
		if !errors.Is(err, venom.ErrNotFound) {
			f.stats.Errors++
		}
		f.err = fmt.Errorf("engine: follow %q: %w", f.channel, err)
		return false
	}
	if inode(f.path) != before {
		// Replaced while we connected: which one we map is unknown.
		c.Close()
		f.next = now
		return false
	}
	f.c, f.ino, f.seq = c, before, 0
	return true
}

// readNew copies the newest snapshot into Cur (and with Prev the one
// before it into Prev). On an error Cur is as it was.
func (f *Follower[M, T]) readNew(now int64) {
	prevSeq := f.seq // Cur's on this connection: 0 after a reconnect, so a new segment's numbers are never taken for Cur's
	var err error
	if f.o.Prev && prevSeq != 0 {
		// Still the newest: one atomic load says so, before the frames
		// are swapped (and swapped back) for nothing.
		if latest, lerr := f.c.Shell().Latest(); lerr == nil && latest == prevSeq {
			return
		}
	}
	if f.o.Prev {
		f.Prev, f.Cur = f.Cur, f.Prev
		err = f.c.Read(&f.Cur, ReadOptions{Since: prevSeq, Overwrite: true})
		if err != nil {
			f.Prev, f.Cur = f.Cur, f.Prev // Cur as it was
			if !errors.Is(err, ErrUnchanged) {
				f.havePrev = false // Prev, overwritten, holds nothing
			}
		}
	} else {
		err = f.c.Read(&f.Cur, ReadOptions{Since: prevSeq}) // a failed read leaves Cur as it was
	}
	switch {
	case errors.Is(err, ErrUnchanged), errors.Is(err, venom.ErrNoData):
		return
	case err != nil:
		f.fail(now, err)
		return
	}
	f.seq = f.Cur.Seq()
	f.stats.Copies++
	f.stats.Reads++
	if f.have && f.Cur.Epoch != f.epoch {
		f.stats.Restarts++
	}
	f.have, f.epoch = true, f.Cur.Epoch
	if f.o.Prev {
		seq := f.Cur.Seq()
		f.havePrev = prevSeq != 0 && prevSeq == seq-1 && f.Prev.Tick < f.Cur.Tick
		if !f.havePrev { // the first read, or snapshots missed: read the one before
			err := f.c.Read(&f.Prev, ReadOptions{Back: 1, Overwrite: true})
			f.havePrev = err == nil && f.Prev.Seq() == seq-1 && f.Prev.Tick < f.Cur.Tick
			if err == nil {
				f.stats.Copies++
			}
		}
	}
}

// fail handles a read that failed for another reason than no data: a
// snapshot of another schema (FollowIncompatible: Cur is dropped, it is
// not this channel's any more), a corrupt segment or a closed client. It
// connects again after Retry.
func (f *Follower[M, T]) fail(now int64, err error) {
	f.stats.Errors++
	f.err = fmt.Errorf("engine: follow %q: %w", f.channel, err)
	if errors.Is(err, ErrIncompatible) {
		f.state = FollowIncompatible
		f.clear()
	}
	f.drop()
	f.next = now + int64(f.o.Retry)
}

// clear empties Cur and Prev.
func (f *Follower[M, T]) clear() {
	var zero M
	f.have, f.havePrev, f.epoch = false, false, 0
	f.Cur.Header, f.Cur.Meta, f.Cur.Items = Header{}, zero, f.Cur.Items[:0]
	f.Prev.Header, f.Prev.Meta, f.Prev.Items = Header{}, zero, f.Prev.Items[:0]
}

func (f *Follower[M, T]) drop() {
	if f.c != nil {
		f.c.Close()
		f.c = nil
	}
	f.seq, f.ino = 0, 0
}

// Take makes a snapshot from elsewhere than the channel (a network
// stream, a test) the newest: fill writes it into the frame given; with
// Prev, Cur becomes Prev. For a Follower that is not polled.
func (f *Follower[M, T]) Take(fill func(cur *Frame[M, T])) {
	had := f.have
	if f.o.Prev {
		f.Prev, f.Cur = f.Cur, f.Prev
	}
	fill(&f.Cur)
	f.stats.Reads++
	f.have, f.epoch, f.state, f.err = true, f.Cur.Epoch, FollowLive, nil
	f.havePrev = f.o.Prev && had && f.Prev.Tick < f.Cur.Tick
}

// Send queues a command for the channel's owner: it waits in shared
// memory while the owner is down (venom.ErrQueueFull when its lane is
// full). Without a connection it connects first (as Poll does, at most
// every Retry), and is ErrNotConnected when it cannot.
func (f *Follower[M, T]) Send(c Command) error {
	if f.c == nil && !f.connect(venom.Monotonic()) {
		return fmt.Errorf("engine: send to %q: %w", f.channel, ErrNotConnected)
	}
	if err := f.c.Send(c); err != nil {
		return fmt.Errorf("engine: send to %q: %w", f.channel, err)
	}
	return nil
}

// Close lets go of the channel. Cur and Prev stay as they were.
func (f *Follower[M, T]) Close() {
	f.drop()
}

// inode is the inode number of a segment file, 0 when there is none.
func inode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}
