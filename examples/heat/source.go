package heat

import (
	"errors"
	"fmt"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// Timings of a Source.
const (
	// RetryEvery is how often a Source looks again for a channel it could
	// not connect to.
	RetryEvery = 500 * time.Millisecond
	// StaleAfter is how long a slice may stand still before its owner is
	// taken for down: a reader stops acting on it (the grid stops
	// applying the heaters' power, the heaters stop steering by the grid).
	StaleAfter = time.Second
)

// Source follows another process's slice: it connects lazily, reads the
// newest snapshot without ever blocking the writer, and tells when the
// slice stopped moving. The grid follows the heaters, the heaters follow
// the grid, the renderer follows both. A Source is used from one
// goroutine.
type Source[M, T any] struct {
	Channel string             // the full channel name, "<instance>.grid"
	Frame   engine.Frame[M, T] // the newest snapshot read
	Have    bool               // Frame holds a snapshot
	Reads   uint64             // snapshots read
	Errors  uint64             // failed reads (another shape, a corrupt snapshot)
	Moved   time.Time          // when Frame's tick last changed

	sl    engine.Schema[M, T]
	c     *engine.Client[M, T]
	retry time.Time // no connect before this
}

// NewSource makes a Source for a channel of slice sl; it connects on its
// first Read.
func NewSource[M, T any](channel string, sl engine.Schema[M, T]) *Source[M, T] {
	return &Source[M, T]{Channel: channel, sl: sl}
}

// Read takes the newest snapshot into Frame and reports whether Frame
// holds one. A missing channel is looked for again at most every
// RetryEvery; one that has not moved for twice StaleAfter is connected
// again, in case its segment was removed and created anew (--fresh).
func (s *Source[M, T]) Read(now time.Time) bool {
	if s.c == nil {
		if now.Before(s.retry) {
			return s.Have
		}
		c, err := engine.Connect(s.Channel, s.sl)
		if err != nil {
			if !errors.Is(err, venom.ErrNotFound) {
				s.Errors++
			}
			s.retry = now.Add(RetryEvery)
			return s.Have
		}
		s.c, s.Moved = c, now
	}
	tick := s.Frame.Tick
	switch err := s.c.Read(&s.Frame); {
	case err == nil:
		s.Reads++
		if !s.Have || s.Frame.Tick != tick {
			s.Moved = now
		}
		s.Have = true
	case errors.Is(err, venom.ErrNoData):
	default:
		s.Errors++
		s.drop(now)
	}
	if s.c != nil && now.Sub(s.Moved) > 2*StaleAfter {
		s.drop(now)
	}
	return s.Have
}

// Fresh reports whether Frame holds a snapshot whose tick moved within
// StaleAfter of now: its owner is up.
func (s *Source[M, T]) Fresh(now time.Time) bool { return s.Have && now.Sub(s.Moved) <= StaleAfter }

// Send queues a command for the slice's owner. It waits in shared memory
// while the owner is down; venom.ErrQueueFull means its lane is full.
func (s *Source[M, T]) Send(c engine.Command) error {
	if s.c == nil {
		return fmt.Errorf("heat: send to %s: not connected", s.Channel)
	}
	if err := s.c.Send(c); err != nil {
		return fmt.Errorf("heat: send to %s: %w", s.Channel, err)
	}
	return nil
}

func (s *Source[M, T]) drop(now time.Time) {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
	s.retry = now.Add(RetryEvery)
}

// Close lets go of the channel.
func (s *Source[M, T]) Close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}
