package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// totals is the counter's process-wide state: the M of its slice.
type totals struct {
	Sum  float64
	Adds uint32
}

// entry is one item of the counter's slice: the T. Slice types hold only
// fixed-size numbers, arrays and structs of them.
type entry struct {
	Value float64
}

// opAdd adds Args[0] to the counter. A process's own ops start at OpUser.
const opAdd = engine.OpUser

// counter is a small engine.Sim: the sum of every opAdd it is sent, and
// the values added, newest last.
type counter struct {
	totals  totals
	entries []entry
}

// Restore starts fresh (f == nil) or from the last snapshot, so a
// restarted process carries on where its predecessor published.
func (c *counter) Restore(f *engine.Frame[totals, entry]) error {
	if f == nil {
		*c = counter{}
		return nil
	}
	c.totals, c.entries = f.Meta, append([]entry(nil), f.Items...)
	return nil
}

// Handle applies one command; an error drops it (counted in
// Header.Dropped).
func (c *counter) Handle(cmd engine.Command) error {
	if cmd.Op != opAdd || cmd.Argc != 1 {
		return fmt.Errorf("%w: %d", engine.ErrUnknownOp, cmd.Op)
	}
	c.totals.Sum += cmd.Args[0]
	c.totals.Adds++
	c.entries = append(c.entries, entry{Value: cmd.Args[0]})
	return nil
}

// Step advances the simulation by one fixed step; a counter has nothing
// to simulate.
func (c *counter) Step(time.Duration) {}

// Snapshot is what the process publishes after each tick.
func (c *counter) Snapshot(m *totals, items []entry) []entry {
	*m = c.totals
	return append(items, c.entries...)
}

var counterSchema = engine.MustSchema[totals, entry]()

// warnings logs warnings and errors only.
var warnings = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Run owns a process's loop: it creates the channel, ticks at a fixed
// rate, hands the commands sent to it to the Sim at the start of each
// tick and publishes a snapshot after it. A client reads the snapshots
// and sends commands. (Run is usually the main of its own process; here
// it runs in a goroutine.)
func ExampleRun() {
	channel := fmt.Sprintf("example%d.counter", os.Getpid()) // unique on this host
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- engine.Run(ctx, counterSchema, &counter{}, engine.Options{
			Channel: channel, Rate: 100, DataSize: 4 << 10, Log: warnings,
		})
	}()
	stop := func() error {
		cancel()
		err := <-ran
		venom.Remove(channel) // Run leaves the segment for a successor to resume
		return err
	}

	// Connect once Run has created the channel.
	deadline := time.Now().Add(10 * time.Second)
	var c *engine.Client[totals, entry]
	for {
		var err error
		if c, err = engine.Connect(channel, counterSchema); err == nil {
			break
		}
		if !errors.Is(err, venom.ErrNotFound) || time.Now().After(deadline) {
			fmt.Println(err)
			stop()
			return
		}
		time.Sleep(time.Millisecond)
	}
	defer c.Close()

	c.Send(engine.Cmd(opAdd, 2))
	c.Send(engine.Cmd(opAdd, 40))
	c.Send(engine.Cmd(engine.OpUser + 9)) // an op the counter does not know

	// The commands are applied at the start of the next tick: read until
	// a snapshot shows all three handled.
	var f engine.Frame[totals, entry]
	for {
		err := c.Read(&f)
		if err == nil && f.Applied+f.Dropped == 3 {
			break
		}
		if (err != nil && !errors.Is(err, venom.ErrNoData)) || time.Now().After(deadline) {
			fmt.Println("not applied:", err)
			stop()
			return
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("sum %v after %d adds, %d command dropped\n", f.Meta.Sum, f.Meta.Adds, f.Dropped)
	for _, e := range f.Items {
		fmt.Println("added", e.Value)
	}
	fmt.Println("Run returned:", stop())
	// Output:
	// sum 42 after 2 adds, 1 command dropped
	// added 2
	// added 40
	// Run returned: <nil>
}

// NewSchema refuses a type whose bytes cannot be shared between processes.
func ExampleNewSchema() {
	type player struct {
		Name string // a pointer to memory of one process
		X, Y float32
	}
	_, err := engine.NewSchema[totals, player]()
	fmt.Println(errors.Is(err, engine.ErrLayout))
	fmt.Println(err)
	// Output:
	// true
	// engine: type is not fixed-layout: engine_test.player.Name is string
}

// Commands are small binary messages. Decoding checks every byte, so a
// process can take them from untrusted shared memory.
func ExampleDecodeCommand() {
	b := engine.Cmd(opAdd, 2.5).Append(nil)
	fmt.Println(len(b), "bytes")
	c, err := engine.DecodeCommand(b)
	fmt.Println(c.Op == opAdd, c.Arg(0, 0), c.Arg(1, -1), err)

	_, err = engine.DecodeCommand(b[:10])
	fmt.Println(errors.Is(err, engine.ErrShortCommand))
	// Output:
	// 24 bytes
	// true 2.5 -1 <nil>
	// true
}
