package demo

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bench"
	"github.com/venomrt/venomrt/engine/bench/plot"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// renderConfig is the shape of the render channel (newPublisher's).
var renderConfig = venom.Config{DataSize: renderDataSize, History: 2, CmdSlots: 16, CmdSize: engine.CommandSize, RespSize: 64, MaxClients: 8}

// WindowBinary is the file name of the demo's window binary
// (cmd/venomrt-window), which the supervisor starts as its renderer where
// a display exists.
const WindowBinary = "venomrt-window"

// Game declares the demo on the game API: physics, ai and net, the
// renderer, and every tool: chaos (watched by a player on net), bench
// with its plot, and the NATS bridge and edge. window runs the renderer
// with a window: the window binary passes window.Run; the supervisor
// passes nil, runs the headless loop itself and starts WindowBinary as
// its renderer where a display exists.
// Both binaries declare the same game, so they take the same flags.
func Game(window func(ctx context.Context, o Options) error) *game.Game {
	var f struct {
		bodies, agents, sendRate, frames int
		width                            int
		seed                             uint64
		netAddr, screenshot              string
		connect, player                  string
		connectTimeout                   time.Duration
	}
	var regions int // --regions: physics's members (game.Process.Group)
	g := game.New("venomrt")
	g.Flags(func(fs *flag.FlagSet) {
		fs.IntVar(&f.bodies, "bodies", 2000, "bodies in a fresh physics world")
		fs.IntVar(&f.agents, "agents", 200, "agents in a fresh ai world")
		fs.IntVar(&f.width, "width", 0, "width of a fresh physics world, px (0: 1,280 per 10,000 bodies, at least 1,280)")
		fs.IntVar(&regions, "regions", 1, "physics regions: N processes physics-0 … physics-N-1, each stepping one of N strips of the world (1: one process, physics)")
		fs.Uint64Var(&f.seed, "seed", 1, "seed of a fresh world (and of chaos's faults)")
		fs.StringVar(&f.netAddr, "net-addr", "127.0.0.1:7777", "address of the net process's WebSocket server")
		fs.IntVar(&f.sendRate, "net-send-rate", 20, "snapshots per second net sends each player")
		fs.StringVar(&f.screenshot, "screenshot", "", "write a PNG of the screen to this file after --frames frames, then end the game")
		fs.IntVar(&f.frames, "frames", 0, "end the game after this many rendered frames (with --screenshot: default 60)")
	})
	g.Prepare(func(cmd string, fs *flag.FlagSet) error {
		switch {
		case f.bodies < 0 || f.bodies > physics.MaxBodies:
			return fmt.Errorf("--bodies %d, want 0..%d", f.bodies, physics.MaxBodies)
		case f.agents < 0 || f.agents > ai.MaxAgents:
			return fmt.Errorf("--agents %d, want 0..%d", f.agents, ai.MaxAgents)
		case f.width != 0 && (f.width < physics.MinWorld || f.width > physics.MaxWorld):
			return fmt.Errorf("--width %d, want 0 (by the bodies) or %d..%d", f.width, physics.MinWorld, physics.MaxWorld)
		case regions < 1 || regions > game.MaxGroup:
			return fmt.Errorf("--regions %d, want 1..%d", regions, game.MaxGroup)
		case f.sendRate < 1 || f.sendRate > 60:
			return fmt.Errorf("--net-send-rate %d, want 1..60", f.sendRate)
		case f.connect != "" && !strings.HasPrefix(f.connect, "ws://") && !strings.HasPrefix(f.connect, "wss://"):
			return fmt.Errorf("--connect %q, want ws://HOST:PORT", f.connect)
		}
		if cmd != "chaos" && cmd != "bench" {
			return nil
		}
		// A tool's game is smaller than the default, and its net gets a
		// port of its own, which the chaos player knows and net binds
		// again after each restart.
		if cmd == "chaos" && !isSet(fs, "bodies") {
			f.bodies = 500
		}
		if !isSet(fs, "net-addr") {
			addr, err := freePort()
			if err != nil {
				return err
			}
			f.netAddr = addr
			fs.Set("net-addr", addr)
		}
		return nil
	})

	net := game.Custom[netproc.Meta, netproc.Player]("net", 60, func(ctx context.Context, env game.Env) error {
		return netproc.Run(ctx, netproc.Options{Channel: env.Channel("net"), Regions: env.Members("physics"),
			AI: env.Channel("ai"), Status: env.Status(), Addr: f.netAddr, SendRate: f.sendRate, Fresh: env.Fresh, Log: env.Log})
	})
	net.Inputs = true // net runs on engine.Run
	net.Edge = true   // an edge runs its own net: players join it there
	// A hot standby, as physics and ai have by game.Sim: started ahead,
	// it runs net's main (its WebSocket server too) once told go.
	net.Spec.Standby = true
	// What run counts of /dev/shm for net's channel: netproc.Run's options.
	net.Segment = engine.ChannelConfig(engine.Options{DataSize: max(netproc.Schema.Size(netproc.MaxPlayers), 4096)})
	// Physics is a group on --regions: one process per region, each told
	// its index and the count, naming its neighbours' channels as run
	// names them; the run's id marks a world this run made.
	phys := game.Sim("physics", func(env game.Env) (engine.Sim[physics.Meta, physics.Body], error) {
		// A world of many bodies is wider: 1,280 px per 10,000 (the
		// height stays the window's 720).
		width := float32(f.width)
		if width == 0 {
			width = physics.WorldWidth(f.bodies)
		}
		return &physics.Sim{Seed: f.seed, Bodies: f.bodies, Width: width, Region: env.Index, Regions: env.Count,
			Neighbour: func(i int) string { return env.Member("physics", i) }, WorldID: env.RunID, Log: env.Log}, nil
	}, engine.Options{Rate: 60, DataSize: physics.DataSize})
	phys.Group = "regions"
	// What a player may do from another machine (an edge's net, through
	// NATS) is Remote; clearing or resetting the world is the operator's,
	// here (send). A bridge queues no other op.
	phys.Ops = []game.Op{
		{Name: "spawn", Op: physics.OpSpawn, Doc: "x y [vx vy r]: spawn a body", Remote: true},
		{Name: "burst", Op: physics.OpSpawnBurst, Doc: "x y n: spawn n random bodies around x, y", Remote: true},
		{Name: "impulse", Op: physics.OpImpulse, Doc: "id dx dy: push a body", Remote: true},
		{Name: "explode", Op: physics.OpExplode, Doc: "x y radius strength: push every body near x, y away", Remote: true},
		{Name: "gravity", Op: physics.OpGravity, Doc: "gx gy: set gravity"},
		{Name: "clear", Op: physics.OpClear, Doc: "remove every body"},
		{Name: "reset", Op: physics.OpReset, Doc: "[n]: start the world again from its seed with n bodies"},
	}
	agents := game.Sim("ai", func(env game.Env) (engine.Sim[ai.Params, ai.Agent], error) {
		return &ai.Sim{Seed: f.seed, Agents: f.agents, Physics: env.Members("physics"), Log: env.Log}, nil
	}, engine.Options{Rate: 30, DataSize: ai.Schema.Size(ai.MaxAgents)})
	// The agents are the game's own: none of their ops comes from NATS.
	agents.Ops = []game.Op{
		{Name: "spawn", Op: ai.OpSpawn, Doc: "kind x y: spawn an agent"},
		{Name: "clear", Op: ai.OpClear, Doc: "remove every agent"},
		{Name: "reset", Op: ai.OpReset, Doc: "[n]: start again from the seed with n agents"},
	}
	g.Add(phys, agents, net)
	g.Sized(game.Size{Flag: "bodies", Default: []int{1000, 2000, 10000}, Max: physics.MaxBodies})

	// Segment: the render channel as newPublisher creates it.
	r := game.Renderer{WindowBinary: WindowBinary, Segment: renderConfig}
	var borders bool // Options.Borders
	r.Flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&borders, "borders", false, "draw the borders between physics's regions from the start (the window's key B toggles them)")
		fs.StringVar(&f.connect, "connect", "", "ws://HOST:PORT of a game's net process: draw it from the network (default: the local instance's shared memory)")
		fs.StringVar(&f.player, "name", "render", "player name, with --connect")
		fs.DurationVar(&f.connectTimeout, "connect-timeout", DefaultConnectTimeout, "how long to keep trying to reach --connect before giving up")
	}
	opts := func(env game.Env) Options {
		return Options{Instance: env.Instance, Physics: env.Members("physics"), Headless: env.Headless, Screenshot: f.screenshot, Frames: f.frames,
			Connect: f.connect, Player: f.player, ConnectTimeout: f.connectTimeout, Borders: borders, Log: env.Log, Out: env.Out}
	}
	// The runtime picks: the window binary where a display exists, this
	// program's headless loop elsewhere; a screenshot asked of a headless
	// renderer is refused before anything starts.
	r.Headless = func(ctx context.Context, env game.Env) error { return Run(ctx, opts(env)) }
	if window != nil {
		r.Window = func(ctx context.Context, env game.Env) error { return window(ctx, opts(env)) }
	}
	r.NeedsWindow = func() string {
		if f.screenshot != "" {
			return "--screenshot"
		}
		return ""
	}
	// bench measures the renderer's read as the renderer reads: each
	// frame the Reader, then the interpolation a frame draws.
	r.Reader = func(env game.Env) (func() time.Duration, func()) {
		rd := NewReader(env.Instance, env.Members("physics")...)
		return func() time.Duration {
			rd.Frame()
			rd.Bodies(venom.Monotonic())
			return time.Duration(rd.ReadNanos)
		}, rd.Close
	}
	g.Render(r)
	g.Use(
		chaos.Tool(chaos.Watch(func(ctx context.Context, env game.Env) (chaos.Watcher, error) { return watchAsPlayer(ctx, f.netAddr) }),
			chaos.Invariant(worldInvariant(&f.bodies))),
		bench.Tool(bench.Plot(plot.Ticks), bench.World(newWorldMeter)),
		bridge.Tool(),
		metricsTool(),
	)
	return g
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// freePort is a 127.0.0.1 address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// player watches a chaos run as a player on net's WebSocket: the
// snapshots it receives, its reconnections (net faulted), and the longest
// time between two snapshots outside the 10 s after a fault to net.
type player struct {
	c        *netproc.Client
	lastSnap time.Time
	netHit   time.Time
	snaps    uint64
	gapMs    float64
}

func watchAsPlayer(ctx context.Context, addr string) (chaos.Watcher, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := netproc.Dial(ctx, "ws://"+addr, "chaos")
	if err != nil {
		return nil, fmt.Errorf("a player cannot join net: %w", err)
	}
	return &player{c: c, lastSnap: time.Now()}, nil
}

// Observe counts a snapshot received since the last call.
func (p *player) Observe(now time.Time) {
	if _, ok := p.c.Latest(); !ok {
		return
	}
	if p.netHit.IsZero() || now.Sub(p.netHit) > 10*time.Second {
		p.gapMs = max(p.gapMs, float64(now.Sub(p.lastSnap).Microseconds())/1000)
	}
	p.snaps++
	p.lastSnap = now
}

// Faulted notes a fault to net: the gap that follows is its recovery.
func (p *player) Faulted(child string, now time.Time) {
	if child == "net" {
		p.netHit = now
	}
}

// Settled reports whether a snapshot arrived since the run ended.
func (p *player) Settled(since time.Time) bool { return !p.lastSnap.Before(since) }

// Report adds the player's figures; a player that received nothing at
// all fails the run.
func (p *player) Report(r *chaos.Report) {
	r.Watch = map[string]float64{"PlayerSnapshots": float64(p.snaps), "PlayerReconnects": float64(p.c.Reconnects()),
		"PlayerLongestGapMs": p.gapMs}
	r.Notes = append(r.Notes, fmt.Sprintf("net player: %d snapshots, %d reconnects, longest gap %.1f ms (outside net faults)",
		p.snaps, p.c.Reconnects(), p.gapMs))
	if p.snaps == 0 {
		r.Failures = append(r.Failures, "the net player received no snapshot")
	}
}

// Close leaves the game.
func (p *player) Close() error { return p.c.Close() }
