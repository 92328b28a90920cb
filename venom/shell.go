package venom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Shell is a client of a channel: it reads snapshots and sends commands.
// It is safe for use by several goroutines at once: Read runs in
// parallel, while Send and Request are serialized (one lane, one response
// buffer), so a second Request waits for the first.
//
// Reads take no lock: they check closed, and Close never unmaps memory a
// read may still be copying from (see segment.retire).
type Shell struct {
	seg  *segment
	cfg  Config
	opts shellOptions
	id   uint64
	co   uint64 // client entry offset
	lo   uint64 // lane offset

	mu     sync.RWMutex // shared by operations but reads, exclusive by Close
	sendMu sync.Mutex   // one producer on the lane
	reqMu  sync.Mutex   // one request in flight
	closed atomic.Bool  // set by Close under mu; reads load it without mu
	last   lastCache    // the newest snapshot read, to read again (readAgain)
	epoch  uint64       // the daemon epoch last seen
	tail   uint64       // next lane position to write
	head   uint64       // the daemon's lane head as last loaded
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
	if s.closed.Load() {
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
	if s.closed.Load() {
		return 0, 0, ErrClosed
	}
	if back == 0 {
		if c, ok := s.last.load(); ok && s.seg.readAgain(&c, buf) {
			return int(c.len), c.pub, nil
		}
	}
	r, err := s.seg.readSnap(back, buf)
	if err != nil {
		return r.n, r.pub, s.readErr(err)
	}
	if back == 0 {
		s.remember(r)
	}
	return r.n, r.pub, nil
}

// remember keeps where the newest snapshot read lies, for readAgain. r was
// read whole with pub == the number it was looked for at, so its buffer
// is the one the layout gives for pub.
func (s *Shell) remember(r snapRead) {
	if c, ok := s.last.load(); !ok || c.pub != r.pub || c.seq != r.seq {
		l := &s.seg.l
		s.last.store(lastRead{pub: r.pub, seq: r.seq, off: l.buf(r.pub % l.history), len: uint64(r.n)})
	}
}

// readErr wraps an error of a read; a read that raced with Close (and
// found the segment's memory retired) is ErrClosed.
func (s *Shell) readErr(err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("venom: read %q: %w", s.seg.name, err)
}

// Latest is the sequence number of the newest snapshot, 0 before the
// first: a snapshot read with this number is still the newest, so a
// reader that holds it need copy nothing. It is one atomic load, a hint
// from shared memory that Read checks again; ErrClosed after Close.
func (s *Shell) Latest() (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	seq := s.seg.latest()
	if s.closed.Load() {
		return 0, ErrClosed // the word may have been the retired mapping's zero
	}
	return seq, nil
}

// Snapshot describes a snapshot read by ReadSnapshot.
type Snapshot struct {
	Seq  uint64 // publish sequence number
	Len  int    // bytes
	Mono int64  // CLOCK_MONOTONIC ns when it was published (see Monotonic)
}

// ReadSnapshot is ReadAt that also returns when the snapshot was published.
func (s *Shell) ReadSnapshot(back int, buf []byte) (Snapshot, error) {
	if s.closed.Load() {
		return Snapshot{}, ErrClosed
	}
	r, err := s.seg.readSnap(back, buf)
	if err != nil {
		return Snapshot{Len: r.n}, s.readErr(err)
	}
	if back == 0 {
		s.remember(r)
	}
	return Snapshot{Seq: r.pub, Len: r.n, Mono: r.mono}, nil
}

// ReadHead is ReadSnapshot of the newest snapshot's first len(buf) bytes
// (all of it, when it is shorter): for a reader that wants a snapshot's
// header and not its body, whose copy would cost the time and the cache
// of a whole read. Snapshot.Len is the snapshot's whole length; the
// bytes copied are min(Len, len(buf)).
func (s *Shell) ReadHead(buf []byte) (Snapshot, error) {
	if s.closed.Load() {
		return Snapshot{}, ErrClosed
	}
	r, err := s.seg.readHead(buf)
	if err != nil {
		return Snapshot{}, s.readErr(err)
	}
	return Snapshot{Seq: r.pub, Len: r.n, Mono: r.mono}, nil
}

// maxReadTries bounds Read against a writer that laps the ring during one
// copy (or a hostile segment whose sequence words never settle).
const maxReadTries = 1000

func (g *segment) latest() uint64 {
	seq := g.u64(hLatest).Load()
	runtime.KeepAlive(g) // the mapping lives while g does (see retire)
	return seq
}

// snapRead is a snapshot read whole: its length, publish sequence
// number (what Read calls seq), publish time, and the sequence word of
// the buffer it lay in, even, before and after the copy. (Four words: Go
// keeps a struct of up to four in registers, and a read is hurt by every
// store it makes next to a copy, which is all stores.)
type snapRead struct {
	n    int
	pub  uint64
	mono int64
	seq  uint64
}

// lastRead is where the newest snapshot a shell read lies, so that it
// can read it again cheaply (readAgain): its publish sequence number, the
// sequence word of its buffer, the buffer's offset and the length, each
// checked when it was read.
type lastRead struct {
	pub, seq, off, len uint64
}

// lastCache holds a lastRead for the reads of a Shell, which run in
// parallel, without allocating: a sequence lock. A store takes the
// version from even to odd (or gives up: another read is storing, and
// the cache is only a cache), writes the fields and makes the version
// even again; a load that finds the version odd, or changed across its
// loads, misses.
type lastCache struct {
	ver                atomic.Uint64 // odd while a store is under way; 0: never stored
	pub, seq, off, len atomic.Uint64
}

func (c *lastCache) load() (lastRead, bool) {
	v := c.ver.Load()
	if v == 0 || v&1 != 0 {
		return lastRead{}, false
	}
	r := lastRead{pub: c.pub.Load(), seq: c.seq.Load(), off: c.off.Load(), len: c.len.Load()}
	return r, c.ver.Load() == v
}

func (c *lastCache) store(r lastRead) {
	v := c.ver.Load()
	if v&1 != 0 || !c.ver.CompareAndSwap(v, v+1) {
		return
	}
	c.pub.Store(r.pub)
	c.seq.Store(r.seq)
	c.off.Store(r.off)
	c.len.Store(r.len)
	c.ver.Store(v + 2)
}

// read copies snapshot back (0: the newest) into buf (Daemon.Read's).
func (g *segment) read(back int, buf []byte) (int, uint64, int64, error) {
	r, err := g.readSnap(back, buf)
	return r.n, r.pub, r.mono, err
}

// readAgain copies the snapshot c again if it is still the newest, and
// reports whether it did. It skips the loads that find the newest
// snapshot (latest → buffer → its words → the copy's source and length:
// a chain of dependent loads the copy waits for, some 4 ns, a sixth of a
// 4 KiB copy here): latest unchanged means the writer is writing another
// buffer (the one after latest), and the buffer's sequence word, loaded
// after the copy, still c.seq means nothing was written to it since c
// was read whole (sequence words only grow). So the plain copy is again
// bracketed by atomic loads — latest before it, seq after it — and every
// bound it uses (c.off, c.len ≤ DataSize) was checked when c was read.
func (g *segment) readAgain(c *lastRead, buf []byte) bool {
	mem := g.mem
	if (*atomic.Uint64)(unsafe.Pointer(&mem[hLatest])).Load() != c.pub || c.len > uint64(len(buf)) {
		return false
	}
	copy(buf, mem[c.off+bufHeader:c.off+bufHeader+c.len]) // plain copy between atomic loads (see above)
	loadFence()                                           // the copy's loads before the check's (arm64; see fence_arm64.go)
	ok := (*atomic.Uint64)(unsafe.Pointer(&mem[c.off+bSeq])).Load() == c.seq
	runtime.KeepAlive(g) // the mapping lives while g does (see retire)
	return ok
}

// readHead copies the first bytes of the newest snapshot, as many as buf
// holds, checked as readRetry checks a whole read; r.n is the whole
// snapshot's length.
func (g *segment) readHead(buf []byte) (snapRead, error) {
	l := &g.l
	for try := 0; try < maxReadTries; try++ {
		if try&15 == 15 {
			runtime.Gosched()
		}
		latest := g.u64(hLatest).Load()
		if latest == 0 {
			return snapRead{}, ErrNoData
		}
		b := l.buf(latest % l.history)
		seq := g.u64(b + bSeq)
		s1 := seq.Load()
		ln := g.u64(b + bLen).Load()
		pub := g.u64(b + bPub).Load()
		mono := int64(g.u64(b + bMono).Load())
		if s1&1 == 0 && pub == latest && ln <= l.dataSize {
			copy(buf, g.mem[b+bufHeader:b+bufHeader+ln]) // plain copy between seq loads (see package doc)
			loadFence()                                  // the copy's loads before the check's (arm64; see fence_arm64.go)
			whole := seq.Load() == s1
			runtime.KeepAlive(g) // the mapping lives while g does (see retire)
			if whole {
				return snapRead{n: int(ln), pub: pub, mono: mono, seq: s1}, nil
			}
			continue
		}
		if s1&1 == 0 && pub == latest && seq.Load() == s1 {
			return snapRead{}, fmt.Errorf("%w: snapshot length %d > DataSize %d", ErrCorrupt, ln, l.dataSize)
		}
	}
	return snapRead{}, fmt.Errorf("%w: snapshot kept changing during %d reads", ErrCorrupt, maxReadTries)
}

// readSnap copies snapshot back (0: the newest) into buf. Every value
// from the segment is checked before it is used: the index derived from
// latest, the buffer's sequence, length and publish number.
func (g *segment) readSnap(back int, buf []byte) (snapRead, error) {
	l := &g.l // not a copy: the layout is a dozen words
	if back < 0 || uint64(back) > l.history-2 {
		return snapRead{}, fmt.Errorf("snapshot %d back: %w (History %d)", back, ErrNoData, l.history)
	}
	mem := g.mem
	h := l.history
	for try := 0; try < maxReadTries; try++ {
		if try&15 == 15 {
			runtime.Gosched()
		}
		latest := (*atomic.Uint64)(unsafe.Pointer(&mem[hLatest])).Load()
		if latest <= uint64(back) {
			return snapRead{}, ErrNoData
		}
		want := latest - uint64(back)
		i := want & (h - 1) // History is a power of two but in odd configs
		if h&(h-1) != 0 {
			i = want % h
		}
		b := l.ringOff + i*l.bufStride
		w := (*[4]atomic.Uint64)(unsafe.Pointer(&mem[b : b+bufHeader][0])) // seq, len, pub, mono
		s1 := w[bSeq/8].Load()
		ln := w[bLen/8].Load()
		pub := w[bPub/8].Load()
		mono := int64(w[bMono/8].Load())
		if s1&1 == 0 && pub == want && ln <= l.dataSize && ln <= uint64(len(buf)) {
			copy(buf, mem[b+bufHeader:b+bufHeader+ln]) // plain copy between seq loads (see package doc)
			loadFence()                                // the copy's loads before the check's (arm64; see fence_arm64.go)
			whole := w[bSeq/8].Load() == s1
			runtime.KeepAlive(g) // the mapping lives while g does (see retire)
			if whole {
				return snapRead{n: int(ln), pub: pub, mono: mono, seq: s1}, nil
			}
			continue
		}
		if s1&1 == 1 || w[bSeq/8].Load() != s1 {
			continue // a publish is under way
		}
		// A whole buffer, not being written: why it cannot be read.
		switch {
		case pub != want && back > 0:
			return snapRead{}, ErrNoData // overwritten since
		case pub != want:
			// latest moved on past this buffer: load it again
		case ln > l.dataSize:
			return snapRead{}, fmt.Errorf("%w: snapshot length %d > DataSize %d", ErrCorrupt, ln, l.dataSize)
		default:
			return snapRead{n: int(ln), pub: pub, mono: mono},
				fmt.Errorf("%w: snapshot of %d bytes, buffer of %d", ErrTooLarge, ln, len(buf))
		}
	}
	return snapRead{}, fmt.Errorf("%w: snapshot kept changing during %d reads", ErrCorrupt, maxReadTries)
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

// Close gives the client slot back and lets go of the segment. Commands
// already sent stay queued and are served.
func (s *Shell) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.closed.Store(true)
	st := s.seg.u64(s.co + cState)
	if v := st.Load(); v&slotMask == slotActive {
		st.CompareAndSwap(v, (v&^slotMask)+slotGen|slotFree)
	}
	// Reads take no lock, so one may still be copying: the segment is
	// replaced by zeros rather than unmapped (see retire).
	return s.seg.retire()
}
