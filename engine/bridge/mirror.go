package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// MirrorOptions configure a Mirror.
type MirrorOptions struct {
	Game    string // the remote game's instance
	Slice   Slice  // the remote slice
	Channel string // the local channel that mirrors it
	NATS    string // NATS URLs, comma-separated
	Log     *slog.Logger

	// stored, when set (by tests), is called each time the pending
	// commands are acknowledged, before anything is published; true
	// ends the mirror there, as if it were killed at that point.
	stored func() bool
}

// mirrorTick is how often a mirror looks for commands and beats: it
// bounds the input latency a mirror adds, and its idle cost.
const mirrorTick = 2 * time.Millisecond

// Mirror publishes a remote slice into a local channel and forwards the
// commands queued on it. Run it with RunMirror.
type mirror struct {
	o      MirrorOptions
	log    *slog.Logger
	js     jetstream.JetStream
	d      *venom.Daemon
	id     string // the local segment's identity, for command ids
	newest atomic.Pointer[nats.Msg]
	kick   chan struct{}
	// refresh asks for the stored newest snapshot again: after a
	// reconnection, live messages may have been missed.
	refresh atomic.Bool
	buf     []byte
	last    []byte // the newest snapshot published
	size    int    // the channel's DataSize
	bad     atomic.Uint64
	once    sync.Once
	// Commands handed by the channel but not yet stored in their stream:
	// the channel commits them (at its next publish) only once they are.
	pending []pendingCmd
	// The acknowledgements awaited for pending (nil: none sent yet, or
	// sent again after a failure), and when to give up on them.
	acks     []jetstream.PubAckFuture
	ackBy    time.Time
	retryAt  time.Time
	failOnce sync.Once
}

type pendingCmd struct {
	id  string
	cmd []byte
}

// RunMirror runs a mirror until ctx ends.
func RunMirror(ctx context.Context, o MirrorOptions) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	m := &mirror{o: o, log: o.Log.With("slice", o.Slice.Name, "game", o.Game), kick: make(chan struct{}, 1)}
	nc, err := Connect(o.NATS, "venomrt mirror "+o.Channel)
	if err != nil {
		return err
	}
	defer nc.Close()
	if m.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	// Live snapshots: keep only the newest, so a slow mirror skips ahead.
	sub, err := nc.Subscribe(SliceSubject(o.Game, o.Slice.Name), func(msg *nats.Msg) {
		m.newest.Store(msg)
		m.signal()
	})
	if err != nil {
		return fmt.Errorf("bridge: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	nc.SetReconnectHandler(func(*nats.Conn) { m.refresh.Store(true) })

	first, err := m.lastValue(ctx)
	if err != nil {
		return err
	}
	if err := m.open(first); err != nil {
		return err
	}
	defer m.d.Close()
	m.log.Info("mirror running", "channel", o.Channel, "data_size", m.size)
	m.apply(first)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go m.refresher(ctx)
	return m.loop(ctx)
}

func (m *mirror) signal() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// lastValue waits for the newest stored snapshot of the slice.
func (m *mirror) lastValue(ctx context.Context) (*nats.Msg, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if msg := m.newest.Load(); msg != nil {
			return msg, nil
		}
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := m.getLast(gctx)
		cancel()
		if err == nil {
			return msg, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (m *mirror) getLast(ctx context.Context) (*nats.Msg, error) {
	st, err := m.js.Stream(ctx, slicesStream(m.o.Game))
	if err != nil {
		return nil, err
	}
	raw, err := st.GetLastMsgForSubject(ctx, SliceSubject(m.o.Game, m.o.Slice.Name))
	if err != nil {
		return nil, err
	}
	return &nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data}, nil
}

// open creates (or adopts) the local channel in the shape the first
// snapshot's headers give.
func (m *mirror) open(first *nats.Msg) error {
	size, err := headerInt(first, hdrDataSize, MaxDataSize)
	if err != nil {
		return err
	}
	slots, err := headerInt(first, hdrCmdSlots, 1<<16)
	if err != nil {
		return err
	}
	cfg := venom.Config{DataSize: size, CmdSlots: slots, CmdSize: engine.CommandSize, CommitOnPublish: true}
	d, err := venom.Create(m.o.Channel, cfg)
	if errors.Is(err, venom.ErrIncompatible) {
		m.log.Warn("mirror: replacing a channel of another shape", "channel", m.o.Channel)
		if err := venom.Remove(m.o.Channel); err != nil {
			return fmt.Errorf("bridge: mirror %q: %w", m.o.Channel, err)
		}
		d, err = venom.Create(m.o.Channel, cfg)
	}
	if err != nil {
		return fmt.Errorf("bridge: mirror %q: %w", m.o.Channel, err)
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, venom.Path(m.o.Channel), 0, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		d.Close()
		return fmt.Errorf("bridge: mirror %q: %w", m.o.Channel, err)
	}
	// The segment's identity: a segment removed and made again gets
	// another, so its lane positions, which start again, name new ids.
	m.id = fmt.Sprintf("%s.%x.%x%08x", token(m.o.Channel), st.Ino, st.Btime.Sec, st.Btime.Nsec)
	m.d, m.size = d, size
	m.buf = make([]byte, 0, size)
	return nil
}

// apply checks a snapshot message and publishes it. Publishing commits
// the commands handed out, so it is called only when none is pending.
func (m *mirror) apply(msg *nats.Msg) {
	snap, err := decode(m.buf, msg, m.size)
	if err == nil {
		_, err = m.o.Slice.Check(snap)
	}
	if err != nil {
		m.bad.Add(1)
		m.once.Do(func() { m.log.Warn("mirror: snapshot refused", "err", err) })
		return
	}
	if _, err := m.d.Publish(snap); err != nil {
		m.log.Warn("mirror: publish", "err", err)
		return
	}
	m.last = append(m.last[:0], snap...)
}

// refresher asks for the stored newest snapshot after a reconnection
// (live messages may have been missed), away from the loop: the request
// needs the stream's leader, which a cluster may be electing.
func (m *mirror) refresher(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.refresh.Swap(false) {
			continue
		}
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := m.getLast(gctx)
		cancel()
		if err != nil {
			m.refresh.Store(true) // again at the next look
			continue
		}
		m.newest.CompareAndSwap(nil, msg) // a live one that came meanwhile is newer
		m.signal()
	}
}

func (m *mirror) loop(ctx context.Context) error {
	tick := time.NewTicker(mirrorTick)
	defer tick.Stop()
	forwarded := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-tick.C:
		}
		if len(m.pending) == 0 {
			m.d.Poll(m.collect)
		}
		if len(m.pending) > 0 {
			if !m.forward(time.Now()) {
				// Not stored yet: nothing is published (a publish would
				// commit them), and the loop goes on beating.
				m.d.Beat()
				continue
			}
			forwarded = time.Now()
			if m.o.stored != nil && m.o.stored() {
				return nil
			}
		}
		if msg := m.newest.Swap(nil); msg != nil {
			m.apply(msg)
			forwarded = time.Time{}
		} else if !forwarded.IsZero() && time.Since(forwarded) > 50*time.Millisecond && m.last != nil {
			// Commands stored, no new snapshot to commit them with:
			// publish the newest again, so a mirror that dies now is not
			// handed them again after the streams' dedup window.
			m.d.Publish(m.last)
			forwarded = time.Time{}
		}
		m.d.Beat()
	}
}

// collect is the channel's handler: it keeps each command with its id.
// A command that does not decode, or whose op the game does not take
// from the network (Slice.Remote; the engine's fault ops never), goes no
// further than this machine: counted and logged once.
func (m *mirror) collect(c venom.ClientID, cmd, _ []byte) int {
	dc, err := engine.DecodeCommand(cmd)
	if err == nil && !m.o.Slice.remoteOK(dc.Op) {
		err = fmt.Errorf("op %d is not remote-callable (the engine's own ops never are)", dc.Op)
	}
	if err != nil {
		m.bad.Add(1)
		m.once.Do(func() { m.log.Warn("mirror: command refused (logged once)", "err", err) })
		return 0
	}
	m.pending = append(m.pending, pendingCmd{
		id:  fmt.Sprintf("%s.%d.%d", m.id, c, m.d.Position()),
		cmd: append([]byte(nil), cmd...),
	})
	return 0
}

// ackTimeout is how long the mirror waits for the acknowledgements of
// the commands it sent before sending them again (with the same ids:
// the stream keeps one copy).
const ackTimeout = time.Second

// forward stores the pending commands in the slice's command stream,
// without blocking: the first call sends them (each with its id), the
// next ones look at their acknowledgements. It reports true once every
// one is acknowledged; on an error or after ackTimeout they stay
// pending and are sent again, with the same ids.
func (m *mirror) forward(now time.Time) bool {
	if m.acks == nil {
		if now.Before(m.retryAt) {
			return false
		}
		subj := CommandSubject(m.o.Game, m.o.Slice.Name)
		for _, p := range m.pending {
			msg := nats.NewMsg(subj)
			msg.Data = p.cmd
			f, err := m.js.PublishMsgAsync(msg, jetstream.WithMsgID(p.id))
			if err != nil {
				m.failed(now, err)
				return false
			}
			m.acks = append(m.acks, f)
		}
		m.ackBy = now.Add(ackTimeout)
	}
	for len(m.acks) > 0 {
		select {
		case <-m.acks[0].Ok():
			m.acks = m.acks[1:]
			continue
		case err := <-m.acks[0].Err():
			m.failed(now, err)
			return false
		default:
		}
		if now.After(m.ackBy) {
			m.failed(now, fmt.Errorf("no acknowledgement in %v", ackTimeout))
		}
		return false
	}
	m.acks = nil
	m.pending = m.pending[:0]
	return true
}

// failed drops the acknowledgements awaited, to send the pending
// commands again a little later.
func (m *mirror) failed(now time.Time, err error) {
	m.acks = nil
	m.retryAt = now.Add(50 * time.Millisecond)
	m.failOnce.Do(func() {
		m.log.Warn("mirror: commands not stored yet, sending them again (logged once; a full stream says so here)", "err", err)
	})
}
