package game

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// What a program adds to the built-in subcommands is registered on its
// Game, like everything else it declares, before Main: a game's own
// subcommands (Subcommand), and tools — packages outside engine/game
// such as engine/chaos, engine/bench and engine/bridge — that add
// subcommands, flags on run and proc, children of run and processes of
// their own. As with net/http/pprof, registering is what links a tool;
// unlike it, nothing is global: a tool registers on the Game it is given.
//
//	g := game.New("heat")
//	g.Add(...)
//	g.Use(chaos.Tool(), bench.Tool())          // "heat chaos", "heat bench"
//	g.Subcommand(game.Subcommand{Name: "poke", Args: "CELL", Summary: "heat one cell",
//		Run: func(ctx context.Context, c game.Call) error { ... }})
//	g.Main(os.Args)

// Tool is an opt-in extension of a game's command line, such as
// chaos.Tool(): given the game, it registers what it adds through
// Subcommand, CommandFlags, OnRun, ToolProcess and Reserve. A game links
// only the tools its main registers.
type Tool func(g *Game)

// Use registers tools, in order: their subcommands appear in usage in
// that order, after the built-in ones.
func (g *Game) Use(tools ...Tool) *Game {
	for _, t := range tools {
		t(g)
	}
	return g
}

// Subcommand is a command of the program beside the built-in ones: a
// tool's (chaos, bench, edge) or the game's own.
type Subcommand struct {
	// Name is what follows the program's name: [a-z][a-z0-9-]{0,15},
	// not a built-in's nor another subcommand's.
	Name string
	// Args is the synopsis of what follows the name, for usage errors
	// ("PROCESS AMOUNT [flags]"); "" means "[flags]".
	Args string
	// Summary is its line in the program's usage.
	Summary string
	// Run runs it until it is done or ctx ends (SIGINT, SIGTERM). An
	// error wrapping ErrUsage or flag.ErrHelp is a usage error: Main
	// prints the subcommand's synopsis and exits 2 (Parse wraps a bad
	// flag so). An ExitError sets the exit status; any other error exits
	// 1.
	Run func(ctx context.Context, c Call) error
}

// Call is one invocation of a subcommand or a RunHook: the command line
// after the subcommand's name, where its output goes, and a logger to
// Stderr at $VENOMRT_LOG's level (info by default).
type Call struct {
	Args           []string
	Stdout, Stderr io.Writer
	Log            *slog.Logger
}

// builtins are the runtime's own subcommands, in usage order.
var builtins = []string{"run", "proc", "render", "ls", "rm", "fault", "send", "top", "help"}

// validSubcommand is what a registered subcommand may be called.
var validSubcommand = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)

// Subcommand registers a subcommand. A bad or taken name, or no Run, is
// a declaration error Main reports before anything runs.
func (g *Game) Subcommand(s Subcommand) *Game {
	switch {
	case !validSubcommand.MatchString(s.Name):
		g.errs = append(g.errs, fmt.Errorf("%w: subcommand %q: want [a-z][a-z0-9-]{0,15}", ErrName, s.Name))
	case slices.Contains(builtins, s.Name) || g.subcommand(s.Name) != nil:
		g.errs = append(g.errs, fmt.Errorf("%w: subcommand %q", ErrDuplicate, s.Name))
	case s.Run == nil:
		g.errs = append(g.errs, fmt.Errorf("%w: subcommand %q has no Run", ErrDeclare, s.Name))
	default:
		g.subs = append(g.subs, s)
	}
	return g
}

func (g *Game) subcommand(name string) *Subcommand {
	for i := range g.subs {
		if g.subs[i].Name == name {
			return &g.subs[i]
		}
	}
	return nil
}

// CommandFlags adds a tool's flags to the subcommand cmd: the built-in
// "run" or "proc" (the bridge's --nats), or a tool's subcommand that
// parses its command line with NewFlags(cmd) — the bridge's "edge",
// where the metrics tool adds --metrics-addr. A game without that
// subcommand never parses them, so a tool may offer flags to another
// tool's subcommand without knowing whether the game registers it. They
// come after the runtime's and the game's flags, and a name one of those
// has taken stays theirs. They are not passed on to children: a tool
// that needs them in a child of its own (a ToolProcess) puts them on
// that child's command line.
func (g *Game) CommandFlags(cmd string, register func(fs *flag.FlagSet)) *Game {
	if slices.Contains(builtins, cmd) && cmd != "run" && cmd != "proc" || !validSubcommand.MatchString(cmd) {
		g.errs = append(g.errs, fmt.Errorf("%w: flags for %q: a tool adds flags to run, proc or a tool's subcommand", ErrDeclare, cmd))
		return g
	}
	if g.cmdFlags == nil {
		g.cmdFlags = map[string][]func(*flag.FlagSet){}
	}
	g.cmdFlags[cmd] = append(g.cmdFlags[cmd], register)
	return g
}

// Child is a child a RunHook adds to run: its spec, Name, Channel and
// Command filled, and the shape of its channel, which run counts in its
// check of /dev/shm (zero: engine.Run's default channel).
type Child struct {
	Spec    supervisor.ChildSpec
	Segment venom.Config
}

// RunHook is a tool's part of run, registered with OnRun. It is called
// once run's flags (f, the tool's among them) are parsed and --fresh has
// removed the old segments, before anything starts. It returns the
// children it adds to run's supervisor (none: the tool is off for this
// run) and stop, called once the supervisor has stopped (nil: nothing to
// stop). An error stops run before anything starts.
type RunHook func(ctx context.Context, f *Flags, c Call) (children []Child, stop func(), err error)

// OnRun registers a RunHook: OnCommand("run", hook).
func (g *Game) OnRun(hook RunHook) *Game { return g.OnCommand("run", hook) }

// OnCommand registers a hook of a subcommand that runs a supervisor:
// run, or a tool's subcommand that calls its hooks with RunHooks (the
// bridge's edge, where the metrics tool serves the edge's /metrics). As
// with CommandFlags, a game without that subcommand never calls it.
func (g *Game) OnCommand(cmd string, hook RunHook) *Game {
	if g.hooks == nil {
		g.hooks = map[string][]RunHook{}
	}
	g.hooks[cmd] = append(g.hooks[cmd], hook)
	return g
}

// RunHooks calls cmd's hooks (OnCommand) in order, as run does, with
// cmd's parsed flags: it returns the children they add and stop, never
// nil, which calls the hooks' stops in reverse — the caller calls it
// once its supervisor has stopped, and on an error too (the hooks
// called before the failing one may have started something).
func (g *Game) RunHooks(ctx context.Context, cmd string, f *Flags, c Call) (children []Child, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	for _, hook := range g.hooks[cmd] {
		more, s, err := hook(ctx, f, c)
		if s != nil {
			stops = append(stops, s)
		}
		if err != nil {
			return nil, stop, err
		}
		children = append(children, more...)
	}
	return children, stop, nil
}

// toolProc is a process a tool runs as "PROGRAM proc NAME".
type toolProc struct {
	name string
	run  func(ctx context.Context, env Env) error
}

// ToolProcess registers a process that "PROGRAM proc NAME" runs though
// the game does not declare it: a tool's child (the bridge; an edge's
// mirror). run sees the values of the flags the tool added to proc
// (CommandFlags). Its name is reserved (see Reserve).
func (g *Game) ToolProcess(name string, run func(ctx context.Context, env Env) error) *Game {
	if run == nil || !validName.MatchString(name) {
		g.errs = append(g.errs, fmt.Errorf("%w: tool process %q: want a Run and a name of [a-z0-9-]{1,15}", ErrDeclare, name))
		return g
	}
	g.toolProcs = append(g.toolProcs, toolProc{name, run})
	return g.Reserve(name)
}

// Reserve reserves channel names a tool uses under a game's instance
// ("<instance>.<name>"): no process may be declared with one, and
// run --fresh, chaos and bench remove them with the game's own.
func (g *Game) Reserve(names ...string) *Game {
	for _, n := range names {
		if !slices.Contains(g.reserved, n) {
			g.reserved = append(g.reserved, n)
		}
	}
	return g
}

// Name is the program's name, as New was given it.
func (g *Game) Name() string { return g.name }

// Processes are the declared processes, in declaration order (a copy).
func (g *Game) Processes() []Process { return slices.Clone(g.procs) }

// Renderer is the declared renderer, if any (a copy).
func (g *Game) Renderer() (Renderer, bool) {
	if g.renderer == nil {
		return Renderer{}, false
	}
	return *g.renderer, true
}

// Size is the game's size knob (Sized), if it has one.
func (g *Game) Size() (Size, bool) {
	if g.size == nil {
		return Size{}, false
	}
	return *g.size, true
}

// RemoveSegments removes every channel of an instance of the game: its
// processes', every member's of each group whatever its count (NAME and
// NAME-<digits>), the renderer's, the supervisor's status and the names
// tools reserved.
func (g *Game) RemoveSegments(instance string) {
	for _, name := range append(append(g.childNames(), "sup"), g.reserved...) {
		venom.Remove(instance + "." + name)
	}
	for _, p := range g.procs {
		if p.Group == "" {
			continue
		}
		for _, seg := range groupSegments(instance, p.Name) {
			venom.Remove(seg)
		}
	}
}

// DecodeHeader checks a snapshot of the process's slice (its schema
// hash, its length) and returns its header.
func (p Process) DecodeHeader(b []byte) (engine.Header, error) {
	if p.header == nil {
		return engine.PeekHeader(b)
	}
	return p.header(b)
}

// usageLine is a registered subcommand's synopsis, printed with a usage
// error.
func (g *Game) usageLine(s *Subcommand) string {
	args := s.Args
	if args == "" {
		args = "[flags]"
	}
	return fmt.Sprintf("usage: %s %s %s\n", g.name, s.Name, args)
}

// declared checks what tools registered against the declaration: a
// process may not take a reserved name.
func (g *Game) declared() error {
	var errs []error
	for _, p := range g.procs {
		if slices.Contains(g.reserved, p.Name) {
			errs = append(errs, fmt.Errorf("%w: %q (a tool's)", ErrDuplicate, p.Name))
		}
	}
	errs = append(errs, g.declaredGroups()...)
	for _, s := range g.subs {
		if strings.TrimSpace(s.Summary) == "" {
			errs = append(errs, fmt.Errorf("%w: subcommand %q has no Summary", ErrDeclare, s.Name))
		}
	}
	return errors.Join(errs...)
}
