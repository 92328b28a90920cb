package netproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
	"golang.org/x/sys/unix"
)

// Hostile peers: connections that never finish their request, that
// complete a handshake without a join, that stop reading, that come from
// one address too often. None of them may keep a player out, stall the
// others, or grow net's memory without bound.

// rss is the resident set of pid, in bytes.
func rss(t testing.TB, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// rssWatch samples a process's RSS until stopped and keeps the peak.
type rssWatch struct {
	start, peak atomic.Int64
	stop        chan struct{}
	done        sync.WaitGroup
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{})}
	w.start.Store(rss(t, pid))
	w.peak.Store(w.start.Load())
	w.done.Go(func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(raw), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
					if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb<<10 > w.peak.Load() {
						w.peak.Store(kb << 10)
					}
				}
			}
		}
	})
	return w
}

// maxRSSGrowth is what the attacks of these tests may add to net's RSS.
// What they can hold is bounded: at most MaxPending connections with at
// most MaxHeaderBytes of request each (1 MiB at the defaults), the
// players' buffers, a goroutine or two per connection; the rest is room
// for the race detector's shadow memory and the garbage collector's
// slack. Measured: +2 to +6 MiB.
const maxRSSGrowth = 48 << 20

// check stops the watch and fails the test if net grew more than allowed.
func (w *rssWatch) check(t *testing.T) {
	t.Helper()
	close(w.stop)
	w.done.Wait()
	grew := w.peak.Load() - w.start.Load()
	t.Logf("net's RSS: %.1f MiB at the start, peak %.1f MiB (+%.1f MiB)", float64(w.start.Load())/(1<<20),
		float64(w.peak.Load())/(1<<20), float64(grew)/(1<<20))
	if grew > maxRSSGrowth {
		t.Fatalf("net's RSS grew by %.1f MiB, more than %d MiB", float64(grew)/(1<<20), maxRSSGrowth>>20)
	}
}

// from is a dialer bound to a local loopback address (127.0.0.x): every
// address is another "remote address" to net.
func from(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// wsFrom is the websocket dial options for connections from ip.
func wsFrom(ip string) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: from(ip).DialContext}}}
}

// netMeta reads net's counters.
func netMeta(t testing.TB, name string) Meta {
	t.Helper()
	c, err := engine.Connect(name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f engine.Frame[Meta, Player]
	if err := c.Read(&f); err != nil {
		t.Fatal(err)
	}
	return f.Meta
}

// squatter is one hostile loop, renewing its connection whenever net
// closes it, until ctx ends. It counts its connections.
type squatter func(ctx context.Context, addr string) error

// silent connects and sends nothing.
func silent(d *net.Dialer) squatter {
	return func(ctx context.Context, addr string) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		go func() { <-ctx.Done(); c.Close() }()
		_, err = io.Copy(io.Discard, c) // until net closes it
		return err
	}
}

// slowloris sends a WebSocket handshake request a byte at a time, never
// finishing it.
func slowloris(d *net.Dialer, every time.Duration) squatter {
	return func(ctx context.Context, addr string) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		go func() { <-ctx.Done(); c.Close() }()
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(closed) }()
		req := "GET /ws?v=3&name=slow HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: "
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-closed:
				return nil
			case <-ctx.Done():
				return nil
			case <-tk.C:
				if _, err := c.Write([]byte("a")); err != nil {
					return err
				}
			}
		}
	}
}

// noJoin completes a WebSocket handshake without a join in its URL (as
// version 2's clients did); net closes it at once.
func noJoin(o *websocket.DialOptions) squatter {
	return func(ctx context.Context, addr string) error {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/", o)
		if err != nil {
			return err
		}
		defer ws.CloseNow()
		_, _, err = ws.Read(ctx)
		return err
	}
}

// squat runs n copies of s until the test ends; it returns how many
// connections they made.
func squat(t *testing.T, ctx context.Context, addr string, n int, s squatter) *atomic.Int64 {
	var made atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				s(ctx, addr)
				made.Add(1)
			}
		})
	}
	t.Cleanup(wg.Wait)
	return &made
}

// TestSquattersCannotLockOut: from eight addresses, forty squatters —
// silent TCP connections, slow handshakes and handshakes without a join
// — renew themselves the moment net closes them, as fast as the
// per-address limits let them; meanwhile three players play on, and a
// fourth joins and leaves ten times: it is never refused (four is the
// cap), and net's memory stays bounded.
func TestSquattersCannotLockOut(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() { venom.Remove(g.name + ".physics"); venom.Remove(g.name + ".net") })
	g.startPhysics(t, 50)
	g.startNet(t, "127.0.0.1:0", "players=4", "pending=16", "addrloopback=1")
	addr := strings.TrimPrefix(g.url, "ws://")
	ctx := proctest.Context(t, 90*time.Second)
	var players []*Client
	for i := range 3 {
		players = append(players, dial(t, ctx, g.url, fmt.Sprint("player", i)))
	}
	for _, c := range players {
		receiving(t, ctx, c)
	}
	watch := watchRSS(t, g.net.Pid())
	sctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	var made []*atomic.Int64
	for i := range 8 {
		ip := fmt.Sprintf("127.0.0.%d", i+2)
		switch i % 3 {
		case 0:
			made = append(made, squat(t, sctx, addr, 5, silent(from(ip))))
		case 1:
			made = append(made, squat(t, sctx, addr, 5, slowloris(from(ip), 200*time.Millisecond)))
		case 2:
			made = append(made, squat(t, sctx, addr, 5, noJoin(wsFrom(ip))))
		}
	}
	proctest.Eventually(t, 30*time.Second, "the squatters to fill the pending connections and be limited", func() bool {
		m := netMeta(t, g.name)
		return m.Evicted > 0 && m.Limited > 0 && m.Kicked > 0
	})
	for i := range 10 {
		c, err := Dial(ctx, g.url, fmt.Sprint("late", i))
		if err != nil {
			t.Fatalf("join %d among the squatters: %v", i, err)
		}
		if _, err := c.Next(ctx); err != nil {
			t.Fatalf("join %d: no snapshot: %v", i, err)
		}
		c.Close()
		proctest.Eventually(t, 10*time.Second, "the late player gone", func() bool { return netMeta(t, g.name).Players == 3 })
		for _, p := range players {
			receiving(t, ctx, p)
		}
	}
	m := netMeta(t, g.name)
	stop()
	var total int64
	for _, n := range made {
		total += n.Load()
	}
	t.Logf("squatters made %d connections; net: %d evicted, %d limited, %d kicked, %d pending, %d refused",
		total, m.Evicted, m.Limited, m.Kicked, m.Pending, m.Refused)
	if m.Refused != 0 {
		t.Fatalf("net refused %d joins as full with 3 players of 4", m.Refused)
	}
	if m.Pending > 16 {
		t.Fatalf("%d pending connections, limit 16", m.Pending)
	}
	for _, p := range players {
		if p.Reconnects() != 0 {
			t.Fatalf("a player reconnected %d times", p.Reconnects())
		}
	}
	watch.check(t)
}

// TestSlowHandshakes: a hundred connections send their handshake a byte
// at a time (each with 15 KiB of headers first), more than net keeps
// pending: the oldest are closed for the newer, a player still joins,
// and every slow one is gone within the request deadline.
func TestSlowHandshakes(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	addr := strings.TrimPrefix(g.url, "ws://")
	watch := watchRSS(t, g.net.Pid())
	const n = 100 // > DefaultMaxPending
	var open atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				started <- struct{}{}
				return
			}
			defer c.Close()
			open.Add(1)
			defer open.Add(-1)
			req := "GET /ws?v=3&name=slow HTTP/1.1\r\nHost: " + addr + "\r\nX-Pad: " + strings.Repeat("p", 15<<10) + "\r\nX-Slow: "
			io.WriteString(c, req)
			started <- struct{}{}
			closed := make(chan struct{})
			go func() { io.Copy(io.Discard, c); close(closed) }()
			tk := time.NewTicker(100 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-closed:
					return
				case <-ctx.Done():
					return
				case <-tk.C:
					c.Write([]byte("s"))
				}
			}
		})
	}
	for range n {
		<-started
	}
	proctest.Eventually(t, 10*time.Second, "the oldest slow handshakes closed for the newer", func() bool {
		m := netMeta(t, g.name)
		return m.Evicted >= n-DefaultMaxPending && m.Pending <= DefaultMaxPending
	})
	late := dial(t, ctx, g.url, "late")
	receiving(t, ctx, late)
	receiving(t, ctx, good)
	start := time.Now()
	proctest.Eventually(t, 3*RequestTimeout, "every slow handshake closed", func() bool { return open.Load() == 0 })
	t.Logf("the last slow handshake closed %v after the player joined; net: %+v", time.Since(start).Round(time.Millisecond), netMeta(t, g.name))
	wg.Wait()
	receiving(t, ctx, good)
	watch.check(t)
}

// TestStoppedReader: a joined player that stops reading while net sends
// it little (a small world: the socket buffers would take minutes to
// fill) answers no ping and is dropped; the others never wait for it.
// (TestStalledClient is the same with a large world, dropped by the
// write deadline.)
func TestStoppedReader(t *testing.T) {
	g := startGame(t, 5)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	watch := watchRSS(t, g.net.Pid())
	u, _ := JoinURL(g.url, "deaf")
	// A raw TCP client: the handshake, then nothing read ever again.
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := strings.TrimPrefix(u, g.url)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, strings.TrimPrefix(g.url, "ws://"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	proctest.Eventually(t, 10*time.Second, "the deaf player joined", func() bool { return netMeta(t, g.name).Players == 2 })
	start := time.Now()
	for netMeta(t, g.name).Players != 1 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the deaf player was not dropped within 30 s")
		}
		receiving(t, ctx, good) // never held up meanwhile
	}
	t.Logf("the deaf player was dropped after %v", time.Since(start).Round(100*time.Millisecond))
	receiving(t, ctx, good)
	watch.check(t)
}

// TestPerAddressLimits: with the per-address limits on (as beyond
// loopback), one address may hold only so many connections and open only
// so many a second; another address is not affected.
func TestPerAddressLimits(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() { venom.Remove(g.name + ".physics"); venom.Remove(g.name + ".net") })
	g.startPhysics(t, 10)
	g.startNet(t, "127.0.0.1:0", "addrconns=4", "addrrate=2", "addrburst=6", "addrloopback=1")
	addr := strings.TrimPrefix(g.url, "ws://")
	ctx := proctest.Context(t, 60*time.Second)
	// refused reports whether net turned c away at once: closed without
	// an answer (before the request deadline would).
	refused := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(RequestTimeout / 2))
		n, err := c.Read(make([]byte, 64))
		return n == 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	// Four players from .2 are in; a fifth connection from .2 is refused.
	var held []*websocket.Conn
	for i := range 4 {
		ws, _, err := websocket.Dial(ctx, mustJoinURL(t, g.url, fmt.Sprint("two", i)), wsFrom("127.0.0.2"))
		if err != nil {
			t.Fatalf("player %d from 127.0.0.2: %v", i, err)
		}
		defer ws.CloseNow()
		go func() { // it plays: reads (and so answers pings)
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		held = append(held, ws)
	}
	proctest.Eventually(t, 10*time.Second, "four players", func() bool { return netMeta(t, g.name).Players == 4 })
	c, err := from("127.0.0.2").DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !refused(c) {
		t.Fatal("a fifth connection from one address was let in")
	}
	c.Close()
	// Meanwhile a player from .3 joins and plays.
	ws, _, err := websocket.Dial(ctx, mustJoinURL(t, g.url, "other"), wsFrom("127.0.0.3"))
	if err != nil {
		t.Fatalf("a player from another address: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(MaxServerMessage)
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatalf("a player from another address: %v", err)
	}
	// A player of .2 leaving makes room for another connection of .2.
	held[0].Close(websocket.StatusNormalClosure, "bye")
	proctest.Eventually(t, 10*time.Second, "room for .2 again", func() bool {
		ws, _, err := websocket.Dial(ctx, mustJoinURL(t, g.url, "two-again"), wsFrom("127.0.0.2"))
		if err != nil {
			return false
		}
		ws.CloseNow()
		return true
	})
	// Handshakes per second: .4 opens connections (closing each) as fast
	// as it can; after the burst of six, it is refused until the bucket
	// refills (2 a second).
	var ok, no int
	for i := 0; i < 20 && no == 0; i++ {
		c, err := from("127.0.0.4").DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
		b, _ := io.ReadAll(io.LimitReader(c, 64))
		c.Close()
		if strings.HasPrefix(string(b), "HTTP/1.1 200") {
			ok++
		} else {
			no++
		}
	}
	if ok < 6 || ok > 8 || no == 0 {
		t.Fatalf("from one address in a burst: %d let in, %d refused; want the burst of 6 (maybe a refill or two), then refusals", ok, no)
	}
	proctest.Eventually(t, 10*time.Second, "the bucket to refill", func() bool {
		c, err := from("127.0.0.4").DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
		b, _ := io.ReadAll(io.LimitReader(c, 64))
		return strings.HasPrefix(string(b), "HTTP/1.1 200")
	})
	if m := netMeta(t, g.name); m.Limited < 2 {
		t.Fatalf("net counted %d limited connections, want at least 2", m.Limited)
	}
}

func mustJoinURL(t testing.TB, server, name string) string {
	t.Helper()
	u, err := JoinURL(server, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLimitsOnlyBeyondLoopback: listening on loopback, the per-address
// limits are off unless asked for; beyond it they are on.
func TestLimitsOnlyBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		l    AddrLimits
		want bool
	}{
		{"127.0.0.1:0", AddrLimits{}, false},
		{"[::1]:0", AddrLimits{}, false},
		{"127.0.0.1:0", AddrLimits{Loopback: true}, true},
		{"0.0.0.0:0", AddrLimits{}, true},
		{"0.0.0.0:0", AddrLimits{Off: true}, false},
	} {
		ln, err := net.Listen("tcp", tc.addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", tc.addr, err)
			continue
		}
		g := newGuard(ln, New(Options{AddrLimits: tc.l}))
		ln.Close()
		if g.perAddr != tc.want {
			t.Errorf("listening on %s with %+v: per-address limits %v, want %v", tc.addr, tc.l, g.perAddr, tc.want)
		}
	}
	for in, want := range map[string]string{"10.1.2.3:5": "10.1.2.3", "[2001:db8:1:2:3:4:5:6]:7": "2001:db8:1:2::",
		"[::ffff:10.0.0.1]:9": "10.0.0.1"} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := addrKey(a).String(); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestSimultaneousJoins: more complete handshakes arrive at once than net
// keeps pending, each sent whole with its connection. A request that has
// arrived whole is not evicted for newer connections: every one is
// answered — 101 and a welcome for the first MaxPlayers, 101 and 1013 for
// the rest — none is closed unanswered. (Evicting the oldest pending
// connection whatever it holds, as net did, closed 18 to 136 of the 200
// unanswered.)
//
// The clients connect with TCP_FASTOPEN_CONNECT: the connection is opened
// by the request's write, and the kernel sends the request as soon as it
// is open, so net never sees one of them open without its request on the
// way — however late a loaded machine runs the client's goroutine after
// its connect (a client that stalls between its connect and its write
// may be evicted, after 100 ms: PROTOCOL.md, "Limits").
func TestSimultaneousJoins(t *testing.T) {
	g := startGame(t, -1)
	addr := strings.TrimPrefix(g.url, "ws://")
	const n = 200 // > DefaultMaxPending + MaxPlayers
	req := "GET /ws?v=3&name=many HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	var answered, unanswered atomic.Int64
	var wg sync.WaitGroup
	dialErr := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			c, err := d.Dial("tcp", addr)
			if err != nil {
				dialErr <- err
				return
			}
			defer c.Close()
			if _, err := io.WriteString(c, req); err != nil {
				dialErr <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101 ") {
				if unanswered.Add(1) <= 3 {
					t.Logf("closed unanswered: %q %v", line, err)
				}
				return
			}
			answered.Add(1)
		})
	}
	close(start)
	wg.Wait()
	close(dialErr)
	if err := <-dialErr; err != nil {
		t.Fatalf("dial: %v", err)
	}
	m := netMeta(t, g.name)
	t.Logf("%d answered, %d closed unanswered; net: %+v", answered.Load(), unanswered.Load(), m)
	if answered.Load() != n {
		t.Fatalf("%d of %d complete handshakes answered, %d closed unanswered (evicted %d)", answered.Load(), n, unanswered.Load(), m.Evicted)
	}
}

// TestRequestSize: what PROTOCOL.md says of a request's size: its line
// and headers are read up to MaxHeaderBytes plus Go's 4 KiB, 20 KiB in
// all; a larger request gets 431.
func TestRequestSize(t *testing.T) {
	g := startGame(t, -1)
	addr := strings.TrimPrefix(g.url, "ws://")
	for _, tc := range []struct {
		size   int
		status string
	}{
		{17 << 10, "200"},
		{20<<10 - 512, "200"},
		{20<<10 + 512, "431"},
		{24 << 10, "431"},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		head := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\nX-Pad: "
		req := head + strings.Repeat("p", tc.size-len(head)-4) + "\r\n\r\n"
		if len(req) != tc.size {
			t.Fatalf("request of %d bytes, want %d", len(req), tc.size)
		}
		io.WriteString(c, req)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("a request of %d bytes: %q %v, want %s", tc.size, line, err, tc.status)
		}
	}
}
