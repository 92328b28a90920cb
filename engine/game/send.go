package game

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// defaultSendTimeout is how long send waits for an answer: long enough
// for the process's supervisor to restart it once (a hang is seen after
// a second, a standby takes over at once).
const defaultSendTimeout = 5 * time.Second

// cmdSend is "PROGRAM send PROCESS OP [ARGS...]": one command, asked of
// a process of the game (engine.Asker: a sender of its own, so running
// it twice sends two commands), and its answer printed — "applied"
// (exit 0), "refused: REASON" or "lost: ..." (exit 1). OP is a name the
// process declares (Process.Ops) or a number; ARGS are numbers.
// PROCESS may be a member of a group (NAME-i); a group's own name sends
// to every member that runs and prints one "NAME-i: ANSWER" line per
// member, exit 0 only if every one applied it.
func (g *Game) cmdSend(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	logFormatFlag(fs)
	instance := fs.String("instance", defaultInstance(g.name), "the game instance")
	timeout := fs.Duration("timeout", defaultSendTimeout, "how long to wait for the answer, across restarts of the process")
	pos, err := parseSend(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return fmt.Errorf("%w: send: want PROCESS OP [ARGS...] (PROCESS: %s)", ErrUsage, g.declaredNames())
	}
	name, opArg, argv := pos[0], pos[1], pos[2:]
	if err := checkInstance(*instance); err != nil {
		return err
	}
	children, err := g.targets(*instance, name)
	if err != nil {
		return fmt.Errorf("%w: send: %v", ErrUsage, err)
	}
	p, _ := g.process(name)
	if base, _, ok := splitMember(name); ok && p.Name == "" {
		p, _ = g.process(base) // a member's ops are its group's
	}
	op, err := parseOp(p.Ops, opArg)
	if err != nil {
		return fmt.Errorf("%w: send %s: %v", ErrUsage, name, err)
	}
	if len(argv) > engine.MaxArgs {
		return fmt.Errorf("%w: send: %d arguments, at most %d", ErrUsage, len(argv), engine.MaxArgs)
	}
	cmd := engine.Cmd(op)
	for i, a := range argv {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: send: argument %d is %q, want a finite number", ErrUsage, i+1, a)
		}
		cmd.Args[i] = v
	}
	cmd.Argc = len(argv)
	if *timeout <= 0 {
		return fmt.Errorf("%w: send: --timeout %v, want > 0", ErrUsage, *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if len(children) == 1 {
		line, err := sendOne(ctx, *instance, children[0], cmd, *timeout)
		if line != "" {
			fmt.Fprintln(stdout, line)
		}
		return err
	}
	// A group's own name: the command to every member at once, an answer
	// line per member, in index order.
	lines, errs := make([]string, len(children)), make([]error, len(children))
	var wg sync.WaitGroup
	for i, child := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i], errs[i] = sendOne(ctx, *instance, child, cmd, *timeout)
		}()
	}
	wg.Wait()
	for i, child := range children {
		line := lines[i]
		if line == "" {
			line = "error: " + errs[i].Error()
		}
		fmt.Fprintf(stdout, "%s: %s\n", child, line)
	}
	if err := errors.Join(errs...); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	return nil
}

// sendOne asks the child called name for cmd and returns its answer's
// line ("applied", "refused: REASON", "lost: ..."; "" when no answer
// came for another reason) and an error unless it was applied.
func sendOne(ctx context.Context, instance, name string, cmd engine.Command, timeout time.Duration) (string, error) {
	a, err := engine.NewAsker(instance + "." + name)
	if errors.Is(err, venom.ErrNotFound) {
		return "", fmt.Errorf("send: %s has no channel: is the game running on instance %q?", name, instance)
	}
	if err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	defer a.Close()
	switch err := a.Ask(ctx, cmd); {
	case err == nil:
		return "applied", nil
	case errors.Is(err, engine.ErrRefused):
		// "refused: REASON"
		return err.Error(), &ExitError{Code: 1, Err: fmt.Errorf("send %s: %w", name, err)}
	case errors.Is(err, engine.ErrLost):
		return fmt.Sprintf("lost: no answer within %v", timeout), &ExitError{Code: 1, Err: fmt.Errorf("send %s: %w", name, err)}
	default:
		return "", fmt.Errorf("send %s: %w", name, err)
	}
}

// parseOp is OP: a name in ops, or a number (an engine op or one of the
// process's own).
func parseOp(ops []Op, s string) (engine.Op, error) {
	if i := slices.IndexFunc(ops, func(o Op) bool { return o.Name == s }); i >= 0 {
		return ops[i].Op, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		names := make([]string, 0, len(ops))
		for _, o := range ops {
			names = append(names, o.Name)
		}
		if len(names) == 0 {
			return 0, fmt.Errorf("op %q: want a number from 1 to 65535 (the process names no op)", s)
		}
		return 0, fmt.Errorf("op %q: want one of %s, or a number from 1 to 65535", s, strings.Join(names, ", "))
	}
	return engine.Op(n), nil
}

// parseSend parses send's flags wherever they stand and returns the
// positional arguments. A negative number ("-500") is an argument, not
// a flag; "--" ends the flags.
func parseSend(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && !isNumber(a):
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && fs.Lookup(strings.TrimLeft(a, "-")) != nil {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: send: %v", ErrUsage, err)
	}
	return pos, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
