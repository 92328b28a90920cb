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

// OwnOptions configure Own.
type OwnOptions[M, T any] struct {
	// Channel is the channel's full name, such as "venomrt.render".
	Channel string
	// Config is the channel's shape. Own sets what the engine's
	// contract needs whatever it says: CmdSize CommandSize (every
	// command is an engine Command) and CommitOnPublish (commands
	// handed to a process that dies before its next publish are handed
	// to its successor). An answer's refusal reason is cut to fit
	// RespSize (venom's default holds MaxAnswerSize).
	Config venom.Config
	// Fresh ignores the previous snapshot: a cold start.
	Fresh bool
	// Restore is handed the last snapshot to resume from, or nil for a
	// fresh start. The frame's bytes came from shared memory: check
	// them; an error starts fresh (Restore(nil)), and an error of that
	// ends Own. Nil: nothing to restore but the header (the tick
	// counter and the input ledger carry on).
	Restore func(f *Frame[M, T]) error
	// Handle applies one command of the process's own ops (OpUser and
	// above); its error refuses the command, and an Asker receives the
	// error's text. Nil: every op of the process's own is refused. The
	// engine's ops (faults, OpInput) never reach it.
	Handle func(c Command) error
	// Standby makes Own a hot standby's (see StandbyEnv): it waits for
	// the channel's owner to be gone, adopts the channel and restores,
	// and returns only once the supervisor says go. Nil: the line a
	// Supervisor passes in the environment (TakeStandby), if any.
	Standby *Standby
	// Log receives lifecycle and fault lines (default slog.Default()).
	Log *slog.Logger
}

// Owner owns a channel of typed snapshots: it created or adopted the
// channel's segment, publishes the snapshots (Header filled in: Epoch,
// Mono, the input ledger), serves the commands sent to it, and carries
// out the engine's fault ops (OpPanic, OpExit, OpHang, OpMidPublish,
// OpSlow, OpDropInput, OpDoubleInput) like every process of the engine:
// it is the one fault executor. Run is an Owner plus the fixed-step loop;
// a renderer, which draws at its own pace, uses one directly: Poll, then
// Publish, once per frame. An Owner is used from one goroutine.
//
// What a publish guarantees: commands are handed out by Poll and
// committed by the next Publish (commit on publish), so a process that
// dies in between is restarted from its last snapshot and handed the
// same commands again: every numbered input lands exactly once.
type Owner[M, T any] struct {
	sl     Schema[M, T]
	o      OwnOptions[M, T]
	d      *venom.Daemon
	h      Header
	handle venom.Handler // o's handler as a venom handler, made once

	fault   Command // a fault handed in, carried out after the publish that commits it
	dieNext bool    // OpMidPublish was committed: die in the next publish
	// inputFaults are OpDropInput and OpDoubleInput in the order handed,
	// each waiting for a numbered input to break exactly-once on.
	inputFaults []Op
	slow        struct {
		d     time.Duration
		ticks int
	}
	// uncounted leaves the Counters alone: only for the benchmark that
	// measures what they cost beside a tick without them.
	uncounted bool
}

// ErrNotOwner is Own's error when another live process owns the
// channel: venom.ErrBusy.
var ErrNotOwner = venom.ErrBusy

// Own creates the channel, or adopts the segment a dead owner left (its
// snapshots, queued commands and clients kept, the epoch bumped), or
// replaces a segment of another shape (left by other code: it cannot be
// resumed). It then restores from the last snapshot (o.Restore), unless
// o.Fresh. Another live owner gives an error wrapping venom.ErrBusy; a
// /dev/shm that cannot back the channel one wrapping venom.ErrNoSpace,
// with nothing touched.
//
// As a hot standby (o.Standby, or the line a Supervisor passes in
// StandbyEnv) Own first waits for the owner to be gone, then adopts and
// restores, and returns once the supervisor says go. ctx ending before
// that, or the supervisor standing the standby down, gives ErrStandDown.
func Own[M, T any](ctx context.Context, sl Schema[M, T], o OwnOptions[M, T]) (*Owner[M, T], error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	fail := func(err error) (*Owner[M, T], error) {
		return nil, fmt.Errorf("engine: own %q: %w", o.Channel, err)
	}
	cfg := o.Config
	cfg.CmdSize, cfg.CommitOnPublish = CommandSize, true
	sb := o.Standby
	if sb == nil {
		var err error
		if sb, err = TakeStandby(); err != nil {
			return fail(err)
		}
	}
	if sb != nil {
		defer sb.Close()
	}
	create := func() (*venom.Daemon, error) {
		if sb == nil {
			return venom.Create(o.Channel, cfg)
		}
		o.Log.Info("standby waiting", "channel", o.Channel)
		sb.Waiting()
		return venom.CreateWait(ctx, o.Channel, cfg)
	}
	d, err := createReplacing(o.Channel, create, o.Log)
	if sb != nil && ctx.Err() != nil {
		// Stood down before its turn came.
		if d != nil {
			d.Close()
		}
		return nil, ErrStandDown
	}
	if err != nil {
		return fail(err)
	}
	w := &Owner[M, T]{sl: sl, o: o, d: d}
	w.handle = w.serve
	if err := w.restore(); err != nil {
		d.Close()
		return fail(err)
	}
	if sb != nil {
		// Owner, restored, and still: the supervisor says when to go (at
		// once after a stable run, after the backoff in a crash loop).
		sb.Owner()
		if err := sb.AwaitGo(ctx); err != nil {
			d.Close()
			if ctx.Err() != nil || errors.Is(err, ErrStandDown) {
				o.Log.Info("standby stood down", "channel", o.Channel, "epoch", d.Epoch())
				return nil, ErrStandDown
			}
			return fail(err)
		}
		o.Log.Info("standby took over", "channel", o.Channel, "epoch", d.Epoch(), "tick", w.h.Tick, "queued", d.Queued())
	}
	w.h.Epoch = d.Epoch()
	return w, nil
}

// CreateChannel creates a channel's segment, or adopts the one a dead
// owner left (venom.Create), and replaces a segment of another shape:
// the channel is its owner's own, and a segment left by other code
// cannot be resumed. It is the channel-owner sequence of Own, for an
// owner of untyped snapshots (the supervisor's status, a mirror of a
// remote slice). Another live owner gives an error wrapping
// venom.ErrBusy.
func CreateChannel(channel string, cfg venom.Config, log *slog.Logger) (*venom.Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	return createReplacing(channel, func() (*venom.Daemon, error) { return venom.Create(channel, cfg) }, log)
}

func createReplacing(channel string, create func() (*venom.Daemon, error), log *slog.Logger) (*venom.Daemon, error) {
	d, err := create()
	if errors.Is(err, venom.ErrIncompatible) {
		log.Warn("replacing incompatible segment", "channel", channel, "err", err)
		if err := venom.Remove(channel); err != nil {
			return nil, err
		}
		d, err = create()
	}
	return d, err
}

func (w *Owner[M, T]) restore() error {
	log := w.o.Log.With("channel", w.o.Channel, "epoch", w.d.Epoch())
	if !w.o.Fresh {
		buf := make([]byte, w.d.Config().DataSize)
		n, _, err := w.d.Read(buf)
		switch {
		case errors.Is(err, venom.ErrNoData):
			log.Info("no snapshot: fresh start")
		case err != nil:
			log.Warn("snapshot unreadable: fresh start", "err", err)
		default:
			var f Frame[M, T]
			if err := w.sl.Decode(buf[:n], &f); err != nil {
				log.Warn("snapshot rejected: fresh start", "err", err)
				break
			}
			if w.o.Restore != nil {
				if err := w.o.Restore(&f); err != nil {
					log.Warn("restore refused: fresh start", "tick", f.Tick, "err", err)
					break
				}
			}
			w.h = f.Header
			if err := w.h.Counters.Check(); err != nil {
				// The state is sound, its counters are not: count afresh.
				log.Warn("counters refused: counted from zero", "err", err)
				w.h.Counters = Counters{lastTick: w.h.Tick}
			}
			log.Info("warm restart", "tick", f.Tick, "items", f.Count, "queued", w.d.Queued())
			return nil
		}
	}
	w.h = Header{}
	if w.o.Restore == nil {
		return nil
	}
	return w.o.Restore(nil)
}

// Header is the header of the next snapshot, for the owner to set what
// is its own: Tick, SimTime, Rate, Lag, StepNanos. Publish fills in the
// rest (Epoch, Mono, the schema and sizes); the command counts, the
// input ledger and the Counters (a tick counted at each publish whose
// Tick moved, StepNanos its time) are the Owner's.
func (w *Owner[M, T]) Header() *Header { return &w.h }

// Channel is the channel's full name.
func (w *Owner[M, T]) Channel() string { return w.o.Channel }

// Epoch is the channel's epoch under this owner (venom's: bumped by each
// owner that creates or adopts it).
func (w *Owner[M, T]) Epoch() uint64 { return w.d.Epoch() }

// Queued is how many commands wait in the channel's lanes.
func (w *Owner[M, T]) Queued() int { return w.d.Queued() }

// Beat refreshes the heartbeat without publishing (Poll and Publish
// refresh it too): for an owner busy for long between two publishes
// that is not hung.
func (w *Owner[M, T]) Beat() { w.d.Beat() }

// Poll hands every queued command to the process (OwnOptions.Handle),
// carries out the engine's ops, answers Askers, and returns how many
// commands it took. A fault taken is carried out after the next Publish
// commits it, so a successor is not handed it again. It never blocks.
func (w *Owner[M, T]) Poll() int {
	n := w.d.Poll(w.handle)
	w.h.Counters.Commands += uint64(n)
	return n
}

// Publish encodes h, meta and items as the channel's newest snapshot and
// commits the commands handed out since the last publish; it then
// carries out a fault taken by Poll. Items beyond what the channel's
// DataSize holds are left out (with a warning) rather than stop the
// process.
func (w *Owner[M, T]) Publish(meta *M, items []T) error {
	if w.slow.ticks > 0 {
		w.slow.ticks--
		// The fault is a slow tick, not a hung one: sleep, but beat. The
		// time shows in this snapshot's StepNanos (the owner's own
		// StepNanos stays as it set it).
		start := time.Now()
		for left := w.slow.d; left > 0; left -= 100 * time.Millisecond {
			time.Sleep(min(left, 100*time.Millisecond))
			w.d.Beat()
		}
		step := w.h.StepNanos
		w.h.StepNanos += uint64(time.Since(start))
		defer func() { w.h.StepNanos = step }()
	}
	if w.dieNext {
		w.dieMidPublish(meta, items)
	}
	buf, err := w.d.Begin()
	if err != nil {
		return fmt.Errorf("engine: publish %q: %w", w.o.Channel, err)
	}
	if !w.uncounted {
		w.h.Counters.count(&w.h)
	}
	w.h.Mono, w.h.Epoch = venom.Monotonic(), w.d.Epoch()
	n, err := w.sl.Encode(buf, w.h, meta, items)
	if err != nil {
		// Too many items for DataSize: publish what fits rather than stop.
		keep := w.sl.Capacity(len(buf))
		w.o.Log.Warn("snapshot truncated", "channel", w.o.Channel, "items", len(items), "kept", keep)
		if n, err = w.sl.Encode(buf, w.h, meta, items[:keep]); err != nil {
			return fmt.Errorf("engine: publish %q: %w", w.o.Channel, err)
		}
	}
	if _, err := w.d.Commit(n); err != nil {
		return fmt.Errorf("engine: publish %q: %w", w.o.Channel, err)
	}
	if f := w.fault; f.Op != OpNone {
		w.fault = Command{}
		w.inject(f)
	}
	return nil
}

// Close stops owning the channel; its segment stays for a successor,
// which is handed the commands not yet committed.
func (w *Owner[M, T]) Close() error { return w.d.Close() }

// serve is the venom handler: decode, drop a redelivered input, carry
// out the engine's ops, pass the rest to the process, and answer a
// request (resp is nil for a Send).
func (w *Owner[M, T]) serve(_ venom.ClientID, b, resp []byte) int {
	c, err := DecodeCommand(b)
	if err != nil {
		return w.refuse(err, resp)
	}
	n := w.times(c)
	if c.Seq != 0 && n == 1 && w.h.seen(c.Sender, c.Seq) {
		// Delivered again after it was applied (a sender's retry, an
		// Asker asking again across a restart): applying it twice would
		// be the bug exactly-once forbids. It was applied: say so.
		w.h.repeats++
		return putAnswer(resp, nil)
	}
	for range n {
		if err := w.apply(c); err != nil {
			return w.refuse(err, resp)
		}
		w.h.Applied++
		if c.Seq != 0 {
			w.h.noteInput(c.Sender, c.Seq)
		}
	}
	return putAnswer(resp, nil)
}

// refuse counts a command dropped and answers why.
func (w *Owner[M, T]) refuse(err error, resp []byte) int {
	w.h.Dropped++
	w.o.Log.Debug("command dropped", "channel", w.o.Channel, "err", err)
	return putAnswer(resp, err)
}

// maxInputFaults bounds the input faults waiting, against a flood.
const maxInputFaults = 64

// times is how often a command is applied: once, unless an input fault
// waits for a numbered one of the shared numbering.
func (w *Owner[M, T]) times(c Command) int {
	if c.Seq == 0 || c.Sender != 0 || len(w.inputFaults) == 0 {
		return 1
	}
	f := w.inputFaults[0]
	w.inputFaults = w.inputFaults[1:]
	w.o.Log.Warn("fault injected", "channel", w.o.Channel, "op", f, "input", c.Seq)
	if f == OpDropInput {
		return 0
	}
	return 2
}

// apply carries out a decoded command: the engine's own ops here, the
// rest by the process.
func (w *Owner[M, T]) apply(c Command) error {
	if c.Op >= OpUser {
		if w.o.Handle == nil {
			return fmt.Errorf("%w: %d", ErrUnknownOp, c.Op)
		}
		return w.o.Handle(c)
	}
	switch c.Op {
	case OpPanic, OpExit, OpHang, OpMidPublish:
		// Carried out after the publish that commits the command, so
		// the restarted process is not handed it again.
		w.fault = c
	case OpSlow:
		w.slow.d = time.Duration(min(max(c.Arg(0, 50), 0), 10_000)) * time.Millisecond
		w.slow.ticks = int(min(max(c.Arg(1, 60), 0), 100_000))
	case OpInput:
		// Nothing to do: being applied is the whole point.
	case OpDropInput, OpDoubleInput:
		if len(w.inputFaults) >= maxInputFaults {
			return fmt.Errorf("%w: %d input faults already wait", ErrBadCommand, len(w.inputFaults))
		}
		w.inputFaults = append(w.inputFaults, c.Op)
	default:
		return fmt.Errorf("%w: %d", ErrUnknownOp, c.Op)
	}
	return nil
}

// inject carries out a fault command.
func (w *Owner[M, T]) inject(c Command) {
	w.o.Log.Warn("fault injected", "channel", w.o.Channel, "op", c.Op, "tick", w.h.Tick)
	switch c.Op {
	case OpPanic:
		panic(fmt.Sprintf("engine: fault injected: panic at tick %d of %s", w.h.Tick, w.o.Channel))
	case OpExit:
		os.Exit(int(min(max(c.Arg(0, 1), 0), 255)))
	case OpMidPublish:
		w.dieNext = true
	case OpHang:
		for {
			time.Sleep(time.Hour) // hung on purpose: no tick, no heartbeat
		}
	}
}

// dieMidPublish writes half a snapshot and kills the process, as a crash
// in the middle of a copy would: readers must keep the previous snapshot.
func (w *Owner[M, T]) dieMidPublish(meta *M, items []T) {
	w.o.Log.Warn("fault injected", "channel", w.o.Channel, "op", OpMidPublish, "tick", w.h.Tick)
	if buf, err := w.d.Begin(); err == nil {
		tmp := make([]byte, w.sl.Size(len(items)))
		n, _ := w.sl.Encode(tmp, w.h, meta, items)
		copy(buf, tmp[:n/2])
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Second) // SIGKILL is on its way
	}
}
