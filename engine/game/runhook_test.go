package game_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// A tool's RunHook adds a child to run — here when the tool's own flag
// on run asks for it — which the supervisor runs beside the game's
// processes; the hook's stop is called once, after the supervisor has
// stopped every child.
func TestRunHookAddsChildren(t *testing.T) {
	inst := fmt.Sprintf("runhook%d", os.Getpid())
	extraCh := inst + "-x.counter" // the extra child is a second counter, of an instance of its own
	t.Cleanup(func() { venom.Remove(extraCh); exampleGame().RemoveSegments(inst) })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var extra bool
	stops, extraAliveAtStop := 0, true
	g := exampleGame().Use(func(g *game.Game) {
		g.CommandFlags("run", func(fs *flag.FlagSet) { fs.BoolVar(&extra, "extra", false, "run an extra counter") })
		g.OnRun(func(ctx context.Context, f *game.Flags, c game.Call) ([]game.Child, func(), error) {
			if !extra {
				return nil, nil, nil
			}
			spec := supervisor.ChildSpec{Name: "extra", Channel: extraCh, Restart: supervisor.Permanent,
				Command: func() *exec.Cmd {
					cmd := exec.Command(self, "proc", "counter", "--instance", inst+"-x")
					cmd.Stderr = c.Stderr
					return cmd
				}}
			stop := func() {
				stops++
				info, err := venom.Inspect(extraCh)
				extraAliveAtStop = err == nil && info.Owned
			}
			return []game.Child{{Spec: spec}}, stop, nil
		})
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	var stderr proctest.Buffer // the children's and the supervisor's, written at once
	go func() {
		ran <- g.Command(ctx, []string{"run", "--headless", "--instance", inst, "--extra", "--duration", "1m"}, &bytes.Buffer{}, &stderr)
	}()
	running := func() bool {
		c, err := engine.Connect(supervisor.StatusChannel(inst), supervisor.StatusSchema)
		if err != nil {
			return false
		}
		defer c.Close()
		var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if c.Read(&f) != nil {
			return false
		}
		n := 0
		for _, s := range f.Items {
			if (s.NameString() == "counter" || s.NameString() == "extra") && s.State == supervisor.ChildRunning {
				n++
			}
		}
		return n == 2
	}
	deadline := time.Now().Add(30 * time.Second)
	for !running() {
		if time.Now().After(deadline) {
			cancel()
			<-ran
			t.Fatalf("the counter and the extra child never both ran; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("run: %v", err)
	}
	if stops != 1 || extraAliveAtStop {
		t.Errorf("stop called %d times (want 1), the extra child alive when it was: %v", stops, extraAliveAtStop)
	}
}
