package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
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

var counterSchema = engine.MustSchema[counterMeta, counterItem]()

// counter is the children's Sim: it counts its steps; the supervisor's
// tests need a process that ticks and publishes, nothing more.
type counter struct{ meta counterMeta }

func (c *counter) Restore(f *engine.Frame[counterMeta, counterItem]) error {
	c.meta = counterMeta{}
	if f != nil {
		c.meta = f.Meta
	}
	return nil
}

func (c *counter) Handle(cmd engine.Command) error {
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, cmd.Op)
}

func (c *counter) Step(time.Duration) { c.meta.Steps++ }

func (c *counter) Snapshot(m *counterMeta, items []counterItem) []counterItem {
	*m = c.meta
	return items
}

// counter CHANNEL [RATE]: runs the counter process until SIGTERM.
func helperCounter(args []string) error {
	rate := 200
	if len(args) > 1 {
		rate, _ = strconv.Atoi(args[1])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("pid", os.Getpid())
	return engine.Run(ctx, counterSchema, &counter{}, engine.Options{Channel: args[0], Rate: rate, DataSize: 8 << 10})
}

func connectCounter(t *testing.T, ch string) *engine.Client[counterMeta, counterItem] {
	t.Helper()
	var c *engine.Client[counterMeta, counterItem]
	proctest.Eventually(t, 10*time.Second, "channel "+ch+" exists", func() bool {
		var err error
		c, err = engine.Connect(ch, counterSchema)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFrame waits until the newest snapshot satisfies cond and returns it.
func waitFrame(t *testing.T, c *engine.Client[counterMeta, counterItem], what string, cond func(f *engine.Frame[counterMeta, counterItem]) bool) engine.Frame[counterMeta, counterItem] {
	t.Helper()
	var f engine.Frame[counterMeta, counterItem]
	proctest.Eventually(t, 10*time.Second, what, func() bool { return c.Read(&f) == nil && cond(&f) })
	return f
}
