package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/internal/proctest"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkEdge measures what an edge costs and brings, each figure beside
// its baseline from the same run: a game (2,000 bodies) with its bridge
// on an embedded NATS server, and an edge on the same machine.
//
//   - snapshot latency, the game's physics publish → the edge mirror's
//     publish of the same tick, beside a local reader's (both polled at
//     the same rate, so the poll costs both the same);
//   - bytes per second per slice on NATS, s2-compressed, beside raw;
//   - the bridge's CPU beside physics';
//   - input → visible for a player on the edge's net beside one on the
//     game's own net, alternating;
//   - players on the game's net and three edges' (players per net) while
//     physics keeps its 60 ticks a second.
func BenchmarkEdge(b *testing.B) {
	for b.Loop() {
		benchEdge(b)
	}
}

func benchEdge(b *testing.B) {
	natsAddr, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	gameNet, _ := freePort()
	game := fmt.Sprintf("bench%d.edge", os.Getpid())
	defer removeInstance(game)
	store := b.TempDir()
	gp := startSupB(b, "run", "--headless", "--instance", game, "--bodies", "2000", "--agents", "200", "--net-addr", gameNet,
		"--nats", "embedded", "--nats-listen", natsAddr, "--nats-store", store, "--duration", "10m")
	defer gp.Process.Kill()
	var edges []string
	var nets = []string{gameNet}
	for i := range 3 {
		addr, _ := freePort()
		inst := fmt.Sprintf("bench%d.e%d", os.Getpid(), i)
		defer removeInstance(inst)
		ep := startSupB(b, "edge", "--nats", "nats://"+natsAddr, "--game", game, "--instance", inst, "--net-addr", addr, "--duration", "10m")
		defer ep.Process.Kill()
		edges, nets = append(edges, inst), append(nets, addr)
	}
	local, err := venom.Connect(game + ".physics")
	for deadline := time.Now().Add(30 * time.Second); err != nil; local, err = venom.Connect(game + ".physics") {
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer local.Close()
	var mirror *venom.Shell
	proctest.Eventually(b, 60*time.Second, "the edge mirror", func() bool {
		mirror, err = venom.Connect(edges[0] + ".physics")
		if err != nil {
			return false
		}
		if _, _, err := mirror.Read(make([]byte, mirror.Config().DataSize)); err != nil {
			mirror.Close()
			return false
		}
		return true
	})
	defer mirror.Close()

	// Latency: the tick each side holds, polled every 200 µs for 10 s.
	buf := make([]byte, local.Config().DataSize)
	tickOf := func(s *venom.Shell) (uint64, int64, time.Duration) {
		t0 := time.Now()
		snap, err := s.ReadSnapshot(0, buf)
		d := time.Since(t0)
		if err != nil {
			return 0, 0, d
		}
		h, err := engine.PeekHeader(buf[:snap.Len])
		if err != nil {
			return 0, 0, d
		}
		return h.Tick, snap.Mono, d
	}
	published := map[uint64]int64{} // tick → the game's venom publish time
	seenLocal := map[uint64]int64{}
	var edgeLat, localLat, copies []time.Duration
	var lastEdge uint64
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Microsecond) {
		if tick, mono, d := tickOf(local); tick != 0 {
			copies = append(copies, d)
			if _, ok := published[tick]; !ok {
				published[tick] = mono
				seenLocal[tick] = venom.Monotonic()
				localLat = append(localLat, time.Duration(seenLocal[tick]-mono))
			}
		}
		if tick, mono, _ := tickOf(mirror); tick != 0 && tick != lastEdge {
			lastEdge = tick
			if p, ok := published[tick]; ok {
				edgeLat = append(edgeLat, time.Duration(mono-p))
			}
		}
	}
	pct := func(d []time.Duration, q float64) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		if len(d) == 0 {
			return 0
		}
		return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(edgeLat, 0.5), "edge-p50-ms")
	b.ReportMetric(pct(edgeLat, 0.99), "edge-p99-ms")
	b.ReportMetric(pct(localLat, 0.5), "local-p50-ms")
	b.ReportMetric(pct(localLat, 0.99), "local-p99-ms")
	b.ReportMetric(pct(copies, 0.5)*1000, "local-copy-p50-us")
	b.Logf("snapshot latency, physics publish → seen, over %d ticks: edge mirror p50 %.2f ms p99 %.2f ms; local reader p50 %.2f ms p99 %.2f ms (its copy p50 %.1f µs)",
		len(edgeLat), pct(edgeLat, 0.5), pct(edgeLat, 0.99), pct(localLat, 0.5), pct(localLat, 0.99), pct(copies, 0.5)*1000)

	// Bytes and CPU over 10 s.
	stats, err := engine.Connect(game+".bridge", bridge.StatsSchema)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	var f0, f1 engine.Frame[bridge.Meta, bridge.SliceStats]
	stats.Read(&f0)
	bridgePid, physPid := ownerPidB(b, game+".bridge"), ownerPidB(b, game+".physics")
	c0, p0, t0 := cpuTicksOf(bridgePid), cpuTicksOf(physPid), time.Now()
	time.Sleep(10 * time.Second) // measuring over a fixed window, not waiting for a condition
	stats.Read(&f1)
	secs := time.Since(t0).Seconds()
	c1, p1 := cpuTicksOf(bridgePid), cpuTicksOf(physPid)
	for i, s := range f1.Items {
		if i >= len(f0.Items) {
			break
		}
		name := string(bytes.TrimRight(s.Name[:], "\x00"))
		raw := float64(s.RawBytes-f0.Items[i].RawBytes) / secs / 1000
		sent := float64(s.Bytes-f0.Items[i].Bytes) / secs / 1000
		b.ReportMetric(sent, name+"-kBps")
		b.Logf("%-8s raw %8.1f kB/s, s2 %8.1f kB/s (%.0f%%), %.1f snapshots/s", name, raw, sent, 100*sent/max(raw, 1e-9),
			float64(s.Published-f0.Items[i].Published)/secs)
	}
	bridgeCPU, physCPU := float64(c1-c0)/secs, float64(p1-p0)/secs // clock ticks (1/100 s) per s = % of a core
	b.ReportMetric(bridgeCPU, "bridge-%cpu")
	b.ReportMetric(physCPU, "physics-%cpu")
	b.Logf("CPU: bridge %.1f %% of a core, physics %.1f %%", bridgeCPU, physCPU)

	// Input → visible, an edge's player and the game's own, alternating.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	onGame, err := netproc.Dial(ctx, "ws://"+gameNet, "local")
	if err != nil {
		b.Fatal(err)
	}
	defer onGame.Close()
	onEdge, err := netproc.Dial(ctx, "ws://"+nets[1], "edge")
	if err != nil {
		b.Fatal(err)
	}
	defer onEdge.Close()
	visible := func(c *netproc.Client) time.Duration {
		var n int
		for {
			s, err := c.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n = len(s.Bodies); n > 0 {
				break
			}
		}
		t0 := time.Now()
		if err := c.Input(netproc.Input{Cursor: [2]float32{640, 100}, HasCursor: true, Spawn: true}); err != nil {
			b.Fatal(err)
		}
		for {
			s, err := c.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(s.Bodies) >= n+netproc.SpawnCount {
				return time.Since(t0)
			}
		}
	}
	var viaEdge, viaGame []time.Duration
	for range 20 {
		viaGame = append(viaGame, visible(onGame))
		viaEdge = append(viaEdge, visible(onEdge))
	}
	b.ReportMetric(pct(viaEdge, 0.5), "input-edge-p50-ms")
	b.ReportMetric(pct(viaGame, 0.5), "input-game-p50-ms")
	b.Logf("input → visible over 20 spawns each: edge player p50 %.1f ms max %.1f ms; game player p50 %.1f ms max %.1f ms",
		pct(viaEdge, 0.5), pct(viaEdge, 1), pct(viaGame, 0.5), pct(viaGame, 1))

	// Players: 16 on each of the 4 nets, for 10 s.
	const perNet = 16
	var players []*netproc.Client
	for _, addr := range nets {
		for i := range perNet {
			c, err := netproc.Dial(ctx, "ws://"+addr, "p"+strconv.Itoa(i))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			players = append(players, c)
		}
	}
	h0 := headerOf(b, local)
	t1 := time.Now()
	got := make([]int, len(players))
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		for i, c := range players {
			if _, ok := c.Latest(); ok {
				got[i]++
			}
		}
	}
	h1 := headerOf(b, local)
	tps := float64(h1.Tick-h0.Tick) / time.Since(t1).Seconds()
	starved := 0
	for _, n := range got {
		if n == 0 {
			starved++
		}
	}
	b.ReportMetric(tps, "physics-tps")
	b.ReportMetric(float64(len(players)-starved), "players-served")
	b.Logf("%d players (%d per net: the game's and 3 edges'): %d received snapshots throughout; physics %.1f ticks/s (target 60)",
		len(players), perNet, len(players)-starved, tps)
}

// startSupB starts the test binary as the supervisor with args; it dies
// with this process.
func startSupB(b *testing.B, args ...string) *exec.Cmd {
	b.Helper()
	cmd := execSelf(args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go cmd.Wait()
	return cmd
}

func ownerPidB(b *testing.B, ch string) int {
	b.Helper()
	var pid int
	proctest.Eventually(b, 30*time.Second, ch+" owned", func() bool {
		info, err := venom.Inspect(ch)
		pid = info.Daemon.Pid
		return err == nil && info.Owned && pid > 0
	})
	return pid
}

// cpuTicksOf is a process's user+system CPU time in clock ticks.
func cpuTicksOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

func headerOf(b *testing.B, s *venom.Shell) engine.Header {
	b.Helper()
	buf := make([]byte, s.Config().DataSize)
	n, _, err := s.Read(buf)
	if err != nil {
		b.Fatal(err)
	}
	h, err := engine.PeekHeader(buf[:n])
	if err != nil {
		b.Fatal(err)
	}
	return h
}
