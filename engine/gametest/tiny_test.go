package gametest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/gametest"
)

// The test binary is the tiny game when the kit starts it as the game.
func TestMain(m *testing.M) { gametest.Main(m, tinyGame()) }

// tally is the counter's process-wide state; entry one add.
type tally struct {
	Ticks uint64
	Sum   float64
	Adds  uint32
	_     uint32
}

type entry struct{ Value float64 }

var tallySchema = engine.MustSchema[tally, entry]()

// opAdd adds Args[0] to the sum; a negative amount is refused.
const opAdd = engine.OpUser

// counter is the tiny game's process: it counts its ticks and sums what
// it is told to add, every add an item, its whole state in its slice.
type counter struct {
	t       tally
	entries []entry
}

func (c *counter) Restore(f *engine.Frame[tally, entry]) error {
	if f == nil {
		c.t, c.entries = tally{}, nil
		return nil
	}
	if int(f.Meta.Adds) != len(f.Items) {
		return fmt.Errorf("%d adds, %d entries", f.Meta.Adds, len(f.Items))
	}
	c.t, c.entries = f.Meta, append([]entry(nil), f.Items...)
	return nil
}

func (c *counter) Handle(cmd engine.Command) error {
	switch {
	case cmd.Op != opAdd:
		return fmt.Errorf("%w: %d", engine.ErrUnknownOp, cmd.Op)
	case cmd.Argc != 1:
		return fmt.Errorf("%w: add wants one amount", engine.ErrBadCommand)
	case cmd.Args[0] < 0:
		return fmt.Errorf("%w: cannot add %v: amounts are never negative", engine.ErrBadArg, cmd.Args[0])
	}
	c.t.Sum += cmd.Args[0]
	c.t.Adds++
	c.entries = append(c.entries, entry{cmd.Args[0]})
	return nil
}

func (c *counter) Step(time.Duration) { c.t.Ticks++ }

func (c *counter) Snapshot(m *tally, items []entry) []entry {
	*m = c.t
	return append(items, c.entries...)
}

// tinyGame is two counters: "a" and "b".
func tinyGame() *game.Game {
	newCounter := func(game.Env) (engine.Sim[tally, entry], error) { return &counter{}, nil }
	o := engine.Options{Rate: 100, DataSize: tallySchema.Size(256)}
	return game.New("tiny").Add(game.Sim("a", newCounter, o), game.Sim("b", newCounter, o))
}

// forgetful is a counter that keeps part of its state out of its
// snapshot: a restore check must catch it.
type forgetful struct {
	counter
	hidden float64 // not in the snapshot
}

func (f *forgetful) Step(dt time.Duration) {
	f.hidden += 0.5
	if f.hidden > 2 {
		f.t.Sum += f.hidden // the snapshot's state depends on what it lost
	}
	f.counter.Step(dt)
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
