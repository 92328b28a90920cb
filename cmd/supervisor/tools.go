package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// cmdLs prints one row per venom segment on the host: its name, the
// owner's pid as the header records it, whether a live process holds the
// ownership lock (alive) or not (dead), the epoch, the client slots in
// use, the commands queued, the age of the newest snapshot and the
// segment's size.
func cmdLs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	names, err := venom.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOWNER\tSTATE\tEPOCH\tCLIENTS\tQUEUED\tLAST PUBLISH\tSIZE")
	for _, name := range names {
		info, err := venom.Inspect(name)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\tunreadable: %v\t\t\t\t\t\n", name, err)
			continue
		}
		state := "dead"
		if info.Owned {
			state = "alive"
		}
		age := "never"
		if info.Age >= 0 {
			age = info.Age.Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\n", name, info.Daemon.Pid, state, info.Daemon.Epoch,
			info.Clients, info.Queued, age, byteSize(info.Size))
	}
	return tw.Flush()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// cmdRm removes segments: the ones named, or with --stale every one
// whose owner is dead. --instance NAME limits --stale to that game's
// segments, "<NAME>.*", so a test or one game's cleanup leaves the stale
// segments of other games alone (a dead game's segments are how its next
// run resumes).
func cmdRm(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	stale := fs.Bool("stale", false, "remove every segment whose owner is dead")
	instance := fs.String("instance", "", "with --stale: only the segments of this game instance (<instance>.*); default every instance")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	names := fs.Args()
	switch {
	case *instance != "" && !*stale:
		// Named segments are full names already; an instance without
		// --stale would silently mean nothing.
		return fmt.Errorf("rm: --instance only limits --stale; name the segments to remove in full")
	case *stale:
		all, err := venom.List()
		if err != nil {
			return fmt.Errorf("rm: %w", err)
		}
		for _, name := range all {
			if *instance != "" && !strings.HasPrefix(name, *instance+".") {
				continue
			}
			// A segment being created has no header yet: not stale.
			if info, err := venom.Inspect(name); err == nil && !info.Owned {
				names = append(names, name)
			}
		}
	case len(names) == 0:
		return fmt.Errorf("rm: name segments to remove, or --stale")
	}
	for _, name := range names {
		if err := venom.Remove(name); err != nil {
			return fmt.Errorf("rm: %w", err)
		}
		fmt.Fprintln(stdout, "removed", name)
	}
	return nil
}

// faultOps names the faults a child can be sent.
var faultOps = map[string]engine.Op{
	"panic":      engine.OpPanic,
	"exit":       engine.OpExit,
	"hang":       engine.OpHang,
	"midpublish": engine.OpMidPublish,
	"slow":       engine.OpSlow,
}

func faultNames() string {
	return "panic, exit, hang, midpublish, slow"
}

// cmdFault sends a fault command to a running child's channel,
// "<instance>.<child>"; the child's engine loop carries it out.
func cmdFault(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	instance := fs.String("instance", "venomrt", "the game instance")
	code := fs.Int("code", 1, "exit code, for exit")
	ms := fs.Int("ms", 50, "extra milliseconds a tick, for slow")
	ticks := fs.Int("ticks", 60, "slow ticks, for slow")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("fault: want CHILD KIND (KIND: %s)", faultNames())
	}
	child, kind := fs.Arg(0), strings.ToLower(fs.Arg(1))
	op, ok := faultOps[kind]
	if !ok {
		return fmt.Errorf("fault: unknown kind %q (want %s)", kind, faultNames())
	}
	cmd := engine.Cmd(op)
	switch op {
	case engine.OpExit:
		cmd = engine.Cmd(op, float64(*code))
	case engine.OpSlow:
		cmd = engine.Cmd(op, float64(*ms), float64(*ticks))
	}
	ch := *instance + "." + child
	s, err := venom.Connect(ch)
	if err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	defer s.Close()
	if err := s.Send(cmd.Append(nil)); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	fmt.Fprintf(stdout, "sent %s to %s\n", kind, ch)
	return nil
}

// reorder moves flags before positional arguments, so "fault physics
// exit --code 3" parses as a person would expect.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

func isBoolFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "stale", "headless", "fresh":
		return true
	}
	return false
}
