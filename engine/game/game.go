// Package game is venomrt's game API. A program declares its processes —
// each a name, a slice, a constructor of its engine.Sim from the game's
// flags, a rate and a child spec — and hands over os.Args; it gets the
// command line for them. Built in:
//
//	PROGRAM run    [flags]            the game: the supervisor and every process
//	PROGRAM proc   NAME [flags]       one process (how run starts each child; NAME-i: a group's member)
//	PROGRAM render [flags]            the renderer alone
//	PROGRAM ls | rm | fault           the segments on this host, and faults
//	PROGRAM send   PROCESS OP [ARGS]  one command to a process, and its answer
//	PROGRAM top    [flags]            a live view of a running game (engine/watch)
//
// Everything else is registered (see Tool and Subcommand): the game's own
// subcommands, and the tools its main opts into, each a package of its
// own that only the programs registering it link:
//
//	g.Use(chaos.Tool())       engine/chaos: PROGRAM chaos, the game under random faults
//	g.Use(bench.Tool())       engine/bench: PROGRAM bench (with bench.Plot(plot.Ticks), --plot: engine/bench/plot)
//	g.Use(bridge.Tool())      engine/bridge: run --nats, proc bridge|mirror, PROGRAM edge
//	g.Subcommand(game.Subcommand{Name: "poke", ...})  the game's own: listed in usage, bad arguments exit 2
//
// Declare, then run — as with Erlang/OTP child specs, Bevy's App or
// ebiten.RunGame:
//
//	g := game.New("sandbox")
//	g.Flags(func(fs *flag.FlagSet) { fs.IntVar(&cells, "cells", 1000, "cells in a fresh world") })
//	g.Add(game.Sim("sand", newSand, engine.Options{Rate: 60}))
//	g.Use(chaos.Tool())
//	g.Main(os.Args)
//
// Every child is a real OS process: the program re-executes itself as
// "PROGRAM proc NAME" with the game's flags, under a supervisor.Supervisor.
//
// A process declared with a Group runs as as many members as the
// group's flag says, NAME-0 … NAME-(N-1), each a child of its own (see
// Process.Group, Env.Member, Game.Children).
package game

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// Errors of a declaration, comparable with errors.Is. Each is reported
// by Main before anything starts.
var (
	ErrName      = errors.New("game: bad process name")
	ErrDuplicate = errors.New("game: process declared twice")
	ErrDeclare   = errors.New("game: bad declaration")
)

// Game is a program's declaration: its processes, its flags and its
// renderer. Declare everything, then call Main once.
type Game struct {
	name     string
	procs    []Process
	flags    []func(*flag.FlagSet)
	renderer *Renderer
	size     *Size
	prepare  func(cmd string, fs *flag.FlagSet) error
	errs     []error

	// What tools and the game registered beyond the built-in
	// subcommands (tool.go).
	subs      []Subcommand
	cmdFlags  map[string][]func(*flag.FlagSet) // by subcommand: "run", "proc", a tool's (CommandFlags)
	hooks     map[string][]RunHook             // by subcommand: "run", a tool's (OnCommand)
	toolProcs []toolProc
	reserved  []string // channel names tools use under an instance
}

// New starts the declaration of a program; name is how its usage calls
// it.
func New(name string) *Game { return &Game{name: name} }

// Flags adds the game's own flags, registered beside the runtime's on
// run, proc, render, chaos and bench, and passed on to every child with
// their values. The variables they set are how constructors see them.
func (g *Game) Flags(register func(fs *flag.FlagSet)) *Game {
	g.flags = append(g.flags, register)
	return g
}

// Add declares processes; each becomes a child of run (each member of a
// group: Process.Group). A name outside [a-z0-9-]{1,15} ({1,12} for a
// group), a group whose flag is not one of the game's integer flags, a
// name declared twice or a member's name of a group or reserved (render, sup, a
// tool's: Reserve) or a slice type the engine refuses is an error Main
// reports before anything starts.
func (g *Game) Add(ps ...Process) *Game {
	for _, p := range ps {
		switch {
		case !validName.MatchString(p.Name):
			g.errs = append(g.errs, fmt.Errorf("%w %q: want [a-z0-9-]{1,15}", ErrName, p.Name))
		case p.Group != "" && !validGroupName.MatchString(p.Name):
			g.errs = append(g.errs, fmt.Errorf("%w %q: a group's name wants [a-z0-9-]{1,12}, leaving room for its members' -0 … -%d", ErrName, p.Name, MaxGroup-1))
		case p.Name == RenderName || p.Name == "sup" || slices.ContainsFunc(g.procs, func(q Process) bool { return q.Name == p.Name }):
			g.errs = append(g.errs, fmt.Errorf("%w: %q", ErrDuplicate, p.Name))
		case p.err != nil:
			g.errs = append(g.errs, fmt.Errorf("game: process %q: %w", p.Name, p.err))
		case p.Run == nil:
			g.errs = append(g.errs, fmt.Errorf("%w: process %q has no Run", ErrDeclare, p.Name))
		default:
			g.procs = append(g.procs, p)
		}
	}
	return g
}

// validName is what a process may be called: short enough for the
// status slice, plain enough for a channel name and a command line.
var validName = regexp.MustCompile(`^[a-z0-9-]{1,15}$`)

// Render declares the game's renderer, the child "render" (optional).
func (g *Game) Render(r Renderer) *Game {
	if r.Headless == nil {
		g.errs = append(g.errs, fmt.Errorf("%w: the renderer has no Headless run (it runs wherever the window does not)", ErrDeclare))
		return g
	}
	if g.renderer != nil {
		g.errs = append(g.errs, fmt.Errorf("%w: %q", ErrDuplicate, RenderName))
		return g
	}
	g.renderer = &r
	return g
}

// Sized names the game's size knob, which bench sweeps: a flag the game
// registers with Flags (an integer, such as "bodies"). Bench takes a
// comma-separated list under the same flag name and runs every size.
func (g *Game) Sized(s Size) *Game {
	g.size = &s
	return g
}

// Size is the knob bench sweeps.
type Size struct {
	Flag    string // the game's integer flag, such as "bodies"
	Default []int  // the sizes bench runs by default
	Max     int    // the largest size allowed (0: no bound)
}

// Prepare sets a hook called after a subcommand's flags are parsed and
// before anything starts: a game checks its flags there (an error is a
// usage error) and adjusts them for a tool (the demo gives chaos a smaller
// world and a port of its own). cmd is the subcommand ("run", "proc",
// "render", or a registered one that parses with Parse: "chaos",
// "bench", "edge"). What it sets through fs reaches every
// child: children get the flags' values after the hook; a value set only
// in a variable stays in this process.
func (g *Game) Prepare(hook func(cmd string, fs *flag.FlagSet) error) *Game {
	g.prepare = hook
	return g
}

// Main runs the subcommand named by args[1] and exits the process: 0 on
// success, 1 on an error, 2 on bad usage, or what the subcommand asks
// (an ExitError: chaos exits 1 when the game failed its checks).
func (g *Game) Main(args []string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := g.Command(ctx, args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", g.name, err)
	}
	os.Exit(ExitCode(err))
}

// ExitError carries a process exit status through Command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit status for an error Command returned.
func ExitCode(err error) int {
	var e *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, flag.ErrHelp), errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

// ErrUsage is a command line Command cannot make sense of.
var ErrUsage = errors.New("usage")

// Command runs one subcommand (args without the program name) until it
// is done or ctx ends. Main is Command with the process's signals,
// output and exit status.
func (g *Game) Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := errors.Join(append(g.errs, g.declared())...); err != nil {
		return err
	}
	if len(g.procs) == 0 && g.renderer == nil {
		return fmt.Errorf("%w: no process declared", ErrDeclare)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, g.usage())
		return flag.ErrHelp
	}
	format, err := logFormat(args[1:])
	if err != nil {
		fmt.Fprint(stderr, g.usage())
		return err
	}
	log := newLogger(stderr, format)
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return g.cmdRun(ctx, rest, stdout, stderr, log)
	case "proc":
		return g.cmdProc(ctx, rest, stdout, log)
	case "render":
		return g.cmdRender(ctx, rest, stdout, stderr, log)
	case "ls":
		return cmdLs(rest, stdout)
	case "rm":
		return cmdRm(rest, stdout)
	case "fault":
		return g.cmdFault(rest, stdout)
	case "send":
		return g.cmdSend(ctx, rest, stdout)
	case "top":
		return g.cmdTop(ctx, rest, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, g.usage())
		return nil
	}
	if s := g.subcommand(cmd); s != nil {
		err := s.Run(ctx, Call{Args: rest, Stdout: stdout, Stderr: stderr, Log: log})
		if errors.Is(err, ErrUsage) {
			fmt.Fprint(stderr, g.usageLine(s))
		}
		return err
	}
	fmt.Fprint(stderr, g.usage())
	return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
}

func (g *Game) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s COMMAND [flags]\n\ncommands:\n", g.name)
	fmt.Fprintf(&b, "  run     run the game: the supervisor and its processes (%s)\n", g.declaredNames())
	b.WriteString("  proc    run one process: proc NAME, or NAME-i for member i of a group (how run starts them)\n")
	if g.renderer != nil {
		b.WriteString("  render  the renderer alone\n")
	}
	b.WriteString("  ls      list venom segments in /dev/shm: ls [--instance I]\n")
	b.WriteString("  rm      remove segments: rm NAME... or rm --stale [--instance I]\n")
	fmt.Fprintf(&b, "  fault   inject a fault: fault PROCESS %s\n", strings.Join(faultKinds, "|"))
	b.WriteString("  send    send a command and print its answer: send PROCESS OP [ARGS...]\n")
	b.WriteString("  top     watch a running game: top [--instance I | --all] [--json] [--sort KEY]\n")
	for _, s := range g.subs {
		fmt.Fprintf(&b, "  %-7s %s\n", s.Name, s.Summary)
	}
	fmt.Fprintf(&b, "\n'%s COMMAND -h' lists a command's flags.\n", g.name)
	return b.String()
}

// childNames are the declared names of every child run starts, the
// renderer last: a group's name stands for its members (Children).
func (g *Game) childNames() []string {
	var names []string
	for _, p := range g.procs {
		names = append(names, p.Name)
	}
	if g.renderer != nil {
		names = append(names, RenderName)
	}
	return names
}

func (g *Game) process(name string) (Process, bool) {
	i := slices.IndexFunc(g.procs, func(p Process) bool { return p.Name == name })
	if i < 0 {
		return Process{}, false
	}
	return g.procs[i], true
}

// newLogger is a subcommand's logger to stderr: slog's text handler,
// or its JSON handler for a log pipeline (--log-format json), at
// $VENOMRT_LOG's level.
func newLogger(stderr io.Writer, format string) *slog.Logger {
	o := &slog.HandlerOptions{Level: logLevel()}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, o))
	}
	return slog.New(slog.NewTextHandler(stderr, o))
}

// logFormat is the --log-format of a subcommand's arguments (the last
// one given, flags being parsed after the logger is made), else
// $VENOMRT_LOG_FORMAT, else text.
func logFormat(args []string) (string, error) {
	format := os.Getenv("VENOMRT_LOG_FORMAT")
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "log-format" {
			continue
		}
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		format = val
	}
	switch format {
	case "", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", fmt.Errorf("%w: --log-format %q: want text or json", ErrUsage, format)
}

// logFormatFlag registers --log-format on fs: Command has read it
// already (logFormat); the flag makes it valid on every subcommand.
func logFormatFlag(fs *flag.FlagSet) *string {
	return fs.String("log-format", os.Getenv("VENOMRT_LOG_FORMAT"), "log records as text or json, slog's handlers (default $VENOMRT_LOG_FORMAT, else text)")
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("VENOMRT_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
