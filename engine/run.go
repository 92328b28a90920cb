package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/venomrt/venomrt/venom"
)

// Sim is what a simulation process implements (a schema's state, stepped); Run owns its loop.
type Sim[M, T any] interface {
	// Restore loads the state of the last snapshot, or starts fresh when
	// f is nil. The frame's bytes came from shared memory: check them.
	Restore(f *Frame[M, T]) error
	// Handle applies one command; an error drops it and counts it.
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
	sb := o.Standby
	if sb == nil {
		var err error
		if sb, err = TakeStandby(); err != nil {
			return fmt.Errorf("engine: run %q: %w", o.Channel, err)
		}
	}
	if sb != nil {
		defer sb.Close()
	}
	cfg := ChannelConfig(o)
	create := func() (*venom.Daemon, error) {
		if sb == nil {
			return venom.Create(o.Channel, cfg)
		}
		o.Log.Info("standby waiting", "channel", o.Channel)
		sb.Waiting()
		return venom.CreateWait(ctx, o.Channel, cfg)
	}
	d, err := create()
	if errors.Is(err, venom.ErrIncompatible) {
		// The channel is this process's own: a segment of another shape
		// was left by other code and cannot be resumed.
		o.Log.Warn("replacing incompatible segment", "channel", o.Channel, "err", err)
		if err := venom.Remove(o.Channel); err != nil {
			return fmt.Errorf("engine: run %q: %w", o.Channel, err)
		}
		d, err = create()
	}
	if sb != nil && ctx.Err() != nil {
		// Stood down before its turn came.
		if d != nil {
			d.Close()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: run %q: %w", o.Channel, err)
	}
	defer d.Close()
	l := &loop[M, T]{sl: sl, p: p, o: o, d: d, dt: time.Second / time.Duration(o.Rate)}
	if err := l.restore(); err != nil {
		return fmt.Errorf("engine: run %q: %w", o.Channel, err)
	}
	if sb != nil {
		// Owner, restored, and still: the supervisor says when to go (at
		// once after a stable run, after the backoff in a crash loop).
		sb.Owner()
		if err := sb.AwaitGo(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrStandDown) {
				o.Log.Info("standby stood down", "channel", o.Channel, "epoch", d.Epoch())
				return nil
			}
			return fmt.Errorf("engine: run %q: %w", o.Channel, err)
		}
		o.Log.Info("standby took over", "channel", o.Channel, "epoch", d.Epoch(), "tick", l.h.Tick, "queued", d.Queued())
	}
	return l.run(ctx)
}

type loop[M, T any] struct {
	sl      Schema[M, T]
	p       Sim[M, T]
	o       Options
	d       *venom.Daemon
	dt      time.Duration
	h       Header
	meta    M
	items   []T
	fault   *Command // a fault handed in this tick, carried out after its publish
	dieNext bool     // OpMidPublish was committed: die in the next publish
	// inputFaults are OpDropInput and OpDoubleInput in the order handed,
	// each waiting for a numbered input to break exactly-once on.
	inputFaults []Op
	slow        struct {
		d     time.Duration
		ticks int
	}
}

func (l *loop[M, T]) restore() error {
	log := l.o.Log.With("channel", l.o.Channel, "epoch", l.d.Epoch())
	if !l.o.Fresh {
		buf := make([]byte, l.o.DataSize)
		n, _, err := l.d.Read(buf)
		switch {
		case errors.Is(err, venom.ErrNoData):
			log.Info("no snapshot: fresh start")
		case err != nil:
			log.Warn("snapshot unreadable: fresh start", "err", err)
		default:
			var f Frame[M, T]
			if err := l.sl.Decode(buf[:n], &f); err != nil {
				log.Warn("snapshot rejected: fresh start", "err", err)
				break
			}
			if err := l.p.Restore(&f); err != nil {
				log.Warn("restore refused: fresh start", "tick", f.Tick, "err", err)
				break
			}
			l.h = f.Header
			log.Info("warm restart", "tick", f.Tick, "items", f.Count, "queued", l.d.Queued())
			return nil
		}
	}
	l.h = Header{}
	return l.p.Restore(nil)
}

func (l *loop[M, T]) run(ctx context.Context) error {
	l.h.Rate = uint32(l.o.Rate)
	l.h.Epoch = l.d.Epoch()
	if err := l.publish(); err != nil { // readers see the restored state at once
		return err
	}
	next := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		if behind := now.Sub(next); behind > time.Duration(l.o.MaxCatchUp)*l.dt {
			skipped := uint64(behind/l.dt) - uint64(l.o.MaxCatchUp)
			l.h.Lag += skipped
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

func (l *loop[M, T]) tick() error {
	start := time.Now()
	l.d.Poll(l.handle)
	l.p.Step(l.dt)
	l.h.Tick++
	l.h.SimTime += int64(l.dt)
	if l.slow.ticks > 0 {
		l.slow.ticks--
		// The fault is a slow tick, not a hung one: sleep, but beat.
		for left := l.slow.d; left > 0; left -= 100 * time.Millisecond {
			time.Sleep(min(left, 100*time.Millisecond))
			l.d.Beat()
		}
	}
	l.h.StepNanos = uint64(time.Since(start))
	if l.dieNext {
		l.dieMidPublish()
	}
	if err := l.publish(); err != nil {
		return err
	}
	if l.o.OnTick != nil {
		l.o.OnTick(&l.h)
	}
	if f := l.fault; f != nil {
		l.fault = nil
		l.inject(*f)
	}
	return nil
}

func (l *loop[M, T]) publish() error {
	buf, err := l.d.Begin()
	if err != nil {
		return err
	}
	l.items = l.p.Snapshot(&l.meta, l.items[:0])
	l.h.Mono = venom.Monotonic()
	n, err := l.sl.Encode(buf, l.h, &l.meta, l.items)
	if err != nil {
		// Too many items for DataSize: publish what fits rather than stop.
		keep := l.sl.Capacity(len(buf))
		l.o.Log.Warn("snapshot truncated", "channel", l.o.Channel, "items", len(l.items), "kept", keep)
		n, err = l.sl.Encode(buf, l.h, &l.meta, l.items[:keep])
		if err != nil {
			return err
		}
	}
	_, err = l.d.Commit(n)
	return err
}

// handle is the venom handler: decode, carry out engine ops, pass the
// rest to the process.
func (l *loop[M, T]) handle(_ venom.ClientID, b, _ []byte) int {
	c, err := DecodeCommand(b)
	if err != nil {
		l.drop(err)
		return 0
	}
	n := l.times(c)
	if c.Seq != 0 && n == 1 && l.h.seen(c.Seq) {
		// Delivered again after it was applied (a sender's retry):
		// applying it twice would be the bug exactly-once forbids.
		l.h.InputRepeats++
		return 0
	}
	for range n {
		if err := l.apply(c); err != nil {
			l.drop(err)
			return 0
		}
		l.h.Applied++
		if c.Seq != 0 {
			l.h.noteInput(c.Seq)
		}
	}
	return 0
}

func (l *loop[M, T]) drop(err error) {
	l.h.Dropped++
	l.o.Log.Debug("command dropped", "channel", l.o.Channel, "err", err)
}

// maxInputFaults bounds the input faults waiting, against a flood.
const maxInputFaults = 64

// times is how often a command is applied: once, unless an input fault
// waits for a numbered one.
func (l *loop[M, T]) times(c Command) int {
	if c.Seq == 0 || len(l.inputFaults) == 0 {
		return 1
	}
	f := l.inputFaults[0]
	l.inputFaults = l.inputFaults[1:]
	l.o.Log.Warn("fault injected", "channel", l.o.Channel, "op", f, "input", c.Seq)
	if f == OpDropInput {
		return 0
	}
	return 2
}

// apply carries out a decoded command: the engine's own ops here, the
// rest by the process.
func (l *loop[M, T]) apply(c Command) error {
	if c.Op >= OpUser {
		return l.p.Handle(c)
	}
	switch c.Op {
	case OpPanic, OpExit, OpHang, OpMidPublish:
		// Carried out after this tick's publish commits the command,
		// so the restarted process is not handed it again.
		l.fault = &c
	case OpSlow:
		l.slow.d = time.Duration(min(max(c.Arg(0, 50), 0), 10_000)) * time.Millisecond
		l.slow.ticks = int(min(max(c.Arg(1, 60), 0), 100_000))
	case OpInput:
		// Nothing to do: being applied is the whole point.
	case OpDropInput, OpDoubleInput:
		if len(l.inputFaults) >= maxInputFaults {
			return fmt.Errorf("%w: %d input faults already wait", ErrBadCommand, len(l.inputFaults))
		}
		l.inputFaults = append(l.inputFaults, c.Op)
	default:
		return fmt.Errorf("%w: %d", ErrUnknownOp, c.Op)
	}
	return nil
}

// inject carries out a fault command.
func (l *loop[M, T]) inject(c Command) {
	l.o.Log.Warn("fault injected", "channel", l.o.Channel, "op", c.Op, "tick", l.h.Tick)
	switch c.Op {
	case OpPanic:
		panic(fmt.Sprintf("engine: fault injected: panic at tick %d", l.h.Tick))
	case OpExit:
		os.Exit(int(min(max(c.Arg(0, 1), 0), 255)))
	case OpMidPublish:
		l.dieNext = true
	case OpHang:
		for {
			time.Sleep(time.Hour) // hung on purpose: no tick, no heartbeat
		}
	}
}

// dieMidPublish writes half a snapshot and kills the process, as a crash
// in the middle of a copy would: readers must keep the previous snapshot.
func (l *loop[M, T]) dieMidPublish() {
	l.o.Log.Warn("fault injected", "channel", l.o.Channel, "op", OpMidPublish, "tick", l.h.Tick)
	buf, err := l.d.Begin()
	if err == nil {
		l.items = l.p.Snapshot(&l.meta, l.items[:0])
		tmp := make([]byte, l.sl.Size(len(l.items)))
		n, _ := l.sl.Encode(tmp, l.h, &l.meta, l.items)
		copy(buf, tmp[:n/2])
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Second) // SIGKILL is on its way
	}
}
