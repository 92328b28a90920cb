package main

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

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// gameFlags are the flags of run and proc: run passes them on to its
// children.
type gameFlags struct {
	instance string
	bodies   int
	agents   int
	seed     uint64
	fresh    bool
	headless bool
	netAddr  string
	sendRate int
	duration time.Duration
	// The renderer's screenshot: a PNG written after frames frames.
	screenshot string
	frames     int
	// Supervisor policy, run only.
	failureThreshold float64
	failureDecay     time.Duration
	// The renderer's window: the binary asked for with --window, and the
	// one run picked (see window.go; "" runs the renderer headless).
	window, windowBin string
}

func (g *gameFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.instance, "instance", "venomrt", "game instance: every channel is named <instance>.<child>")
	fs.IntVar(&g.bodies, "bodies", 2000, "bodies in a fresh physics world")
	fs.IntVar(&g.agents, "agents", 200, "agents in a fresh ai world")
	fs.Uint64Var(&g.seed, "seed", 1, "seed of a fresh world")
	fs.BoolVar(&g.fresh, "fresh", false, "cold start: ignore snapshots left by a previous run")
	fs.StringVar(&g.netAddr, "net-addr", "127.0.0.1:7777", "address of the net process's WebSocket server")
	fs.IntVar(&g.sendRate, "net-send-rate", 20, "snapshots per second net sends each player")
	fs.BoolVar(&g.headless, "headless", false, "no window: print a status line per second")
	fs.StringVar(&g.screenshot, "screenshot", "", "write a PNG of the screen to this file after --frames frames, then end the game")
	fs.IntVar(&g.frames, "frames", 0, "end the game after this many rendered frames (with --screenshot: default 60)")
	fs.StringVar(&g.window, "window", "", "the Ebiten window binary; default: venomrt-window beside this binary, then on PATH")
}

// childArgs are the flags a child gets from run.
func (g *gameFlags) childArgs() []string {
	args := []string{"--instance", g.instance, "--bodies", strconv.Itoa(g.bodies), "--agents", strconv.Itoa(g.agents),
		"--seed", strconv.FormatUint(g.seed, 10), "--net-addr", g.netAddr, "--net-send-rate", strconv.Itoa(g.sendRate)}
	if g.headless {
		args = append(args, "--headless")
	}
	if g.screenshot != "" {
		args = append(args, "--screenshot", g.screenshot)
	}
	if g.frames > 0 {
		args = append(args, "--frames", strconv.Itoa(g.frames))
	}
	return args
}

func (g *gameFlags) channel(child string) string { return g.instance + "." + child }

func cmdProc(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("proc", flag.ContinueOnError)
	var g gameFlags
	g.register(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("proc: want one child name: physics, ai, net, render")
	}
	name := fs.Arg(0)
	log = log.With("proc", name, "pid", os.Getpid())
	switch name {
	case "physics":
		if g.bodies < 0 || g.bodies > physics.MaxBodies {
			return fmt.Errorf("proc physics: --bodies %d, want 0..%d", g.bodies, physics.MaxBodies)
		}
		return physics.Run(ctx, g.channel("physics"), g.seed, g.bodies, log)
	case "ai":
		if g.agents < 0 || g.agents > ai.MaxAgents {
			return fmt.Errorf("proc ai: --agents %d, want 0..%d", g.agents, ai.MaxAgents)
		}
		return ai.Run(ctx, g.channel("ai"), g.channel("physics"), g.seed, g.agents, log)
	case "net":
		if g.sendRate < 1 || g.sendRate > 60 {
			return fmt.Errorf("proc net: --net-send-rate %d, want 1..60", g.sendRate)
		}
		return netproc.Run(ctx, netproc.Options{Channel: g.channel("net"), Physics: g.channel("physics"),
			AI: g.channel("ai"), Status: engine.StatusChannel(g.instance), Addr: g.netAddr, SendRate: g.sendRate, Log: log})
	case "render":
		return demo.Run(ctx, demo.Options{Instance: g.instance, Headless: g.headless, Screenshot: g.screenshot,
			Frames: g.frames, Log: log, Out: os.Stdout})
	}
	return fmt.Errorf("proc: unknown child %q", name)
}

// cmdRender runs the renderer alone, on any machine: with --connect it
// draws a game from its net process's stream.
func cmdRender(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	var g gameFlags
	g.register(fs)
	connect := fs.String("connect", "", "ws://HOST:PORT of a game's net process: draw it from the network (default: the local instance's shared memory)")
	name := fs.String("name", "render", "player name, with --connect")
	timeout := fs.Duration("connect-timeout", demo.DefaultConnectTimeout, "how long to keep trying to reach --connect before giving up")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("render: unexpected arguments %q", fs.Args())
	}
	if *connect != "" && !strings.HasPrefix(*connect, "ws://") && !strings.HasPrefix(*connect, "wss://") {
		return fmt.Errorf("render: --connect %q, want ws://HOST:PORT", *connect)
	}
	why := g.pickRenderer(log)
	if g.windowBin != "" {
		return g.execWindow(g.windowBin, *connect, *name, *timeout)
	}
	if g.screenshot != "" {
		return fmt.Errorf("render: --screenshot needs the window: %s", why)
	}
	return demo.Run(ctx, demo.Options{Instance: g.instance, Headless: g.headless, Screenshot: g.screenshot,
		Frames: g.frames, Connect: *connect, Player: *name, ConnectTimeout: *timeout, Log: log, Out: os.Stdout})
}

// children are the specs of the game's processes.
func (g *gameFlags) children(self string, stderr io.Writer) []engine.ChildSpec {
	spec := func(name string) engine.ChildSpec {
		return engine.ChildSpec{
			Name:    name,
			Channel: g.channel(name),
			Restart: engine.Permanent,
			Command: func() *exec.Cmd {
				cmd := exec.Command(self, append([]string{"proc", name}, g.childArgs()...)...)
				cmd.Stderr = stderr
				return cmd
			},
		}
	}
	// The renderer: closing its window (exit 0) ends the game; a crash
	// restarts it. Ebiten under Xvfb can stall a few seconds at start.
	render := spec("render")
	render.Restart, render.Significant = engine.Transient, true
	render.HangTimeout, render.StartTimeout = 5*time.Second, 20*time.Second
	render.Command = func() *exec.Cmd {
		// The window binary picked for the run, or this one headless.
		cmd := g.renderCommand(self)
		cmd.Stdout, cmd.Stderr = os.Stdout, stderr // its headless status lines
		return cmd
	}
	return []engine.ChildSpec{spec("physics"), spec("ai"), spec("net"), render}
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var g gameFlags
	g.register(fs)
	fs.DurationVar(&g.duration, "duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	fs.Float64Var(&g.failureThreshold, "failure-threshold", engine.DefaultFailureThreshold, "failure score above which a child is failed")
	fs.DurationVar(&g.failureDecay, "failure-decay", engine.DefaultFailureDecay, "half-life of a child's failure score")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if why := g.pickRenderer(log); g.windowBin == "" && g.screenshot != "" {
		return fmt.Errorf("run: --screenshot needs the window: %s", why)
	}
	if g.fresh {
		for _, child := range []string{"physics", "ai", "net", "render"} {
			venom.Remove(g.channel(child))
		}
	}
	if g.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.duration)
		defer cancel()
	}
	sup, err := engine.NewSupervisor(engine.SupervisorOptions{
		Instance: g.instance, Log: log, FailureThreshold: g.failureThreshold, FailureDecay: g.failureDecay,
	}, g.children(self, os.Stderr)...)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go statusLines(sup, stdout, done)
	err = sup.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// statusLines prints one line per second: per child its state, pid,
// restarts, tick and snapshot age.
func statusLines(sup *engine.Supervisor, w io.Writer, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintln(w, statusLine(sup.Status()))
		}
	}
}

func statusLine(st []engine.ChildStatus) string {
	var b strings.Builder
	for i, c := range st {
		if i > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "%s %s pid=%d restarts=%d tick=%d age=%s", c.NameString(), c.StateName(), c.Pid, c.Restarts,
			c.Tick, time.Duration(c.TickAge).Round(time.Millisecond))
	}
	return b.String()
}
