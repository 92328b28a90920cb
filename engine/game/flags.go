package game

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// common are the runtime's flags on run, proc, render, chaos and bench.
type common struct {
	instance string
	fresh    bool
	headless bool
	window   string
}

// flags is a subcommand's flag set: the runtime's common flags, the
// game's own (all but skip, which a tool takes over: bench's size list),
// and which of them children are given.
type flags struct {
	*flag.FlagSet
	common
	pass []string // flags passed on to every child, with their values
}

// newFlags builds the flag set of subcommand cmd. withRender adds the
// renderer's own flags.
func (g *Game) newFlags(cmd, skip string, withRender bool) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError)}
	f.StringVar(&f.instance, "instance", defaultInstance(g.name), "game instance: every channel is named <instance>.<process>")
	f.BoolVar(&f.fresh, "fresh", false, "cold start: remove the snapshots a previous run left")
	f.BoolVar(&f.headless, "headless", false, "no window: the renderer prints a status line per second")
	f.StringVar(&f.window, "window", "", "the window binary (default: the game's, beside this program, then on PATH)")
	f.pass = []string{"instance", "headless"}
	own := flag.NewFlagSet(cmd, flag.ContinueOnError)
	for _, register := range g.flags {
		register(own)
	}
	if withRender && g.renderer != nil && g.renderer.Flags != nil {
		g.renderer.Flags(own)
	}
	own.VisitAll(func(fl *flag.Flag) {
		if fl.Name == skip || f.Lookup(fl.Name) != nil {
			return
		}
		f.Var(fl.Value, fl.Name, fl.Usage)
		f.pass = append(f.pass, fl.Name)
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

// parse parses args, flags and positional arguments in any order, and
// returns the positional ones; then the game's Prepare hook may adjust
// the flags.
func (g *Game) parse(f *flags, args []string) ([]string, error) {
	pos, err := parseAny(f.FlagSet, args)
	if err != nil {
		return nil, err
	}
	if err := checkInstance(f.instance); err != nil {
		return nil, err
	}
	if g.prepare != nil {
		if err := g.prepare(f.Name(), f.FlagSet); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUsage, f.Name(), err)
		}
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

// childArgs are the flags every child gets: the game's with their
// current values, the instance, headless.
func (f *flags) childArgs() []string {
	var args []string
	for _, name := range f.pass {
		fl := f.Lookup(name)
		args = append(args, "--"+name+"="+fl.Value.String())
	}
	return args
}

// isSet reports whether the command line set flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// intFlag reads an integer flag of the game's.
func intFlag(fs *flag.FlagSet, name string) (int, error) {
	fl := fs.Lookup(name)
	if fl == nil {
		return 0, fmt.Errorf("%w: no flag --%s", ErrDeclare, name)
	}
	return strconv.Atoi(fl.Value.String())
}
