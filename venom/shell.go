package venom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// Shell is a client of a channel: it reads snapshots and sends commands.
// It is safe for use by several goroutines at once: Read runs in
// parallel, while Send and Request are serialized (one lane, one response
// buffer), so a second Request waits for the first.
type Shell struct {
	seg  *segment
	cfg  Config
	opts shellOptions
	id   uint64
	co   uint64 // client entry offset
	lo   uint64 // lane offset

	mu     sync.RWMutex // shared by operations, exclusive by Close
	sendMu sync.Mutex   // one producer on the lane
	reqMu  sync.Mutex   // one request in flight
	closed bool
	epoch  uint64 // the daemon epoch last seen
	tail   uint64 // next lane position to write
	head   uint64 // the daemon's lane head as last loaded
}

// Connect attaches to the segment of a channel name and claims a client
// slot (ErrFull when none is free). Slots of clients whose process is dead
// are taken over, with their queued commands. A segment not wholly
// backed by /dev/shm (made by other code) is reserved before it is
// mapped, or refused with an error wrapping ErrNoSpace: after Connect
// succeeds no access to the segment can fault with SIGBUS for want of
// memory.
func Connect(name string, opts ...Option) (*Shell, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	o := shellOptions{wait: Hybrid, spinFor: DefaultSpinFor, daemonTimeout: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		seg *segment
		cfg Config
		err error
	)
	// A segment being created has no whole header for a few microseconds.
	for deadline := time.Now().Add(100 * time.Millisecond); ; {
		seg, cfg, err = openSegment(name, true)
		if !errors.Is(err, errNotReady) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("venom: connect %q: %w", name, err)
	}
	s := &Shell{seg: seg, cfg: cfg.withDefaults(), opts: o}
	if err := s.claim(); err != nil {
		seg.unmap()
		return nil, fmt.Errorf("venom: connect %q: %w", name, err)
	}
	s.epoch = seg.u64(hEpoch).Load()
	return s, nil
}

func (s *Shell) claim() error {
	seg, l := s.seg, s.seg.l
	pid, start := uint64(os.Getpid()), selfStart()
	for pass := 0; pass < 2; pass++ {
		for i := uint64(0); i < l.maxClients; i++ {
			co := l.client(i)
			st := seg.u64(co + cState)
			v := st.Load()
			switch v & slotMask {
			case slotFree:
			case slotActive:
				// The daemon reclaims dead clients' slots, but it may be
				// down itself: on the second pass take them over here.
				if pass == 0 || processAlive(seg.u64(co+cPid).Load(), seg.u64(co+cStart).Load()) {
					continue
				}
			default:
				continue
			}
			if !st.CompareAndSwap(v, (v&^slotMask)+slotGen|slotClaiming) {
				continue
			}
			lo := l.lane(i)
			head, tail := seg.u64(lo+lHead).Load(), seg.u64(lo+lTail).Load()
			if tail-head > l.cmdSlots {
				st.Store((v &^ slotMask) + slotGen | slotFree)
				return fmt.Errorf("%w: lane %d positions head %d tail %d", ErrCorrupt, i, head, tail)
			}
			seg.u64(co + cPid).Store(pid)
			seg.u64(co + cStart).Store(start)
			// Answers to a predecessor's requests must never match ours.
			if r, q := seg.u64(co+cRespSeq).Load(), seg.u64(co+cReqSeq).Load(); r > q {
				seg.u64(co + cReqSeq).Store(r)
			}
			st.Store((v &^ slotMask) + slotGen | slotActive)
			s.id, s.co, s.lo, s.tail, s.head = i, co, lo, tail, head
			return nil
		}
	}
	return ErrFull
}

// ID is the client slot this shell holds.
func (s *Shell) ID() ClientID { return ClientID(s.id) }

// Config is the segment's shape (its Perm, Wait and CommitOnPublish are
// the defaults: they are the daemon's business).
func (s *Shell) Config() Config { return s.cfg }

func (s *Shell) lock() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Read copies the newest whole snapshot into buf and returns its length
// and sequence number. It never blocks the daemon and never waits for it.
// buf shorter than the snapshot gives ErrTooLarge and the length needed.
func (s *Shell) Read(buf []byte) (n int, seq uint64, err error) {
	return s.ReadAt(0, buf)
}

// ReadAt is Read of an older snapshot: back = 0 is the newest, 1 the one
// before it, up to History-2 (the buffer after the newest may be under
// way). A snapshot already overwritten gives ErrNoData.
func (s *Shell) ReadAt(back int, buf []byte) (n int, seq uint64, err error) {
	if err := s.lock(); err != nil {
		return 0, 0, err
	}
	defer s.mu.RUnlock()
	n, seq, _, err = s.seg.read(back, buf)
	if err != nil {
		return n, seq, fmt.Errorf("venom: read %q: %w", s.seg.name, err)
	}
	return n, seq, nil
}

// Snapshot describes a snapshot read by ReadSnapshot.
type Snapshot struct {
	Seq  uint64 // publish sequence number
	Len  int    // bytes
	Mono int64  // CLOCK_MONOTONIC ns when it was published (see Monotonic)
}

// ReadSnapshot is ReadAt that also returns when the snapshot was published.
func (s *Shell) ReadSnapshot(back int, buf []byte) (Snapshot, error) {
	if err := s.lock(); err != nil {
		return Snapshot{}, err
	}
	defer s.mu.RUnlock()
	n, seq, mono, err := s.seg.read(back, buf)
	if err != nil {
		return Snapshot{Len: n}, fmt.Errorf("venom: read %q: %w", s.seg.name, err)
	}
	return Snapshot{Seq: seq, Len: n, Mono: mono}, nil
}

// maxReadTries bounds Read against a writer that laps the ring during one
// copy (or a hostile segment whose sequence words never settle).
const maxReadTries = 1000

func (g *segment) read(back int, buf []byte) (int, uint64, int64, error) {
	l := g.l
	if back < 0 || uint64(back) > l.history-2 {
		return 0, 0, 0, fmt.Errorf("snapshot %d back: %w (History %d)", back, ErrNoData, l.history)
	}
	for try := 0; try < maxReadTries; try++ {
		latest := g.u64(hLatest).Load()
		if latest <= uint64(back) {
			return 0, 0, 0, ErrNoData
		}
		want := latest - uint64(back)
		b := l.buf(want % l.history)
		seq := g.u64(b + bSeq)
		s1 := seq.Load()
		ln := g.u64(b + bLen).Load()
		pub := g.u64(b + bPub).Load()
		mono := int64(g.u64(b + bMono).Load())
		if s1&1 == 1 || pub != want {
			if pub != want && s1&1 == 0 && seq.Load() == s1 && back > 0 {
				return 0, 0, 0, ErrNoData // overwritten since
			}
			if try&15 == 15 {
				runtime.Gosched()
			}
			continue
		}
		if ln > l.dataSize {
			if seq.Load() == s1 {
				return 0, 0, 0, fmt.Errorf("%w: snapshot length %d > DataSize %d", ErrCorrupt, ln, l.dataSize)
			}
			continue
		}
		if int(ln) > len(buf) {
			return int(ln), pub, mono, fmt.Errorf("%w: snapshot of %d bytes, buffer of %d", ErrTooLarge, ln, len(buf))
		}
		copy(buf, g.mem[b+bufHeader:b+bufHeader+ln]) // plain copy between seq loads (see package doc)
		if seq.Load() == s1 {
			return int(ln), pub, mono, nil
		}
		if try&15 == 15 {
			runtime.Gosched()
		}
	}
	return 0, 0, 0, fmt.Errorf("%w: snapshot kept changing during %d reads", ErrCorrupt, maxReadTries)
}

// Send queues cmd for the daemon without waiting. It fails with
// ErrQueueFull when the lane is full, and queues even while the daemon is
// down: a successor serves it.
func (s *Shell) Send(cmd []byte) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.push(kindSend, 0, cmd); err != nil {
		return fmt.Errorf("venom: send %q: %w", s.seg.name, err)
	}
	return nil
}

func (s *Shell) push(kind uint32, id uint64, cmd []byte) error {
	g, l := s.seg, s.seg.l
	if uint64(len(cmd)) > l.cmdSize {
		return fmt.Errorf("%w: command of %d bytes, CmdSize %d", ErrTooLarge, len(cmd), l.cmdSize)
	}
	// The daemon's head only moves forward, so a cached head is a safe
	// underestimate of the room left: reload the shared word (a cache line
	// the daemon writes) only when the lane looks full.
	if s.tail-s.head >= l.cmdSlots {
		s.head = g.u64(s.lo + lHead).Load()
		if used := s.tail - s.head; used >= l.cmdSlots {
			if used > l.cmdSlots {
				return fmt.Errorf("%w: lane head %d beyond tail %d", ErrCorrupt, s.head, s.tail)
			}
			return ErrQueueFull
		}
	}
	c := l.cell(s.id, s.tail)
	g.u32(c).Store(uint32(len(cmd)))
	g.u32(c + 4).Store(kind)
	g.u64(c + 8).Store(id)
	copy(g.mem[c+cellHeader:], cmd) // plain copy before the atomic tail store
	s.tail++
	g.u64(s.lo + lTail).Store(s.tail)
	wake(g.u32(hDoorbell), g.u32(hSleeping))
	return nil
}

// Request sends cmd and waits for the daemon's answer, which it copies
// into resp. It returns ErrDaemonGone when the daemon is dead, closed or
// silent past the daemon timeout, ErrDaemonRestarted when the daemon
// changed while it waited, and ctx's error when ctx ends first. An answer
// longer than resp gives ErrTooLarge and the length needed.
func (s *Shell) Request(ctx context.Context, cmd, resp []byte) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	n, err := s.request(ctx, cmd, resp)
	if err != nil {
		return n, fmt.Errorf("venom: request %q: %w", s.seg.name, err)
	}
	return n, nil
}

func (s *Shell) request(ctx context.Context, cmd, resp []byte) (int, error) {
	g, l := s.seg, s.seg.l
	// A new daemon between two requests is no error: clients carry on.
	s.epoch = g.u64(hEpoch).Load()
	if err := s.daemonAlive(true); err != nil {
		return 0, err
	}
	reqSeq := g.u64(s.co + cReqSeq)
	id := reqSeq.Load() + 1
	// The lane may be full of Sends: wait for room as for an answer.
	for {
		s.sendMu.Lock()
		err := s.push(kindRequest, id, cmd)
		s.sendMu.Unlock()
		if err == nil {
			break
		}
		if !errors.Is(err, ErrQueueFull) {
			return 0, err
		}
		if err := s.pollWait(ctx, func() bool { return s.tail-g.u64(s.lo+lHead).Load() < l.cmdSlots }); err != nil {
			return 0, err
		}
	}
	reqSeq.Store(id)
	respSeq := g.u64(s.co + cRespSeq)
	answered := func() bool { return respSeq.Load() == id }
	for !answered() {
		if err := s.wait(ctx, answered); err != nil {
			return 0, err
		}
	}
	if e := g.u64(hEpoch).Load(); e != s.epoch {
		// Answered by a successor: served, but not by the daemon the
		// request was sent to, which is what the caller must learn.
		return 0, fmt.Errorf("%w: epoch %d → %d", ErrDaemonRestarted, s.epoch, e)
	}
	ln := g.u64(s.co + cRespLen).Load()
	if ln > l.respSize {
		return 0, fmt.Errorf("%w: response length %d > RespSize %d", ErrCorrupt, ln, l.respSize)
	}
	if int(ln) > len(resp) {
		return int(ln), fmt.Errorf("%w: response of %d bytes, buffer of %d", ErrTooLarge, ln, len(resp))
	}
	copy(resp, g.mem[s.co+clientHeader:s.co+clientHeader+ln]) // plain copy after the atomic respSeq load
	return int(ln), nil
}

// wait sleeps on the response word for one slice (at most 20ms) and then
// checks ctx and the daemon's life.
func (s *Shell) wait(ctx context.Context, ready func() bool) error {
	g := s.seg
	w := waiter{policy: s.opts.wait, spinFor: s.opts.spinFor}
	if w.wait(g.u32(s.co+cRespWord), g.u32(s.co+cSleeping), ready, 20*time.Millisecond) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.daemonAlive(false)
}

// pollWait waits for a condition nobody signals (room in the lane),
// sleeping in growing steps up to 5ms.
func (s *Shell) pollWait(ctx context.Context, ready func() bool) error {
	for d := 50 * time.Microsecond; !ready(); d = min(2*d, 5*time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.daemonAlive(false); err != nil {
			return err
		}
		time.Sleep(d)
	}
	return nil
}

// daemonAlive checks the daemon: running, its epoch unchanged since this
// request began, its heartbeat fresh and (unless quick) its process alive.
func (s *Shell) daemonAlive(quick bool) error {
	g := s.seg
	if e := g.u64(hEpoch).Load(); e != s.epoch {
		return fmt.Errorf("%w: epoch %d → %d", ErrDaemonRestarted, s.epoch, e)
	}
	if st := g.u32(hState).Load(); st != stateRunning {
		return fmt.Errorf("%w: segment state %d", ErrDaemonGone, st)
	}
	if age := time.Duration(nanotime() - int64(g.u64(hBeatNanos).Load())); age > s.opts.daemonTimeout {
		return fmt.Errorf("%w: no heartbeat for %v", ErrDaemonGone, age.Round(time.Millisecond))
	}
	if !quick && !processAlive(g.u64(hOwnerPid).Load(), g.u64(hOwnerStart).Load()) {
		return fmt.Errorf("%w: owner pid %d is not running", ErrDaemonGone, g.u64(hOwnerPid).Load())
	}
	return nil
}

// DaemonInfo describes the segment's owner as the header tells it.
type DaemonInfo struct {
	Pid       int    // owner pid (0 when closed)
	Epoch     uint64 // bumped by every daemon that creates or adopts
	Running   bool   // lifecycle state is running
	Alive     bool   // the owner process exists and is the one that started at its start time
	Beats     uint64 // heartbeat counter
	BeatNanos int64  // CLOCK_MONOTONIC ns of the last heartbeat
	Latest    uint64 // newest snapshot's sequence number
}

// Daemon reads what the header says of the daemon; Alive costs a read of
// /proc, the rest a few atomic loads.
func (s *Shell) Daemon() (DaemonInfo, error) {
	if err := s.lock(); err != nil {
		return DaemonInfo{}, err
	}
	defer s.mu.RUnlock()
	return s.seg.daemonInfo(), nil
}

func (g *segment) daemonInfo() DaemonInfo {
	pid := g.u64(hOwnerPid).Load()
	return DaemonInfo{
		Pid:       int(min(pid, 1<<31-1)),
		Epoch:     g.u64(hEpoch).Load(),
		Running:   g.u32(hState).Load() == stateRunning,
		Alive:     processAlive(pid, g.u64(hOwnerStart).Load()),
		Beats:     g.u64(hBeatCount).Load(),
		BeatNanos: int64(g.u64(hBeatNanos).Load()),
		Latest:    g.u64(hLatest).Load(),
	}
}

// Close gives the client slot back and unmaps the segment. Commands
// already sent stay queued and are served.
func (s *Shell) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	st := s.seg.u64(s.co + cState)
	if v := st.Load(); v&slotMask == slotActive {
		st.CompareAndSwap(v, (v&^slotMask)+slotGen|slotFree)
	}
	return s.seg.unmap()
}
