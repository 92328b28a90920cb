package game

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
)

type meta struct{ N uint64 }
type item struct{ V float64 }

type loose struct{ Name string } // a string: not fixed-layout

// idle is a Sim that does nothing.
type idle struct{}

func (idle) Restore(*engine.Frame[meta, item]) error { return nil }
func (idle) Handle(engine.Command) error             { return nil }
func (idle) Step(time.Duration)                      {}
func (idle) Snapshot(m *meta, items []item) []item   { return items }
func newIdle(Env) (engine.Sim[meta, item], error)    { return idle{}, nil }
func newLoose(Env) (engine.Sim[meta, loose], error)  { return nil, nil }

// TestBadDeclarations: each mistake is a clear error from Command before
// anything starts, and no segment is left behind.
func TestBadDeclarations(t *testing.T) {
	inst := "gamedecl" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, tc := range []struct {
		name string
		g    *Game
		want error
		msg  string
	}{
		{"declared twice", New("x").Add(Sim("sim", newIdle, engine.Options{}), Sim("sim", newIdle, engine.Options{})), ErrDuplicate, `"sim"`},
		{"name with a capital", New("x").Add(Sim("Sim", newIdle, engine.Options{})), ErrName, `"Sim"`},
		{"name too long", New("x").Add(Sim("a-very-long-name-indeed", newIdle, engine.Options{})), ErrName, "a-very-long-name-indeed"},
		{"the renderer's name", New("x").Add(Sim("render", newIdle, engine.Options{})), ErrDuplicate, `"render"`},
		{"a string in the slice", New("x").Add(Sim("sim", newLoose, engine.Options{})), engine.ErrLayout, "Name is string"},
		{"nothing declared", New("x"), ErrDeclare, "no process"},
		{"a renderer without Headless", New("x").Add(Sim("sim", newIdle, engine.Options{})).Render(Renderer{}), ErrDeclare, "renderer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tc.g.Command(context.Background(), []string{"run", "--instance", inst, "--duration", "1s"}, &out, &out)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Command: %v, want %v naming %s", err, tc.want, tc.msg)
			}
			if ExitCode(err) == 0 {
				t.Fatal("exit code 0 for a bad declaration")
			}
			if m, _ := filepath.Glob("/dev/shm/venom." + inst + ".*"); len(m) > 0 {
				t.Fatalf("segments left: %v", m)
			}
		})
	}
}

// TestBadCommandLines: unknown subcommands, processes and fault kinds.
func TestBadCommandLines(t *testing.T) {
	g := New("x").Add(Sim("sim", newIdle, engine.Options{}))
	for _, args := range [][]string{
		{"launch"},
		{"fault", "nosuch", "panic", "--instance", "gamebad"},
		{"fault", "sim", "explode", "--instance", "gamebad"},
		{"fault", "sim"},
		{"proc", "nosuch"},
		{"proc"},
		{"run", "--instance", "bad/name"},
		{"run", "--no-such-flag"},
		{"ls", "--instance", "bad/name"},
		{"ls", "stray"},
		{"rm"},
		{"chaos"}, // not registered
		{"render"},
	} {
		var out bytes.Buffer
		err := g.Command(context.Background(), args, &out, &out)
		if ExitCode(err) != 2 || !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, ExitCode(err))
		}
	}
	if _, err := os.Stat("/dev/shm/venom.gamebad.sim"); err == nil {
		t.Error("a bad command line left a segment")
	}
}
