package netproc

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Connections that are not players yet — TCP connections whose HTTP
// request has not arrived whole, and HTTP connections that only fetch the
// page — are "pending". They are bounded apart from the players: at most
// MaxPending at a time, each for a short deadline, and when one more
// arrives the oldest is closed. A player's join is its complete HTTP
// upgrade request, so a pending connection never holds a player's place
// and a flood of them cannot make net refuse a player under the cap.
//
// Beyond loopback, each remote address may also hold only so many
// connections and open only so many per second (AddrLimits).

// Defaults of the connection limits.
const (
	DefaultMaxPending = 64              // pending connections, all addresses together
	RequestTimeout    = 2 * time.Second // for the HTTP request (headers) of a new connection
	IdleTimeout       = 5 * time.Second // for a page-fetching connection between requests
	MaxHeaderBytes    = 16 << 10        // of one HTTP request
	DefaultAddrConns  = 16              // connections per remote address
	DefaultAddrRate   = 10              // new connections per second per remote address
	DefaultAddrBurst  = 20              // of that rate
)

// AddrLimits bound what one remote address may do. They apply when net
// listens beyond loopback (or with Loopback set); zero fields take the
// defaults.
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
}

func newGuard(ln net.Listener, p *Proc) *guard {
	l := p.o.AddrLimits.withDefaults()
	on := !l.Off
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && ap.Addr().IsLoopback() && !l.Loopback {
		on = false
	}
	return &guard{Listener: ln, p: p, limits: l, perAddr: on, maxPending: p.o.MaxPending,
		pending: map[*guardConn]struct{}{}, addrs: map[netip.Addr]*addrState{}}
}

// guardConn is an accepted connection: pending until its request is
// upgraded (hijacked), counted against its address until closed.
type guardConn struct {
	net.Conn
	g    *guard
	addr netip.Addr
	seq  uint64
	once sync.Once
}

// Close closes the connection and releases its place.
func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c) })
	return err
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
	gc := &guardConn{Conn: c, g: g, addr: addr, seq: g.seq}
	var evict *guardConn
	if len(g.pending) >= g.maxPending {
		for p := range g.pending {
			if evict == nil || p.seq < evict.seq {
				evict = p
			}
		}
		delete(g.pending, evict)
	}
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
// upgraded (hijacked) or closed it is no longer pending.
func (g *guard) connState(c net.Conn, s http.ConnState) {
	gc, ok := c.(*guardConn)
	if !ok || (s != http.StateHijacked && s != http.StateClosed) {
		return
	}
	g.mu.Lock()
	delete(g.pending, gc)
	g.mu.Unlock()
}

// release forgets a closed connection.
func (g *guard) release(c *guardConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pending, c)
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
