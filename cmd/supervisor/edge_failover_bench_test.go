package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkEdgeFailover measures failover of a real three-node NATS
// cluster of separate nats-server processes (R3 streams) under a game
// and an edge: each case SIGKILLs one node — the JetStream meta leader,
// the leader of physics's command stream, the leader of the snapshot
// stream, the node the bridge and the mirrors connect to — and prints
// the time to the first command sent through the edge and applied by the
// game's physics, and to the first new snapshot at the edge, beside a
// plain NATS subscriber's first new snapshot in the same run, and when
// the command stream answered again (a leader). The node comes back
// before the next case. It needs a nats-server binary:
//
//	go build -o /tmp/nats-server github.com/nats-io/nats-server/v2
//	NATS_SERVER=/tmp/nats-server go test ./cmd/supervisor -run '^$' -bench EdgeFailover -benchtime 1x
func BenchmarkEdgeFailover(b *testing.B) {
	bin := os.Getenv("NATS_SERVER")
	if bin == "" {
		bin = "/tmp/nats-server"
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no nats-server binary at %s (NATS_SERVER): %v", bin, err)
	}
	for b.Loop() {
		benchFailover(b, bin)
	}
}

// natsNode is one nats-server process of the cluster.
type natsNode struct {
	name, client, monitor string
	args                  []string
	cmd                   *exec.Cmd
}

func (n *natsNode) start(b *testing.B) {
	b.Helper()
	n.cmd = exec.Command(n.args[0], n.args[1:]...)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go n.cmd.Wait()
}

func (n *natsNode) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// metaLeader asks a node's monitoring endpoint for the meta leader.
func (n *natsNode) metaLeader() string {
	c := http.Client{Timeout: time.Second}
	r, err := c.Get("http://" + n.monitor + "/jsz")
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	var z struct {
		Meta struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if json.NewDecoder(r.Body).Decode(&z) != nil {
		return ""
	}
	return z.Meta.Leader
}

func streamName(game, kind string) string {
	return "VENOMRT_" + strings.ReplaceAll(game, ".", "_") + "_" + kind
}

func benchFailover(b *testing.B, bin string) {
	var nodes []*natsNode
	var routes []string
	for i := range 3 {
		c, _ := freePort()
		r, _ := freePort()
		m, _ := freePort()
		nodes = append(nodes, &natsNode{name: "n" + strconv.Itoa(i), client: c, monitor: m})
		routes = append(routes, r)
	}
	for i, n := range nodes {
		host, port := splitHostPortB(n.client)
		_, rport := splitHostPortB(routes[i])
		_, mport := splitHostPortB(n.monitor)
		var rs []string
		for j, r := range routes {
			if j != i {
				rs = append(rs, "nats-route://"+r)
			}
		}
		n.args = []string{bin, "-js", "-sd", b.TempDir(), "-a", host, "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport),
			"-n", n.name, "--cluster_name", "venomrt-bench", "--cluster", "nats://" + host + ":" + strconv.Itoa(rport), "--routes", strings.Join(rs, ",")}
		n.start(b)
		defer n.kill()
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://"+n.client)
	}
	url := strings.Join(urls, ",")

	gameNet, _ := freePort()
	edgeNet, _ := freePort()
	game := fmt.Sprintf("bench%d.fo", os.Getpid())
	edge := game + ".edge"
	defer removeInstance(game)
	defer removeInstance(edge)
	gp := startSupLog(b, "run", "--headless", "--instance", game, "--bodies", "200", "--agents", "20", "--net-addr", gameNet,
		"--nats", url, "--nats-replicas", "3", "--duration", "10m")
	defer gp.Process.Signal(syscall.SIGTERM)
	ep := startSupLog(b, "edge", "--nats", url, "--game", game, "--instance", edge, "--net-addr", edgeNet, "--duration", "10m")
	defer ep.Process.Signal(syscall.SIGTERM)

	// The observer's own connection: any node but the one killed.
	nc, err := bridge.Connect(url, "failover observer")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	// The plain subscriber: the newest physics tick it has seen, and when
	// it first saw one beyond plainFrom.
	var plainTick, plainFrom atomic.Uint64
	var plainAt atomic.Int64
	pnc, err := nats.Connect(url, nats.Name("plain subscriber"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(0, 0), nats.DontRandomize(), nats.RetryOnFailedConnect(true))
	if err != nil {
		b.Fatal(err)
	}
	defer pnc.Close()
	sub, err := pnc.Subscribe(bridge.SliceSubject(game, "physics"), func(m *nats.Msg) {
		data := m.Data
		if m.Header.Get("Venom-Encoding") == "s2" {
			if data, err = s2.Decode(nil, m.Data); err != nil {
				return
			}
		}
		if h, err := engine.PeekHeader(data); err == nil && h.Tick > plainTick.Load() {
			plainTick.Store(h.Tick)
			if h.Tick > plainFrom.Load() {
				plainAt.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	gamePhys, err := waitClient(b, game+".physics")
	if err != nil {
		b.Fatal(err)
	}
	defer gamePhys.Close()
	edgePhys, err := waitClient(b, edge+".physics")
	if err != nil {
		b.Fatal(err)
	}
	defer edgePhys.Close()
	var gf, ef engine.Frame[physics.Meta, physics.Body]
	read := func(c *engine.Client[physics.Meta, physics.Body], f *engine.Frame[physics.Meta, physics.Body]) bool {
		return c.Read(f) == nil
	}
	leaderOf := func(stream string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return ""
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	healthy := func() {
		proctest.Eventually(b, 90*time.Second, "the cluster healthy, a command through the edge", func() bool {
			for _, s := range []string{streamName(game, "CMD_physics"), streamName(game, "SLICES")} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				st, err := js.Stream(ctx, s)
				var info *jetstream.StreamInfo
				if err == nil {
					info, err = st.Info(ctx)
				}
				cancel()
				if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
					return false
				}
				for _, r := range info.Cluster.Replicas {
					if !r.Current {
						return false
					}
				}
			}
			if nodes[0].metaLeader() == "" || !read(gamePhys, &gf) {
				return false
			}
			before := gf.Inputs
			if edgePhys.Send(engine.Cmd(engine.OpInput)) != nil {
				return false
			}
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				if read(gamePhys, &gf) && gf.Inputs > before {
					return true
				}
				time.Sleep(5 * time.Millisecond)
			}
			return false
		})
	}
	cases := []struct {
		name   string
		target func() string
	}{
		{"meta leader", func() string { return nodes[0].metaLeader() }},
		{"command stream's leader", func() string { return leaderOf(streamName(game, "CMD_physics")) }},
		{"snapshot stream's leader", func() string { return leaderOf(streamName(game, "SLICES")) }},
		{"the bridge's and mirrors' node", func() string { return nodes[0].name }},
	}
	fmt.Printf("%-31s %-4s %12s %14s %15s %12s %18s %14s\n", "SIGKILL of", "node", "command (ms)", "edge snap (ms)", "plain sub (ms)", "meta leader", "cmd stream leader", "cmd after both")
	for _, c := range cases {
		healthy()
		name := c.target()
		var victim *natsNode
		for _, n := range nodes {
			if n.name == name {
				victim = n
			}
		}
		if victim == nil {
			b.Fatalf("%s: no such node %q", c.name, name)
		}
		read(gamePhys, &gf)
		inputs, tick := gf.Inputs, gf.Tick
		plainFrom.Store(max(tick, plainTick.Load()) + 1)
		plainAt.Store(0)
		t0 := time.Now()
		victim.kill()
		var cmdAt, edgeAt, leaderAt, metaAt time.Duration
		// The command stream answering again, watched beside the loop
		// (a request takes up to its timeout).
		metaCh := make(chan time.Duration, 1)
		go func() {
			for time.Since(t0) < 60*time.Second {
				for _, n := range nodes {
					if n != victim && n.metaLeader() != "" && n.metaLeader() != victim.name {
						metaCh <- time.Since(t0)
						return
					}
				}
				time.Sleep(time.Millisecond)
			}
			metaCh <- 0
		}()
		leaderCh := make(chan time.Duration, 1)
		go func() {
			for time.Since(t0) < 60*time.Second {
				if leaderOf(streamName(game, "CMD_physics")) != "" {
					leaderCh <- time.Since(t0)
					return
				}
				time.Sleep(time.Millisecond)
			}
			leaderCh <- 0
		}()
		lastSend := time.Time{}
		for (cmdAt == 0 || edgeAt == 0 || leaderAt == 0 || metaAt == 0) && time.Since(t0) < 60*time.Second {
			now := time.Now()
			if now.Sub(lastSend) >= 5*time.Millisecond {
				edgePhys.Send(engine.Cmd(engine.OpInput)) // full while the mirror waits: fine
				lastSend = now
			}
			if cmdAt == 0 && read(gamePhys, &gf) && gf.Inputs > inputs {
				cmdAt = time.Since(t0)
			}
			if edgeAt == 0 && read(edgePhys, &ef) && ef.Tick > tick+1 {
				edgeAt = time.Since(t0)
			}
			select {
			case metaAt = <-metaCh:
				if metaAt == 0 {
					metaAt = -1
				}
			default:
			}
			select {
			case leaderAt = <-leaderCh:
				if leaderAt == 0 {
					leaderAt = -1
				}
			default:
			}
			time.Sleep(time.Millisecond)
		}
		plain := time.Duration(0)
		if at := plainAt.Load(); at != 0 {
			plain = time.Duration(at - t0.UnixNano())
		}
		ms := func(d time.Duration) string {
			if d <= 0 {
				return "none in 60 s"
			}
			return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 0, 64)
		}
		after := "-"
		switch back := max(leaderAt, metaAt); {
		case cmdAt <= 0 || leaderAt <= 0 || metaAt <= 0:
		case cmdAt <= back:
			after = "before"
		default:
			after = ms(cmdAt - back)
		}
		fmt.Printf("%-31s %-4s %12s %14s %15s %12s %18s %14s\n", c.name, name, ms(cmdAt), ms(edgeAt), ms(plain), ms(metaAt), ms(leaderAt), after)
		b.ReportMetric(float64(cmdAt.Milliseconds()), strings.ReplaceAll(c.name, " ", "_")+"-cmd-ms")
		victim.start(b)
	}
	healthy()
}

func splitHostPortB(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return addr[:i], p
}

func waitClient(b *testing.B, ch string) (*engine.Client[physics.Meta, physics.Body], error) {
	var c *engine.Client[physics.Meta, physics.Body]
	var err error
	proctest.Eventually(b, 60*time.Second, ch+" readable", func() bool {
		if _, ierr := venom.Inspect(ch); ierr != nil {
			return false
		}
		c, err = engine.Connect(ch, physics.Schema)
		if err != nil {
			return false
		}
		var f engine.Frame[physics.Meta, physics.Body]
		if c.Read(&f) != nil {
			c.Close()
			return false
		}
		return true
	})
	return c, err
}

// startSupLog is startSupB with the supervisor's log (its children's
// too) in $FAILOVER_LOG_DIR, when set: what each side did in a case.
func startSupLog(b *testing.B, args ...string) *exec.Cmd {
	b.Helper()
	dir := os.Getenv("FAILOVER_LOG_DIR")
	if dir == "" {
		return startSupB(b, args...)
	}
	cmd := execSelf(args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	f, err := os.Create(dir + "/" + args[0] + ".log")
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { cmd.Wait(); f.Close() }()
	return cmd
}
