package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// Options configure a Bridge.
type Options struct {
	Game     string  // the game's instance: channels "<Game>.<slice>"
	Channel  string  // the bridge's own channel (its stats)
	Slices   []Slice // what it publishes and takes commands for
	NATS     string  // NATS URLs, comma-separated
	Rate     int     // snapshots per second per slice at most (default 60)
	Compress bool    // s2-compress snapshot payloads
	// Replicas is how many servers of a cluster keep each stream (1 by
	// default; 3 survives the loss of a node).
	Replicas int
	// Fresh empties the game's streams first: a fresh world must not be
	// handed the commands of an earlier one.
	Fresh bool
	Log   *slog.Logger

	// answered, when set (by tests), is called when the process has
	// answered an asked command, before the answer goes out; true ends
	// the slice's forwarding there, as if the bridge were killed at that
	// point.
	answered func(seq uint64) bool
}

// Meta is the bridge's own slice: its totals.
type Meta struct {
	Published uint64 // snapshot messages sent
	Bytes     uint64 // their payload bytes
	RawBytes  uint64 // the snapshots' bytes before compression
	Commands  uint64 // commands queued into local channels
	Bad       uint64 // snapshots and commands refused
	Connected uint32 // 1 while connected to NATS
	_         uint32
}

// SliceStats is one slice as the bridge serves it: an item of its slice.
type SliceStats struct {
	Name      [16]byte
	Seq       uint64 // the newest venom publish sequence sent
	Published uint64
	Bytes     uint64 // payload bytes sent
	RawBytes  uint64 // the snapshots' bytes before compression
	Commands  uint64
	LastInput uint64 // the newest command's stream sequence queued
	// Next is the command stream's sequence the bridge takes next: what
	// it has queued or refused is behind it. Kept in the snapshot, so a
	// restarted bridge resumes there (a refused command is never taken
	// again), and set at the stream's end by a bridge of a fresh world
	// (no earlier world's backlog).
	Next uint64
	Bad  uint64 // commands of this slice refused: garbage, an op not remote-callable
	// Lag is the newest snapshot's way through the bridge, in ns: from
	// its publish on the local channel (its Header.Mono) to its hand-off
	// to NATS; LagTotal sums it over every snapshot sent (Published), so
	// two readings give the mean lag between them.
	Lag, LagTotal uint64
}

// NameString is the slice's name.
func (s SliceStats) NameString() string {
	n := bytes.IndexByte(s.Name[:], 0)
	if n < 0 {
		n = len(s.Name)
	}
	return string(s.Name[:n])
}

// StatsSchema is the shape of the bridge's channel.
var StatsSchema = engine.MustSchema[Meta, SliceStats]()

// EngineOptions are the engine options of a bridge of slices slices: its
// loop, which publishes its stats and beats, and its channel's shape.
func (o Options) EngineOptions(slices int) engine.Options {
	return engine.Options{Rate: 10, DataSize: StatsSchema.Size(slices)}
}

// streamEvery is how often the bridge looks for new snapshots: a look is
// an atomic load per slice, and it bounds the latency the bridge adds.
const streamEvery = time.Millisecond

// Run runs a bridge until ctx ends: a process on engine.Run (its stats,
// its heartbeat) while one goroutine publishes each slice's new snapshots
// within streamEvery of their publish and a goroutine per slice queues
// the commands that arrive.
func Run(ctx context.Context, o Options) error {
	if o.Rate <= 0 {
		o.Rate = 60
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	nc, err := Connect(o.NATS, "venomrt bridge "+o.Game)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	b := &bridgeProc{o: o, nc: nc, js: js, every: time.Second / time.Duration(o.Rate), restored: make(chan struct{}), streams: make(chan struct{})}
	for _, s := range o.Slices {
		b.out = append(b.out, &outSlice{Slice: s, channel: o.Game + "." + s.Name, asks: newAsks(), started: make(chan struct{})})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { b.ensureStreams(ctx) })
	for _, s := range b.out {
		wg.Go(func() { b.forward(ctx, s) })
		wg.Go(func() { b.serveAsks(ctx, s) })
	}
	wg.Go(func() { b.watchUnknown(ctx) })
	wg.Go(func() { b.trim(ctx) })
	wg.Go(func() { b.stream(ctx) })
	eo := o.EngineOptions(len(o.Slices))
	eo.Channel, eo.Log = o.Channel, o.Log
	err = engine.Run(ctx, StatsSchema, b, eo)
	cancel()
	wg.Wait()
	for _, s := range b.out {
		s.close()
	}
	return err
}

type bridgeProc struct {
	o        Options
	nc       *nats.Conn
	js       jetstream.JetStream
	every    time.Duration
	out      []*outSlice
	meta     Meta
	commands atomic.Uint64 // from the forwarders, read by Snapshot
	bad      atomic.Uint64
	ready    atomic.Bool // the streams exist
	// streams is closed when ready is set: an asked command is stored
	// once they exist (before, a publish reaches only the bridge's own
	// subscriptions to the command subjects, and times out).
	streams chan struct{}
	// restored is closed once Restore has run: the forwarders start from
	// what it restored.
	restored chan struct{}
	mu       sync.Mutex // guards meta and the slices' stats: stream writes, the loop reads
	buf, enc []byte
}

// outSlice is one slice the bridge serves.
type outSlice struct {
	Slice
	channel  string
	shell    *venom.Shell // reads snapshots (this goroutine: the engine loop)
	retry    time.Time
	seq      uint64
	next     time.Time
	stats    SliceStats
	commands atomic.Uint64
	last     atomic.Uint64
	place    atomic.Uint64 // SliceStats.Next; 0 before the first start point
	bad      atomic.Uint64
	badOnce  sync.Once
	asks     *asks // commands asked on NATS, awaiting their verdict
	// started is closed once forward has its start point (place): an
	// asked command sent again is judged against it.
	started chan struct{}
}

func (s *outSlice) close() {
	if s.shell != nil {
		s.shell.Close()
	}
}

// Restore carries the totals and each slice's place in its command
// stream over a restart: the counters Snapshot publishes start from
// the restored ones.
func (b *bridgeProc) Restore(f *engine.Frame[Meta, SliceStats]) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f != nil {
		b.meta = f.Meta
		b.commands.Store(f.Meta.Commands)
		b.bad.Store(f.Meta.Bad)
		for _, it := range f.Items {
			for _, s := range b.out {
				if it.NameString() != s.Name {
					continue
				}
				s.stats = it
				s.commands.Store(it.Commands)
				s.last.Store(it.LastInput)
				s.place.Store(it.Next)
				s.bad.Store(it.Bad)
			}
		}
	}
	select {
	case <-b.restored:
	default:
		close(b.restored)
	}
	return nil
}

// Handle refuses every command: the bridge takes only the engine's.
func (b *bridgeProc) Handle(c engine.Command) error {
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step does nothing: the snapshots go out from stream, as soon as they
// are published, not at the beat of this loop.
func (b *bridgeProc) Step(time.Duration) {}

// stream publishes each slice that has a newer snapshot, no more often
// than the rate, looking every streamEvery until ctx ends.
func (b *bridgeProc) stream(ctx context.Context) {
	t := time.NewTicker(streamEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, s := range b.out {
				b.publish(s, now)
			}
		}
	}
}

func (b *bridgeProc) publish(s *outSlice, now time.Time) {
	if now.Before(s.next) || !b.ready.Load() {
		return
	}
	if s.shell == nil {
		if now.Before(s.retry) {
			return
		}
		sh, err := venom.Connect(s.channel)
		if err != nil {
			s.retry = now.Add(500 * time.Millisecond)
			return
		}
		s.shell = sh
	}
	if latest, err := s.shell.Latest(); err != nil || latest == s.seq {
		return // nothing new: no copy
	}
	if need := s.shell.Config().DataSize; cap(b.buf) < need {
		b.buf = make([]byte, need)
		b.enc = make([]byte, 0, need+need/8+64)
	}
	snap, err := s.shell.ReadSnapshot(0, b.buf[:cap(b.buf)])
	if err != nil || snap.Seq == s.seq {
		return
	}
	raw := b.buf[:snap.Len]
	h, err := s.Check(raw)
	if err != nil {
		b.bad.Add(1)
		s.badOnce.Do(func() { b.o.Log.Warn("bridge: snapshot refused", "slice", s.Name, "err", err) })
		s.seq = snap.Seq
		return
	}
	b.enc = encode(b.enc, raw, b.o.Compress)
	m := nats.NewMsg(SliceSubject(b.o.Game, s.Name))
	m.Data = b.enc
	m.Header.Set(hdrDataSize, strconv.Itoa(s.shell.Config().DataSize))
	m.Header.Set(hdrCmdSlots, strconv.Itoa(s.shell.Config().CmdSlots))
	m.Header.Set(hdrSeq, strconv.FormatUint(snap.Seq, 10))
	if b.o.Compress {
		m.Header.Set(hdrEncoding, "s2")
	}
	// Core publish: the stream keeps it as the subject's newest, and the
	// loop never waits for NATS. The lag ends at the hand-off, taken
	// before it: the message may reach a subscriber before PublishMsg
	// returns.
	handed := venom.Monotonic()
	if err := b.nc.PublishMsg(m); err != nil {
		return
	}
	lag := uint64(max(0, handed-h.Mono))
	s.seq, s.next = snap.Seq, now.Add(b.every-b.every/4) // a little early is still on time
	b.mu.Lock()
	defer b.mu.Unlock()
	s.stats.Lag = lag
	s.stats.LagTotal += lag
	s.stats.Seq = snap.Seq
	s.stats.Published++
	s.stats.Bytes += uint64(len(b.enc))
	s.stats.RawBytes += uint64(len(raw))
	b.meta.Published++
	b.meta.Bytes += uint64(len(b.enc))
	b.meta.RawBytes += uint64(len(raw))
}

// Snapshot publishes the totals and each slice's stats.
func (b *bridgeProc) Snapshot(m *Meta, items []SliceStats) []SliceStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.meta.Commands, b.meta.Bad = b.commands.Load(), b.bad.Load()
	b.meta.Connected = 0
	if b.nc.IsConnected() {
		b.meta.Connected = 1
	}
	*m = b.meta
	for _, s := range b.out {
		st := s.stats
		copy(st.Name[:15], s.Name)
		st.Commands, st.LastInput, st.Next, st.Bad = s.commands.Load(), s.last.Load(), s.place.Load(), s.bad.Load()
		items = append(items, st)
	}
	return items
}

// ensureStreams creates (or keeps) the slices' last-value stream and a
// command stream per slice, retrying while NATS is unreachable.
func (b *bridgeProc) ensureStreams(ctx context.Context) {
	for wait := 100 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 2*time.Second) {
		err := ensureStreams(ctx, b.js, b.o)
		if err == nil {
			b.ready.Store(true)
			close(b.streams)
			return
		}
		b.o.Log.Warn("bridge: streams not ready, retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	replicas := max(o.Replicas, 1)
	configs := []jetstream.StreamConfig{{
		Name: slicesStream(o.Game), Subjects: []string{allSlices(o.Game)}, Replicas: replicas,
		Storage: jetstream.MemoryStorage, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardOld, AllowDirect: true,
	}}
	for _, s := range o.Slices {
		configs = append(configs, commandStreamConfig(o.Game, s.Name, replicas))
	}
	for _, cfg := range configs {
		st, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		if o.Fresh {
			if err := st.Purge(ctx); err != nil {
				return fmt.Errorf("stream %s: purge: %w", cfg.Name, err)
			}
		}
	}
	return nil
}

// Bounds of a command stream. A command is at most engine.CommandSize
// bytes and its headers (a mirror's message id) a few hundred, so a
// message larger than MaxCommandMessage is refused by the server; a stream
// holds at most MaxQueuedCommands commands (the bridge trims what the
// process has applied, and anything older than CommandMaxAge goes), and
// once it is full a publisher's message is refused with the server's
// "maximum messages exceeded" (a JetStream API error, code 10077): the
// sender learns it at once, and nothing already stored is dropped to
// make room.
const (
	MaxCommandMessage = engine.CommandSize + 768
	MaxQueuedCommands = 1 << 16
	CommandMaxAge     = time.Hour
)

// commandStreamConfig is the bounded stream of a slice's commands.
func commandStreamConfig(game, slice string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: commandStream(game, slice), Subjects: []string{CommandSubject(game, slice)}, Replicas: replicas,
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute, MaxAge: CommandMaxAge,
		MaxMsgs: MaxQueuedCommands, MaxBytes: MaxQueuedCommands * 2 * engine.CommandSize,
		MaxMsgSize: MaxCommandMessage, Discard: jetstream.DiscardNew, Retention: jetstream.LimitsPolicy,
		AllowDirect: true, // forward reads it by direct get, from any replica
	}
}

// pollEvery is how often the bridge asks for the next command without
// a wakeup (a publish seen on the command subject): after a
// reconnection, or a follower that had not stored it yet.
const pollEvery = 200 * time.Millisecond

// getTimeout bounds one direct get.
const getTimeout = 500 * time.Millisecond

// forward queues the commands of one slice's stream into its local
// channel, in stream order, each numbered with its stream sequence.
//
// It reads the stream by sequence with JetStream's direct get, which any
// replica answers: no consumer to lose with a node, to make again
// through the meta leader, or to leave behind on the server. A core
// subscription to the command subject wakes it when a command is
// published; it asks at least every pollEvery.
//
// Where to start: the bridge's own place (SliceStats.Next, restored
// with its snapshot), or the process's newest input when that is further
// on; in a world that has applied no command from NATS yet and a bridge
// without a place of its own, the first command stored since the world
// began — the birth of the process's segment, which a fresh world makes
// anew — by the NATS server's clock: the commands stored before belong
// to an earlier world.
// Commands the process has not applied yet — queued by a bridge that
// died — may be queued again, and the engine drops a number it has
// applied already: the process applies each command exactly once, in
// stream order. A command refused here (garbage, an op that is not
// remote-callable) is counted as bad, never queued, and its number is
// spent: the place moves past it, so no restart takes it again.
// A command asked on NATS (see AskSubject) goes to the process as a venom
// request on the same lane, and its answer to the requests waiting for
// it, before the place moves past it.
func (b *bridgeProc) forward(ctx context.Context, s *outSlice) {
	log := b.o.Log.With("slice", s.Name)
	var shell *venom.Shell
	defer func() {
		if shell != nil {
			shell.Close()
		}
	}()
	select {
	case <-ctx.Done():
		return
	case <-b.restored:
	}
	wake := make(chan struct{}, 1)
	subject := CommandSubject(b.o.Game, s.Name)
	sub, err := b.nc.Subscribe(subject, func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err == nil {
		defer sub.Unsubscribe()
	}
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	idle := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
		case <-poll.C:
		}
		return true
	}
	var next uint64     // the next stream sequence to queue; 0: from since
	var since time.Time // the world's birth, while next is 0
	for ctx.Err() == nil {
		if next == 0 && since.IsZero() {
			n, t, err := b.start(s)
			if err != nil {
				if !idle() {
					return
				}
				continue
			}
			next, since = n, t
			s.place.Store(next)
			select {
			case <-s.started:
			default:
				close(s.started)
			}
			log.Info("bridge: commands from", "seq", next, "stored_since", since)
		}
		req := directGetRequest{Seq: next, NextBySubject: subject}
		if next == 0 {
			req = directGetRequest{StartTime: &since}
		}
		seq, data, id, err := b.directGet(ctx, commandStream(b.o.Game, s.Name), req)
		if err != nil {
			if !errors.Is(err, errNoMessage) {
				log.Debug("bridge: direct get", "err", err)
			}
			if !idle() {
				return
			}
			continue
		}
		if seq < next {
			continue // cannot be: asked for next on
		}
		c, err := engine.DecodeCommand(data)
		if err == nil && !s.remoteOK(c.Op) {
			err = fmt.Errorf("op %d is not remote-callable (the engine's own ops never are)", c.Op)
		}
		if err != nil {
			b.bad.Add(1)
			s.bad.Add(1)
			s.badOnce.Do(func() { log.Warn("bridge: command refused (logged once per slice)", "seq", seq, "err", err) })
			if replies := s.asks.take(id); replies != nil {
				v := verdict{answer: refusal(err)}
				b.answer(append(replies, s.asks.decided(id, v)...), v)
			}
			next = seq + 1
			s.place.Store(next)
			continue
		}
		// The bridge numbers what it queues, in the shared numbering,
		// whatever numbering the message came with.
		c.Sender, c.Seq = 0, seq
		if replies := s.asks.take(id); replies != nil {
			// Asked: a venom request on the same lane, after the commands
			// queued before it, and its verdict before the next.
			var ans []byte
			if shell, ans, err = askProcess(ctx, shell, s.channel, c); err != nil {
				return // ctx ended
			}
			if b.o.answered != nil && b.o.answered(seq) {
				return
			}
			v := verdict{answer: ans}
			if err := engine.DecodeAnswer(ans); errors.Is(err, engine.ErrBadAnswer) {
				v = verdict{noneWhy: fmt.Sprintf("command %d queued, but the process's answer does not decode: %v", seq, err)}
			}
			b.answer(append(replies, s.asks.decided(id, v)...), v)
		} else if shell, err = queue(ctx, shell, s.channel, c); err != nil {
			return // ctx ended
		}
		next = seq + 1
		s.place.Store(next)
		s.commands.Add(1)
		s.last.Store(seq)
		b.commands.Add(1)
	}
}

// directGetRequest asks a stream for one message: the first at Seq or
// after it on NextBySubject, or the first stored at StartTime or after.
type directGetRequest struct {
	Seq           uint64     `json:"seq,omitempty"`
	NextBySubject string     `json:"next_by_subj,omitempty"`
	StartTime     *time.Time `json:"start_time,omitempty"`
}

// errNoMessage is a direct get that found no message: none stored yet.
var errNoMessage = errors.New("bridge: no such message")

// directGet asks any replica of stream for a message and returns its
// sequence, data and message id.
func (b *bridgeProc) directGet(ctx context.Context, stream string, req directGetRequest) (uint64, []byte, string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	m, err := b.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, body)
	if err != nil {
		return 0, nil, "", err
	}
	if st := m.Header.Get("Status"); st != "" {
		if st == "404" {
			return 0, nil, "", errNoMessage
		}
		return 0, nil, "", fmt.Errorf("bridge: direct get of %s: status %s %s", stream, st, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil || seq == 0 {
		return 0, nil, "", fmt.Errorf("bridge: direct get of %s: sequence %q", stream, m.Header.Get("Nats-Sequence"))
	}
	return seq, m.Data, m.Header.Get(nats.MsgIdHdr), nil
}

// start is where a slice's commands start (see forward): a stream
// sequence, or 0 and the time the world began.
func (b *bridgeProc) start(s *outSlice) (uint64, time.Time, error) {
	applied, err := lastInput(s.channel)
	if err != nil {
		return 0, time.Time{}, err
	}
	if own := s.place.Load(); own > 0 || applied > 0 {
		return max(own, applied+1), time.Time{}, nil
	}
	born, err := birth(s.channel)
	if err != nil {
		return 0, time.Time{}, err
	}
	return 0, born, nil
}

// birth is when a channel's segment was made: a fresh world's start.
func birth(channel string) (time.Time, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, venom.Path(channel), 0, unix.STATX_BTIME, &st); err != nil {
		return time.Time{}, fmt.Errorf("bridge: birth of %q: %w", channel, err)
	}
	if st.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, fmt.Errorf("bridge: birth of %q: the file system keeps none", channel)
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)), nil
}

// trimEvery is how often the bridge removes from the command streams
// what the processes have applied.
const trimEvery = 2 * time.Second

// trim keeps the command streams short: every trimEvery it purges from
// each the commands before both the bridge's place and the process's
// newest applied input (committed in its snapshot: no restart of
// either needs them again).
func (b *bridgeProc) trim(ctx context.Context) {
	done := map[string]uint64{}
	for sleep(ctx, trimEvery) == nil {
		if !b.ready.Load() {
			continue
		}
		for _, s := range b.out {
			applied, err := lastInput(s.channel)
			upTo := min(applied+1, s.place.Load())
			if err != nil || upTo <= done[s.Name]+1 {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := b.js.Stream(cctx, commandStream(b.o.Game, s.Name))
			if err == nil {
				err = st.Purge(cctx, jetstream.WithPurgeSequence(upTo))
			}
			cancel()
			if err == nil {
				done[s.Name] = upTo - 1
			}
		}
	}
}

// lastInput is the newest input number a process's newest snapshot holds.
func lastInput(channel string) (uint64, error) {
	s, err := venom.Connect(channel)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	buf := make([]byte, s.Config().DataSize)
	n, _, err := s.Read(buf)
	if err != nil {
		return 0, err
	}
	h, err := engine.PeekHeader(buf[:n])
	if err != nil {
		return 0, err
	}
	return h.LastInput, nil
}

// queue sends c on the channel, connecting (again) and waiting for room
// as long as it takes; it fails only when ctx ends.
func queue(ctx context.Context, shell *venom.Shell, channel string, c engine.Command) (*venom.Shell, error) {
	var buf [engine.CommandSize]byte
	cmd := c.Append(buf[:0])
	for wait := time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		if shell == nil {
			if sh, err := venom.Connect(channel); err == nil {
				shell = sh
			}
		}
		if shell != nil {
			err := shell.Send(cmd)
			if err == nil {
				return shell, nil
			}
			if !errors.Is(err, venom.ErrQueueFull) {
				shell.Close() // the channel was replaced or closed: connect again
				shell = nil
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return shell, err
		}
	}
}

// watchUnknown counts and logs, once per name, commands sent for a slice
// the game does not have.
func (b *bridgeProc) watchUnknown(ctx context.Context) {
	known := map[string]bool{}
	for _, s := range b.o.Slices {
		known[CommandSubject(b.o.Game, s.Name)] = true
	}
	logged := map[string]bool{}
	var mu sync.Mutex
	sub, err := b.nc.Subscribe(allCommands(b.o.Game), func(m *nats.Msg) {
		if known[m.Subject] {
			return
		}
		b.bad.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if !logged[m.Subject] && len(logged) < 100 {
			logged[m.Subject] = true
			b.o.Log.Warn("bridge: command for a slice the game does not have", "subject", m.Subject)
		}
	})
	if err != nil {
		return
	}
	<-ctx.Done()
	sub.Unsubscribe()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
