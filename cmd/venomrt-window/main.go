// Command venomrt-window is the demo's renderer in an Ebiten window. The
// supervisor starts it as its child "render" where a display exists (it
// looks beside its own binary, then on PATH, or takes --window PATH); a
// user runs it by hand to draw a local game or, with --connect, a game on
// another machine.
//
//	venomrt-window proc render [flags]   as the supervisor's child
//	venomrt-window [render] [flags]      by hand, e.g. --connect ws://HOST:PORT
//
// It takes the flags of "supervisor proc render" and "supervisor render";
// the simulation's flags the supervisor passes to every child (--bodies,
// --agents, --seed, --fresh, --net-addr, --net-send-rate) are accepted
// and ignored. With --headless it runs the headless loop.
//
// It links Ebiten (v2.8.8), which opens the display in a package init:
// without DISPLAY it panics before main. The supervisor never starts it
// then, and runs its own headless renderer instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/window"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "venomrt-window:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is the supervisor's: 2 for a usage request, 1 for any error.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(args []string, stdout, stderr io.Writer) error {
	o, child, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	if child {
		log = log.With("proc", "render", "pid", os.Getpid())
	}
	o.Log, o.Out = log, stdout
	return window.Run(ctx, o)
}

const usage = `usage: venomrt-window [render] [flags]       the renderer window, by hand
       venomrt-window proc render [flags]    the supervisor's child "render"

flags:
`

// parse reads the command line: child reports the form "proc render".
func parse(args []string, stderr io.Writer) (o demo.Options, child bool, err error) {
	fs := flag.NewFlagSet("venomrt-window", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Instance, "instance", "venomrt", "game instance: read <instance>.physics, ... and publish <instance>.render")
	fs.BoolVar(&o.Headless, "headless", false, "no window: print a status line per second")
	fs.StringVar(&o.Screenshot, "screenshot", "", "write a PNG of the screen to this file after --frames frames, then exit")
	fs.IntVar(&o.Frames, "frames", 0, "exit after this many frames (with --screenshot: default 60)")
	fs.StringVar(&o.Connect, "connect", "", "ws://HOST:PORT of a game's net process: draw it from the network (default: the local instance's shared memory)")
	fs.StringVar(&o.Player, "name", "render", "player name, with --connect")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", demo.DefaultConnectTimeout, "how long to keep trying to reach --connect before giving up")
	// The simulation's flags, which the supervisor passes to every child.
	const ignored = "ignored: a flag of the simulation, accepted so the supervisor can pass its children's flags"
	fs.Int("bodies", 0, ignored)
	fs.Int("agents", 0, ignored)
	fs.Uint64("seed", 0, ignored)
	fs.Bool("fresh", false, ignored)
	fs.String("net-addr", "", ignored)
	fs.Int("net-send-rate", 0, ignored)
	if err := fs.Parse(reorder(fs, args)); err != nil {
		return o, false, err
	}
	switch pos := fs.Args(); {
	case len(pos) == 0, len(pos) == 1 && pos[0] == "render":
	case len(pos) == 2 && pos[0] == "proc" && pos[1] == "render":
		child = true
	case len(pos) >= 1 && pos[0] == "proc":
		return o, false, fmt.Errorf("proc: this binary runs only the child render (got %q); physics, ai and net run from the supervisor", pos[1:])
	default:
		return o, false, fmt.Errorf("unexpected arguments %q (want [render] or proc render, then flags)", pos)
	}
	if o.Connect != "" && !strings.HasPrefix(o.Connect, "ws://") && !strings.HasPrefix(o.Connect, "wss://") {
		return o, false, fmt.Errorf("--connect %q, want ws://HOST:PORT", o.Connect)
	}
	if o.Frames < 0 {
		return o, false, fmt.Errorf("--frames %d, want >= 0", o.Frames)
	}
	return o, child, nil
}

// reorder moves flags before positional arguments, so that "proc render
// --instance x" parses as a person (and the supervisor) would expect.
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !isBoolFlag(fs, a) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

// isBoolFlag says whether a (-name or --name) is a boolean flag of fs,
// which takes no value argument.
func isBoolFlag(fs *flag.FlagSet, a string) bool {
	f := fs.Lookup(strings.TrimLeft(a, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("VENOMRT_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
