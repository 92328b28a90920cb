package venom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Handler serves one command. resp is the client's response buffer for a
// Request and nil for a Send; it returns how many bytes of resp it wrote.
// cmd and resp are valid only during the call.
type Handler func(c ClientID, cmd []byte, resp []byte) int

// ClientID names a client slot of a segment. A slot outlives the client
// that holds it: a successor may take over a dead client's slot and lane.
type ClientID uint32

// Daemon owns a segment: it publishes snapshots and serves commands. Its
// methods are safe for use by one goroutine at a time, except Beat and
// Close, which any goroutine may call.
type Daemon struct {
	seg     *segment
	cfg     Config
	w       waiter
	epoch   uint64
	adopted bool

	// mu is held shared by every operation on the mapping and exclusively
	// by Close, so Close never unmaps memory another goroutine is using.
	mu      sync.RWMutex
	closed  bool
	begun   bool     // a Begin is waiting for its Commit
	latest  uint64   // publish count; the ring buffer of publish n is n % History
	pending []uint64 // per lane: next cell to hand to the handler
	handing uint64   // the lane position of the cell the handler has
	rr      int      // lane where the next Poll round starts
	scratch []byte   // a command copied out of shared memory
	scan    int64    // nanotime of the last dead-client scan
	stats   Stats
}

// Stats counts what a daemon has done since it was created or adopted.
type Stats struct {
	Published uint64 // snapshots published
	Handled   uint64 // commands handed to the handler
	Requests  uint64 // of which requests
	Dropped   uint64 // cells refused as malformed (bad length or kind)
	Resynced  uint64 // lanes whose positions were corrupt and were reset
	Reclaimed uint64 // client slots freed because their process died
	Replayed  uint64 // answers dropped because the request was answered before
}

// Create makes a segment for channel name and becomes its daemon. If a
// segment of that name exists, its owner alive gives ErrBusy; its owner
// dead and the same shape adopts it: the snapshots, queued commands and
// client slots are kept, the epoch moves, and a half-written snapshot
// buffer is repaired. A different shape gives ErrIncompatible.
//
// Every byte of the segment is reserved in /dev/shm before it is used
// (fallocate): a new segment when it is made, an adopted one that is not
// wholly backed before it is mapped. When /dev/shm cannot hold it, Create
// fails with a *SpaceError wrapping ErrNoSpace (the bytes needed, the
// bytes free) and leaves no new file behind; after it succeeds no access
// to the segment can fault with SIGBUS for want of memory.
func Create(name string, cfg Config) (*Daemon, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("venom: create %q: %w", name, err)
	}
	d, err := create(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("venom: create %q: %w", name, err)
	}
	return d, nil
}

func create(name string, cfg Config) (*Daemon, error) {
	l := newLayout(cfg)
	path := Path(name)
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, cfg.Perm)
		if err == nil {
			return initFresh(name, f, cfg, l)
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) && attempt < 3 {
			continue // removed in between: try to create it again
		}
		if err != nil {
			return nil, err
		}
		d, err := adopt(name, f, cfg)
		if errors.Is(err, errNotReady) && attempt < 3 {
			// Its creator died before writing the header: nothing in it
			// is worth keeping.
			f.Close()
			os.Remove(path)
			continue
		}
		if err != nil {
			f.Close()
		}
		return d, err
	}
}

// lockOwner takes the segment's ownership lock. The kernel drops it when
// the owner dies however it dies, so a held lock is a live owner.
func lockOwner(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrBusy
		}
		return fmt.Errorf("flock: %w", err)
	}
	return nil
}

func initFresh(name string, f *os.File, cfg Config, l layout) (*Daemon, error) {
	fail := func(err error) (*Daemon, error) {
		f.Close()
		os.Remove(Path(name))
		return nil, err
	}
	if err := lockOwner(f); err != nil {
		return fail(err)
	}
	// fchmod: the umask must not narrow the mode asked for.
	if err := f.Chmod(cfg.Perm); err != nil {
		return fail(err)
	}
	// Reserve every byte now, so no later access by the daemon or a
	// client can fault with SIGBUS for want of memory.
	if err := reserveFresh(name, f, int64(l.total)); err != nil {
		return fail(err)
	}
	mem, err := mapFile(f, l.total)
	if err != nil {
		return fail(fmt.Errorf("mmap: %w", err))
	}
	seg := &segment{name: name, file: f, mem: mem, l: l}
	seg.writeConfig()
	d := newDaemon(seg, cfg)
	d.takeOwnership()
	seg.u64(hMagic).Store(magic) // last: the header is now whole
	return d, nil
}

func adopt(name string, f *os.File, cfg Config) (*Daemon, error) {
	if err := lockOwner(f); err != nil {
		return nil, err
	}
	// The shape is checked before anything is reserved: a segment of
	// another shape is refused as such, to be replaced, even when
	// /dev/shm could not back it.
	shape := func(old Config) error {
		if !sameShape(old, cfg) {
			return fmt.Errorf("%w: existing segment has another shape (remove it first)", ErrIncompatible)
		}
		return nil
	}
	seg, _, err := mapExisting(name, f, true, shape)
	if err != nil {
		return nil, err
	}
	d := newDaemon(seg, cfg)
	d.adopted = true
	d.repair()
	d.takeOwnership()
	return d, nil
}

func newDaemon(seg *segment, cfg Config) *Daemon {
	return &Daemon{
		seg:     seg,
		cfg:     cfg,
		w:       waiter{policy: cfg.Wait, spinFor: cfg.SpinFor},
		pending: make([]uint64, seg.l.maxClients),
		scratch: make([]byte, seg.l.cmdSize),
	}
}

// repair makes an adopted segment consistent: a buffer its predecessor
// died writing is marked whole-but-stale (latest never pointed at it),
// and lane positions out of range are reset.
func (d *Daemon) repair() {
	s, l := d.seg, d.seg.l
	d.latest = s.u64(hLatest).Load()
	for i := uint64(0); i < l.history; i++ {
		b := l.buf(i)
		if seq := s.u64(b + bSeq).Load(); seq&1 == 1 {
			s.u64(b + bPub).Store(0)
			s.u64(b + bLen).Store(0)
			s.u64(b + bSeq).Store(seq + 1)
		}
	}
	if lb := l.buf(d.latest % l.history); d.latest != 0 && s.u64(lb+bPub).Load() != d.latest {
		// latest names a buffer that does not hold it: a hostile or
		// corrupted header. Forget the history rather than serve it.
		d.latest = 0
		s.u64(hLatest).Store(0)
	}
	for i := range d.pending {
		head, tail := s.u64(l.lane(uint64(i))+lHead).Load(), s.u64(l.lane(uint64(i))+lTail).Load()
		if tail-head > l.cmdSlots {
			s.u64(l.lane(uint64(i)) + lHead).Store(tail)
			d.stats.Resynced++
			head = tail
		}
		d.pending[i] = head
	}
}

func (d *Daemon) takeOwnership() {
	s := d.seg
	d.epoch = s.u64(hEpoch).Add(1)
	s.u64(hOwnerPid).Store(uint64(os.Getpid()))
	s.u64(hOwnerStart).Store(selfStart())
	d.beat()
	s.u32(hState).Store(stateRunning)
}

// Name is the channel name.
func (d *Daemon) Name() string { return d.seg.name }

// Epoch is this daemon's epoch: one more than its predecessor's.
func (d *Daemon) Epoch() uint64 { return d.epoch }

// Adopted reports whether Create took over a dead owner's segment.
func (d *Daemon) Adopted() bool { return d.adopted }

// Config is the segment's configuration.
func (d *Daemon) Config() Config { return d.cfg }

// Stats returns counters of what the daemon has done.
func (d *Daemon) Stats() Stats { return d.stats }

// Beat refreshes the heartbeat without publishing or polling.
func (d *Daemon) Beat() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.closed {
		d.beat()
	}
}

func (d *Daemon) beat() {
	s := d.seg
	s.u64(hBeatNanos).Store(uint64(nanotime()))
	s.u64(hBeatCount).Add(1)
}

// Latest returns the newest published snapshot's sequence number (0 when
// nothing is published), as a successor will continue it.
func (d *Daemon) Latest() uint64 { return d.latest }

// Publish copies p into the next snapshot buffer and makes it the newest.
// With CommitOnPublish it also commits every command Poll has handed out.
func (d *Daemon) Publish(p []byte) (seq uint64, err error) {
	buf, err := d.Begin()
	if err != nil {
		return 0, err
	}
	if len(p) > len(buf) {
		d.abort()
		return 0, fmt.Errorf("venom: publish %q: %d bytes: %w (DataSize %d)", d.seg.name, len(p), ErrTooLarge, len(buf))
	}
	copy(buf, p) // plain copy between the odd and even seq stores (see package doc)
	return d.Commit(len(p))
}

// Begin starts a publish in place: it returns the next snapshot buffer,
// DataSize bytes of shared memory, for the caller to fill; Commit(n) then
// makes its first n bytes the newest snapshot. Until Commit, readers keep
// seeing the previous snapshot, also if this process dies in between.
func (d *Daemon) Begin() ([]byte, error) {
	d.mu.RLock()
	if d.closed || d.begun {
		d.mu.RUnlock()
		if d.begun {
			return nil, fmt.Errorf("venom: begin %q: a publish is already under way", d.seg.name)
		}
		return nil, ErrClosed
	}
	d.begun = true // Commit or abort releases the read lock
	s, l := d.seg, d.seg.l
	b := l.buf((d.latest + 1) % l.history)
	seq := s.u64(b + bSeq)
	seq.Store(seq.Load()&^1 + 1) // odd: being written
	storeFence()                 // before any byte of the buffer (arm64; see fence_arm64.go)
	return s.mem[b+bufHeader : b+bufHeader+l.dataSize : b+bufHeader+l.dataSize], nil
}

func (d *Daemon) abort() {
	s, l := d.seg, d.seg.l
	seq := s.u64(l.buf((d.latest+1)%l.history) + bSeq)
	seq.Store(seq.Load() + 1)
	d.begun = false
	d.mu.RUnlock()
}

// Commit ends a publish started by Begin: the first n bytes of the buffer
// become the newest snapshot.
func (d *Daemon) Commit(n int) (uint64, error) {
	if !d.begun {
		return 0, fmt.Errorf("venom: commit %q: no Begin", d.seg.name)
	}
	s, l := d.seg, d.seg.l
	if n < 0 || uint64(n) > l.dataSize {
		d.abort()
		return 0, fmt.Errorf("venom: commit %q: %d bytes: %w (DataSize %d)", s.name, n, ErrTooLarge, l.dataSize)
	}
	next := d.latest + 1
	b := l.buf(next % l.history)
	s.u64(b + bLen).Store(uint64(n))
	s.u64(b + bPub).Store(next)
	s.u64(b + bMono).Store(uint64(nanotime()))
	seq := s.u64(b + bSeq)
	seq.Store(seq.Load() + 1) // even: whole
	s.u64(hLatest).Store(next)
	d.latest = next
	d.stats.Published++
	if d.cfg.CommitOnPublish {
		d.commitLanes()
	}
	d.beat()
	d.begun = false
	d.mu.RUnlock()
	return next, nil
}

func (d *Daemon) commitLanes() {
	s, l := d.seg, d.seg.l
	for i, p := range d.pending {
		head := s.u64(l.lane(uint64(i)) + lHead)
		if head.Load() != p {
			head.Store(p)
		}
	}
}

// Position is the lane position of the command a Handler is being handed,
// called from inside the Handler. With the ClientID it names the command
// for the life of the segment: a successor handed it again (commit on
// publish) sees the same pair, so a daemon that forwards commands
// elsewhere can give them ids that a retry keeps.
func (d *Daemon) Position() uint64 { return d.handing }

// Poll hands every queued command to h, round-robin over the lanes with
// at most LaneQuota commands from one lane per round, and returns how
// many it handled. It never blocks.
func (d *Daemon) Poll(h Handler) int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0
	}
	d.beat()
	d.maybeReclaim()
	total := 0
	n := len(d.pending)
	budget := n * int(d.seg.l.cmdSlots) // bounds one Poll even against a racing producer
	for total < budget {
		round := 0
		for k := 0; k < n; k++ {
			lane := (d.rr + k) % n
			round += d.drainLane(lane, d.cfg.LaneQuota, h)
		}
		d.rr = (d.rr + 1) % n
		total += round
		if round == 0 {
			break
		}
	}
	return total
}

func (d *Daemon) drainLane(lane, quota int, h Handler) int {
	s, l := d.seg, d.seg.l
	lo := l.lane(uint64(lane))
	headW, tail := s.u64(lo+lHead), s.u64(lo+lTail).Load()
	pos := d.pending[lane]
	if tail-headW.Load() > l.cmdSlots || tail-pos > l.cmdSlots {
		// A producer wrote a position out of range: drop what is queued
		// rather than read cells that were never written.
		headW.Store(tail)
		d.pending[lane] = tail
		d.stats.Resynced++
		return 0
	}
	done := 0
	for ; pos != tail && done < quota; pos++ {
		c := l.cell(uint64(lane), pos)
		ln := uint64(s.u32(c).Load())
		kind := s.u32(c + 4).Load()
		id := s.u64(c + 8).Load()
		done++
		if ln > l.cmdSize || (kind != kindSend && kind != kindRequest) {
			d.stats.Dropped++
		} else {
			cmd := d.scratch[:ln]
			copy(cmd, s.mem[c+cellHeader:]) // plain copy after the atomic tail load
			d.handing = pos
			if kind == kindSend {
				h(ClientID(lane), cmd, nil)
			} else {
				d.answer(lane, id, cmd, h)
			}
			d.stats.Handled++
		}
		if !d.cfg.CommitOnPublish {
			// After the handler: a daemon that dies inside it leaves the
			// command for its successor. A dropped cell is released too.
			headW.Store(pos + 1)
		}
	}
	d.pending[lane] = pos
	return done
}

func (d *Daemon) answer(lane int, id uint64, cmd []byte, h Handler) {
	s, l := d.seg, d.seg.l
	co := l.client(uint64(lane))
	d.stats.Requests++
	resp := s.mem[co+clientHeader : co+clientHeader+l.respSize : co+clientHeader+l.respSize]
	respSeq := s.u64(co + cRespSeq)
	if id <= respSeq.Load() {
		// Answered before this daemon's predecessor died: serve it again
		// (its effect was not in the snapshot we restored from) but keep
		// the client's buffer, which may hold a newer answer.
		d.stats.Replayed++
		h(ClientID(lane), cmd, make([]byte, l.respSize))
		return
	}
	n := h(ClientID(lane), cmd, resp)
	if n < 0 {
		n = 0
	}
	if uint64(n) > l.respSize {
		n = int(l.respSize)
	}
	s.u64(co + cRespLen).Store(uint64(n))
	respSeq.Store(id)
	wake(s.u32(co+cRespWord), s.u32(co+cSleeping))
}

// Serve polls until ctx ends, waiting for commands as Config.Wait says in
// between, and returns ctx's error. It refreshes the heartbeat while idle.
func (d *Daemon) Serve(ctx context.Context, h Handler) error {
	s := d.seg
	bell, sleeping := s.u32(hDoorbell), s.u32(hSleeping)
	// Ring our own doorbell when ctx ends, so Serve returns at once
	// rather than at the end of its wait slice.
	var done atomic.Bool
	stop := context.AfterFunc(ctx, func() { done.Store(true); d.ring() })
	defer stop()
	ready := func() bool { return done.Load() || d.queued() }
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Poll(h) > 0 {
			continue
		}
		if !d.idle(func() { d.w.wait(bell, sleeping, ready, 100*time.Millisecond) }) {
			return ErrClosed
		}
	}
}

// Wait blocks until a command is queued, ctx ends or timeout passes, as
// Config.Wait says; it is for loops that Poll on their own schedule.
func (d *Daemon) Wait(ctx context.Context, timeout time.Duration) {
	s := d.seg
	stop := context.AfterFunc(ctx, func() { d.ring() })
	defer stop()
	deadline := nanotime() + int64(timeout)
	for ctx.Err() == nil {
		left := time.Duration(deadline - nanotime())
		if left <= 0 {
			return
		}
		ready := false
		if !d.idle(func() {
			ready = d.w.wait(s.u32(hDoorbell), s.u32(hSleeping), d.queued, min(left, 100*time.Millisecond))
		}) || ready {
			return
		}
	}
}

// ring wakes this daemon's own waits.
func (d *Daemon) ring() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.closed {
		d.seg.u32(hDoorbell).Add(1)
		futexWake(d.seg.u32(hDoorbell))
	}
}

// idle runs a wait under the shared lock; it reports false if the daemon
// is closed. Waits are bounded (100ms), so Close is never held up longer.
func (d *Daemon) idle(wait func()) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false
	}
	wait()
	return true
}

// queued reports whether any lane has a command not yet handed out.
func (d *Daemon) queued() bool {
	s, l := d.seg, d.seg.l
	for i, p := range d.pending {
		if s.u64(l.lane(uint64(i))+lTail).Load() != p {
			return true
		}
	}
	return false
}

// Queued counts commands waiting in every lane (not yet handed out).
func (d *Daemon) Queued() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0
	}
	s, l := d.seg, d.seg.l
	n := 0
	for i, p := range d.pending {
		if q := s.u64(l.lane(uint64(i))+lTail).Load() - p; q <= l.cmdSlots {
			n += int(q)
		}
	}
	return n
}

// maybeReclaim frees, at most every 100ms, the slots of clients whose
// process is gone. Their lanes keep what is queued: it is still served,
// and a successor taking the slot continues the lane.
func (d *Daemon) maybeReclaim() {
	now := nanotime()
	if now-d.scan < int64(100*time.Millisecond) {
		return
	}
	d.scan = now
	d.stats.Reclaimed += uint64(reclaimDead(d.seg))
}

// reclaimDead frees the slots of dead clients and returns how many.
func reclaimDead(s *segment) int {
	l, n := s.l, 0
	for i := uint64(0); i < l.maxClients; i++ {
		co := l.client(i)
		st := s.u64(co + cState)
		v := st.Load()
		if v&slotMask != slotActive {
			continue
		}
		if processAlive(s.u64(co+cPid).Load(), s.u64(co+cStart).Load()) {
			continue
		}
		if st.CompareAndSwap(v, (v&^slotMask)+slotGen|slotFree) {
			n++
		}
	}
	return n
}

// Close stops owning the segment and unmaps it. The segment stays, so a
// successor can adopt it; clients see ErrDaemonGone until one does.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	s := d.seg
	// With CommitOnPublish, commands handed out since the last Publish stay
	// uncommitted: the successor is handed them again.
	s.u32(hState).Store(stateClosed)
	s.u64(hOwnerPid).Store(0)
	// Wake every client sleeping on a response so it notices at once.
	for i := uint64(0); i < s.l.maxClients; i++ {
		co := s.l.client(i)
		s.u32(co + cRespWord).Add(1)
		futexWake(s.u32(co + cRespWord))
	}
	return s.unmap()
}

// Remove unlinks the segment of a channel name. Processes that have it
// mapped keep their mapping.
func Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(Path(name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("venom: remove %q: %w", name, ErrNotFound)
		}
		return fmt.Errorf("venom: remove %q: %w", name, err)
	}
	return nil
}

// Read copies the newest whole snapshot into buf, as a Shell's Read does:
// how a daemon that adopted a segment restores its state.
func (d *Daemon) Read(buf []byte) (n int, seq uint64, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, 0, ErrClosed
	}
	n, seq, _, err = d.seg.read(0, buf)
	if err != nil {
		return n, seq, fmt.Errorf("venom: read %q: %w", d.seg.name, err)
	}
	return n, seq, nil
}
