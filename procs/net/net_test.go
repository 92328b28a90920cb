package netproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"physics": helperPhysics, "net": helperNet})
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

// net CHANNEL PHYSICS ADDR: prints "listening ADDR".
func helperNet(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return Run(ctx, Options{Channel: args[0], Physics: args[1], Addr: args[2],
		OnListen: func(addr string) { fmt.Println("listening", addr) }})
}

type game struct {
	name, url string
	net       *proctest.Proc
}

// startGame runs physics (bodies bodies) and net in helper processes.
func startGame(t *testing.T, bodies int) *game {
	t.Helper()
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() { venom.Remove(g.name + ".physics"); venom.Remove(g.name + ".net") })
	proctest.Start(t, "physics", g.name+".physics", strconv.Itoa(bodies)).Expect(t, `^pid`, 10*time.Second)
	g.startNet(t, "127.0.0.1:0")
	return g
}

func (g *game) startNet(t *testing.T, addr string) {
	t.Helper()
	g.net = proctest.Start(t, "net", g.name+".net", g.name+".physics", addr)
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

func randSnapshot(r *rand.Rand, base *Snapshot) Snapshot {
	s := Snapshot{Tick: r.Uint64(), PhysicsTick: r.Uint64(), Width: r.Float32(), Height: r.Float32()}
	next := uint32(1)
	if base != nil {
		for _, b := range base.Bodies {
			switch r.IntN(4) {
			case 0: // removed
			case 1:
				b.X, b.VY = r.Float32()*1000, -r.Float32()
				s.Bodies = append(s.Bodies, b)
			default:
				s.Bodies = append(s.Bodies, b)
			}
			next = b.ID + 1
		}
	}
	for range r.IntN(50) {
		next += uint32(1 + r.IntN(3))
		s.Bodies = append(s.Bodies, Body{ID: next, X: r.Float32() * 1280, Y: r.Float32() * 720, R: 4 + r.Float32()*8})
	}
	for i := range r.IntN(4) {
		s.Players = append(s.Players, PlayerState{ID: uint32(i + 1), Name: "p", Cursor: [2]float32{r.Float32(), 0}})
	}
	return s
}

func TestDeltaRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		var base Snapshot
		if i%7 != 0 {
			base = randSnapshot(r, nil)
		}
		cur := randSnapshot(r, &base)
		d := Diff(&base, &cur)
		// Through the wire, as the client gets it.
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var wire Delta
		if err := json.Unmarshal(b, &wire); err != nil {
			t.Fatal(err)
		}
		got, err := Apply(&base, &wire)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Bodies) == 0 && len(cur.Bodies) == 0 {
			got.Bodies, cur.Bodies = nil, nil
		}
		if !reflect.DeepEqual(got, cur) {
			t.Fatalf("case %d: Apply(base, Diff(base, cur)) != cur\n got %+v\nwant %+v", i, got, cur)
		}
	}
	// An unchanged world is an empty delta.
	s := randSnapshot(r, nil)
	if d := Diff(&s, &s); len(d.Bodies) != 0 || len(d.Removed) != 0 {
		t.Fatalf("delta of a snapshot against itself: %+v", d)
	}
	// A delta that does not fit its base is refused.
	if _, err := Apply(&Snapshot{}, &Delta{Removed: []uint32{5}}); err == nil {
		t.Fatal("removing a body not in the base was accepted")
	}
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
	if err := a.Input(ctx, Input{Cursor: [2]float32{640, 360}, Spawn: true}); err != nil {
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
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(64 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","name":"raw","version":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"welcome"`) {
		t.Fatalf("welcome: %v %.80s", err, b)
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

func TestBadFrames(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	cases := []struct {
		name   string
		joined bool // send the frame after joining
		frame  string
		status websocket.StatusCode
	}{
		{"malformed", false, `{"type":"join",`, websocket.StatusPolicyViolation},
		{"malformed-after-join", true, `not json`, websocket.StatusPolicyViolation},
		{"wrong-version", false, `{"type":"join","name":"x","version":2}`, websocket.StatusPolicyViolation},
		{"unknown-type", true, `{"type":"teleport"}`, websocket.StatusPolicyViolation},
		{"not-join-first", false, `{"type":"input","spawn":true}`, websocket.StatusPolicyViolation},
		{"oversized", true, `{"type":"input","name":"` + strings.Repeat("x", 2*MaxFrame) + `"}`, websocket.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ws *websocket.Conn
			if tc.joined {
				ws = rawJoin(t, ctx, g.url)
			} else {
				var err error
				if ws, _, err = websocket.Dial(ctx, g.url, nil); err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			reason := closedWith(t, ctx, ws, tc.status)
			t.Logf("closed: %v %q", tc.status, reason)
			receiving(t, ctx, good)
		})
	}
	if _, err := Dial(ctx, strings.Replace(g.url, "ws://", "ws://", 1), "ok-again"); err != nil {
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
	flood := rawJoin(t, ctx, g.url)
	go func() {
		for range 20000 {
			if flood.Write(ctx, websocket.MessageText, []byte(`{"type":"input","cursor":[1,2]}`)) != nil {
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
	nc, err := engine.Connect(g.name+".net", Slice)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	proctest.Eventually(t, 20*time.Second, "inputs dropped by the rate limit", func() bool {
		return nc.Read(&f) == nil && f.Meta.InputsDropped > 1000
	})
	receiving(t, ctx, good)
	for _, p := range f.Items {
		if p.NameString() == "raw" && p.Inputs > uint64(InputBurst+InputRate*30) {
			t.Fatalf("flooder got %d inputs through", p.Inputs)
		}
	}
}

func TestReconnectAfterKill(t *testing.T) {
	g := startGame(t, 20)
	ctx := proctest.Context(t, 60*time.Second)
	c := dial(t, ctx, g.url, "stayer")
	receiving(t, ctx, c)
	addr := strings.TrimPrefix(g.url, "ws://")
	g.net.Kill(t)
	g.startNet(t, addr) // the same port: SO_REUSEADDR
	proctest.Eventually(t, 20*time.Second, "a reconnection", func() bool { return c.Reconnects() >= 1 })
	receiving(t, ctx, c)
	if err := c.Input(ctx, Input{Cursor: [2]float32{100, 100}, Explode: true}); err != nil {
		t.Fatalf("input after reconnect: %v", err)
	}
}
