package engine

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
)

// helpers are the modes the test binary runs in when a test re-executes
// it; other test files add theirs in init.
var helpers = proctest.Helpers{}

func TestMain(m *testing.M) {
	helpers["counter"] = helperCounter
	proctest.Main(m, helpers)
}

// counterMeta and counterItem are the shapes of the test process's slice.
type counterMeta struct {
	Sum   float64
	Steps uint64
}

type counterItem struct {
	Value float64
	Tick  uint64
}

// OpAdd adds Args[0] to the counter's sum and appends an item.
const OpAdd = OpUser + 1

var counterSchema = MustSchema[counterMeta, counterItem]()

// counter is a minimal Sim: the sum of every OpAdd and one item per add
// (the newest 100).
type counter struct {
	meta    counterMeta
	items   []counterItem
	tick    uint64
	verbose bool // print "handled N" for each numbered command
}

func (c *counter) Restore(f *Frame[counterMeta, counterItem]) error {
	if f == nil {
		*c = counter{verbose: c.verbose}
		return nil
	}
	c.meta, c.items, c.tick = f.Meta, append([]counterItem(nil), f.Items...), f.Tick
	return nil
}

func (c *counter) Handle(cmd Command) error {
	if cmd.Op != OpAdd || cmd.Argc != 1 {
		return fmt.Errorf("%w: %d", ErrUnknownOp, cmd.Op)
	}
	if c.verbose && cmd.Seq != 0 {
		fmt.Println("handled", cmd.Seq)
	}
	c.meta.Sum += cmd.Args[0]
	c.items = append(c.items, counterItem{Value: cmd.Args[0], Tick: c.tick})
	if len(c.items) > 100 {
		c.items = c.items[1:]
	}
	return nil
}

func (c *counter) Step(time.Duration) { c.tick++; c.meta.Steps++ }

func (c *counter) Snapshot(m *counterMeta, items []counterItem) []counterItem {
	*m = c.meta
	return append(items, c.items...)
}

// counter CHANNEL [RATE [verbose]]: runs the counter process until
// SIGTERM; verbose prints each numbered command it is handed.
func helperCounter(args []string) error {
	rate := 200
	if len(args) > 1 {
		rate, _ = strconv.Atoi(args[1])
	}
	p := &counter{verbose: len(args) > 2 && args[2] == "verbose"}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("pid", os.Getpid())
	return Run(ctx, counterSchema, p, Options{Channel: args[0], Rate: rate, DataSize: 8 << 10})
}
