package gametest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// Newest reads the newest snapshot of one of g's processes, whose
// snapshots have schema sl, through an engine.Follower the Game keeps
// per process (it connects when the channel exists, and again when its
// segment is replaced). The frame is the caller's: its items are a copy
// no later read touches. Before the process has published, Newest is
// an error saying why (no channel yet, nothing published, another
// schema); WaitFor waits instead.
func Newest[M, T any](g *Game, process string, sl engine.Schema[M, T]) (engine.Frame[M, T], error) {
	fw, err := follower(g, process, sl)
	if err != nil {
		return engine.Frame[M, T]{}, err
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f == nil {
		return engine.Frame[M, T]{}, fmt.Errorf("gametest: read %s: the game is stopped", process)
	}
	fw.f.Poll()
	if !fw.f.Have() {
		why := fw.f.Err()
		if why == nil {
			why = venom.ErrNoData
		}
		return engine.Frame[M, T]{}, fmt.Errorf("gametest: read %s: %s: %w", process, fw.f.State(), why)
	}
	cur := &fw.f.Cur
	return engine.Frame[M, T]{Header: cur.Header, Meta: cur.Meta, Items: slices.Clone(cur.Items)}, nil
}

// WaitFor waits until the newest snapshot of one of g's processes
// satisfies cond, and returns it; the error of a timeout says which
// process and the last read's error, if any.
func WaitFor[M, T any](g *Game, process string, sl engine.Schema[M, T], cond func(f *engine.Frame[M, T]) bool) (engine.Frame[M, T], error) {
	var (
		f       engine.Frame[M, T]
		lastErr error
	)
	err := g.Wait(process+"'s snapshot as wanted", func() bool {
		var err error
		f, err = Newest(g, process, sl)
		lastErr = err
		return err == nil && cond(&f)
	})
	if err != nil && lastErr != nil {
		err = fmt.Errorf("%w (last read: %v)", err, lastErr)
	}
	return f, err
}

// follow is the Game's Follower of one process for one schema; Polls
// are serialized (a Follower is used from one goroutine at a time).
type follow[M, T any] struct {
	mu sync.Mutex
	f  *engine.Follower[M, T] // nil once closed
}

// follower is g's Follower of process for schema sl, made on first use
// and closed by Stop. It looks for a missing channel, or a replaced
// one, every poll of Wait's at most, not every half second as a game's
// Follower does.
func follower[M, T any](g *Game, process string, sl engine.Schema[M, T]) (*follow[M, T], error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, fmt.Errorf("gametest: read %s: the game is stopped", process)
	}
	key := fmt.Sprintf("%s\x00%x", process, sl.Schema())
	if fw, ok := g.readers[key].(*follow[M, T]); ok {
		return fw, nil
	}
	fw := &follow[M, T]{f: engine.Follow(g.Channel(process), sl, engine.FollowOptions{Retry: maxPoll})}
	g.readers[key] = fw
	g.closers = append(g.closers, fw.close)
	return fw, nil
}

func (fw *follow[M, T]) close() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f != nil {
		fw.f.Close()
		fw.f = nil
	}
	return nil
}

// Ask sends c to a process as a command that is answered
// (engine.Asker, a sender of its own) and waits, within the Game's
// timeout, for the answer: nil when the process applied it, an
// *engine.RefusedError carrying the process's reason when it refused
// it, an error wrapping engine.ErrLost when no owner answered.
func (g *Game) Ask(process string, c engine.Command) error {
	a, err := engine.NewAsker(g.Channel(process))
	if err != nil {
		return fmt.Errorf("gametest: ask %s: %w", process, err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), g.o.Timeout)
	defer cancel()
	return a.Ask(ctx, c)
}

// Sender numbers commands to one process in the process's shared
// numbering (Command.Sender 0, Seq 1, 2, 3, …), which its snapshots
// account for (engine.Header.Account): the test's end of the
// exactly-once check, with commands of the game's own ops or the
// engine's no-op input. Commands wait in shared memory while the
// process is down. A Sender is used from one goroutine; use one Sender
// per process, as the numbering is one per process.
type Sender struct {
	g       *Game
	process string
	shell   *venom.Shell
	probe   *engine.InputProbe // reads headers
	buf     []byte
	sent    uint64
}

// Sender connects a numbering Sender to one of g's processes; it is
// closed by Stop.
func (g *Game) Sender(process string) (*Sender, error) {
	var shell *venom.Shell
	if err := g.Wait(process+"'s channel", func() bool {
		var err error
		shell, err = venom.Connect(g.Channel(process))
		return err == nil
	}); err != nil {
		return nil, err
	}
	p, err := g.probe(process)
	if err != nil {
		shell.Close()
		return nil, err
	}
	s := &Sender{g: g, process: process, shell: shell, probe: p, buf: make([]byte, 0, engine.CommandSize)}
	g.mu.Lock()
	g.closers = append(g.closers, shell.Close)
	g.mu.Unlock()
	return s, nil
}

// Send queues c with the next number (c.Sender and c.Seq are set). A
// full lane (the process down, or behind) is waited out within the
// Game's timeout.
func (s *Sender) Send(c engine.Command) error {
	c.Sender, c.Seq = 0, s.sent+1
	s.buf = c.Append(s.buf[:0])
	var err error
	werr := s.g.Wait(fmt.Sprintf("room in %s's lane for input %d", s.process, c.Seq), func() bool {
		err = s.shell.Send(s.buf)
		return !errors.Is(err, venom.ErrQueueFull)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("gametest: send to %s: %w", s.process, err)
	}
	s.sent++
	return nil
}

// SendRaw queues b as it is, unnumbered, on the Sender's lane: bytes
// that may be no command at all, for a test of a process's decoding. A
// numbered command sent after it is handled after it (one lane is
// FIFO), so Settle then waits for both.
func (s *Sender) SendRaw(b []byte) error {
	if err := s.shell.Send(b); err != nil {
		return fmt.Errorf("gametest: send to %s: %w", s.process, err)
	}
	return nil
}

// Input sends n numbered no-ops (engine.OpInput), which every process on
// engine.Run or an engine.Owner counts and nothing else notices.
func (s *Sender) Input(n int) error {
	for range n {
		if err := s.Send(engine.Cmd(engine.OpInput)); err != nil {
			return err
		}
	}
	return nil
}

// Sent is how many commands the Sender has queued: numbers 1..Sent.
func (s *Sender) Sent() uint64 { return s.sent }

// Account reads the process's newest snapshot and compares the numbered
// commands it holds with the ones sent: engine.Header.Account.
func (s *Sender) Account() (engine.InputAccount, engine.Header, error) {
	h, err := s.probe.Header()
	if err != nil {
		return engine.InputAccount{}, h, fmt.Errorf("gametest: account of %s: %w", s.process, err)
	}
	return h.Account(s.sent), h, nil
}

// Settle waits until the process's newest snapshot holds the last
// command sent (its LastInput reached Sent) and returns the account
// then: Exact when every command was applied exactly once.
func (s *Sender) Settle() (engine.InputAccount, engine.Header, error) {
	var (
		a engine.InputAccount
		h engine.Header
	)
	err := s.g.Wait(fmt.Sprintf("%s applying input %d", s.process, s.sent), func() bool {
		var err error
		a, h, err = s.Account()
		return err == nil && h.LastInput >= s.sent
	})
	return a, h, err
}
