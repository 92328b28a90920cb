package bridge

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
)

// Beyond one machine, on a game declared on engine/game: Tool adds to
// `run` the flag --nats, which adds a bridge child that publishes every
// slice to NATS and queues the commands that come from it; `proc bridge`
// and `proc mirror`, the children it starts; and the subcommand `edge`,
// which runs, on another machine, a supervisor of mirrors — one local
// channel per remote slice — beside the game's edge processes (net) and
// the renderer.

// BridgeName is the bridge's process and channel name.
const BridgeName = "bridge"

// MirrorName is the process name of an edge's mirror ("proc mirror"; its
// channel is the slice's name).
const MirrorName = "mirror"

// EdgeStatus is the channel name of an edge's own supervisor status,
// "<edge instance>.edge": "sup" there is the mirrored game's.
const EdgeStatus = "edge"

// flags are the flags of run, proc and edge about NATS.
type flags struct {
	url, listen, creds, store string
	game, slice               string
	rate, replicas            int
	compress                  bool
}

func (n *flags) register(fs *flag.FlagSet, cmd string) {
	fs.StringVar(&n.url, "nats", "", "NATS: nats://HOST:PORT[,...] of a server or cluster"+
		map[bool]string{true: `, or "embedded" to run one in the supervisor`}[cmd == "run"])
	fs.IntVar(&n.rate, "nats-rate", 60, "snapshots per second per slice sent to NATS at most")
	fs.BoolVar(&n.compress, "nats-compress", true, "s2-compress the snapshots sent to NATS")
	fs.IntVar(&n.replicas, "nats-replicas", 1, "servers of a NATS cluster that keep each of the game's streams (3 survives losing a node)")
	switch cmd {
	case "run":
		fs.StringVar(&n.listen, "nats-listen", "127.0.0.1:4222", `with --nats embedded: where the server listens (beyond loopback it needs --nats-creds)`)
		fs.StringVar(&n.creds, "nats-creds", os.Getenv("VENOMRT_NATS_CREDS"), "NATS credentials, user:password or a token (default $VENOMRT_NATS_CREDS)")
		fs.StringVar(&n.store, "nats-store", "", "with --nats embedded: JetStream's directory (default one per port in the temp dir)")
	case "proc", "edge":
		fs.StringVar(&n.game, "game", "", "the remote game's instance (edge, mirror)")
		fs.StringVar(&n.slice, "slice", "", "the slice a mirror follows (proc mirror)")
	}
}

// Tool registers the bridge on a game: run --nats (the bridge child,
// and an embedded NATS server with --nats embedded), proc bridge and
// proc mirror, and the subcommand edge.
func Tool() game.Tool {
	return func(g *game.Game) {
		var run, proc flags // each filled by its subcommand's parse
		g.CommandFlags("run", func(fs *flag.FlagSet) { run.register(fs, "run") })
		g.CommandFlags("proc", func(fs *flag.FlagSet) { proc.register(fs, "proc") })
		g.OnRun(func(ctx context.Context, f *game.Flags, c game.Call) ([]game.Child, func(), error) {
			return withNATS(g, &run, f, c)
		})
		g.ToolProcess(BridgeName, func(ctx context.Context, env game.Env) error {
			if proc.url == "" {
				return fmt.Errorf("%w: proc %s: --nats is required", game.ErrUsage, BridgeName)
			}
			return Run(ctx, Options{Game: env.Instance, Channel: env.Channel(BridgeName), Slices: gameSlices(g, envCount(env)),
				NATS: proc.url, Rate: proc.rate, Compress: proc.compress, Replicas: proc.replicas, Fresh: env.Fresh, Log: env.Log})
		})
		g.ToolProcess(MirrorName, func(ctx context.Context, env game.Env) error {
			s, ok := slice(g, envCount(env), proc.slice)
			if proc.url == "" || !ok || proc.game == "" {
				return fmt.Errorf("%w: proc mirror: want --nats, --game and --slice (one of %s)", game.ErrUsage, strings.Join(sliceNames(gameSlices(g, envCount(env))), ", "))
			}
			return RunMirror(ctx, MirrorOptions{Game: proc.game, Slice: s, Channel: env.Channel(proc.slice), NATS: proc.url, Log: env.Log})
		})
		g.Reserve(EdgeStatus)
		g.Subcommand(game.Subcommand{
			Name:    "edge",
			Args:    "--nats nats://GAMEHOST:PORT --game INSTANCE [flags]",
			Summary: "on another machine: mirror a game's slices over NATS (run --nats on the game's)",
			Run:     func(ctx context.Context, c game.Call) error { return cmdEdge(ctx, g, c) },
		})
	}
}

// gameSlices are what a bridge publishes and an edge mirrors: every
// process's slice — each member's of a group: physics-0 … physics-N-1,
// count(name) of them — and the supervisor's status.
func gameSlices(g *game.Game, count func(process string) int) []Slice {
	out := []Slice{{Name: "sup", Check: supervisor.StatusSchema.DecodeHeader}}
	for _, p := range g.Processes() {
		n := count(p.Name)
		for i := range n {
			out = append(out, Slice{Name: game.MemberName(p.Name, i, n), Check: p.DecodeHeader, Remote: remoteOps(p)})
		}
	}
	return out
}

// envCount is how many members each process runs in env (as its flags
// say: a proc is passed the group flags, groupArgs).
func envCount(env game.Env) func(string) int {
	return func(name string) int { return len(env.Members(name)) }
}

// groupArgs are the flags that give the groups' counts of f, for a child
// that must know them (proc bridge, proc mirror): "--regions=2".
func groupArgs(g *game.Game, f *game.Flags) []string {
	var args []string
	seen := map[string]bool{}
	for _, p := range g.Processes() {
		if p.Group != "" && !seen[p.Group] {
			seen[p.Group] = true
			args = append(args, fmt.Sprintf("--%s=%d", p.Group, f.Count(p.Name)))
		}
	}
	return args
}

// remoteOps is which of a process's ops may come from NATS: those it
// declares Remote (game.Op), none when it declares none (deny by
// default: a process that has not said which of its ops a stranger may
// send takes none of them from the network).
func remoteOps(p game.Process) func(engine.Op) bool {
	ok := map[engine.Op]bool{}
	for _, o := range p.Ops {
		if o.Remote {
			ok[o.Op] = true
		}
	}
	return func(op engine.Op) bool { return ok[op] }
}

func slice(g *game.Game, count func(string) int, name string) (Slice, bool) {
	for _, s := range gameSlices(g, count) {
		if s.Name == name {
			return s, true
		}
	}
	return Slice{}, false
}

func sliceNames(ss []Slice) []string {
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return names
}

// withNATS is the bridge's part of run: with --nats, it starts the
// embedded server when asked and adds the bridge child; stop shuts the
// server down after the supervisor.
func withNATS(g *game.Game, n *flags, f *game.Flags, c game.Call) (_ []game.Child, stop func(), err error) {
	if n.url == "" {
		return nil, nil, nil
	}
	creds, err := ParseCreds(n.creds)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --nats-creds: %v", game.ErrUsage, err)
	}
	url := n.url
	if url == "embedded" {
		srv, err := StartServer(ServerOptions{Listen: n.listen, StoreDir: n.store, Creds: creds, Log: c.Log})
		if err != nil {
			return nil, nil, err
		}
		stop, url = srv.Shutdown, srv.URL()
	} else if !strings.HasPrefix(url, "nats://") && !strings.HasPrefix(url, "tls://") {
		return nil, nil, fmt.Errorf("%w: --nats %q: want embedded or nats://HOST:PORT[,...]", game.ErrUsage, url)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, stop, err
	}
	args := []string{"proc", BridgeName, "--instance=" + f.Instance, "--nats=" + url, "--nats-rate=" + strconv.Itoa(n.rate),
		"--nats-compress=" + strconv.FormatBool(n.compress), "--nats-replicas=" + strconv.Itoa(n.replicas)}
	args = append(args, groupArgs(g, f)...)
	fresh := f.Fresh // the first bridge of a fresh run empties the streams; its successors must not
	credsEnv, stderr := n.creds, c.Stderr
	child := game.Child{
		Spec: supervisor.ChildSpec{
			Name: BridgeName, Channel: f.Instance + "." + BridgeName, Restart: supervisor.Permanent,
			Command: func() *exec.Cmd {
				cmd := exec.Command(self, append(args, "--fresh="+strconv.FormatBool(fresh))...)
				fresh = false
				cmd.Stderr = stderr
				cmd.Env = append(os.Environ(), "VENOMRT_NATS_CREDS="+credsEnv)
				return cmd
			},
		},
		Segment: engine.ChannelConfig(Options{}.EngineOptions(len(gameSlices(g, f.Count)))),
	}
	c.Log.Info("bridge to NATS", "nats", Redact(url), "game", f.Instance)
	return []game.Child{child}, stop, nil
}

// cmdEdge runs a game's edge: mirrors of every remote slice under a local
// instance, the game's edge processes (net) and, with --render, the
// renderer, all supervised; other tools take part through the game's
// hooks of "edge" (game.OnCommand, game.CommandFlags: the metrics
// tool's --metrics-addr).
func cmdEdge(ctx context.Context, g *game.Game, c game.Call) error {
	f := g.NewFlags("edge")
	f.SetOutput(c.Stderr)
	var n flags
	n.register(f.FlagSet, "edge")
	render := f.Bool("render", false, "run the renderer here too (the window where there is a display)")
	duration := f.Duration("duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	threshold := f.Float64("failure-threshold", supervisor.DefaultFailureThreshold, "failure score above which a child is failed")
	decay := f.Duration("failure-decay", supervisor.DefaultFailureDecay, "half-life of a child's failure score")
	pos, err := g.Parse(f, c.Args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("%w: edge: unexpected arguments %q", game.ErrUsage, pos)
	case n.url == "" || n.url == "embedded":
		return fmt.Errorf("%w: edge: --nats nats://GAMEHOST:PORT is required", game.ErrUsage)
	case n.game == "":
		return fmt.Errorf("%w: edge: --game INSTANCE (the game's --instance) is required", game.ErrUsage)
	case n.game == f.Instance:
		return fmt.Errorf("%w: edge: --instance %q is the game's: give the edge an instance of its own", game.ErrUsage, f.Instance)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if f.Fresh {
		g.RemoveSegments(f.Instance)
	}
	var specs []supervisor.ChildSpec
	local := map[string]bool{}
	for _, p := range g.Processes() {
		k := f.Count(p.Name)
		for i := range k {
			local[game.MemberName(p.Name, i, k)] = p.Edge
		}
	}
	// Every member of a group is mirrored (--regions as the game's: the
	// edge is run with the game's group flags), and the edge's own
	// processes (net) read the mirrored members as they read the game's.
	for _, s := range gameSlices(g, f.Count) {
		if local[s.Name] {
			continue // run here, below
		}
		margs := append([]string{"proc", MirrorName, "--instance=" + f.Instance, "--game=" + n.game, "--slice=" + s.Name, "--nats=" + n.url},
			groupArgs(g, f)...)
		specs = append(specs, supervisor.ChildSpec{
			Name: s.Name, Channel: f.Instance + "." + s.Name, Restart: supervisor.Permanent,
			// Until the game publishes there is nothing to mirror.
			StartTimeout: time.Minute, HangTimeout: 2 * time.Second,
			Command: func() *exec.Cmd {
				cmd := exec.Command(self, margs...)
				cmd.Stderr = c.Stderr
				return cmd
			},
		})
	}
	for _, p := range g.Processes() {
		if !p.Edge {
			continue
		}
		spec, err := g.ChildSpec(f, p.Name, c)
		if err != nil {
			return err
		}
		specs = append(specs, spec)
	}
	if _, ok := g.Renderer(); *render && ok {
		rs, err := g.ChildSpec(f, game.RenderName, c)
		if err != nil {
			return err
		}
		specs = append(specs, rs)
	}
	// Other tools' parts of an edge (the metrics tool's --metrics-addr),
	// stopped after the supervisor.
	more, stop, err := g.RunHooks(ctx, "edge", f, c)
	defer stop()
	if err != nil {
		return err
	}
	for _, m := range more {
		specs = append(specs, m.Spec)
	}
	sup, err := supervisor.New(supervisor.Options{
		Instance: f.Instance, StatusChannel: f.Instance + "." + EdgeStatus, Log: c.Log, FailureThreshold: *threshold, FailureDecay: *decay,
	}, specs...)
	if err != nil {
		return err
	}
	c.Log.Info("edge of a game over NATS", "game", n.game, "nats", Redact(n.url), "instance", f.Instance)
	return game.Supervise(ctx, sup, c.Stdout)
}
