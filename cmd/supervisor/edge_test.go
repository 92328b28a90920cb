package main

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// edgePorts are free loopback addresses for a game's NATS and two nets.
func edgePorts(t *testing.T) (natsAddr, gameNet, edgeNet string) {
	t.Helper()
	var addrs []string
	for range 3 {
		a, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	return addrs[0], addrs[1], addrs[2]
}

// startNATSGame runs the game called game (a test's name) headless, with
// bodies and agents, its NATS server embedded at natsAddr, its net at
// gameNet and more flags; its segments go at the test's end.
func startNATSGame(t *testing.T, game, natsAddr, gameNet string, bodies, agents int, more ...string) *supProc {
	t.Helper()
	t.Cleanup(func() { removeInstance(game) })
	args := []string{"run", "--headless", "--instance", game, "--bodies", strconv.Itoa(bodies), "--agents", strconv.Itoa(agents),
		"--net-addr", gameNet, "--nats", "embedded", "--nats-listen", natsAddr, "--nats-store", t.TempDir(), "--duration", "5m"}
	return startSup(t, nil, append(args, more...)...)
}

// startEdge runs "supervisor edge" for game over NATS at url, with more
// flags (the game's --regions) when given.
func startEdge(t *testing.T, url, game, netAddr string, more ...string) (*supProc, string) {
	t.Helper()
	inst := game[:min(len(game), 35)] + ".edge" // instance names are at most 40 bytes
	t.Cleanup(func() { removeInstance(inst) })
	p := startSup(t, nil, append([]string{"edge", "--nats", url, "--game", game, "--instance", inst, "--net-addr", netAddr, "--duration", "5m"}, more...)...)
	return p, inst
}

// A player on the edge's net plays in the game on the other "machine":
// the spawn reaches the game's physics through the mirror, the bridge and
// NATS (embedded in the game's supervisor), and comes back in the edge's
// mirrored slice and in the player's own stream.
func TestEdgePlayerPlaysInTheGame(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 200, 10)
	_, edge := startEdge(t, "nats://"+natsAddr, game, edgeNet)

	gamePhys := physicsClient(t, game)
	edgePhys := physicsClient(t, edge)
	readPhysics(t, edgePhys, "the mirror shows the game's 200 bodies", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return len(f.Items) == 200
	})
	playFromEdge(t, edgeNet, 400, func(want int) {
		readPhysics(t, gamePhys, "the edge player's spawn in the game's physics", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
			return len(f.Items) == want
		})
		readPhysics(t, edgePhys, "the spawn back in the edge's mirror", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
			return len(f.Items) == want
		})
	})

	// ls on the edge shows the edge's own standbys, not the game's (its
	// "sup" is the game's status, mirrored).
	edgeStatus, err := engine.Connect(edge+"."+bridge.EdgeStatus, supervisor.StatusSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer edgeStatus.Close()
	var standby uint32
	proctest.Eventually(t, 30*time.Second, "the edge's net standby ready", func() bool {
		var st engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if edgeStatus.Read(&st) != nil {
			return false
		}
		for _, c := range st.Items {
			if c.NameString() == "net" && c.StandbyString() == "ready" {
				standby = c.StandbyPid
				return true
			}
		}
		return false
	})
	var out, errb strings.Builder
	if err := run([]string{"ls", "--instance", edge}, &out, &errb); err != nil {
		t.Fatalf("ls: %v\n%s", err, errb.String())
	}
	wantCol := "ready " + strconv.Itoa(int(standby))
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == edge+".net" && !strings.HasSuffix(strings.TrimSpace(line), wantCol) {
			t.Errorf("ls on the edge: %q, want its STANDBY %q (the edge's own net standby)", line, wantCol)
		}
	}
	if !strings.Contains(out.String(), edge+".net") {
		t.Errorf("ls on the edge lists no net:\n%s", out.String())
	}
}

// A world of two regions over NATS: the bridge publishes both regions,
// an edge run with the game's --regions mirrors both, and a player on the
// edge's net sees one world and plays in it — its spawn is made by the
// region whose strip holds it, and the world, every body once, is the
// same on both machines.
func TestEdgeRegions(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 200, 10, "--regions", "2")
	_, edge := startEdge(t, "nats://"+natsAddr, game, edgeNet, "--regions", "2")
	regions := func(inst string) *demo.Cut {
		c := demo.NewCut([]string{inst + ".physics-0", inst + ".physics-1"})
		t.Cleanup(func() { c.Close() })
		return c
	}
	gameCut, edgeCut := regions(game), regions(edge)
	// world waits until a cut of c holds want bodies, each once.
	world := func(c *demo.Cut, what string, want int) {
		t.Helper()
		var last demo.Census
		proctest.Eventually(t, 30*time.Second, what, func() bool {
			if c.Read() != nil {
				return false
			}
			last = demo.TakeCensus(c.Frames, 200)
			return last.Err == nil && last.Total == want && len(last.Doubled) == 0 && len(last.Lost) == 0
		})
	}
	world(edgeCut, "the edge's mirrors hold the game's 200 bodies in two regions", 200)
	// At x 1000: in region 1's strip (the world is 1,280 px wide).
	playFromEdge(t, edgeNet, 1000, func(want int) {
		world(gameCut, "the edge player's spawn in the game's world", want)
		world(edgeCut, "the spawn back in the edge's mirrors", want)
	})
}

// playFromEdge joins the edge's net at addr as a player of a game of 200
// bodies and spawns at (x, 200); spawned waits for the game's world and
// the edge's slices to hold the want bodies that makes, and then the
// player's own stream must show them.
func playFromEdge(t *testing.T, addr string, x float32, spawned func(want int)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	player, err := netproc.Dial(ctx, "ws://"+addr, "edgeplayer")
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	if err := player.Input(netproc.Input{Cursor: [2]float32{x, 200}, HasCursor: true, Spawn: true}); err != nil {
		t.Fatal(err)
	}
	want := 200 + netproc.SpawnCount
	spawned(want)
	for {
		s, err := player.Next(ctx)
		if err != nil {
			t.Fatalf("the player's stream: %v", err)
		}
		if len(s.Bodies) == want {
			return
		}
	}
}

// Numbered inputs sent through an edge reach the game's physics exactly
// once while the bridge, the mirror and the game's physics are each
// SIGKILLed and the NATS server is stopped and started again.
func TestEdgeInputsExactlyOnceThroughFaults(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	store := t.TempDir()
	srv, err := bridge.StartServer(bridge.ServerOptions{Listen: natsAddr, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })
	url := "nats://" + natsAddr
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	startSup(t, nil, "run", "--headless", "--instance", game, "--bodies", "100", "--agents", "10", "--net-addr", gameNet,
		"--nats", url, "--duration", "5m")
	_, edge := startEdge(t, url, game, edgeNet)
	gamePhys := physicsClient(t, game)
	edgePhys := physicsClient(t, edge) // the mirror: commands queued here go to the game

	var sent uint64
	send := func(n int) {
		for range n {
			for {
				err := edgePhys.Send(engine.Cmd(engine.OpInput))
				if err == nil {
					break
				}
				if !errors.Is(err, venom.ErrQueueFull) {
					t.Fatalf("send through the edge: %v", err)
				}
				time.Sleep(2 * time.Millisecond) // the mirror forwards as NATS allows
			}
			sent++
		}
	}
	kill := func(ch string) {
		pid := ownerPid(t, ch)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		proctest.Eventually(t, 30*time.Second, ch+" owned again", func() bool {
			info, err := venom.Inspect(ch)
			return err == nil && info.Owned && info.Daemon.Pid != pid
		})
	}
	send(50)
	kill(game + ".bridge")
	// A bridge that dies with commands queued but not yet applied: its
	// successor, starting from what physics holds, queues them again, and
	// physics must drop the second copies. SIGSTOP holds physics still
	// meanwhile (its supervisor may replace it as hung: the same path).
	bridgeC, err := engine.Connect(game+".bridge", bridge.StatsSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer bridgeC.Close()
	queued := func(what string, n uint64) {
		var bf engine.Frame[bridge.Meta, bridge.SliceStats]
		proctest.Eventually(t, 30*time.Second, what, func() bool {
			if bridgeC.Read(&bf) != nil {
				return false
			}
			for _, it := range bf.Items {
				if string(it.Name[:7]) == "physics" && it.LastInput >= n {
					return true
				}
			}
			return false
		})
	}
	physPid := ownerPid(t, game+".physics")
	syscall.Kill(physPid, syscall.SIGSTOP)
	send(50)
	queued("the bridge queued the inputs for the stopped physics", sent)
	kill(game + ".bridge")
	queued("the new bridge queued them again", sent)
	syscall.Kill(physPid, syscall.SIGCONT)
	kill(edge + ".physics") // the mirror
	send(50)
	kill(game + ".physics")
	send(50)
	srv.Shutdown()
	send(50) // queued in the mirror's channel while NATS is down
	if srv, err = bridge.StartServer(bridge.ServerOptions{Listen: natsAddr, StoreDir: store}); err != nil {
		t.Fatal(err)
	}
	send(50)

	var f engine.Frame[physics.Meta, physics.Body]
	deadline := time.Now().Add(90 * time.Second)
	for gamePhys.Read(&f) != nil || f.LastInput < sent {
		if time.Now().After(deadline) {
			t.Fatalf("after the faults: %+v of %d inputs", f.Account(sent), sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := f.Account(sent); !a.Exact() {
		t.Fatalf("inputs through the edge: %+v, want each of %d applied once", a, sent)
	} else {
		t.Logf("inputs through the edge: %+v (redelivered: the second copies physics dropped)", a)
	}
}

// A game stopped cleanly (SIGTERM: no segment left) and run again with
// the same command, without --fresh, is a fresh world: none of the
// commands the previous world took from NATS — kept in the command
// stream — is applied again. (They all were: physics spawned the old
// bodies again, and an old fault op would have killed it again.)
func TestRestartWithoutFreshReplaysNothing(t *testing.T) {
	natsAddr, gameNet, _ := edgePorts(t)
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	args := []string{"run", "--headless", "--instance", game, "--bodies", "100", "--agents", "10", "--net-addr", gameNet,
		"--nats", "embedded", "--nats-listen", natsAddr, "--nats-store", t.TempDir(), "--duration", "5m"}
	p := startSup(t, nil, args...)
	phys := physicsClient(t, game)
	readPhysics(t, phys, "100 bodies", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 100 })
	sent := 0
	spawn := func(n int) {
		nc, err := bridge.Connect("nats://"+natsAddr, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			// Until JetStream answers (a server just started): the same
			// message id, stored once.
			sent++
			id := game + "-" + strconv.Itoa(sent)
			proctest.Eventually(t, 30*time.Second, "spawn "+id+" stored", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_, err := js.Publish(ctx, bridge.CommandSubject(game, "physics"), engine.Cmd(physics.OpSpawn, 400, 300).Append(nil), jetstream.WithMsgID(id))
				return err == nil
			})
		}
	}
	spawn(5)
	readPhysics(t, phys, "the 5 spawns from NATS", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 105 })
	phys.Close()
	p.stop(t)
	if segs, _ := venom.List(); slicesHasPrefix(segs, game+".") {
		t.Fatalf("segments left after SIGTERM: %v", segs)
	}

	startSup(t, nil, args...)
	phys = physicsClient(t, game)
	readPhysics(t, phys, "the fresh world's 100 bodies", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 100 })
	spawn(1)
	f := readPhysics(t, phys, "the fresh world's spawn", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) >= 101 })
	if len(f.Items) != 101 {
		t.Fatalf("the fresh world has %d bodies, want 101: the earlier world's spawns were replayed", len(f.Items))
	}
}

// Bad input on NATS — a snapshot of another schema, a truncated or
// oversized payload, a command for an unknown slice, garbage on a command
// subject — is refused and counted; nothing crashes and the game plays on.
func TestEdgeBadInput(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 100, 10)
	_, edge := startEdge(t, "nats://"+natsAddr, game, edgeNet)
	edgePhys := physicsClient(t, edge)
	readPhysics(t, edgePhys, "the mirror running", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 100 })
	mirrorPid := ownerPid(t, edge+".physics")

	nc, err := bridge.Connect("nats://"+natsAddr, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	good := make([]byte, 64)
	for i, payload := range [][]byte{
		good,            // a header of no slice's schema
		{1, 2, 3},       // truncated
		make([]byte, 9), // short of a header
	} {
		m := natsMsg(bridge.SliceSubject(game, "physics"), payload, map[string]string{"Venom-Data-Size": "65536", "Venom-Cmd-Slots": "256"})
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(i, err)
		}
	}
	oversize := natsMsg(bridge.SliceSubject(game, "physics"), make([]byte, 100), map[string]string{"Venom-Encoding": "s2"})
	nc.PublishMsg(oversize)
	nc.Publish(bridge.CommandSubject(game, "nosuchslice"), engine.Cmd(engine.OpInput).Append(nil))
	nc.Publish(bridge.CommandSubject(game, "physics"), []byte("garbage"))
	// The engine's fault ops never come from the network: each is
	// refused by the game's bridge, and physics lives on.
	gamePhysics := ownerPid(t, game+".physics")
	nc.Publish(bridge.CommandSubject(game, "physics"), engine.Cmd(engine.OpPanic).Append(nil))
	nc.Publish(bridge.CommandSubject(game, "physics"), engine.Cmd(engine.OpExit, 3).Append(nil))
	nc.Flush()

	// The game's bridge counts what it refused; the mirror keeps going.
	bridgeC, err := engine.Connect(game+".bridge", bridge.StatsSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer bridgeC.Close()
	var bf engine.Frame[bridge.Meta, bridge.SliceStats]
	proctest.Eventually(t, 30*time.Second, "the bridge counts the unknown slice, the garbage command and the two faults", func() bool {
		return bridgeC.Read(&bf) == nil && bf.Meta.Bad >= 4
	})
	before := readPhysics(t, edgePhys, "mirror", func(*engine.Frame[physics.Meta, physics.Body]) bool { return true })
	readPhysics(t, edgePhys, "the mirror publishing the game's snapshots after the bad ones", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.Tick > before.Tick+30 && len(f.Items) == 100
	})
	if pid := ownerPid(t, edge+".physics"); pid != mirrorPid {
		t.Errorf("the mirror was restarted (pid %d → %d): bad input must not crash it", mirrorPid, pid)
	}
	if pid := ownerPid(t, game+".physics"); pid != gamePhysics {
		t.Errorf("the game's physics was restarted (pid %d → %d): a fault op came from NATS", gamePhysics, pid)
	}
}

func natsMsg(subject string, data []byte, hdr map[string]string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	return m
}

// cluster starts n NATS servers with JetStream in this process, routed
// to each other on loopback, and returns them and their client URLs.
func cluster(t *testing.T, n int) ([]*server.Server, []string) {
	t.Helper()
	var client, routes []string
	for range n {
		c, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		client, routes = append(client, c), append(routes, r)
	}
	var servers []*server.Server
	var urls []string
	for i := range n {
		host, port := splitHostPort(t, client[i])
		_, rport := splitHostPort(t, routes[i])
		var rs []string
		for j, r := range routes {
			if j != i {
				rs = append(rs, "nats-route://"+r)
			}
		}
		s, err := server.NewServer(&server.Options{
			ServerName: "n" + strconv.Itoa(i), Host: host, Port: port, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "venomrt-test", Host: host, Port: rport},
			Routes:  server.RoutesFromStr(strings.Join(rs, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers, urls = append(servers, s), append(urls, "nats://"+client[i])
	}
	for _, s := range servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("a cluster node did not start")
		}
	}
	return servers, urls
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// A three-node NATS cluster: the node the bridge and the mirror are
// connected to (the first URL) goes away; both reconnect to the others and
// snapshots and commands flow again.
func TestEdgeClusterNodeLost(t *testing.T) {
	servers, urls := cluster(t, 3)
	url := strings.Join(urls, ",")
	_, gameNet, edgeNet := edgePorts(t)
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	startSup(t, nil, "run", "--headless", "--instance", game, "--bodies", "100", "--agents", "10", "--net-addr", gameNet,
		"--nats", url, "--nats-replicas", "3", "--duration", "5m")
	_, edge := startEdge(t, url, game, edgeNet)
	gamePhys := physicsClient(t, game)
	edgePhys := physicsClient(t, edge)
	through := func(what string, n uint64) {
		if err := edgePhys.Send(engine.Cmd(engine.OpInput)); err != nil {
			t.Fatal(err)
		}
		readPhysics(t, gamePhys, what, func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.LastInput >= n })
	}
	through("a command through the cluster", 1)
	servers[0].Shutdown()
	var f engine.Frame[physics.Meta, physics.Body]
	if err := gamePhys.Read(&f); err != nil {
		t.Fatal(err)
	}
	// Within seconds: a reconnection, and for commands a stream leader
	// elected on the nodes left (4–6 s when the leader was lost).
	readPhysics(t, edgePhys, "snapshots through the nodes left", func(e *engine.Frame[physics.Meta, physics.Body]) bool {
		return e.Tick > f.Tick+60
	})
	through("a command through the nodes left", 2)
}

// Faults on the edge — its mirrors and its net killed — are not noticed
// by the game on the other machine: no restart there, ticks go on.
func TestEdgeFaultsNotNoticedByTheGame(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 100, 10)
	_, edge := startEdge(t, "nats://"+natsAddr, game, edgeNet)
	edgePhys := physicsClient(t, edge)
	readPhysics(t, edgePhys, "the mirror running", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 100 })
	status, err := engine.Connect(supervisor.StatusChannel(game), supervisor.StatusSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer status.Close()
	for _, ch := range []string{"physics", "ai", "sup", "net"} {
		pid := ownerPid(t, edge+"."+ch)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		proctest.Eventually(t, 30*time.Second, "the edge's "+ch+" back", func() bool {
			info, err := venom.Inspect(edge + "." + ch)
			return err == nil && info.Owned && info.Daemon.Pid != pid
		})
	}
	readPhysics(t, edgePhys, "the mirror publishing again", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return len(f.Items) == 100 })
	var st engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if err := status.Read(&st); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Items {
		if c.Restarts != 0 || c.State != supervisor.ChildRunning {
			t.Errorf("the game noticed the edge's faults: %s %s restarts=%d", c.NameString(), c.StateName(), c.Restarts)
		}
	}
}

// Listening beyond loopback without credentials is refused, clearly,
// before anything starts.
func TestNATSBeyondLoopbackNeedsCredentials(t *testing.T) {
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	var out, errb strings.Builder
	err := run([]string{"run", "--headless", "--instance", game, "--nats", "embedded", "--nats-listen", "0.0.0.0:0", "--nats-creds", ""}, &out, &errb)
	if !errors.Is(err, bridge.ErrInsecure) || !strings.Contains(err.Error(), "--nats-creds") {
		t.Fatalf("run: %v, want ErrInsecure saying how to give credentials", err)
	}
	if segs, _ := venom.List(); slicesHasPrefix(segs, game+".") {
		t.Fatalf("segments left: %v", segs)
	}
}

func slicesHasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
