package netproc

import (
	"cmp"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Connections that are not players yet — TCP connections whose HTTP
// request has not arrived whole, and HTTP connections that only fetch the
// page — are "pending". They are bounded apart from the players: at most
// MaxPending at a time, each for a short deadline, and when one more
// arrives one is closed: the oldest whose request has not arrived whole
// although it has had evictGrace to send it (makeRoom).
// A player's join is its complete HTTP upgrade request, so a pending
// connection never holds a player's place and a flood of them cannot make
// net refuse a player under the cap.
//
// A request counts as arrived whole when the end of its header (an empty
// line) has arrived: read by the HTTP server already, or still waiting in
// the kernel's socket buffer (the accept loop runs ahead of the
// goroutines that read, so a burst of connections is accepted before any
// of their requests is read). Such a connection is about to be answered,
// and closing it would turn away a client that did everything right; so
// it is closed for a newer one only when every pending connection has a
// whole request, which keeps the bound hard. The trade-off: a request
// sent in parts is evictable until its last part arrives, so under a
// flood of new connections (MaxPending of them arriving between its
// parts) it is closed unanswered; the clients here send theirs in one
// write.
//
// Beyond loopback, each remote address may also hold only so many
// connections and open only so many per second (AddrLimits).

// Defaults of the connection limits.
const (
	DefaultMaxPending = 64              // pending connections, all addresses together
	RequestTimeout    = 2 * time.Second // for the HTTP request (headers) of a new connection
	IdleTimeout       = 5 * time.Second // for a page-fetching connection between requests
	MaxHeaderBytes    = 16 << 10        // of one HTTP request's line and headers (Go's server reads 4 KiB more: 431 beyond 20 KiB)
	DefaultAddrConns  = 16              // connections per remote address
	DefaultAddrRate   = 10              // new connections per second per remote address
	DefaultAddrBurst  = 20              // of that rate
)

// AddrLimits bound what one remote address may do. They apply when net
// listens on an address that is not loopback (or with Loopback set), and
// then to every client, those from 127.0.0.1 included: what decides is
// the listening address. Zero fields take the defaults.
type AddrLimits struct {
	Conns    int     // open connections (pending, players, closing) per address
	Rate     float64 // new connections per second per address (token bucket)
	Burst    int     // the bucket's depth
	Loopback bool    // apply them even when listening on loopback (tests)
	Off      bool    // never apply them
}

func (l AddrLimits) withDefaults() AddrLimits {
	if l.Conns <= 0 {
		l.Conns = DefaultAddrConns
	}
	if l.Rate <= 0 {
		l.Rate = DefaultAddrRate
	}
	if l.Burst <= 0 {
		l.Burst = DefaultAddrBurst
	}
	return l
}

// addrState is one remote address's connections and token bucket.
type addrState struct {
	conns  int
	tokens float64
	last   time.Time
}

// guard wraps the listener: it applies the per-address limits at accept
// and keeps the pending connections bounded.
type guard struct {
	net.Listener
	p          *Proc
	limits     AddrLimits
	perAddr    bool // limits apply
	maxPending int

	mu      sync.Mutex
	seq     uint64
	pending map[*guardConn]struct{}
	addrs   map[netip.Addr]*addrState
	order   []*guardConn  // the pending ones by age, when one is to be evicted
	peekBuf []byte        // what a pending connection's socket holds (peek)
	left    chan struct{} // a pending connection left (makeRoom waits for it)
}

func newGuard(ln net.Listener, p *Proc) *guard {
	l := p.o.AddrLimits.withDefaults()
	on := !l.Off
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && ap.Addr().IsLoopback() && !l.Loopback {
		on = false
	}
	return &guard{Listener: ln, p: p, limits: l, perAddr: on, maxPending: p.o.MaxPending,
		pending: map[*guardConn]struct{}{}, addrs: map[netip.Addr]*addrState{}, left: make(chan struct{}, 1)}
}

// guardConn is an accepted connection: pending until its request is
// upgraded (hijacked), counted against its address until closed.
type guardConn struct {
	net.Conn
	g    *guard
	addr netip.Addr
	seq  uint64
	born time.Time // accepted
	once sync.Once

	// whole: the end of the current request's header has been read (the
	// request is being served); it is cleared when the connection goes
	// idle between two page requests. tail holds the last bytes read
	// before that, to find an end split across reads. Only the goroutine
	// that reads stores them (and connState, when no read is under way),
	// without a lock: a read must not wait for makeRoom, which would take
	// the bytes it has just read for a request not arrived.
	whole atomic.Bool
	tail  atomic.Uint32
}

// Close closes the connection and releases its place.
func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c) })
	return err
}

// Read reads from the connection and, until a request's header has been
// read whole, looks for its end.
func (c *guardConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.whole.Load() {
		t, end := headerEnd(c.tail.Load(), b[:n])
		c.tail.Store(t)
		if end {
			c.whole.Store(true)
		}
	}
	return n, err
}

// headerEnd looks for the end of an HTTP header (CRLF CRLF, or LF LF as
// Go's server also takes) in b, which follows the bytes whose last four
// are tail; it returns the last four bytes after b and whether the end
// is in b.
func headerEnd(tail uint32, b []byte) (uint32, bool) {
	for _, c := range b {
		tail = tail<<8 | uint32(c)
		if tail == 0x0d0a0d0a || tail&0xffff == 0x0a0a {
			return tail, true
		}
	}
	return tail, false
}

// requestArrived reports whether c's request has arrived whole: read by
// the server, or waiting in the socket's receive buffer (looked at with
// MSG_PEEK, which leaves it there). Under g.mu.
func (g *guard) requestArrived(c *guardConn) bool {
	if c.whole.Load() {
		return true
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	if g.peekBuf == nil {
		g.peekBuf = make([]byte, peekBytes)
	}
	// Control, not Read: Read would wait for the read lock the server's
	// goroutine holds while it waits for the rest of the request.
	n := 0
	if cerr := rc.Control(func(fd uintptr) {
		n, _, err = unix.Recvfrom(int(fd), g.peekBuf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	}); cerr != nil || err != nil || n <= 0 {
		return false
	}
	_, end := headerEnd(c.tail.Load(), g.peekBuf[:n])
	return end
}

// peekBytes is how much of a pending connection's socket buffer is looked
// at: what the HTTP server reads of one request at most (MaxHeaderBytes
// and the 4 KiB Go's server allows on top).
const peekBytes = MaxHeaderBytes + 4<<10

// makeRoom makes room for one more pending connection: it returns the
// one to close (nil when there is room), the oldest whose request has
// not arrived whole although it has had evictGrace to send it. While
// there is none — every pending connection has its request whole (about
// to be served) or is younger — it waits for one to leave or to come of
// age, at most admitWait, and then takes the oldest: the accept loop
// waits meanwhile, and new connections wait in the kernel's backlog.
// Called with g.mu held, which it lets go of while it waits.
func (g *guard) makeRoom() *guardConn {
	deadline := time.Now().Add(admitWait)
	for len(g.pending) >= g.maxPending {
		g.order = g.order[:0]
		for p := range g.pending {
			g.order = append(g.order, p)
		}
		slices.SortFunc(g.order, func(a, b *guardConn) int { return cmp.Compare(a.seq, b.seq) })
		now := time.Now()
		var victim *guardConn
		next := deadline // when a young one comes of age
		for _, p := range g.order {
			if g.requestArrived(p) {
				continue
			}
			if of := p.born.Add(evictGrace); now.Before(of) {
				if of.Before(next) {
					next = of // the younger ones come of age later
				}
				break
			}
			victim = p
			break
		}
		if victim == nil && !now.Before(deadline) {
			victim = g.order[0]
		}
		if victim != nil {
			delete(g.pending, victim)
			return victim
		}
		g.mu.Unlock()
		t := time.NewTimer(next.Sub(now))
		select {
		case <-g.left:
		case <-t.C:
		}
		t.Stop()
		g.mu.Lock()
	}
	return nil
}

// evictGrace is how long a new connection has to send its request before
// it may be closed for a newer one; admitWait bounds how long a new
// connection waits for room while no pending one may be closed.
const (
	evictGrace = 100 * time.Millisecond
	admitWait  = 250 * time.Millisecond
)

// leave forgets a pending connection and wakes makeRoom. Under g.mu.
func (g *guard) leave(c *guardConn) {
	if _, ok := g.pending[c]; !ok {
		return
	}
	delete(g.pending, c)
	select {
	case g.left <- struct{}{}:
	default:
	}
}

// Accept returns the next connection the limits let in; refused ones are
// closed here, unanswered (an answer before the request would need a
// read of it first, which is what a refused connection must not cost).
func (g *guard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := g.admit(c); gc != nil {
			return gc, nil
		}
	}
}

func (g *guard) admit(c net.Conn) *guardConn {
	addr := addrKey(c.RemoteAddr())
	now := time.Now()
	g.mu.Lock()
	if g.perAddr {
		if len(g.addrs) >= maxAddrs {
			g.prune(now)
		}
		st := g.addrs[addr]
		if st == nil {
			st = &addrState{tokens: float64(g.limits.Burst), last: now}
			g.addrs[addr] = st
		}
		st.tokens = min(float64(g.limits.Burst), st.tokens+now.Sub(st.last).Seconds()*g.limits.Rate)
		st.last = now
		if st.conns >= g.limits.Conns || st.tokens < 1 {
			g.mu.Unlock()
			g.p.count(func(m *Meta) { m.Limited++ })
			c.Close()
			return nil
		}
		st.tokens--
		st.conns++
	}
	g.seq++
	gc := &guardConn{Conn: c, g: g, addr: addr, seq: g.seq, born: now}
	evict := g.makeRoom()
	g.pending[gc] = struct{}{}
	g.mu.Unlock()
	if evict != nil {
		g.p.count(func(m *Meta) { m.Evicted++ })
		evict.Close()
	}
	return gc
}

// maxAddrs is how many addresses the guard tracks before it forgets the
// idle ones.
const maxAddrs = 1024

// prune forgets the addresses with nothing open and a full bucket.
func (g *guard) prune(now time.Time) {
	for a, st := range g.addrs {
		if st.conns <= 0 && st.tokens+now.Sub(st.last).Seconds()*g.limits.Rate >= float64(g.limits.Burst) {
			delete(g.addrs, a)
		}
	}
}

// addrKey is what the per-address limits count by: the IPv4 address, or
// the /64 of an IPv6 one (one host usually holds a whole /64).
func addrKey(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// connState follows the HTTP server's view of each connection: once
// upgraded (hijacked) or closed it is no longer pending; idle between two
// page requests, it waits for a new request, not yet arrived.
func (g *guard) connState(c net.Conn, s http.ConnState) {
	gc, ok := c.(*guardConn)
	if !ok {
		return
	}
	switch s {
	case http.StateHijacked, http.StateClosed:
		g.mu.Lock()
		g.leave(gc)
		g.mu.Unlock()
	case http.StateIdle:
		gc.tail.Store(0)
		gc.whole.Store(false)
	}
}

// release forgets a closed connection.
func (g *guard) release(c *guardConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leave(c)
	if !g.perAddr {
		return
	}
	if st := g.addrs[c.addr]; st != nil {
		st.conns--
		// An address with nothing open and a full bucket is forgotten
		// (here or by prune), so the map holds only recent addresses.
		if st.conns <= 0 && st.tokens+time.Since(st.last).Seconds()*g.limits.Rate >= float64(g.limits.Burst) {
			delete(g.addrs, c.addr)
		}
	}
}

// pendingNow is the number of pending connections.
func (g *guard) pendingNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}
