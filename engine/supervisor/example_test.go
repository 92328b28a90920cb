package supervisor_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// warnings logs only what went wrong, so that the examples' output is
// theirs alone.
var warnings = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// counterProcess is the command that starts a counter child. The
// supervisor's children are real processes; here each is the test binary
// run again in its "counter" helper mode. A program starts itself, as the
// game API does ("PROGRAM proc NAME").
func counterProcess(channel string) *exec.Cmd {
	cmd := proctest.Command("counter", channel, "100")
	// A -race child need not sleep a second at exit.
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// A Supervisor starts its children as processes, restarts those that
// crash or hang, and publishes their status. When its context ends it
// stops them and removes their channels.
func ExampleSupervisor() {
	instance := fmt.Sprintf("example%d", os.Getpid()) // every channel is "<instance>.<name>"
	child := func(name string) supervisor.ChildSpec {
		channel := instance + "." + name
		return supervisor.ChildSpec{
			Name:        name,
			Channel:     channel, // watched for the first snapshot and the heartbeat
			Command:     func() *exec.Cmd { return counterProcess(channel) },
			Restart:     supervisor.Permanent,
			HangTimeout: 3 * time.Second,
		}
	}
	sup, err := supervisor.New(supervisor.Options{Instance: instance, Log: warnings}, child("a"), child("b"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()

	// Wait until both children publish.
	running := func(st []supervisor.ChildStatus) bool {
		for _, c := range st {
			if c.State != supervisor.ChildRunning {
				return false
			}
		}
		return true
	}
	st := sup.Status()
	for deadline := time.Now().Add(20 * time.Second); !running(st); st = sup.Status() {
		if time.Now().After(deadline) {
			fmt.Println("not running in time")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range st {
		fmt.Println(c.NameString(), c.StateName(), "restarts:", c.Restarts)
	}

	cancel()
	fmt.Println("supervisor stopped:", <-ran)
	left := 0
	names, _ := venom.List()
	for _, name := range names {
		if strings.HasPrefix(name, instance+".") {
			left++
		}
	}
	fmt.Println("segments left:", left)
	// Output:
	// a running restarts: 0
	// b running restarts: 0
	// supervisor stopped: <nil>
	// segments left: 0
}
