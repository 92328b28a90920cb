package game

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// cmdLs prints one row per venom segment on the host: its name, the
// owner's pid as the header records it, whether a live process holds the
// ownership lock (alive) or not (dead), the epoch, the client slots in
// use, the commands queued, the age of the newest snapshot, the
// segment's size, and the standby of the child that owns it as its
// instance's supervisor reports it (standbyColumn). --instance NAME
// lists only that game's segments, "<NAME>.*".
func cmdLs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	logFormatFlag(fs)
	instance := fs.String("instance", "", "only the segments of this game instance (<instance>.*); default every segment")
	pos, err := parseAny(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: ls: unexpected arguments %q (--instance NAME lists one game's)", ErrUsage, pos)
	}
	if *instance != "" {
		if err := checkInstance(*instance); err != nil {
			return err
		}
	}
	names, err := venom.List()
	if err != nil {
		return err
	}
	if *instance != "" {
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, *instance+".") })
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOWNER\tSTATE\tEPOCH\tCLIENTS\tQUEUED\tLAST PUBLISH\tSIZE\tSTANDBY")
	statuses := map[string][]supervisor.ChildStatus{}
	for _, name := range names {
		info, err := venom.Inspect(name)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\tunreadable: %v\t\t\t\t\t\t\n", name, err)
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", name, info.Daemon.Pid, state, info.Daemon.Epoch,
			info.Clients, info.Queued, age, byteSize(info.Size), standbyColumn(name, statuses))
	}
	return tw.Flush()
}

// standbyColumn is ls's STANDBY for the segment of channel name
// ("<instance>.<child>"): "ready PID" (waiting to take over), "starting
// PID", "none" (kept with a standby, none at the moment) or "-" (no
// standby kept, no such child, or no supervisor status to tell). It
// reads the instance's status channel once per instance (cache).
func standbyColumn(name string, cache map[string][]supervisor.ChildStatus) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return "-"
	}
	inst, child := name[:i], name[i+1:]
	st, ok := cache[inst]
	if !ok {
		st = readStatus(inst)
		cache[inst] = st
	}
	for _, c := range st {
		if c.NameString() != child {
			continue
		}
		switch s := c.StandbyString(); s {
		case "ready", "starting":
			return fmt.Sprintf("%s %d", s, c.StandbyPid)
		default:
			return s
		}
	}
	return "-"
}

// readStatus is the newest status slice of an instance's live
// supervisor, nil when there is none to read (a dead supervisor's is
// stale: its children died with it). It is the status channel whose
// owner is the supervisor that wrote it (Meta.Pid): on an edge,
// "<instance>.sup" mirrors the remote game's status (its pids are the
// game machine's), and the edge's own supervisor publishes on another
// channel of the instance.
func readStatus(instance string) []supervisor.ChildStatus {
	if st, ok := ownStatus(supervisor.StatusChannel(instance)); ok {
		return st
	}
	names, err := venom.List()
	if err != nil {
		return nil
	}
	for _, n := range names {
		if strings.HasPrefix(n, instance+".") && !strings.Contains(n[len(instance)+1:], ".") && n != supervisor.StatusChannel(instance) {
			if st, ok := ownStatus(n); ok {
				return st
			}
		}
	}
	return nil
}

// ownStatus reads ch as a supervisor's status, if it is one published by
// the live process that owns ch.
func ownStatus(ch string) ([]supervisor.ChildStatus, bool) {
	info, err := venom.Inspect(ch)
	if err != nil || !info.Owned {
		return nil, false
	}
	c, err := engine.Connect(ch, supervisor.StatusSchema)
	if err != nil {
		return nil, false
	}
	defer c.Close()
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if c.Read(&f) != nil || int(f.Meta.Pid) != info.Daemon.Pid {
		return nil, false
	}
	return f.Items, true
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
	logFormatFlag(fs)
	stale := fs.Bool("stale", false, "remove every segment whose owner is dead")
	instance := fs.String("instance", "", "with --stale: only the segments of this game instance (<instance>.*); default every instance")
	names, err := parseAny(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *instance != "" && !*stale:
		// Named segments are full names already; an instance without
		// --stale would silently mean nothing.
		return fmt.Errorf("%w: rm: --instance only limits --stale; name the segments to remove in full", ErrUsage)
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
		return fmt.Errorf("%w: rm: name segments to remove, or --stale", ErrUsage)
	}
	for _, name := range names {
		if err := venom.Remove(name); err != nil {
			return fmt.Errorf("rm: %w", err)
		}
		fmt.Fprintln(stdout, "removed", name)
	}
	return nil
}

// cmdFault sends a fault to a running child: a signal to its channel's
// owner (kill, stop) or an engine op on its channel, which the child's
// engine loop carries out. A member of a group is named NAME-i; a
// group's own name is a usage error when more than one member runs.
func (g *Game) cmdFault(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	logFormatFlag(fs)
	instance := fs.String("instance", defaultInstance(g.name), "the game instance")
	code := fs.Int("code", 1, "exit code, for exit")
	ms := fs.Int("ms", 50, "extra milliseconds a tick, for slow")
	ticks := fs.Int("ticks", 60, "slow ticks, for slow")
	pos, err := parseAny(fs, args)
	if err != nil {
		return err
	}
	kinds := strings.Join(faultKinds, ", ")
	if len(pos) != 2 {
		return fmt.Errorf("%w: fault: want PROCESS KIND (PROCESS: %s; KIND: %s)", ErrUsage, g.declaredNames(), kinds)
	}
	child, kind := pos[0], strings.ToLower(pos[1])
	if err := checkInstance(*instance); err != nil {
		return err
	}
	// A fault hits one process: a group's own name must pick a member.
	children, err := g.targets(*instance, child)
	if err != nil {
		return fmt.Errorf("%w: fault: %v", ErrUsage, err)
	}
	if len(children) > 1 {
		return fmt.Errorf("%w: fault: %s is a group of %d running: name one member, %s", ErrUsage, child, len(children), strings.Join(children, ", "))
	}
	if _, ok := faultOps[kind]; !ok && kind != "kill" && kind != "stop" {
		return fmt.Errorf("%w: fault: unknown kind %q (want %s)", ErrUsage, kind, kinds)
	}
	ch := *instance + "." + children[0]
	info, err := venom.Inspect(ch)
	if err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	if !info.Owned && (kind == "kill" || kind == "stop") {
		return fmt.Errorf("fault: %s has no running owner to signal", ch)
	}
	if err := SendFault(ch, info.Daemon.Pid, kind, FaultArgs{Code: *code, Ms: *ms, Ticks: *ticks}); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	fmt.Fprintf(stdout, "sent %s to %s\n", kind, ch)
	return nil
}

// parseAny parses flags and positional arguments in any order ("fault
// physics exit --code 3") and returns the positional ones. A bad flag is
// a usage error; -h is flag.ErrHelp.
func parseAny(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
		}
		if args = fs.Args(); len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// faultKinds are the faults fault knows. kill and stop are signals to
// the channel's owner; the others are engine ops sent on the child's
// channel; drop and double break exactly-once on purpose.
var faultKinds = []string{"kill", "stop", "panic", "exit", "hang", "midpublish", "slow", "drop", "double"}

var faultOps = map[string]engine.Op{
	"panic": engine.OpPanic, "exit": engine.OpExit, "hang": engine.OpHang, "midpublish": engine.OpMidPublish,
	"slow": engine.OpSlow, "drop": engine.OpDropInput, "double": engine.OpDoubleInput,
}

// FaultKinds are the faults SendFault injects, and "PROGRAM fault" takes:
// kill and stop are signals to the channel's owner, the others engine
// ops on its channel; drop and double break exactly-once on purpose.
func FaultKinds() []string { return slices.Clone(faultKinds) }

// FaultArgs are the arguments of the faults that take some: exit's code,
// and how much slower slow makes a tick, for how many ticks.
type FaultArgs struct{ Code, Ms, Ticks int }

// SendFault injects one fault of FaultKinds into the process that owns
// channel, whose pid is pid: a signal to pid (kill, stop), or an engine
// op sent on the channel, which the process's engine carries out. An
// unknown kind is a usage error.
func SendFault(channel string, pid int, kind string, a FaultArgs) error {
	switch kind {
	case "kill":
		return syscall.Kill(pid, syscall.SIGKILL)
	case "stop":
		return syscall.Kill(pid, syscall.SIGSTOP)
	}
	op, ok := faultOps[kind]
	if !ok {
		return fmt.Errorf("%w: unknown fault %q (want %s)", ErrUsage, kind, strings.Join(faultKinds, ", "))
	}
	cmd := engine.Cmd(op)
	switch op {
	case engine.OpExit:
		cmd = engine.Cmd(op, float64(a.Code))
	case engine.OpSlow:
		cmd = engine.Cmd(op, float64(a.Ms), float64(a.Ticks))
	}
	s, err := venom.Connect(channel)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Send(cmd.Append(nil))
}
