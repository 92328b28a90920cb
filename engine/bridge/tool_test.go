package bridge

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
)

type meta struct{ N uint64 }
type item struct{ V float64 }

type idle struct{}

func (idle) Restore(*engine.Frame[meta, item]) error { return nil }
func (idle) Handle(engine.Command) error             { return nil }
func (idle) Step(time.Duration)                      {}
func (idle) Snapshot(m *meta, items []item) []item   { return items }

func newGame() *game.Game {
	return game.New("b").Add(game.Sim("sim", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{}))
}

// What the tool registers is there once it is, and only then: run's
// --nats flags, the edge subcommand, proc bridge and mirror, and the
// names they take.
func TestToolRegisters(t *testing.T) {
	help := func(g *game.Game, args ...string) (stdout, stderr string) {
		var out, errs bytes.Buffer
		err := g.Command(context.Background(), args, &out, &errs)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%q: %v", args, err)
		}
		return out.String(), errs.String()
	}
	_, runPlain := help(newGame(), "run", "-h")
	_, runTool := help(newGame().Use(Tool()), "run", "-h")
	if strings.Contains(runPlain, "-nats") {
		t.Errorf("run -h without the tool lists NATS flags:\n%s", runPlain)
	}
	for _, f := range []string{"-nats string", "-nats-rate", "-nats-compress", "-nats-replicas", "-nats-listen", "-nats-creds", "-nats-store"} {
		if !strings.Contains(runTool, f) {
			t.Errorf("run -h with the tool lacks %s:\n%s", f, runTool)
		}
	}
	usagePlain, _ := help(newGame(), "help")
	usageTool, _ := help(newGame().Use(Tool()), "help")
	if strings.Contains(usagePlain, "edge") || !strings.Contains(usageTool, "  edge    on another machine") {
		t.Errorf("usage without the tool:\n%s\nwith it:\n%s", usagePlain, usageTool)
	}

	for _, args := range [][]string{
		{"proc", "mirror"}, // no --nats, --game, --slice
		{"proc", "mirror", "--nats", "nats://127.0.0.1:1", "--game", "g", "--slice", "nosuch"},
		{"proc", "bridge"},                       // no --nats
		{"edge"},                                 // no --nats
		{"edge", "--nats", "nats://127.0.0.1:1"}, // no --game
		{"edge", "--nats", "nats://127.0.0.1:1", "--game", "b"}, // the edge's own instance
		{"run", "--nats", "http://x"},
	} {
		var out bytes.Buffer
		err := newGame().Use(Tool()).Command(context.Background(), args, &out, &out)
		if game.ExitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, game.ExitCode(err))
		}
	}
	var out bytes.Buffer
	if err := newGame().Command(context.Background(), []string{"edge"}, &out, &out); game.ExitCode(err) != 2 || !strings.Contains(err.Error(), `unknown command "edge"`) {
		t.Errorf("edge without the tool: %v", err)
	}
	err := newGame().Add(game.Sim("bridge", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{})).
		Use(Tool()).Command(context.Background(), []string{"ls"}, &out, &out)
	if !errors.Is(err, game.ErrDuplicate) {
		t.Errorf("a process called bridge beside the tool: %v, want ErrDuplicate", err)
	}
}

// What a command from NATS may carry: none of the engine's ops but the
// numbered no-op; of a process's own ops only those it declares Remote.
func TestRemoteOps(t *testing.T) {
	const spawn, explode = engine.OpUser, engine.OpUser + 1
	undeclared := game.Sim("sim", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{})
	declared := undeclared
	declared.Ops = []game.Op{{Name: "spawn", Op: spawn, Remote: true}, {Name: "explode", Op: explode}}
	for _, tc := range []struct {
		p    game.Process
		op   engine.Op
		want bool
	}{
		{undeclared, engine.OpInput, true},
		{undeclared, engine.OpPanic, false},
		{undeclared, engine.OpExit, false},
		{undeclared, engine.OpHang, false},
		{undeclared, engine.OpDropInput, false},
		{undeclared, engine.OpNone, false},
		{undeclared, spawn, false}, // deny by default
		{undeclared, explode, false},
		{declared, engine.OpInput, true},
		{declared, engine.OpSlow, false},
		{declared, spawn, true},
		{declared, explode, false},
		{declared, engine.OpUser + 7, false},
	} {
		s := Slice{Name: tc.p.Name, Remote: remoteOps(tc.p)}
		if got := s.remoteOK(tc.op); got != tc.want {
			t.Errorf("ops declared %v: op %d from NATS: %v, want %v", len(tc.p.Ops) > 0, tc.op, got, tc.want)
		}
	}
}

// A group's every member is a slice: the bridge publishes and an edge
// mirrors sim-0 … sim-N-1 as the group flag says, and the children that
// need the count (proc bridge, proc mirror) are passed that flag.
func TestGroupSlices(t *testing.T) {
	g := game.New("b")
	g.Flags(func(fs *flag.FlagSet) { fs.Int("shards", 1, "sim's members") })
	sim := game.Sim("sim", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{})
	sim.Group = "shards"
	g.Add(sim).Use(Tool())
	for _, tc := range []struct {
		args  []string
		want  []string
		flags string
	}{
		{nil, []string{"sup", "sim"}, "--shards=1"},
		{[]string{"--shards", "3"}, []string{"sup", "sim-0", "sim-1", "sim-2"}, "--shards=3"},
	} {
		f := g.NewFlags("edge")
		if _, err := g.Parse(f, tc.args); err != nil {
			t.Fatal(err)
		}
		if got := sliceNames(gameSlices(g, f.Count)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q: slices %q, want %q", tc.args, got, tc.want)
		}
		if got := strings.Join(groupArgs(g, f), " "); got != tc.flags {
			t.Errorf("%q: group args %q, want %q", tc.args, got, tc.flags)
		}
	}
	// proc mirror finds a member's slice with the group's flag, and
	// names the members without it.
	var out bytes.Buffer
	err := g.Command(context.Background(), []string{"proc", "mirror", "--nats", "nats://127.0.0.1:1", "--game", "g", "--slice", "sim-2"}, &out, &out)
	if game.ExitCode(err) != 2 || !strings.Contains(err.Error(), "one of sup, sim)") {
		t.Errorf("proc mirror --slice sim-2 without --shards: %v, want a usage error naming sup, sim", err)
	}
}
