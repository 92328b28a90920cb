package chaos_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
)

type hits struct{ N uint64 }
type spot struct{ X, Y float32 }

type target struct{ h hits }

func (t *target) Restore(f *engine.Frame[hits, spot]) error {
	if f != nil {
		t.h = f.Meta
	}
	return nil
}
func (t *target) Handle(engine.Command) error { t.h.N++; return nil }
func (t *target) Step(time.Duration)          {}
func (t *target) Snapshot(m *hits, s []spot) []spot {
	*m = t.h
	return s
}

// A game opts into chaos on its declaration; "PROGRAM chaos" is then
// in its usage, and a command line chaos cannot take is a usage error
// (exit status 2) before anything starts.
func ExampleTool() {
	g := game.New("range").
		Add(game.Sim("target", func(game.Env) (engine.Sim[hits, spot], error) { return &target{}, nil }, engine.Options{})).
		Use(chaos.Tool())
	err := g.Command(context.Background(), []string{"chaos", "--faults", "kill,meteor"}, os.Stdout, os.Stdout)
	fmt.Println(err)
	fmt.Println("exit status", game.ExitCode(err))
	// Output:
	// usage: range chaos [flags]
	// usage: chaos: unknown fault "meteor" (want kill, stop, panic, exit, hang, midpublish, slow, drop, double, supervisor)
	// exit status 2
}
