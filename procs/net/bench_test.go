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
	"github.com/venomrt/venomrt/procs/world/worldtest"
	"github.com/venomrt/venomrt/venom"
)

// Benchmarks of the net process: bytes per second per client, deltas
// against full snapshots, at 2k bodies and 20 Hz, protocol version 3
// beside what version 2 sends for the same snapshots (v2_test.go keeps
// version 2's encoder for this); encode and decode time, v3 beside v2;
// the CPU the net process spends serving 32 clients, against the same
// process idle; input → visible against venom's own path.
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

// benchJoin joins with a bare websocket and reads the welcome.
func benchJoin(b *testing.B, ctx context.Context, url, name string) (*websocket.Conn, []byte) {
	b.Helper()
	u, err := JoinURL(url, name)
	if err != nil {
		b.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(MaxServerMessage)
	_, m, err := ws.Read(ctx)
	if err != nil {
		b.Fatalf("welcome: %v", err)
	}
	return ws, m
}

// counter reads messages from ws, decoding each one and acknowledging it
// when ack is set, and counts what it received after start is set: the
// bytes, and what version 2 would have sent for the same snapshots
// against the same bases (the same run's baseline), and the bodies that
// moved since each message's base.
type counter struct {
	start              atomic.Bool
	bytes, frames, v2  atomic.Int64
	fullFrames, moving atomic.Int64
	readErr            atomic.Value
}

func (c *counter) run(ctx context.Context, ws *websocket.Conn, welcome []byte, ack bool) {
	got := map[uint64]*Snapshot{}
	m := welcome
	for {
		if err := c.take(ws, ctx, got, m, ack); err != nil {
			if ctx.Err() == nil {
				c.readErr.Store(err)
			}
			return
		}
		var err error
		if _, m, err = ws.Read(ctx); err != nil {
			if ctx.Err() == nil {
				c.readErr.Store(err)
			}
			return
		}
	}
}

func (c *counter) take(ws *websocket.Conn, ctx context.Context, got map[uint64]*Snapshot, b []byte, ack bool) error {
	m, err := ParseServerMessage(b)
	if err != nil {
		return err
	}
	base := got[m.Base]
	if m.Base != 0 && base == nil {
		return fmt.Errorf("delta against %d, not held", m.Base)
	}
	s, err := m.World(base)
	if err != nil {
		return err
	}
	got[m.Seq] = &s
	delete(got, m.Seq-sentHistory)
	if c.start.Load() {
		c.bytes.Add(int64(len(b)))
		c.frames.Add(1)
		var v2 []byte
		if base == nil {
			c.fullFrames.Add(1)
			w, _ := v2MarshalSnapshot(s)
			v2 = v2Message(m.Seq, 0, s.Tick, w)
		} else {
			w, _ := v2MarshalDelta(v2Diff(base, &s))
			v2 = v2Message(m.Seq, m.Base, s.Tick, w)
			c.moving.Add(int64(moving(base, &s)))
		}
		c.v2.Add(int64(len(v2)))
	}
	if ack {
		return ws.Write(ctx, websocket.MessageBinary, AppendAck(nil, m.Seq))
	}
	return nil
}

// moving counts the bodies of cur that are in base with another position
// or velocity.
func moving(base, cur *Snapshot) int {
	n, i := 0, 0
	for _, b := range cur.Bodies {
		for i < len(base.Bodies) && base.Bodies[i].ID < b.ID {
			i++
		}
		if i < len(base.Bodies) && base.Bodies[i].ID == b.ID {
			a := base.Bodies[i]
			if a.X != b.X || a.Y != b.Y || a.VX != b.VX || a.VY != b.VY {
				n++
			}
		}
	}
	return n
}

// BenchmarkBytesPerClient: one client that acknowledges every snapshot
// (and so gets deltas) beside one that never does (and so gets the full
// world every time), both on the same game at 2000 bodies and 20 Hz; for
// each, what version 2 would have sent for the same snapshots and bases.
func BenchmarkBytesPerClient(b *testing.B) {
	_, url := startBenchGame(b, benchBodies)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dws, dw := benchJoin(b, ctx, url, "delta")
	fws, fw := benchJoin(b, ctx, url, "full")
	var dc, fc counter
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go dc.run(rctx, dws, dw, true)
	go fc.run(rctx, fws, fw, false)
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
	dbps, d2bps := float64(dc.bytes.Load())/secs, float64(dc.v2.Load())/secs
	fbps, f2bps := float64(fc.bytes.Load())/secs, float64(fc.v2.Load())/secs
	deltas := float64(dc.frames.Load() - dc.fullFrames.Load())
	movingPer := float64(dc.moving.Load()) / deltas
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(dbps, "v3-delta-B/s")
	b.ReportMetric(d2bps, "v2-delta-B/s")
	b.ReportMetric(d2bps/dbps, "v2/v3-delta")
	b.ReportMetric(fbps, "v3-full-B/s")
	b.ReportMetric(f2bps, "v2-full-B/s")
	b.ReportMetric(movingPer, "moving-bodies/snapshot")
	b.ReportMetric(dbps/20/movingPer, "v3-B/moving-body")
	b.ReportMetric(d2bps/20/movingPer, "v2-B/moving-body")
	b.ReportMetric(float64(dc.frames.Load())/secs, "delta-frames/s")
	b.Logf("%.1fs window: delta client %d frames (%d full) %d B (v2: %d B), %.0f moving bodies a delta; full client %d frames (%d full) %d B (v2: %d B)",
		secs, dc.frames.Load(), dc.fullFrames.Load(), dc.bytes.Load(), dc.v2.Load(), movingPer,
		fc.frames.Load(), fc.fullFrames.Load(), fc.bytes.Load(), fc.v2.Load())
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

// worldAt quantizes a physics world's bodies as net sends them, at
// physics tick tick (60 a second).
func worldAt(w *physics.World, tick uint64) *Snapshot {
	s := &Snapshot{Tick: tick, PhysicsTick: tick, Width: 1280, Height: 720, physicsTime: int64(tick) * 1e9 / 60}
	for _, b := range w.Bodies() {
		s.Bodies = append(s.Bodies, Body{ID: b.ID, Flags: b.Flags, X: Fixed(b.X, Subpixel), Y: Fixed(b.Y, Subpixel),
			VX: Fixed(b.VX, 1), VY: Fixed(b.VY, 1), R: Fixed(b.R, Subpixel)})
	}
	return s
}

// benchWorlds are two snapshots of a moving 2000-body world 3 physics
// ticks apart (60 Hz ticks, 20 Hz sends), 2 s after the world began
// (bodies falling and colliding, as in BenchmarkBytesPerClient's window).
func benchWorlds(b testing.TB) (base, cur *Snapshot) {
	w, err := physics.New(physics.DefaultParams(), benchBodies)
	if err != nil {
		b.Fatal(err)
	}
	for range 120 {
		w.Step(1.0 / 60)
	}
	base = worldAt(w, 120)
	for range 3 {
		w.Step(1.0 / 60)
	}
	return base, worldAt(w, 123)
}

// BenchmarkEncode: what one send costs net at 2000 bodies, a delta and a
// full snapshot, whole messages, in version 3 beside version 2 (the
// baseline) in the same run. bytes/msg is the message size.
func BenchmarkEncode(b *testing.B) {
	base, cur := benchWorlds(b)
	for _, c := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"v2-delta-baseline", func() ([]byte, error) {
			w, err := v2MarshalDelta(v2Diff(base, cur))
			return v2Message(2, 1, cur.Tick, w), err
		}},
		{"v3-delta", func() ([]byte, error) { return AppendSnapshot(nil, 2, 1, base, cur) }},
		{"v2-full-baseline", func() ([]byte, error) {
			w, err := v2MarshalSnapshot(*cur)
			return v2Message(2, 0, cur.Tick, w), err
		}},
		{"v3-full", func() ([]byte, error) { return AppendSnapshot(nil, 2, 0, nil, cur) }},
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
			if strings.HasSuffix(c.name, "delta") || strings.HasSuffix(c.name, "delta-baseline") {
				b.ReportMetric(float64(n)/float64(moving(base, cur)), "B/moving-body")
			}
		})
	}
}

// v2ServerMsg is how the version 2 client decoded a message: one
// encoding/json pass over it, the snapshot or delta through their own
// decoders.
type v2ServerMsg struct {
	Type     string       `json:"type"`
	ID       uint32       `json:"id,omitempty"`
	Tick     uint64       `json:"tick"`
	Seq      uint64       `json:"seq"`
	Base     uint64       `json:"base"`
	Snapshot *v2SnapJSON  `json:"snapshot,omitempty"`
	Delta    *v2DeltaJSON `json:"delta,omitempty"`
}

type v2SnapJSON struct{ Snapshot }

func (s *v2SnapJSON) UnmarshalJSON(b []byte) error { return v2UnmarshalSnapshot(&s.Snapshot, b) }

type v2DeltaJSON struct{ v2Delta }

func (d *v2DeltaJSON) UnmarshalJSON(b []byte) error { return v2UnmarshalDelta(&d.v2Delta, b) }

// BenchmarkDecode: what one snapshot costs the Go client: decoding a
// delta message against its base (applying it), and a full one, in
// version 3 beside version 2 (the baseline) in the same run.
func BenchmarkDecode(b *testing.B) {
	base, cur := benchWorlds(b)
	v2d, _ := v2MarshalDelta(v2Diff(base, cur))
	v2delta := v2Message(2, 1, cur.Tick, v2d)
	v2f, _ := v2MarshalSnapshot(*cur)
	v2full := v2Message(2, 0, cur.Tick, v2f)
	v3delta, _ := AppendSnapshot(nil, 2, 1, base, cur)
	v3full, _ := AppendSnapshot(nil, 2, 0, nil, cur)
	// The client holds the base as it decoded it.
	held := wireForm(*base)
	b.Run("v2-delta-baseline", func(b *testing.B) {
		for b.Loop() {
			var m v2ServerMsg
			if err := json.Unmarshal(v2delta, &m); err != nil {
				b.Fatal(err)
			}
			if _, err := v2Apply(&held, &m.Delta.v2Delta); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v3-delta", func(b *testing.B) {
		for b.Loop() {
			m, err := ParseServerMessage(v3delta)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.World(&held); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v2-full-baseline", func(b *testing.B) {
		for b.Loop() {
			var m v2ServerMsg
			if err := json.Unmarshal(v2full, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v3-full", func(b *testing.B) {
		for b.Loop() {
			m, err := ParseServerMessage(v3full)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.World(nil); err != nil {
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
	phys, err := engine.Connect(name+".physics", physics.Schema)
	if err != nil {
		b.Fatal(err)
	}
	defer phys.Close()
	var f engine.Frame[physics.Meta, physics.Body]
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

// aoiWorld publishes a synthetic world of bodies bodies in regions
// regions, w × 720 px (12,800: the width a 100,000-body world takes), on
// real channels "<name>.physics-i", at 60 Hz until ctx ends (ids interleaved between the
// regions, as a fresh world's cut in strips): every body moves (ballistic
// under gravity, bouncing off the floor, ceiling and its strip's walls)
// and a tenth of them are kicked each tick (collisions), so each
// snapshot's deltas cost what a lively world's do. It returns the
// channels.
func aoiWorld(b *testing.B, ctx context.Context, name string, w, regions, bodies int) []string {
	const h = 720
	var chans []string
	type region struct {
		r      *worldtest.Region
		bodies []physics.Body
	}
	var rs []region
	per := bodies / regions
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range regions {
		ch := fmt.Sprintf("%s.physics-%d", name, i)
		chans = append(chans, ch)
		lo := float32(w * i / regions)
		bs := worldtest.Bodies(uint32(1+per*i), per, lo, lo+float32(w)/float32(regions), 0)
		for k := range bs {
			// The regions' ids interleave, as a fresh world's cut in
			// strips do: each region's run in ID order, the world's not.
			bs[k].ID = uint32(1 + k*regions + i)
			bs[k].Y = 5 + rng.Float32()*(h-10)
			bs[k].VX, bs[k].VY = rng.Float32()*200-100, rng.Float32()*200-100
		}
		rs = append(rs, region{worldtest.Start(b, ch), bs})
	}
	publish := func() error {
		for i, r := range rs {
			lo, hi := float32(w*i/regions), float32(w*(i+1)/regions)
			for k := range r.bodies {
				p := &r.bodies[k]
				p.VY += 300.0 / 60
				if rng.IntN(10) == 0 {
					p.VX += rng.Float32()*60 - 30
					p.VY += rng.Float32()*60 - 30
				}
				p.X += p.VX / 60
				p.Y += p.VY / 60
				if p.X < lo+p.R || p.X > hi-p.R {
					p.VX, p.X = -p.VX, min(max(p.X, lo+p.R), hi-p.R)
				}
				if p.Y < p.R || p.Y > h-p.R {
					p.VY, p.Y = -p.VY, min(max(p.Y, p.R), h-p.R)
				}
			}
			if err := r.r.TryPublish(worldtest.Meta(i, regions, float32(w), h, len(r.bodies), 0, 0), r.bodies, time.Second/60); err != nil {
				return err
			}
		}
		return nil
	}
	if err := publish(); err != nil {
		b.Fatal(err)
	}
	go func() {
		t := time.NewTicker(time.Second / 60)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if publish() != nil {
				return
			}
		}
	}()
	return chans
}

// BenchmarkBytesAOI: bytes per player per second at 100,000 bodies in 8
// regions (a synthetic world on real channels, every body moving), net a
// helper process at 20 Hz: a player with a 1280×720 view (real
// WebSocket, acknowledging every snapshot) and one that never says its
// view (the whole world, cut to MaxViewBodies), beside, in the same run
// and on the same world, the whole-world stream net sent before areas of
// interest — net's own snapshots of every region (Proc.snapshot), each
// encoded as a delta against the one before (in two halves by ID: the
// whole world is more than one snapshot's MaxItems).
//
//	go test -run '^$' -bench BytesAOI -benchtime 1x ./procs/net/
func BenchmarkBytesAOI(b *testing.B) {
	const regions, bodies = 8, 100000
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	name := proctest.Name(b)
	chans := aoiWorld(b, ctx, name, 12800, regions, bodies)
	// Today's world beside it: the default 1280×720 and 2,000 bodies,
	// one region, the same motion, sent whole as net sends it today.
	today := New(Options{Regions: aoiWorld(b, ctx, name+"-today", 1280, 1, 2000)})
	defer today.Close()
	b.Cleanup(func() { venom.Remove(name + ".net") })
	np := proctest.Start(b, "net", name, "127.0.0.1:0", fmt.Sprintf("regions=%d", regions))
	url := "ws://" + np.Expect(b, `^listening (\S+)`, 10*time.Second)[1]

	vws, vw := benchJoin(b, ctx, url, "view")
	if err := vws.Write(ctx, websocket.MessageBinary, AppendView(nil, View{X: 6000, Y: 0, W: 1280, H: 720})); err != nil {
		b.Fatal(err)
	}
	dws, dw := benchJoin(b, ctx, url, "default")
	var vc, dc counter
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go vc.run(rctx, vws, vw, true)
	go dc.run(rctx, dws, dw, true)

	// The whole world as net reads it, encoded as it would have been.
	whole := New(Options{Regions: chans})
	defer whole.Close()
	half := func(s *Snapshot, first bool) *Snapshot {
		h := *s
		k, _ := slices.BinarySearchFunc(s.Bodies, uint32(bodies/2+1), func(b Body, id uint32) int { return int(b.ID) - int(id) })
		if first {
			h.Bodies = s.Bodies[:k]
		} else {
			h.Bodies = s.Bodies[k:]
		}
		return &h
	}
	var wholeBytes, wholeFrames, wholeBodies, todayBytes int64
	var prev, prevToday *Snapshot
	time.Sleep(time.Second) // the players settle on acknowledged bases
	const window = 5 * time.Second
	vc.start.Store(true)
	dc.start.Store(true)
	t0, cpu0 := time.Now(), cpuTicks(b, np.Pid())
	tick := time.NewTicker(time.Second / 20)
	for time.Since(t0) < window {
		<-tick.C
		s := whole.snapshot()
		if prev != nil {
			for _, first := range []bool{true, false} {
				m, err := AppendSnapshot(nil, 2, 1, half(prev, first), half(s, first))
				if err != nil {
					b.Fatal(err)
				}
				wholeBytes += int64(len(m))
			}
			wholeFrames++
			wholeBodies += int64(len(s.Bodies))
		}
		prev = s
		st := today.snapshot()
		if prevToday != nil {
			m, err := AppendSnapshot(nil, 2, 1, prevToday, st)
			if err != nil {
				b.Fatal(err)
			}
			todayBytes += int64(len(m))
		}
		prevToday = st
	}
	tick.Stop()
	vc.start.Store(false)
	dc.start.Store(false)
	secs := time.Since(t0).Seconds()
	netCPU := float64(cpuTicks(b, np.Pid())-cpu0) / clockTicks / secs * 100
	rcancel()
	for _, c := range []*counter{&vc, &dc} {
		if err, _ := c.readErr.Load().(error); err != nil {
			b.Fatalf("player: %v", err)
		}
		if c.frames.Load() == 0 {
			b.Fatal("a player received nothing")
		}
	}
	vbps, dbps := float64(vc.bytes.Load())/secs, float64(dc.bytes.Load())/secs
	wbps := float64(wholeBytes) / (float64(wholeFrames) / 20)
	tbps := float64(todayBytes) / (float64(wholeFrames) / 20)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(vbps, "view-B/s")
	b.ReportMetric(dbps, "default-B/s")
	b.ReportMetric(wbps, "whole-world-B/s")
	b.ReportMetric(wbps/vbps, "whole/view")
	b.ReportMetric(tbps, "today-2000-B/s")
	b.ReportMetric(netCPU, "net-cpu-%")
	fmt.Printf("--- SUMMARY: %s: bytes per player per second at %d bodies in %d regions (12,800×720 px, every body moving), net at 20 Hz:\n"+
		"\tview 1280×720:          %8.0f B/s  (%d snapshots, %d full)\n"+
		"\tdefault (no view sent): %8.0f B/s  (the whole world, cut to MaxViewBodies = %d)\n"+
		"\twhole world (before):   %8.0f B/s  (%.0f bodies a snapshot, same run, same world)\n"+
		"\ttoday's world:          %8.0f B/s  (2,000 bodies, 1280×720, the same motion, whole, same run)\n"+
		"\tnet's CPU meanwhile: %.0f %% of a core (reading the %d regions, merging, the views)\n",
		b.Name(), bodies, regions, vbps, vc.frames.Load(), vc.fullFrames.Load(), dbps, MaxViewBodies, wbps, float64(wholeBodies)/float64(max(wholeFrames, 1)),
		tbps, netCPU, regions)
}
