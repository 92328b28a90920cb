package game

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/procs/bridge"
	"github.com/venomrt/venomrt/venom"
)

// Beyond one machine: `run --nats` adds a bridge child that publishes
// every slice to NATS and queues the commands that come from it; `edge`
// runs, on another machine, a supervisor of mirrors — one local channel
// per remote slice — beside the game's edge processes (net) and the
// renderer. See procs/bridge.

// BridgeName is the bridge's process and channel name.
const BridgeName = "bridge"

// natsFlags are the flags of run, proc and edge about NATS.
type natsFlags struct {
	url, listen, creds, store string
	game, slice               string
	rate, replicas            int
	compress                  bool
}

func (n *natsFlags) register(fs *flag.FlagSet, cmd string) {
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

// slices are what a bridge publishes and an edge mirrors: every
// process's slice and the supervisor's status.
func (g *Game) slices() []bridge.Slice {
	out := []bridge.Slice{{Name: "sup", Check: supervisor.StatusSchema.DecodeHeader}}
	for _, p := range g.procs {
		out = append(out, bridge.Slice{Name: p.Name, Check: p.header})
	}
	return out
}

func (g *Game) slice(name string) (bridge.Slice, bool) {
	for _, s := range g.slices() {
		if s.Name == name {
			return s, true
		}
	}
	return bridge.Slice{}, false
}

// withNATS starts the embedded server when asked and adds the bridge
// child; stop shuts the server down after the supervisor.
func (g *Game) withNATS(n *natsFlags, f *flags, specs []supervisor.ChildSpec, stderr io.Writer, log *slog.Logger) (_ []supervisor.ChildSpec, stop func(), err error) {
	stop = func() {}
	if n.url == "" {
		return specs, stop, nil
	}
	creds, err := bridge.ParseCreds(n.creds)
	if err != nil {
		return nil, stop, fmt.Errorf("%w: --nats-creds: %v", ErrUsage, err)
	}
	url := n.url
	if url == "embedded" {
		srv, err := bridge.StartServer(bridge.ServerOptions{Listen: n.listen, StoreDir: n.store, Creds: creds, Log: log})
		if err != nil {
			return nil, stop, err
		}
		stop, url = srv.Shutdown, srv.URL()
	} else if !strings.HasPrefix(url, "nats://") && !strings.HasPrefix(url, "tls://") {
		return nil, stop, fmt.Errorf("%w: --nats %q: want embedded or nats://HOST:PORT[,...]", ErrUsage, url)
	}
	self, err := os.Executable()
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	args := []string{"proc", BridgeName, "--instance=" + f.instance, "--nats=" + url, "--nats-rate=" + strconv.Itoa(n.rate),
		"--nats-compress=" + strconv.FormatBool(n.compress), "--nats-replicas=" + strconv.Itoa(n.replicas)}
	fresh := f.fresh // the first bridge of a fresh run empties the streams; its successors must not
	specs = append(specs, supervisor.ChildSpec{
		Name: BridgeName, Channel: f.instance + "." + BridgeName, Restart: supervisor.Permanent,
		Command: func() *exec.Cmd {
			cmd := exec.Command(self, append(args, "--fresh="+strconv.FormatBool(fresh))...)
			fresh = false
			cmd.Stderr = stderr
			cmd.Env = append(os.Environ(), "VENOMRT_NATS_CREDS="+n.creds)
			return cmd
		},
	})
	log.Info("bridge to NATS", "nats", bridge.Redact(url), "game", f.instance)
	return specs, stop, nil
}

// bridgeConfig is the shape of the bridge's own channel.
func bridgeConfig(slices int) venom.Config {
	return engine.ChannelConfig(bridge.Options{}.EngineOptions(slices))
}

// runBridgeOrMirror runs "proc bridge" and "proc mirror".
func (g *Game) runBridgeOrMirror(ctx context.Context, name string, n *natsFlags, env Env) error {
	if n.url == "" {
		return fmt.Errorf("%w: proc %s: --nats is required", ErrUsage, name)
	}
	if name == BridgeName {
		return bridge.Run(ctx, bridge.Options{Game: env.Instance, Channel: env.Channel(BridgeName), Slices: g.slices(),
			NATS: n.url, Rate: n.rate, Compress: n.compress, Replicas: n.replicas, Fresh: env.Fresh, Log: env.Log})
	}
	s, ok := g.slice(n.slice)
	if !ok || n.game == "" {
		return fmt.Errorf("%w: proc mirror: want --game and --slice (one of %s)", ErrUsage, strings.Join(sliceNames(g.slices()), ", "))
	}
	return bridge.RunMirror(ctx, bridge.MirrorOptions{Game: n.game, Slice: s, Channel: env.Channel(n.slice), NATS: n.url, Log: env.Log})
}

func sliceNames(ss []bridge.Slice) []string {
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return names
}

// cmdEdge runs a game's edge: mirrors of every remote slice under a local
// instance, the game's edge processes (net) and, with --render, the
// renderer, all supervised.
func (g *Game) cmdEdge(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	f := g.newFlags("edge", "", false)
	var n natsFlags
	n.register(f.FlagSet, "edge")
	render := f.Bool("render", false, "run the renderer here too (the window where there is a display)")
	duration := f.Duration("duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	threshold := f.Float64("failure-threshold", supervisor.DefaultFailureThreshold, "failure score above which a child is failed")
	decay := f.Duration("failure-decay", supervisor.DefaultFailureDecay, "half-life of a child's failure score")
	pos, err := g.parse(f, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("%w: edge: unexpected arguments %q", ErrUsage, pos)
	case n.url == "" || n.url == "embedded":
		return fmt.Errorf("%w: edge: --nats nats://GAMEHOST:PORT is required", ErrUsage)
	case n.game == "":
		return fmt.Errorf("%w: edge: --game INSTANCE (the game's --instance) is required", ErrUsage)
	case n.game == f.instance:
		return fmt.Errorf("%w: edge: --instance %q is the game's: give the edge an instance of its own", ErrUsage, f.instance)
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
	if f.fresh {
		g.removeSegments(f.instance)
	}
	var specs []supervisor.ChildSpec
	local := map[string]bool{}
	for _, p := range g.procs {
		local[p.Name] = p.Edge
	}
	childArgs := f.childArgs()
	for _, s := range g.slices() {
		if local[s.Name] {
			continue // run here, below
		}
		margs := []string{"proc", "mirror", "--instance=" + f.instance, "--game=" + n.game, "--slice=" + s.Name, "--nats=" + n.url}
		specs = append(specs, supervisor.ChildSpec{
			Name: s.Name, Channel: f.instance + "." + s.Name, Restart: supervisor.Permanent,
			// Until the game publishes there is nothing to mirror.
			StartTimeout: time.Minute, HangTimeout: 2 * time.Second,
			Command: func() *exec.Cmd {
				cmd := exec.Command(self, margs...)
				cmd.Stderr = stderr
				return cmd
			},
		})
	}
	for _, p := range g.procs {
		if !p.Edge {
			continue
		}
		spec := p.Spec
		spec.Name, spec.Channel = p.Name, f.instance+"."+p.Name
		spec.Command = func() *exec.Cmd {
			cmd := exec.Command(self, append([]string{"proc", p.Name}, childArgs...)...)
			cmd.Stderr = stderr
			return cmd
		}
		specs = append(specs, spec)
	}
	if *render && g.renderer != nil {
		rs, err := g.renderSpec(f, self, childArgs, stdout, stderr, log)
		if err != nil {
			return err
		}
		specs = append(specs, rs)
	}
	sup, err := supervisor.New(supervisor.Options{
		Instance: f.instance, StatusChannel: f.instance + ".edge", Log: log, FailureThreshold: *threshold, FailureDecay: *decay,
	}, specs...)
	if err != nil {
		return err
	}
	log.Info("edge of a game over NATS", "game", n.game, "nats", bridge.Redact(n.url), "instance", f.instance)
	done := make(chan struct{})
	defer close(done)
	go statusLines(sup, stdout, done)
	err = sup.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
