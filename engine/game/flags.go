package game

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Flags is a subcommand's command line as the runtime builds it (see
// Game.NewFlags): the runtime's common flags, whose values it holds, the
// game's own, and whatever the subcommand adds to the embedded FlagSet.
type Flags struct {
	*flag.FlagSet
	Instance string // --instance: every channel is "<Instance>.<process>"
	Fresh    bool   // --fresh: remove the snapshots a previous run left
	Headless bool   // --headless: no window
	Window   string // --window: the window binary
	// RunID is --run-id: the run's id, which run draws (DrawRunID) and
	// passes to every child (Env.RunID); 0 when none was given.
	RunID uint64

	pass   []string       // flags passed on to every child, with their values
	g      *Game          // whose groups Count and SetCount know
	counts map[string]int // groups' counts set by SetCount, by flag name, for a flag f does not have
	// The defaults of the groups' flags, by name, as registered: the
	// count of a group whose flag f does not have (a tool's skip).
	defaults map[string]int
}

// NewFlags is the flag set of subcommand cmd: the runtime's common flags
// (--instance, --fresh, --headless, --window, --run-id) and the game's
// own (Flags), except those named in skip, which the subcommand takes
// over (bench's size list under the size knob's name; a group's count,
// then set with SetCount). A registered subcommand adds its own flags to
// it, then calls Parse.
func (g *Game) NewFlags(cmd string, skip ...string) *Flags {
	return g.newFlags(cmd, false, skip...)
}

// newFlags is NewFlags; withRender adds the renderer's own flags (render
// and proc), and the tools' flags for cmd (CommandFlags) come last.
func (g *Game) newFlags(cmd string, withRender bool, skip ...string) *Flags {
	f := &Flags{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), g: g}
	f.StringVar(&f.Instance, "instance", defaultInstance(g.name), "game instance: every channel is named <instance>.<process>")
	f.BoolVar(&f.Fresh, "fresh", false, "cold start: remove the snapshots a previous run left")
	f.BoolVar(&f.Headless, "headless", false, "no window: the renderer prints a status line per second")
	f.StringVar(&f.Window, "window", "", "the window binary (default: the game's, beside this program, then on PATH)")
	f.Uint64Var(&f.RunID, "run-id", 0, "the run's id, which run draws and gives every child (0: none; run draws one)")
	logFormatFlag(f.FlagSet)
	f.pass = []string{"instance", "headless", "log-format", "run-id"}
	own := flag.NewFlagSet(cmd, flag.ContinueOnError)
	for _, register := range g.flags {
		register(own)
	}
	if withRender && g.renderer != nil && g.renderer.Flags != nil {
		g.renderer.Flags(own)
	}
	own.VisitAll(func(fl *flag.Flag) {
		if g.isGroupFlag(fl.Name) {
			if n, err := intValue(fl); err == nil {
				if f.defaults == nil {
					f.defaults = map[string]int{}
				}
				f.defaults[fl.Name] = n
			}
		}
		if slices.Contains(skip, fl.Name) || f.Lookup(fl.Name) != nil {
			return
		}
		f.Var(fl.Value, fl.Name, fl.Usage)
		f.pass = append(f.pass, fl.Name)
	})
	// A tool's flags, not passed on: a name taken already stays taken.
	tools := flag.NewFlagSet(cmd, flag.ContinueOnError)
	for _, register := range g.cmdFlags[cmd] {
		register(tools)
	}
	tools.VisitAll(func(fl *flag.Flag) {
		if f.Lookup(fl.Name) == nil {
			f.Var(fl.Value, fl.Name, fl.Usage)
		}
	})
	return f
}

// defaultInstance is the instance name of a program called name, made
// valid as a channel name prefix.
func defaultInstance(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 || b.Len() > 32 {
		return "venomrt"
	}
	return b.String()
}

// Parse parses a subcommand's command line, flags and positional
// arguments in any order, and returns the positional ones; it checks
// --instance, then the game's Prepare hook may check and adjust the
// flags, then each group's count is checked (1..MaxGroup). A bad flag, a
// bad instance, Prepare's refusal or a bad count is a usage error
// (ErrUsage); -h is flag.ErrHelp, after the flags' usage on the
// flag set's output.
func (g *Game) Parse(f *Flags, args []string) ([]string, error) {
	pos, err := parseAny(f.FlagSet, args)
	if err != nil {
		return nil, err
	}
	if err := checkInstance(f.Instance); err != nil {
		return nil, err
	}
	if g.prepare != nil {
		if err := g.prepare(f.Name(), f.FlagSet); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUsage, f.Name(), err)
		}
	}
	if err := g.checkGroups(f); err != nil {
		return nil, err
	}
	return pos, nil
}

// checkInstance refuses an instance name that cannot prefix a channel.
func checkInstance(s string) error {
	if len(s) == 0 || len(s) > 40 {
		return fmt.Errorf("%w: --instance %q: want 1 to 40 of [A-Za-z0-9._-]", ErrUsage, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: --instance %q: want 1 to 40 of [A-Za-z0-9._-]", ErrUsage, s)
		}
	}
	return nil
}

// ChildArgs are the flags every child gets: the game's with their
// current values (a group's count SetCount set among them), the
// instance, headless, the log format and the run's id.
func (f *Flags) ChildArgs() []string {
	var args []string
	for _, name := range f.pass {
		fl := f.Lookup(name)
		args = append(args, "--"+name+"="+fl.Value.String())
	}
	for _, name := range slices.Sorted(maps.Keys(f.counts)) {
		args = append(args, "--"+name+"="+strconv.Itoa(f.counts[name]))
	}
	return args
}
