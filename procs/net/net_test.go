package netproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"physics": helperPhysics, "ai": helperAI, "net": helperNet})
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

// net INSTANCE ADDR [RATE SENDRATE]: reads INSTANCE.physics, .ai, .sup;
// prints "listening ADDR".
func helperNet(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	o := Options{Channel: args[0] + ".net", Physics: args[0] + ".physics", AI: args[0] + ".ai", Status: args[0] + ".sup",
		Addr: args[1], OnListen: func(addr string) { fmt.Println("listening", addr) }}
	if len(args) == 4 {
		o.Rate, _ = strconv.Atoi(args[2])
		o.SendRate, _ = strconv.Atoi(args[3])
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

func randSnapshot(r *rand.Rand, base *Snapshot) Snapshot {
	i32 := func(n int64) int32 { return int32(r.Int64N(2*n+1) - n) }
	s := Snapshot{Tick: r.Uint64(), PhysicsTick: r.Uint64(), AITick: r.Uint64(), Width: r.Float32(), Height: r.Float32()}
	next := uint32(1)
	if base != nil {
		for _, b := range base.Bodies {
			switch r.IntN(5) {
			case 0: // removed
			case 1: // moved
				b.X, b.VY = i32(maxFixed), i32(maxFixed)
				s.Bodies = append(s.Bodies, b)
			case 2: // grown, or touching
				b.R, b.Flags = b.R+1, r.Uint32N(2)
				s.Bodies = append(s.Bodies, b)
			default:
				s.Bodies = append(s.Bodies, b)
			}
			next = b.ID + 1
		}
	}
	for range r.IntN(50) {
		next += uint32(1 + r.IntN(3))
		s.Bodies = append(s.Bodies, Body{ID: next, X: i32(maxFixed), Y: i32(1000), VX: i32(5000), VY: i32(5000), R: r.Int32N(200)})
	}
	for i := range r.IntN(5) {
		s.Agents = append(s.Agents, Agent{ID: uint32(i + 1), Kind: r.Uint32N(3), X: i32(9999), Y: i32(9999), VX: 1, VY: -1})
	}
	for i := range r.IntN(4) {
		s.Players = append(s.Players, PlayerState{ID: uint32(i + 1), Name: "p", Cursor: [2]float32{r.Float32(), 0}})
	}
	for range r.IntN(3) {
		s.Children = append(s.Children, Child{Name: "physics", State: "running", Pid: r.Uint32(), Age: -1})
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
		// Through the wire, as the client gets them: the base too.
		base, wire := roundTrip(t, base), roundTrip(t, d)
		got, err := Apply(&base, &wire)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, roundTrip(t, cur)) {
			t.Fatalf("case %d: Apply(base, Diff(base, cur)) != cur\n got %+v\nwant %+v", i, got, cur)
		}
	}
	// A body crossing the whole fixed-point range in one delta.
	far := Snapshot{Bodies: []Body{{ID: 1, X: -maxFixed, Y: maxFixed, VX: -maxFixed, VY: maxFixed, R: 1}}}
	near := Snapshot{Bodies: []Body{{ID: 1, X: maxFixed, Y: -maxFixed, VX: maxFixed, VY: -maxFixed, R: 1}}}
	for _, pair := range [][2]Snapshot{{far, near}, {near, far}} {
		d := roundTrip(t, Diff(&pair[0], &pair[1]))
		if got, err := Apply(&pair[0], &d); err != nil || !reflect.DeepEqual(got.Bodies, pair[1].Bodies) {
			t.Fatalf("delta across the range: %v %+v, want %+v", err, got.Bodies, pair[1].Bodies)
		}
	}
	// An unchanged world is an empty delta.
	s := randSnapshot(r, nil)
	if d := Diff(&s, &s); len(d.Bodies) != 0 || len(d.Moved) != 0 || len(d.Removed) != 0 {
		t.Fatalf("delta of a snapshot against itself: %+v", d)
	}
	// A delta that does not fit its base is refused.
	two := Snapshot{Bodies: []Body{{ID: 1}, {ID: 2, X: maxFixed}}}
	for name, d := range map[string]Delta{
		"remove a body not in the base": {Removed: []uint32{5}},
		"move a body not in the base":   {Moved: []Move{{ID: 3, DX: 1}}},
		"move out of range":             {Moved: []Move{{ID: 2, DX: 1}}},
		"bodies out of order":           {Bodies: []Body{{ID: 9}, {ID: 4}}},
	} {
		if _, err := Apply(&two, &d); !errors.Is(err, ErrBadDelta) {
			t.Errorf("%s: %v, want ErrBadDelta", name, err)
		}
	}
}

// roundTrip sends v through its JSON form, as a client receives it.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return out
}

// TestWireRefusesBadValues: a snapshot or delta from a bad server is an
// error naming the problem, never a panic or a wrapped-around value.
func TestWireRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"short bodies", `{"bodies":[1,0,3]}`, "multiple of 7"},
		{"negative id", `{"bodies":[-1,0,0,0,0,0,1]}`, "out of range"},
		{"huge x", `{"bodies":[1,0,99999999999,0,0,0,1]}`, "out of range"},
		{"bodies out of order", `{"bodies":[2,0,0,0,0,0,1,1,0,0,0,0,0,1]}`, "out of order"},
		{"moves in a snapshot", `{"bodies":[],"moved":[1,0,0,0,0]}`, "full snapshot"},
		{"short agents", `{"agents":[1,2]}`, "multiple of 6"},
		{"not json", `{"bodies":`, "end of JSON"},
		{"fraction", `{"bodies":[1,0,0.5,0,0,0,1]}`, "not an array of integers"},
		{"string", `{"agents":["1"]}`, "agents: not an array of integers"},
		{"past int64", `{"bodies":[99999999999999999999,0,0,0,0,0,1]}`, "out of range"},
		{"object", `{"bodies":{}}`, "not an array of integers"},
		{"trailing comma", `{"bodies":[1,]}`, "invalid character"},
	} {
		var s Snapshot
		if err := json.Unmarshal([]byte(tc.json), &s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("snapshot %s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, json, want string }{
		{"zero id gap", `{"moved":[1,0,0,0,0,0,0,0,0,0]}`, "gap 0"},
		{"short moves", `{"moved":[1,0,0]}`, "multiple of 5"},
		{"id past uint32", `{"moved":[4294967295,0,0,0,0,1,0,0,0,0]}`, "out of range"},
		{"removed negative", `{"removed":[-4]}`, "out of range"},
	} {
		var d Delta
		if err := json.Unmarshal([]byte(tc.json), &d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("delta %s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := json.Marshal(Snapshot{Width: float32(math.NaN())}); err == nil {
		t.Error("a NaN world size was encoded")
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
	ws, _, err := websocket.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(64 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","name":"raw","version":2}`)); err != nil {
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
		{"wrong-version", false, `{"type":"join","name":"x","version":1}`, websocket.StatusPolicyViolation},
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
	start := time.Now()
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
func publishStatus(t *testing.T, name string, children ...engine.ChildStatus) {
	t.Helper()
	d, err := venom.Create(name+".sup", venom.Config{DataSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	buf := make([]byte, 4096)
	n, err := engine.StatusSlice.Encode(buf, engine.Header{Tick: 1, Mono: venom.Monotonic()},
		&engine.SupMeta{Pid: uint32(os.Getpid()), Children: uint32(len(children))}, children)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Publish(buf[:n]); err != nil {
		t.Fatal(err)
	}
}

func TestEverySliceInStream(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	var phys, restarting engine.ChildStatus
	copy(phys.Name[:], "physics")
	phys.State, phys.Pid, phys.Tick, phys.TickMono = engine.ChildRunning, 4242, 99, venom.Monotonic()
	copy(restarting.Name[:], "ai")
	restarting.State, restarting.Restarts = engine.ChildBackoff, 3
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
	g.startNet(t, "127.0.0.1:0", "60", "20")
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
	nc, err := engine.Connect(g.name+".net", Slice)
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

// FuzzParseInts: parseInts agrees with encoding/json on every JSON array
// of integers, and never panics on anything else.
func FuzzParseInts(f *testing.F) {
	for _, s := range []string{"[]", "null", " [ 1 , -2 ,3 ] ", "[0]", "[-0]", "[9223372036854775807]", "[-9223372036854775807]",
		"[1.5]", "[1e3]", `["1"]`, "[1,]", "[,1]", "[--1]", "[", "]", "{}", "[99999999999999999999]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.TrimSpace(s) == "" {
			return // an absent field: empty by design
		}
		got, err := parseInts([]byte(s))
		var want []int64
		jerr := json.Unmarshal([]byte(s), &want)
		if err != nil {
			return // stricter than encoding/json (no fractions, no exponents): fine
		}
		if jerr != nil {
			t.Fatalf("parseInts(%q) = %v, but it is not JSON: %v", s, got, jerr)
		}
		if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("parseInts(%q) = %v, encoding/json: %v", s, got, want)
		}
	})
}

func TestAppendInt(t *testing.T) {
	for _, x := range []int64{0, 1, -1, 9, 10, -10, 1 << 30, -(1 << 30), math.MaxInt64, math.MinInt64} {
		if got, want := string(appendInt(nil, x)), strconv.FormatInt(x, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", x, got, want)
		}
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
	nc, err := engine.Connect(g.name+".net", Slice)
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
