package game_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/venom"
)

// totals and entry are the shapes of the counter's slice: its
// process-wide state and its items.
type totals struct {
	Sum  float64
	Adds uint32
}

type entry struct {
	Value float64
}

// opAdd adds Args[0] to the counter.
const opAdd = engine.OpUser

// counter is the game's one process: the sum of every opAdd, starting
// from the --start flag on a fresh start.
type counter struct {
	start   float64
	totals  totals
	entries []entry
}

func (c *counter) Restore(f *engine.Frame[totals, entry]) error {
	if f == nil {
		c.totals, c.entries = totals{Sum: c.start}, nil
		return nil
	}
	c.totals, c.entries = f.Meta, append([]entry(nil), f.Items...)
	return nil
}

func (c *counter) Handle(cmd engine.Command) error {
	if cmd.Op != opAdd || cmd.Argc != 1 {
		return fmt.Errorf("%w: %d", engine.ErrUnknownOp, cmd.Op)
	}
	c.totals.Sum += cmd.Args[0]
	c.totals.Adds++
	c.entries = append(c.entries, entry{Value: cmd.Args[0]})
	return nil
}

func (c *counter) Step(time.Duration) {}

func (c *counter) Snapshot(m *totals, items []entry) []entry {
	*m = c.totals
	return append(items, c.entries...)
}

// exampleGame declares the game. Its program's main is
//
//	func main() { exampleGame().Main(os.Args) }
//
// and "PROGRAM run" runs it: a supervisor that starts every process as
// "PROGRAM proc NAME". (Under go test the test binary is the program: see
// TestMain in main_test.go.)
func exampleGame() *game.Game {
	var start float64
	newCounter := func(env game.Env) (engine.Sim[totals, entry], error) {
		return &counter{start: start}, nil // called in the child, after its flags are parsed
	}
	return game.New("example").
		Flags(func(fs *flag.FlagSet) { fs.Float64Var(&start, "start", 0, "the sum a fresh counter starts from") }).
		Add(game.Sim("counter", newCounter, engine.Options{Rate: 100, DataSize: 4 << 10}))
}

// Declare the game's processes, run it, talk to a process through its
// channel, stop it.
func Example() {
	instance := fmt.Sprintf("example%d", os.Getpid()) // channels are "<instance>.<process>"
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		// Status lines (one a second) to io.Discard, logs to stderr. The
		// run ends with ctx, or after --duration at the latest.
		args := []string{"run", "--headless", "--instance", instance, "--start", "100", "--duration", "1m"}
		ran <- exampleGame().Command(ctx, args, io.Discard, os.Stderr)
	}()

	// The counter runs in a child process: connect once it has created
	// its channel.
	channel := instance + ".counter"
	slice := engine.MustSchema[totals, entry]()
	deadline := time.Now().Add(20 * time.Second)
	var c *engine.Client[totals, entry]
	for {
		var err error
		if c, err = engine.Connect(channel, slice); err == nil {
			break
		}
		if !errors.Is(err, venom.ErrNotFound) || time.Now().After(deadline) {
			fmt.Println(err)
			cancel()
			<-ran
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Send(engine.Cmd(opAdd, 2))
	c.Send(engine.Cmd(opAdd, 40))

	var f engine.Frame[totals, entry]
	for {
		err := c.Read(&f)
		if err == nil && f.Applied == 2 {
			break
		}
		if (err != nil && !errors.Is(err, venom.ErrNoData)) || time.Now().After(deadline) {
			fmt.Println("not applied:", err)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	fmt.Printf("sum %v after %d adds\n", f.Meta.Sum, f.Meta.Adds)

	cancel()
	fmt.Println("run returned:", <-ran)
	// The supervisor removed every channel of the instance when it stopped.
	left := 0
	names, _ := venom.List()
	for _, name := range names {
		if strings.HasPrefix(name, instance+".") {
			left++
		}
	}
	fmt.Println("segments left:", left)
	// Output:
	// sum 142 after 2 adds
	// run returned: <nil>
	// segments left: 0
}
