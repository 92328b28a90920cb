package game

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// poke is a game's own subcommand: "PROGRAM poke AMOUNT [--instance I]".
func poke(g *Game) Subcommand {
	return Subcommand{Name: "poke", Args: "AMOUNT [flags]", Summary: "poke the sim by AMOUNT",
		Run: func(ctx context.Context, c Call) error {
			f := g.NewFlags("poke")
			f.SetOutput(c.Stderr)
			loud := f.Bool("loud", false, "poke loudly")
			pos, err := g.Parse(f, c.Args)
			if err != nil {
				return err
			}
			if len(pos) != 1 {
				return fmt.Errorf("%w: poke: want one AMOUNT", ErrUsage)
			}
			fmt.Fprintf(c.Stdout, "poked %s on %s loud=%v\n", pos[0], f.Instance, *loud)
			return nil
		}}
}

// A game's own subcommand appears in usage and runs with the game's
// flags; bad arguments are a usage error with its synopsis, exit 2.
func TestGameSubcommand(t *testing.T) {
	g := New("x").Add(Sim("sim", newIdle, engine.Options{}))
	g.Subcommand(poke(g))
	var out, errs bytes.Buffer
	if err := g.Command(context.Background(), []string{"help"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  poke    poke the sim by AMOUNT\n") {
		t.Errorf("usage has no poke:\n%s", out.String())
	}
	out.Reset()
	if err := g.Command(context.Background(), []string{"poke", "3", "--instance", "elsewhere", "--loud"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "poked 3 on elsewhere loud=true\n"; got != want {
		t.Errorf("poke printed %q, want %q", got, want)
	}
	for _, args := range [][]string{{"poke"}, {"poke", "1", "2"}, {"poke", "--bogus", "1"}, {"poke", "1", "--instance", "bad/name"}, {"poke", "-h"}} {
		errs.Reset()
		err := g.Command(context.Background(), args, &out, &errs)
		if ExitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d), want exit 2", args, err, ExitCode(err))
		}
		if !errors.Is(err, flag.ErrHelp) && !strings.Contains(errs.String(), "usage: x poke AMOUNT [flags]") {
			t.Errorf("%q: no synopsis on stderr:\n%s", args, errs.String())
		}
		if args[len(args)-1] == "-h" && !strings.Contains(errs.String(), "-loud") {
			t.Errorf("poke -h lists no --loud:\n%s", errs.String())
		}
	}
}

// A subcommand or tool that cannot be registered is a declaration error
// before anything runs.
func TestRegistrationErrors(t *testing.T) {
	run := func(context.Context, Call) error { return nil }
	base := func() *Game { return New("x").Add(Sim("sim", newIdle, engine.Options{})) }
	for _, tc := range []struct {
		name string
		g    *Game
		want error
		msg  string
	}{
		{"a built-in's name", base().Subcommand(Subcommand{Name: "run", Summary: "s", Run: run}), ErrDuplicate, `"run"`},
		{"send is built in", base().Subcommand(Subcommand{Name: "send", Summary: "s", Run: run}), ErrDuplicate, `"send"`},
		{"twice", base().Subcommand(Subcommand{Name: "a", Summary: "s", Run: run}).Subcommand(Subcommand{Name: "a", Summary: "s", Run: run}), ErrDuplicate, `"a"`},
		{"a bad name", base().Subcommand(Subcommand{Name: "Poke", Summary: "s", Run: run}), ErrName, `"Poke"`},
		{"no Run", base().Subcommand(Subcommand{Name: "a", Summary: "s"}), ErrDeclare, "no Run"},
		{"no Summary", base().Subcommand(Subcommand{Name: "a", Run: run}), ErrDeclare, "no Summary"},
		{"flags on a built-in but run and proc", base().CommandFlags("ls", func(*flag.FlagSet) {}), ErrDeclare, `"ls"`},
		{"flags on a bad name", base().CommandFlags("Edge", func(*flag.FlagSet) {}), ErrDeclare, `"Edge"`},
		{"a process on a reserved name", base().Add(Sim("mirror", newIdle, engine.Options{})).ToolProcess("mirror", func(context.Context, Env) error { return nil }), ErrDuplicate, `"mirror"`},
		{"a process on a reserved channel", base().Reserve("sim"), ErrDuplicate, `"sim"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Command(context.Background(), []string{"ls"}, &bytes.Buffer{}, &bytes.Buffer{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Command: %v, want %v naming %s", err, tc.want, tc.msg)
			}
		})
	}
}

// A tool's flags are on run only when it is registered; a name the
// runtime or the game has taken stays theirs; a tool's process runs with
// proc's flags the tool added.
func TestToolFlagsAndProcess(t *testing.T) {
	usage := func(g *Game, cmd string) string {
		var out, errs bytes.Buffer
		if err := g.Command(context.Background(), []string{cmd, "-h"}, &out, &errs); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		return errs.String()
	}
	plain := New("x").Add(Sim("sim", newIdle, engine.Options{}))
	if u := usage(plain, "run"); strings.Contains(u, "-relay") {
		t.Errorf("run -h of a game without the tool lists its flag:\n%s", u)
	}

	var relay, instance string
	var seen Env
	tool := func(g *Game) {
		g.CommandFlags("run", func(fs *flag.FlagSet) {
			fs.StringVar(&relay, "relay", "", "where to relay")
			fs.StringVar(&instance, "instance", "tool's", "taken by the runtime: stays the runtime's")
		})
		g.CommandFlags("proc", func(fs *flag.FlagSet) { fs.StringVar(&relay, "relay", "", "where to relay") })
		g.ToolProcess("relay", func(ctx context.Context, env Env) error {
			seen = env
			if relay == "" {
				return fmt.Errorf("%w: --relay is required", ErrUsage)
			}
			return nil
		})
	}
	g := New("x").Add(Sim("sim", newIdle, engine.Options{})).Use(tool).
		Render(Renderer{Headless: func(context.Context, Env) error { return nil }})
	u := usage(g, "run")
	if !strings.Contains(u, "-relay") || strings.Contains(u, "taken by the runtime") {
		t.Errorf("run -h with the tool:\n%s", u)
	}
	if strings.Contains(usage(g, "render"), "-relay") {
		t.Error("the tool's run flag is on render too")
	}
	inst := fmt.Sprintf("tooltest%d", os.Getpid())
	err := g.Command(context.Background(), []string{"proc", "relay", "--instance", inst, "--relay", "far"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil || relay != "far" || seen.Instance != inst {
		t.Errorf("proc relay: %v, relay %q, instance %q", err, relay, seen.Instance)
	}
	err = g.Command(context.Background(), []string{"proc", "relay", "--instance", inst}, &bytes.Buffer{}, &bytes.Buffer{})
	if ExitCode(err) != 2 {
		t.Errorf("proc relay without --relay: %v, want a usage error", err)
	}
	if err := plain.Command(context.Background(), []string{"proc", "relay"}, &bytes.Buffer{}, &bytes.Buffer{}); ExitCode(err) != 2 {
		t.Errorf("proc relay of a game without the tool: %v, want a usage error", err)
	}
}

// ls --instance lists that game's segments only.
func TestLsInstance(t *testing.T) {
	a, b := fmt.Sprintf("lsa%d", os.Getpid()), fmt.Sprintf("lsb%d", os.Getpid())
	for _, name := range []string{a + ".one", a + ".two", b + ".one"} {
		d, err := venom.Create(name, venom.Config{DataSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(); venom.Remove(name) })
	}
	var out bytes.Buffer
	if err := cmdLs([]string{"--instance", a}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, a+".one ") || !strings.Contains(got, a+".two ") || strings.Contains(got, b+".") {
		t.Errorf("ls --instance %s:\n%s", a, got)
	}
	out.Reset()
	if err := cmdLs(nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), a+".one ") || !strings.Contains(out.String(), b+".one ") {
		t.Errorf("ls:\n%s", out.String())
	}
	for _, args := range [][]string{{"--instance", "bad/name"}, {"stray"}, {"--bogus"}} {
		if err := cmdLs(args, &out); !errors.Is(err, ErrUsage) {
			t.Errorf("ls %q: %v, want a usage error", args, err)
		}
	}
}

// A tool offers a flag and a hook to another tool's subcommand (the
// metrics tool's --metrics-addr on the bridge's edge): that subcommand
// parses the flag with NewFlags and calls the hook with RunHooks, whose
// stop stops it; a game without that subcommand is no worse for the
// offer.
func TestToolHooksAnotherToolsSubcommand(t *testing.T) {
	var addr string
	var events []string
	offer := func(g *Game) {
		g.CommandFlags("mirror", func(fs *flag.FlagSet) { fs.StringVar(&addr, "serve-addr", "", "where to serve") })
		g.OnCommand("mirror", func(_ context.Context, f *Flags, _ Call) ([]Child, func(), error) {
			if addr == "" {
				return nil, nil, nil
			}
			events = append(events, "serve "+addr+" for "+f.Instance)
			return nil, func() { events = append(events, "stop") }, nil
		})
	}
	mirror := func(g *Game) {
		g.Subcommand(Subcommand{Name: "mirror", Summary: "supervise mirrors", Run: func(ctx context.Context, c Call) error {
			f := g.NewFlags("mirror")
			f.SetOutput(c.Stderr)
			if _, err := g.Parse(f, c.Args); err != nil {
				return err
			}
			_, stop, err := g.RunHooks(ctx, "mirror", f, c)
			defer stop()
			events = append(events, "supervise")
			return err
		}})
	}
	g := New("x").Add(Sim("sim", newIdle, engine.Options{})).Use(offer, mirror) // the offer first: order does not matter
	if err := g.Command(context.Background(), []string{"mirror", "--instance", "far", "--serve-addr", "127.0.0.1:1"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := "serve 127.0.0.1:1 for far,supervise,stop"; strings.Join(events, ",") != want {
		t.Errorf("events %q, want %q", events, want)
	}
	plain := New("x").Add(Sim("sim", newIdle, engine.Options{})).Use(offer)
	var errs bytes.Buffer
	if err := plain.Command(context.Background(), []string{"ls", "--instance", "far"}, &bytes.Buffer{}, &errs); err != nil {
		t.Errorf("a game without the subcommand offered to: %v\n%s", err, errs.String())
	}
}
