package netproc

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// Benchmarks of the net process (issue 5): bytes per second per client,
// deltas against full snapshots, at 2k bodies and 20 Hz; and the CPU the
// net process spends serving 32 clients, against the same process idle.
// Physics and net run as helper processes, the clients in the benchmark
// process. Each figure is measured once per run (-benchtime 1x).

const benchBodies = 2000

// startBenchGame is startGame for a benchmark: physics with bodies bodies
// and net, both helper processes. It returns the net process and its URL.
func startBenchGame(b *testing.B, bodies int) (*proctest.Proc, string) {
	np, url, _ := startBenchGameNamed(b, bodies)
	return np, url
}

// startBenchGameNamed is startBenchGame that also returns the instance.
func startBenchGameNamed(b *testing.B, bodies int) (*proctest.Proc, string, string) {
	b.Helper()
	name := proctest.Name(b)
	b.Cleanup(func() { venom.Remove(name + ".physics"); venom.Remove(name + ".net") })
	proctest.Start(b, "physics", name+".physics", strconv.Itoa(bodies)).Expect(b, `^pid`, 10*time.Second)
	np := proctest.Start(b, "net", name, "127.0.0.1:0")
	url := "ws://" + np.Expect(b, `^listening (\S+)`, 10*time.Second)[1]
	return np, url, name
}

// benchJoin joins with a bare websocket and reads the welcome, returning
// its size.
func benchJoin(b *testing.B, ctx context.Context, url, name string) (*websocket.Conn, int) {
	b.Helper()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(64 << 20)
	join := fmt.Sprintf(`{"type":"join","name":%q,"version":%d}`, name, Version)
	if err := ws.Write(ctx, websocket.MessageText, []byte(join)); err != nil {
		b.Fatal(err)
	}
	_, m, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(m), `"welcome"`) {
		b.Fatalf("welcome: %v %.80s", err, m)
	}
	return ws, len(m)
}

// counter reads frames from ws, acknowledging each one when ack is set,
// and counts the bytes and frames received after start is set.
type counter struct {
	start         atomic.Bool
	bytes, frames atomic.Int64
	fullFrames    atomic.Int64
	readErr       atomic.Value
}

func (c *counter) run(ctx context.Context, ws *websocket.Conn, ack bool) {
	for {
		_, m, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.readErr.Store(err)
			}
			return
		}
		counting := c.start.Load()
		if counting {
			c.bytes.Add(int64(len(m)))
			c.frames.Add(1)
		}
		var hdr struct {
			Seq  uint64 `json:"seq"`
			Base uint64 `json:"base"`
		}
		if err := json.Unmarshal(m, &hdr); err != nil {
			c.readErr.Store(err)
			return
		}
		if hdr.Base == 0 && counting {
			c.fullFrames.Add(1)
		}
		if ack {
			a := fmt.Sprintf(`{"type":"ack","seq":%d}`, hdr.Seq)
			if err := ws.Write(ctx, websocket.MessageText, []byte(a)); err != nil {
				if ctx.Err() == nil {
					c.readErr.Store(err)
				}
				return
			}
		}
	}
}

// BenchmarkBytesPerClient: one client that acknowledges every snapshot
// (and so gets deltas) beside one that never does (and so gets the full
// world every time), both on the same game at 2000 bodies and 20 Hz.
func BenchmarkBytesPerClient(b *testing.B) {
	_, url := startBenchGame(b, benchBodies)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dws, _ := benchJoin(b, ctx, url, "delta")
	fws, _ := benchJoin(b, ctx, url, "full")
	var dc, fc counter
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go dc.run(rctx, dws, true)
	go fc.run(rctx, fws, false)
	time.Sleep(time.Second) // the delta client settles on acked bases
	const window = 4 * time.Second
	dc.start.Store(true)
	fc.start.Store(true)
	t0 := time.Now()
	time.Sleep(window)
	dc.start.Store(false)
	fc.start.Store(false)
	secs := time.Since(t0).Seconds()
	rcancel()
	for _, c := range []*counter{&dc, &fc} {
		if err, _ := c.readErr.Load().(error); err != nil {
			b.Fatalf("client: %v", err)
		}
	}
	if dc.frames.Load() == 0 || fc.frames.Load() == 0 {
		b.Fatalf("frames received: delta %d, full %d", dc.frames.Load(), fc.frames.Load())
	}
	dbps := float64(dc.bytes.Load()) / secs
	fbps := float64(fc.bytes.Load()) / secs
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(dbps, "delta-B/s")
	b.ReportMetric(fbps, "full-B/s")
	b.ReportMetric(fbps/dbps, "full/delta")
	b.ReportMetric(float64(dc.frames.Load())/secs, "delta-frames/s")
	b.ReportMetric(float64(fc.frames.Load())/secs, "full-frames/s")
	b.Logf("%.1fs window: delta client %d frames (%d full) %d B; full client %d frames (%d full) %d B",
		secs, dc.frames.Load(), dc.fullFrames.Load(), dc.bytes.Load(),
		fc.frames.Load(), fc.fullFrames.Load(), fc.bytes.Load())
}

// cpuTicks is utime+stime of pid, in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	st, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parsing /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return ut + st
}

const clockTicks = 100 // USER_HZ

// cpuPercent is the CPU of pid over d, in percent of one core.
func cpuPercent(b *testing.B, pid int, d time.Duration) float64 {
	b.Helper()
	c0, t0 := cpuTicks(b, pid), time.Now()
	time.Sleep(d)
	c1, el := cpuTicks(b, pid), time.Since(t0)
	return float64(c1-c0) / clockTicks / el.Seconds() * 100
}

// BenchmarkNetCPU32: the net process's CPU with 32 clients receiving (and
// acknowledging) at 2000 bodies, against the same process with none.
func BenchmarkNetCPU32(b *testing.B) {
	np, url := startBenchGame(b, benchBodies)
	pid := np.Pid()
	const window = 3 * time.Second
	time.Sleep(time.Second) // past start-up
	idle := cpuPercent(b, pid, window)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := make([]*Client, 0, MaxPlayers)
	for i := range MaxPlayers {
		c, err := Dial(ctx, url, fmt.Sprint("p", i))
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		b.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	for i, c := range cs { // every client is receiving
		if _, err := c.Next(ctx); err != nil {
			b.Fatalf("client %d: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	busy := cpuPercent(b, pid, window)
	for i, c := range cs { // and still is
		if _, err := c.Next(ctx); err != nil {
			b.Fatalf("client %d after the window: %v", i, err)
		}
		if c.Reconnects() != 0 {
			b.Fatalf("client %d reconnected %d times", i, c.Reconnects())
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(busy, "net-cpu-%")
	b.ReportMetric(idle, "idle-cpu-%")
	b.ReportMetric(busy-idle, "per-32-clients-cpu-%")
}

// worldAt quantizes a physics world's bodies as net sends them.
func worldAt(w *physics.World, tick uint64) *Snapshot {
	s := &Snapshot{Tick: tick, Width: 1280, Height: 720}
	for _, b := range w.Bodies() {
		s.Bodies = append(s.Bodies, Body{ID: b.ID, Flags: b.Flags, X: Fixed(b.X, Subpixel), Y: Fixed(b.Y, Subpixel),
			VX: Fixed(b.VX, 1), VY: Fixed(b.VY, 1), R: Fixed(b.R, Subpixel)})
	}
	return s
}

// benchWorlds are two snapshots of a moving 2000-body world 3 physics
// ticks apart (60 Hz ticks, 20 Hz sends), and the newer one's bodies as
// protocol version 1 sent them: an object each, floats.
func benchWorlds(b *testing.B) (base, cur *Snapshot, objs []objBody) {
	w, err := physics.New(physics.DefaultParams(), benchBodies)
	if err != nil {
		b.Fatal(err)
	}
	for range 300 { // let the world settle into motion
		w.Step(1.0 / 60)
	}
	base = worldAt(w, 1)
	for range 3 {
		w.Step(1.0 / 60)
	}
	cur = worldAt(w, 2)
	for _, x := range w.Bodies() {
		objs = append(objs, objBody{x.ID, x.Flags, x.X, x.Y, x.VX, x.VY, x.R})
	}
	return base, cur, objs
}

type objBody struct {
	ID    uint32  `json:"id"`
	Flags uint32  `json:"f,omitempty"`
	X     float32 `json:"x"`
	Y     float32 `json:"y"`
	VX    float32 `json:"vx"`
	VY    float32 `json:"vy"`
	R     float32 `json:"r"`
}

// BenchmarkEncode: what one send costs net at 2000 bodies, encoding a
// delta and a full snapshot in the wire form, against encoding/json of the
// same bodies as one object each (protocol version 1's form), in the same
// run. bytes/msg is the message size.
func BenchmarkEncode(b *testing.B) {
	base, cur, objs := benchWorlds(b)
	for _, c := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"delta", func() ([]byte, error) { return Diff(base, cur).MarshalJSON() }},
		{"full", cur.MarshalJSON},
		{"baseline-json-objects", func() ([]byte, error) { return json.Marshal(objs) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				m, err := c.enc()
				if err != nil {
					b.Fatal(err)
				}
				n = len(m)
			}
			b.ReportMetric(float64(n), "bytes/msg")
		})
	}
}

// BenchmarkDecode: what one snapshot costs a client: decoding a delta and
// applying it to its base, and decoding a full snapshot, against
// encoding/json decoding the same bodies as objects, in the same run.
func BenchmarkDecode(b *testing.B) {
	base, cur, objs := benchWorlds(b)
	delta, _ := Diff(base, cur).MarshalJSON()
	full, _ := cur.MarshalJSON()
	old, _ := json.Marshal(objs)
	b.Run("delta+apply", func(b *testing.B) {
		for b.Loop() {
			var d Delta
			if err := json.Unmarshal(delta, &d); err != nil {
				b.Fatal(err)
			}
			if _, err := Apply(base, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			var s Snapshot
			if err := json.Unmarshal(full, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-json-objects", func(b *testing.B) {
		for b.Loop() {
			var o []objBody
			if err := json.Unmarshal(old, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInputToVisible: a player's spawn, from Client.Input to the
// first snapshot the client receives with the new bodies, against the
// same spawn sent straight to physics over venom and seen in its slice
// (the local renderer's path), alternating, in the same run. The network
// path waits for physics' tick and then for net's next send (20 Hz).
func BenchmarkInputToVisible(b *testing.B) {
	_, url, name := startBenchGameNamed(b, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Dial(ctx, url, "latency")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	phys, err := engine.Connect(name+".physics", physics.Slice)
	if err != nil {
		b.Fatal(err)
	}
	defer phys.Close()
	var f engine.Frame[physics.Params, physics.Body]
	bodies := func() int {
		if phys.Read(&f) != nil {
			return 0
		}
		return len(f.Items)
	}
	// seen waits for a snapshot from c with at least n bodies.
	seen := func(n int) {
		for {
			s, err := c.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(s.Bodies) >= n {
				return
			}
		}
	}
	const rounds = 40
	var remote, local []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	phase := func() { // a click comes at any moment of the send and tick cycles
		time.Sleep(time.Duration(rng.Int64N(int64(100 * time.Millisecond))))
	}
	for range rounds {
		n := bodies()
		seen(n) // the client has caught up with physics
		phase()
		t0 := time.Now()
		if err := c.Input(Input{Cursor: [2]float32{640, 200}, HasCursor: true, Spawn: true}); err != nil {
			b.Fatal(err)
		}
		seen(n + SpawnCount)
		remote = append(remote, time.Since(t0))

		phase()
		n = bodies()
		t0 = time.Now()
		if err := phys.Send(engine.Cmd(physics.OpSpawnBurst, 640, 200, SpawnCount)); err != nil {
			b.Fatal(err)
		}
		for deadline := t0.Add(5 * time.Second); bodies() < n+SpawnCount; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				b.Fatal("the local spawn never showed")
			}
		}
		local = append(local, time.Since(t0))
	}
	pct := func(d []time.Duration, p float64) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(pct(remote, 0.5), "net-p50-ms")
	b.ReportMetric(pct(remote, 1), "net-max-ms") // of 40 rounds: a p99 would be the max
	b.ReportMetric(pct(local, 0.5), "venom-p50-ms")
	b.ReportMetric(pct(local, 1), "venom-max-ms")
	b.ReportMetric(pct(remote, 0.5)/pct(local, 0.5), "net/venom-p50")
}
