package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/venomrt/venomrt/venom"
)

// Sim is what a simulation process implements (a schema's state, stepped); Run owns its loop.
type Sim[M, T any] interface {
	// Restore loads the state of the last snapshot, or starts fresh when
	// f is nil. The frame's bytes came from shared memory: check them.
	Restore(f *Frame[M, T]) error
	// Handle applies one command. An error refuses it: it must have
	// changed nothing; it is counted (Header.Dropped), and a sender that
	// asked (Asker, PROGRAM send) receives the error's text as the
	// reason.
	Handle(c Command) error
	// Step advances the simulation by dt.
	Step(dt time.Duration)
	// Snapshot fills meta and appends the items to publish to items[:0].
	Snapshot(meta *M, items []T) []T
}

// Options configure Run.
type Options struct {
	Channel    string          // the channel's full name, such as "venomrt.physics"
	Rate       int             // ticks per second (default 60)
	MaxCatchUp int             // ticks run back to back at most after a stall (default 5)
	DataSize   int             // snapshot buffer size (default venom's 64 KiB)
	CmdSlots   int             // command cells per client (default 256)
	Fresh      bool            // ignore the previous snapshot: a cold start
	Log        *slog.Logger    // default slog.Default()
	OnTick     func(h *Header) // called after each publish, in the loop
	// Standby makes Run a hot standby's (see StandbyEnv): it waits for
	// the channel's owner to be gone (venom.CreateWait), adopts the
	// channel and restores the last snapshot, and ticks only once the
	// supervisor says go. Nil: the line a Supervisor passes in the
	// environment (TakeStandby), if any.
	Standby *Standby
}

func (o Options) withDefaults() Options {
	if o.Rate <= 0 {
		o.Rate = 60
	}
	if o.MaxCatchUp <= 0 {
		o.MaxCatchUp = 5
	}
	if o.DataSize == 0 {
		o.DataSize = venom.DefaultDataSize
	}
	if o.CmdSlots == 0 {
		o.CmdSlots = 256
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// ChannelConfig is the venom.Config Run creates its channel with for o:
// what the channel's segment holds of /dev/shm is
// venom.SegmentSize(ChannelConfig(o)).
func ChannelConfig(o Options) venom.Config {
	o = o.withDefaults()
	return venom.Config{DataSize: o.DataSize, CmdSize: CommandSize, CmdSlots: o.CmdSlots, CommitOnPublish: true}
}

// ExitNoSpace is the exit status of a process whose channel /dev/shm
// cannot back (an error wrapping venom.ErrNoSpace): restarting it cannot
// succeed until shared memory is freed or made larger, so a Supervisor
// marks a child that exits with it failed at once, without restarting
// it. (It is sysexits' EX_CONFIG: the host is not set up for the game.)
const ExitNoSpace = 78

// ExitCode is the exit status of a process whose main ends with err: 0
// for nil, ExitNoSpace for an error wrapping venom.ErrNoSpace, 1 for any
// other.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, venom.ErrNoSpace):
		return ExitNoSpace
	}
	return 1
}

// Run is a process's loop: it creates (or adopts) the channel, restores
// from the last snapshot, then ticks at the fixed rate — commands drained
// at the start of each tick, the step, the snapshot published after it —
// until ctx ends. Time is accumulated and consumed in fixed steps; after
// a stall at most MaxCatchUp ticks run back to back and the rest is
// dropped (counted in Header.Lag), so a slow machine slows the simulation
// instead of spiralling. When ctx ends the tick under way finishes and is
// published, and Run returns nil.
//
// When /dev/shm cannot back the channel, Run returns at once an error
// wrapping venom.ErrNoSpace that says the bytes needed and free, and has
// touched nothing: the process's main reports it (once: Run does not log
// it) and exits with ExitCode(err), ExitNoSpace, which a Supervisor
// takes for a failure no restart can cure.
//
// As a hot standby (Options.Standby, or the line a Supervisor passes in
// StandbyEnv) Run first waits for the channel's owner to be gone, then
// adopts the channel and restores as above, and ticks only once the
// supervisor says go; ctx ending before that, or the supervisor standing
// it down, returns nil.
func Run[M, T any](ctx context.Context, sl Schema[M, T], p Sim[M, T], o Options) error {
	o = o.withDefaults()
	w, err := Own(ctx, sl, OwnOptions[M, T]{
		Channel: o.Channel, Config: ChannelConfig(o), Fresh: o.Fresh,
		Restore: p.Restore, Handle: p.Handle, Standby: o.Standby, Log: o.Log,
	})
	if errors.Is(err, ErrStandDown) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: run %q: %w", o.Channel, err)
	}
	defer w.Close()
	l := &loop[M, T]{p: p, o: o, w: w, dt: time.Second / time.Duration(o.Rate)}
	return l.run(ctx)
}

// loop is Run's fixed-step loop over an Owner.
type loop[M, T any] struct {
	p     Sim[M, T]
	o     Options
	w     *Owner[M, T]
	dt    time.Duration
	meta  M
	items []T
}

func (l *loop[M, T]) run(ctx context.Context) error {
	l.w.Header().Rate = uint32(l.o.Rate)
	if err := l.publish(); err != nil { // readers see the restored state at once
		return err
	}
	next := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		if behind := now.Sub(next); behind > time.Duration(l.o.MaxCatchUp)*l.dt {
			skipped := uint64(behind/l.dt) - uint64(l.o.MaxCatchUp)
			l.w.Header().Lag += skipped
			next = next.Add(time.Duration(skipped) * l.dt)
		}
		for ran := 0; !now.Before(next) && ran < l.o.MaxCatchUp && ctx.Err() == nil; ran++ {
			if err := l.tick(); err != nil {
				return err
			}
			next = next.Add(l.dt)
		}
		if wait := time.Until(next); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
			timer.Stop()
		}
	}
	return nil
}

// tick drains the commands, steps and publishes; a fault taken is
// carried out by the publish (after its commit).
func (l *loop[M, T]) tick() error {
	start := time.Now()
	l.w.Poll()
	l.p.Step(l.dt)
	h := l.w.Header()
	h.Tick++
	h.SimTime += int64(l.dt)
	h.StepNanos = uint64(time.Since(start))
	if err := l.publish(); err != nil {
		return err
	}
	if l.o.OnTick != nil {
		l.o.OnTick(h)
	}
	return nil
}

func (l *loop[M, T]) publish() error {
	l.items = l.p.Snapshot(&l.meta, l.items[:0])
	return l.w.Publish(&l.meta, l.items)
}
