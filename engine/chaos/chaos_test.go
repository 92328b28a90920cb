package chaos

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/internal/proctest"
)

type meta struct{ Steps uint64 }
type item struct{ V float64 }

// stepper is the test game's one process: it counts its steps.
type stepper struct{ m meta }

func (s *stepper) Restore(f *engine.Frame[meta, item]) error {
	if f != nil {
		s.m = f.Meta
	}
	return nil
}
func (s *stepper) Handle(engine.Command) error { return nil }
func (s *stepper) Step(time.Duration)          { s.m.Steps++ }
func (s *stepper) Snapshot(m *meta, items []item) []item {
	*m = s.m
	return items
}

// testGame is a game of one process with chaos registered: a group of
// --steppers members (1 by default: the process "stepper" alone).
func testGame() *game.Game {
	p := game.Sim("stepper", func(game.Env) (engine.Sim[meta, item], error) { return &stepper{}, nil },
		engine.Options{Rate: 60, DataSize: 4 << 10})
	p.Group = "steppers"
	var n int
	return game.New("chaostest").
		Flags(func(fs *flag.FlagSet) { fs.IntVar(&n, "steppers", 1, "members of the stepper group") }).
		Add(p).
		Use(Tool())
}

// The test binary is the game when given a subcommand: chaos runs it as
// "PROGRAM run", which starts "PROGRAM proc stepper".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		testGame().Main(os.Args)
	}
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// Bad command lines are usage errors (exit 2) before anything starts.
func TestBadCommandLines(t *testing.T) {
	g := testGame()
	for _, args := range [][]string{
		{"chaos", "--faults", "kill,meteor"},
		{"chaos", "--rate", "0"},
		{"chaos", "--failure-threshold", "0"},
		{"chaos", "--failure-threshold", "-1"},
		{"chaos", "--failure-threshold", "NaN"},
		{"chaos", "--stall-margin", "-1ms"},
		{"chaos", "--max-stall", "-1ms"},
		{"chaos", "--bogus"},
		{"chaos", "--targets", "nobody"},
		{"chaos", "--targets", "stepper-1"}, // a group of 1 has no member 1
		{"chaos", "stray"},
	} {
		var out bytes.Buffer
		err := g.Command(context.Background(), args, &out, &out)
		if game.ExitCode(err) != 2 || !errors.Is(err, game.ErrUsage) {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, game.ExitCode(err))
		}
		if !strings.Contains(out.String(), "usage: chaostest chaos [flags]") {
			t.Errorf("%q: no synopsis:\n%s", args, out.String())
		}
	}
}

// chaos -h shows the failure threshold the game runs with under chaos,
// and chaos is in the program's usage once registered (and only then).
func TestUsageShowsFailureThreshold(t *testing.T) {
	var out, errs bytes.Buffer
	if err := testGame().Command(context.Background(), []string{"chaos", "-h"}, &out, &errs); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("chaos -h: %v", err)
	}
	if !strings.Contains(errs.String(), "-failure-threshold float") || !strings.Contains(errs.String(), "(default 1e+06)") {
		t.Errorf("chaos -h does not show the failure threshold:\n%s", errs.String())
	}
	out.Reset()
	testGame().Command(context.Background(), []string{"help"}, &out, &errs)
	if !strings.Contains(out.String(), "  chaos   ") {
		t.Errorf("usage without chaos:\n%s", out.String())
	}
	bare := game.New("bare").Add(game.Sim("stepper", func(game.Env) (engine.Sim[meta, item], error) { return &stepper{}, nil }, engine.Options{}))
	out.Reset()
	bare.Command(context.Background(), []string{"help"}, &out, &errs)
	if strings.Contains(out.String(), "chaos") {
		t.Errorf("usage of a game without the tool names chaos:\n%s", out.String())
	}
}

// The game runs as "run --failure-threshold=X" with the game's flags.
func TestRunArgs(t *testing.T) {
	for _, tc := range []struct {
		thr  float64
		want string
	}{{DefaultFailureThreshold, "--failure-threshold=1e+06"}, {7, "--failure-threshold=7"}, {2.5, "--failure-threshold=2.5"}} {
		got := runArgs(tc.thr, []string{"--instance=x"})
		if !slices.Equal(got, []string{"run", tc.want, "--instance=x"}) {
			t.Errorf("runArgs(%v) = %q", tc.thr, got)
		}
	}
}

// A short chaos run of real processes: faults injected and recovered
// from, every input exactly once, and the report (printed and JSON)
// says which failure threshold the game ran with — the one set by flag.
func TestChaosReportsThreshold(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	code, out, rep := runChaos(t, testGame(), fmt.Sprintf("chaostest%d", os.Getpid()),
		"--duration", "2s", "--rate", "2", "--faults", "kill,panic", "--failure-threshold", "7.5")
	if code != 0 {
		t.Fatalf("chaos exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "failure-threshold=7.5") || !strings.Contains(out, "PASS") {
		t.Errorf("report:\n%s", out)
	}
	if rep.ControlGapMs <= 0 {
		t.Errorf("report: control gap %v ms, want the control frame loop measured", rep.ControlGapMs)
	}
	if rep.FailureThreshold != 7.5 || rep.Sent == 0 || rep.Lost+rep.Doubled != 0 {
		t.Errorf("report: threshold %v, inputs sent %d lost %d doubled %d", rep.FailureThreshold, rep.Sent, rep.Lost, rep.Doubled)
	}
}

// runChaos runs "chaos --instance INST --json FILE ARGS..." of g (real
// processes, at most 2 minutes) and returns its exit code, printed
// report and JSON report; the JSON must have been written.
func runChaos(t *testing.T, g *game.Game, inst string, args ...string) (code int, out string, rep Report) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "chaos.json")
	var stdout bytes.Buffer
	var errs proctest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := g.Command(ctx, append([]string{"chaos", "--instance", inst, "--json", file}, args...), &stdout, &errs)
	code = game.ExitCode(err)
	rep, rerr := ReadReport(file)
	if rerr != nil {
		t.Fatalf("chaos: %v (exit %d), its report: %v\n%s\n%s", err, code, rerr, stdout.String(), errs.String())
	}
	if code != 0 {
		t.Logf("chaos: %v\n%s", err, errs.String())
	}
	return code, stdout.String(), rep
}

// A group's members are children like any other: chaos faults each (and
// the supervisor, which takes every member down) and numbers inputs to
// each, and every input lands exactly once.
func TestChaosFaultsMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	code, out, rep := runChaos(t, testGame(), fmt.Sprintf("chaosgrp%d", os.Getpid()),
		"--steppers", "3", "--duration", "3s", "--rate", "4", "--seed", "4", "--faults", "kill,panic,stop,supervisor")
	if code != 0 {
		t.Fatalf("chaos exit %d\n%s", code, out)
	}
	t.Logf("%s", out)
	members := []string{"stepper-0", "stepper-1", "stepper-2"}
	if got := slices.Sorted(maps.Keys(rep.Inputs)); !slices.Equal(got, members) {
		t.Errorf("inputs numbered to %q, want %q", got, members)
	}
	for _, m := range members {
		if a := rep.Inputs[m]; a.Sent == 0 || !a.Exact() || a.Applied != a.Sent {
			t.Errorf("%s inputs: %+v, want every one applied once", m, a)
		}
		if rep.FinalStates[m] != "running" {
			t.Errorf("%s ended %q", m, rep.FinalStates[m])
		}
	}
	faulted := 0
	for child, n := range rep.FaultsByChild {
		if child != "supervisor" && !slices.Contains(members, child) {
			t.Errorf("faulted %q, not a member", child)
		}
		if slices.Contains(members, child) {
			faulted += n
		}
	}
	if faulted == 0 || rep.Faults["supervisor"] == 0 || len(rep.Unrecovered) != 0 {
		t.Errorf("faults %v, unrecovered %q: want members and the supervisor faulted, and recovered (pick another seed)", rep.FaultsByChild, rep.Unrecovered)
	}
}

// --targets names the children faults go to: a group's name stands for
// every member, a member for itself; empty is every child.
func TestTargets(t *testing.T) {
	g := testGame()
	f := g.NewFlags("chaos")
	if _, err := g.Parse(f, []string{"--steppers", "3"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ list, want string }{
		{"", "stepper-0 stepper-1 stepper-2"},
		{"stepper", "stepper-0 stepper-1 stepper-2"},
		{"stepper-2, stepper-0", "stepper-2 stepper-0"},
		{"stepper-1,stepper", "stepper-1 stepper-0 stepper-2"},
	} {
		got, err := targetChildren(g, f, tc.list)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("--targets %q: %q, %v; want %q", tc.list, got, err, tc.want)
		}
	}
	if _, err := targetChildren(g, f, "stepper-3"); game.ExitCode(err) != 2 || !strings.Contains(err.Error(), "stepper-0, stepper-1, stepper-2") {
		t.Errorf("--targets stepper-3: %v, want a usage error naming the children", err)
	}
}

// The renderer's longest gap is judged against the control's in the same
// run: a loaded host that stalls every frame loop fails nobody, a
// renderer that stalls beyond the control and its margin fails; the
// absolute --max-stall, when set, still holds; --judge-stall=false judges
// nothing.
func TestStallsJudgedAgainstControl(t *testing.T) {
	for _, tc := range []struct {
		name             string
		gap, control     float64
		maxStall         float64
		judge            bool
		wantFailureCount int
	}{
		{"a loaded host: both stall", 135, 120, 0, true, 0},
		{"the renderer alone stalls", 135, 20, 0, true, 1},
		{"at the margin", 70, 20, 0, true, 0},
		{"past --max-stall too", 300, 20, 100, true, 2},
		{"within the control, past --max-stall", 300, 290, 100, true, 1},
		{"not judged", 300, 20, 100, false, 0},
	} {
		r := &Report{LongestGapMs: tc.gap, ControlGapMs: tc.control, StallMarginMs: 50, MaxStallMs: tc.maxStall, JudgeStall: tc.judge}
		if got := stalls(r); len(got) != tc.wantFailureCount {
			t.Errorf("%s: %q, want %d failures", tc.name, got, tc.wantFailureCount)
		}
	}
}

// stepsChecker is a world invariant of the test game: it reads the
// stepper's snapshot and reports its steps; past failAfter steps (0:
// never) the invariant is violated.
type stepsChecker struct {
	c         *engine.Client[meta, item]
	failAfter uint64
	f         engine.Frame[meta, item]
}

func (s *stepsChecker) Check(context.Context) (Reading, error) {
	if err := s.c.Read(&s.f); err != nil {
		return Reading{}, err
	}
	r := Reading{Figures: map[string]float64{"steps": float64(s.f.Meta.Steps)}}
	if s.failAfter > 0 && s.f.Meta.Steps > s.failAfter {
		r.Violations = append(r.Violations, fmt.Sprintf("steps past %d", s.failAfter))
	}
	return r, nil
}

func (s *stepsChecker) Close() error { return s.c.Close() }

// invariantGame is testGame with a world invariant on the stepper's
// steps: the chaos process (this one) checks it; the game's processes,
// run by TestMain's testGame, need not declare it.
func invariantGame(failAfter uint64) *game.Game {
	return game.New("chaostest").
		Add(game.Sim("stepper", func(game.Env) (engine.Sim[meta, item], error) { return &stepper{}, nil },
			engine.Options{Rate: 60, DataSize: 4 << 10})).
		Use(Tool(Invariant(func(ctx context.Context, env game.Env) (Checker, error) {
			c, err := engine.Connect(env.Channel("stepper"), engine.MustSchema[meta, item]())
			if err != nil {
				return nil, err
			}
			return &stepsChecker{c: c, failAfter: failAfter}, nil
		})))
}

// A world invariant is checked during the run and after it settles: its
// figures are in the report, printed and JSON; a violation fails the run
// (exit 1) and the failure names it; --check-every is chaos's flag only
// with an invariant.
func TestInvariant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	var errs bytes.Buffer
	if err := invariantGame(0).Command(context.Background(), []string{"chaos", "-h"}, &errs, &errs); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs.String(), "-check-every") {
		t.Errorf("chaos -h with an invariant: %v\n%s", err, errs.String())
	}
	errs.Reset()
	if err := testGame().Command(context.Background(), []string{"chaos", "--check-every", "1s"}, &errs, &errs); game.ExitCode(err) != 2 {
		t.Errorf("--check-every without an invariant: %v, want a usage error", err)
	}
	for _, tc := range []struct {
		name      string
		failAfter uint64
		wantCode  int
	}{{"holds", 0, 0}, {"violated", 30, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, rep := runChaos(t, invariantGame(tc.failAfter), fmt.Sprintf("chaosinv%d", os.Getpid()),
				"--duration", "2s", "--rate", "2", "--faults", "kill,stop", "--check-every", "20ms")
			if code != tc.wantCode {
				t.Fatalf("chaos exit %d, want exit %d\n%s", code, tc.wantCode, out)
			}
			w := rep.World
			if w == nil || w.Checks < 20 || w.Final == nil || w.Final["steps"] < 60 || w.Max["steps"] < w.Final["steps"] {
				t.Fatalf("world account: %+v, want checks through the run and a final reading", w)
			}
			if !strings.Contains(out, "world invariant: ") || !strings.Contains(out, " steps ") {
				t.Errorf("report prints no world invariant:\n%s", out)
			}
			if tc.wantCode == 0 {
				if w.Violated != 0 || len(rep.Failures) != 0 {
					t.Errorf("violated %d, failures %q", w.Violated, rep.Failures)
				}
				return
			}
			if w.Violated == 0 || len(w.Violations) != 1 || !strings.HasSuffix(w.Violations[0], ": steps past 30") {
				t.Errorf("violations %d %q, want the one named once", w.Violated, w.Violations)
			}
			if !strings.Contains(out, "FAIL: world invariant violated in ") || !strings.Contains(out, "steps past 30") {
				t.Errorf("the failure does not name the violation:\n%s", out)
			}
		})
	}
}
