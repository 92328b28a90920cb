package netproc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	helpers := proctest.Helpers{"physics": helperPhysics, "ai": helperAI, "net": helperNet}
	if os.Getenv("PROCTEST_HELPER") != "" {
		proctest.Main(m, helpers) // runs the helper and exits
	}
	// Chromium's helper processes are orphaned when chromedp kills the
	// browser; as a child subreaper this process adopts them and reaps
	// them once the tests are done.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	code := m.Run()
	reapOrphans(5 * time.Second)
	os.Exit(code)
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// physics CHANNEL BODIES
func helperPhysics(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	n, _ := strconv.Atoi(args[1])
	fmt.Println("pid", os.Getpid())
	return physics.Run(ctx, args[0], 1, n, nil)
}

// ai CHANNEL PHYSICS AGENTS
func helperAI(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	n, _ := strconv.Atoi(args[2])
	fmt.Println("pid", os.Getpid())
	return ai.Run(ctx, args[0], args[1], 1, n, nil)
}

// net INSTANCE ADDR [KEY=VALUE...]: reads INSTANCE.physics, .ai, .sup;
// prints "listening ADDR". Keys: rate, send (send rate), players,
// pending, addrconns, addrrate, addrburst, addrloopback=1, regions
// (reads INSTANCE.physics-0 … instead).
func helperNet(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	o := Options{Channel: args[0] + ".net", Physics: args[0] + ".physics", AI: args[0] + ".ai", Status: args[0] + ".sup",
		Addr: args[1], OnListen: func(addr string) { fmt.Println("listening", addr) }}
	for _, kv := range args[2:] {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("helper net: %s: %w", kv, err)
		}
		switch k {
		case "rate":
			o.Rate = n
		case "send":
			o.SendRate = n
		case "players":
			o.MaxPlayers = n
		case "pending":
			o.MaxPending = n
		case "addrconns":
			o.AddrLimits.Conns = n
		case "addrrate":
			o.AddrLimits.Rate = float64(n)
		case "addrburst":
			o.AddrLimits.Burst = n
		case "addrloopback":
			o.AddrLimits.Loopback = n == 1
		case "regions": // physics in n regions: INSTANCE.physics-0 …
			for i := range n {
				o.Regions = append(o.Regions, fmt.Sprintf("%s.physics-%d", args[0], i))
			}
		default:
			return fmt.Errorf("helper net: unknown option %q", kv)
		}
	}
	return Run(ctx, o)
}

type game struct {
	name, url string
	net       *proctest.Proc
}

// startGame runs physics (bodies bodies) and net in helper processes.
func startGame(t *testing.T, bodies int) *game {
	t.Helper()
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() {
		for _, ch := range []string{"physics", "ai", "net", "sup"} {
			venom.Remove(g.name + "." + ch)
		}
	})
	if bodies >= 0 {
		g.startPhysics(t, bodies)
	}
	g.startNet(t, "127.0.0.1:0")
	return g
}

func (g *game) startPhysics(t *testing.T, bodies int) {
	t.Helper()
	proctest.Start(t, "physics", g.name+".physics", strconv.Itoa(bodies)).Expect(t, `^pid`, 10*time.Second)
}

func (g *game) startNet(t *testing.T, addr string, rates ...string) {
	t.Helper()
	// Registered first, so it runs after net is killed: its channel goes
	// with it, whatever the test set up beside it.
	t.Cleanup(func() { venom.Remove(g.name + ".net") })
	g.net = proctest.Start(t, "net", append([]string{g.name, addr}, rates...)...)
	g.url = "ws://" + g.net.Expect(t, `^listening (\S+)`, 10*time.Second)[1]
}

func dial(t *testing.T, ctx context.Context, url, name string) *Client {
	t.Helper()
	c, err := Dial(ctx, url, name)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor takes snapshots from c until cond holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, c *Client, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	for {
		s, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if cond(s) {
			return s
		}
	}
}

// receiving checks that c still gets fresh snapshots.
func receiving(t *testing.T, ctx context.Context, c *Client) {
	t.Helper()
	s0 := waitFor(t, ctx, c, "a snapshot", func(Snapshot) bool { return true })
	waitFor(t, ctx, c, "a newer snapshot", func(s Snapshot) bool { return s.Tick > s0.Tick+2 && len(s.Bodies) > 0 })
}

func TestTwoClientsSpawn(t *testing.T) {
	g := startGame(t, 40)
	ctx := proctest.Context(t, 30*time.Second)
	a, b := dial(t, ctx, g.url, "alice"), dial(t, ctx, g.url, "bob")
	if a.ID() == 0 || a.ID() == b.ID() {
		t.Fatalf("ids %d and %d", a.ID(), b.ID())
	}
	s := waitFor(t, ctx, a, "bodies and both players", func(s Snapshot) bool { return len(s.Bodies) > 0 && len(s.Players) == 2 })
	n0 := len(s.Bodies)
	waitFor(t, ctx, b, "bodies", func(s Snapshot) bool { return len(s.Bodies) > 0 })
	if err := a.Input(Input{Cursor: [2]float32{640, 360}, HasCursor: true, Spawn: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b} {
		s := waitFor(t, ctx, c, "the spawned bodies", func(s Snapshot) bool { return len(s.Bodies) >= n0+SpawnCount })
		var alice *PlayerState
		for i := range s.Players {
			if s.Players[i].ID == a.ID() {
				alice = &s.Players[i]
			}
		}
		if alice == nil || alice.Name != "alice" || alice.Cursor != [2]float32{640, 360} {
			t.Fatalf("alice in the snapshot: %+v", s.Players)
		}
	}
}

// rawJoin joins with a bare websocket and reads the welcome.
func rawJoin(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	return rawJoinWith(t, ctx, url, nil)
}

// rawJoinWith is rawJoin with dial options.
func rawJoinWith(t *testing.T, ctx context.Context, url string, o *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	u, err := JoinURL(url, "raw")
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, u, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(MaxServerMessage)
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("welcome: %v", err)
	}
	if m, err := ParseServerMessage(b); err != nil || !m.Welcome {
		t.Fatalf("welcome: %+v %v", m, err)
	}
	return ws
}

// closedWith reads from ws until it is closed and checks the status.
func closedWith(t *testing.T, ctx context.Context, ws *websocket.Conn, want websocket.StatusCode) string {
	t.Helper()
	for range 1000 {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue // snapshots sent before the close
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != want {
			t.Fatalf("closed with %v, want %v", err, want)
		}
		return ce.Reason
	}
	t.Fatal("not closed")
	return ""
}

// TestBadFrames: each bad join or message closes its own connection with
// a reason saying what was wrong; a player beside it plays on.
func TestBadFrames(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	host := strings.TrimPrefix(g.url, "ws://")
	cases := []struct {
		name   string
		url    string // joins with this URL, else with JoinURL's and then sends frame
		text   bool
		frame  []byte
		status websocket.StatusCode
		reason string
	}{
		{"version-2-client", "ws://" + host, false, nil, websocket.StatusPolicyViolation, "protocol version 3 required"},
		{"wrong-version", "ws://" + host + "/ws?v=2&name=x", false, nil, websocket.StatusPolicyViolation, `protocol version "2" is not served; this server speaks version 3`},
		{"no-version", "ws://" + host + "/ws?name=x", false, nil, websocket.StatusPolicyViolation, "protocol version 3 required"},
		{"other-path", "ws://" + host + "/play?v=3", false, nil, websocket.StatusPolicyViolation, `no game at path "/play": join at /ws?v=3`},
		{"text-frame", "", true, []byte(`{"type":"ack","seq":1}`), websocket.StatusPolicyViolation, "text frame"},
		{"unknown-kind", "", false, []byte{9}, websocket.StatusPolicyViolation, "unknown message kind 9"},
		{"empty", "", false, []byte{}, websocket.StatusPolicyViolation, "empty message"},
		{"bad-input-bits", "", false, []byte{msgInput, 0x40}, websocket.StatusPolicyViolation, "unknown bits"},
		{"nan-cursor", "", false, AppendInput(nil, Input{HasCursor: true, Cursor: [2]float32{float32(math.NaN()), 1}}), websocket.StatusPolicyViolation, "not finite"},
		{"ack-not-sent", "", false, AppendAck(nil, 1<<50), websocket.StatusPolicyViolation, "was not sent"},
		{"oversized", "", false, make([]byte, 2*MaxFrame), websocket.StatusMessageTooBig, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ws *websocket.Conn
			if tc.url != "" {
				var err error
				if ws, _, err = websocket.Dial(ctx, tc.url, nil); err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				// What a version 2 client sends first (the server may have
				// closed already: the write's error does not matter).
				ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","name":"old","version":2}`))
			} else {
				ws = rawJoin(t, ctx, g.url)
				typ := websocket.MessageBinary
				if tc.text {
					typ = websocket.MessageText
				}
				if err := ws.Write(ctx, typ, tc.frame); err != nil {
					t.Fatal(err)
				}
			}
			reason := closedWith(t, ctx, ws, tc.status)
			if !strings.Contains(reason, tc.reason) {
				t.Fatalf("closed with %q, want %q in it", reason, tc.reason)
			}
			t.Logf("closed: %v %q", tc.status, reason)
			receiving(t, ctx, good)
		})
	}
	if _, err := Dial(ctx, g.url, "ok-again"); err != nil {
		t.Fatalf("a new player after the refusals: %v", err)
	}
}

func TestServerFull(t *testing.T) {
	g := startGame(t, 10)
	ctx := proctest.Context(t, 60*time.Second)
	var cs []*Client
	for i := range MaxPlayers {
		cs = append(cs, dial(t, ctx, g.url, fmt.Sprint("p", i)))
	}
	_, err := Dial(ctx, g.url, "p33")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "server full") {
		t.Fatalf("33rd player: %v, want a refusal: server full", err)
	}
	receiving(t, ctx, cs[0])
	receiving(t, ctx, cs[MaxPlayers-1])
	// A seat freed is a seat taken.
	cs[0].Close()
	proctest.Eventually(t, 10*time.Second, "a freed seat", func() bool {
		c, err := Dial(ctx, g.url, "late")
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func TestFloodRateLimited(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	start := time.Now()
	flood := rawJoin(t, ctx, g.url)
	go func() {
		for range 20000 {
			if flood.Write(ctx, websocket.MessageBinary, AppendInput(nil, Input{HasCursor: true, Cursor: [2]float32{1, 2}})) != nil {
				return
			}
		}
	}()
	go func() { // drain the flooder's snapshots
		for {
			if _, _, err := flood.Read(ctx); err != nil {
				return
			}
		}
	}()
	nc, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	var raw Player
	proctest.Eventually(t, 20*time.Second, "the flooder in the net slice, 1000 of its inputs dropped", func() bool {
		if nc.Read(&f) != nil {
			return false
		}
		for _, p := range f.Items {
			if p.NameString() == "raw" {
				raw = p
				return p.Dropped > 1000
			}
		}
		return false
	})
	// What the bucket lets through in the time the flood has had at most.
	if limit := InputBurst + InputRate*time.Since(start).Seconds(); float64(raw.Inputs) > limit || f.Meta.InputsDropped < raw.Dropped {
		t.Fatalf("flooder: %d inputs through (at most %.0f), %d dropped; %d dropped in all", raw.Inputs, limit, raw.Dropped, f.Meta.InputsDropped)
	}
	receiving(t, ctx, good)
}

func TestReconnectAfterKill(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	c := dial(t, ctx, g.url, "stayer")
	receiving(t, ctx, c)
	addr := strings.TrimPrefix(g.url, "ws://")
	g.net.Kill(t)
	proctest.Eventually(t, 10*time.Second, "the client to notice", func() bool { return !c.Connected() })
	// Input given while net is down waits in the client for the next
	// connection.
	if err := c.Input(Input{Cursor: [2]float32{100, 100}, HasCursor: true, Spawn: true}); err != nil {
		t.Fatalf("input while reconnecting: %v", err)
	}
	g.startNet(t, addr) // the same port: SO_REUSEADDR
	proctest.Eventually(t, 20*time.Second, "a reconnection", func() bool { return c.Reconnects() >= 1 })
	waitFor(t, ctx, c, "the bodies spawned while net was down", func(s Snapshot) bool { return len(s.Bodies) == 20+SpawnCount })
}

// publishStatus publishes a supervisor status on "<name>.sup" from the
// test process, as a supervisor would.
func publishStatus(t *testing.T, name string, children ...supervisor.ChildStatus) {
	t.Helper()
	d, err := venom.Create(name+".sup", venom.Config{DataSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		venom.Remove(name + ".sup") // Close leaves it for a successor; a test has none
	})
	buf := make([]byte, 4096)
	n, err := supervisor.StatusSchema.Encode(buf, engine.Header{Tick: 1, Mono: venom.Monotonic()},
		&supervisor.Meta{Pid: uint32(os.Getpid()), Children: uint32(len(children))}, children)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Publish(buf[:n]); err != nil {
		t.Fatal(err)
	}
}

func TestEverySliceInStream(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	var phys, restarting supervisor.ChildStatus
	copy(phys.Name[:], "physics")
	phys.State, phys.Pid, phys.Tick, phys.TickMono = supervisor.ChildRunning, 4242, 99, venom.Monotonic()
	copy(restarting.Name[:], "ai")
	restarting.State, restarting.Restarts = supervisor.ChildBackoff, 3
	publishStatus(t, g.name, phys, restarting)
	proctest.Start(t, "ai", g.name+".ai", g.name+".physics", "12").Expect(t, `^pid`, 10*time.Second)
	startGameAs(t, g, 30)
	ctx := proctest.Context(t, 30*time.Second)
	c := dial(t, ctx, g.url, "viewer")
	s := waitFor(t, ctx, c, "bodies, agents and children", func(s Snapshot) bool {
		return len(s.Bodies) == 30 && len(s.Agents) == 12 && len(s.Children) == 2 && s.AITick > 0
	})
	want := []Child{{Name: "physics", State: "running", Pid: 4242, Tick: 99}, {Name: "ai", State: "backoff", Restarts: 3, Age: -1}}
	if s.Children[0].Age < 0 {
		t.Errorf("physics' age %d, want >= 0", s.Children[0].Age)
	}
	s.Children[0].Age = 0
	if !reflect.DeepEqual(s.Children, want) {
		t.Errorf("children %+v, want %+v", s.Children, want)
	}
	for _, a := range s.Agents {
		if a.ID == 0 || a.Kind < 1 || a.Kind > 3 || a.X < 0 || a.X > 1280*Subpixel {
			t.Fatalf("agent %+v", a)
		}
	}
}

// startGameAs is startGame for a game whose name is already chosen.
func startGameAs(t *testing.T, g *game, bodies int) {
	t.Helper()
	t.Cleanup(func() {
		for _, ch := range []string{"physics", "ai", "net"} {
			venom.Remove(g.name + "." + ch)
		}
	})
	g.startPhysics(t, bodies)
	g.startNet(t, "127.0.0.1:0")
}

// TestSendRate: snapshots go out at the send rate, not at net's tick
// rate: at 60 ticks and 20 sends a second, one snapshot every 3 ticks.
func TestSendRate(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() { venom.Remove(g.name + ".physics"); venom.Remove(g.name + ".net") })
	g.startPhysics(t, 5)
	g.startNet(t, "127.0.0.1:0", "rate=60", "send=20")
	ctx := proctest.Context(t, 30*time.Second)
	c := dial(t, ctx, g.url, "counter")
	var ticks []uint64
	for len(ticks) < 10 {
		s, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, s.Tick)
	}
	for i := 1; i < len(ticks); i++ {
		if d := ticks[i] - ticks[i-1]; ticks[i] <= ticks[i-1] || d%3 != 0 {
			t.Fatalf("net ticks of successive snapshots %v: want steps of 3 (or skipped multiples)", ticks)
		}
	}
}

// TestInputWaitsForPhysics: input that arrives while physics is not there
// yet is forwarded once it is, not dropped.
func TestInputWaitsForPhysics(t *testing.T) {
	g := startGame(t, -1) // net alone
	ctx := proctest.Context(t, 30*time.Second)
	c := dial(t, ctx, g.url, "early")
	if err := c.Input(Input{Cursor: [2]float32{300, 200}, HasCursor: true, Spawn: true}); err != nil {
		t.Fatal(err)
	}
	nc, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	proctest.Eventually(t, 10*time.Second, "net to take the input", func() bool {
		return nc.Read(&f) == nil && len(f.Items) == 1 && f.Items[0].Inputs == 1
	})
	g.startPhysics(t, 5)
	waitFor(t, ctx, c, "the bodies spawned before physics started", func(s Snapshot) bool {
		return len(s.Bodies) == 5+SpawnCount
	})
	if nc.Read(&f) != nil || f.Meta.InputsDropped != 0 || f.Meta.Forwarded != 1 {
		t.Fatalf("net's counters: %+v", f.Meta)
	}
}

// TestStalledClient: a player that stops reading holds up no one; once
// the socket buffers between them are full (seconds of full snapshots on
// loopback) and a write has waited writeTimeout, net drops it.
func TestStalledClient(t *testing.T) {
	g := startGame(t, 2000)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	// It joins, then never reads again; a small fixed receive buffer (no
	// autotuning) makes the stall reach net within seconds.
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	stalled := rawJoinWith(t, ctx, g.url, &websocket.DialOptions{HTTPClient: &http.Client{
		Transport: &http.Transport{DialContext: small.DialContext}}})
	nc, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	start := time.Now()
	for time.Since(start) < 45*time.Second {
		receiving(t, ctx, good)
		if nc.Read(&f) == nil && f.Meta.Players == 1 {
			break // net gave up on the stalled player
		}
	}
	if f.Meta.Players != 1 {
		t.Fatalf("%d players after %v, want the stalled one dropped", f.Meta.Players, time.Since(start))
	}
	receiving(t, ctx, good)
	stalled.CloseNow()
}
