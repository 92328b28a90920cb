package game_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/engine/watch"
	"github.com/venomrt/venomrt/venom"
)

// TestTop: top --json of a running game says what ls and the status
// slice say (pid, state, restarts, epoch), after a SIGKILL of the
// process too, and its counters move; off a terminal, the plain view is
// lines of text without a terminal's escape codes.
func TestTop(t *testing.T) {
	instance := fmt.Sprintf("top%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- exampleGame().Command(ctx, []string{"run", "--headless", "--instance", instance, "--duration", "1m"}, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
		exampleGame().RemoveSegments(instance)
	})
	status := func() (supervisor.ChildStatus, bool) {
		c, err := engine.Connect(supervisor.StatusChannel(instance), supervisor.StatusSchema)
		if err != nil {
			return supervisor.ChildStatus{}, false
		}
		defer c.Close()
		var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if c.Read(&f) != nil || len(f.Items) != 1 {
			return supervisor.ChildStatus{}, false
		}
		return f.Items[0], true
	}
	waitStatus := func(what string, cond func(c supervisor.ChildStatus) bool) supervisor.ChildStatus {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if c, ok := status(); ok && cond(c) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("not within 30s: %s", what)
			}
		}
	}
	top := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"top", "--instance", instance, "-n", "1", "--interval", "200ms"}, args...)
		if err := exampleGame().Command(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("top: %v: %s", err, errOut.String())
		}
		return out.String()
	}
	check := func(restarts uint32) {
		t.Helper()
		st := waitStatus(fmt.Sprintf("the counter running after %d restarts", restarts), func(c supervisor.ChildStatus) bool {
			return c.StateName() == "running" && c.Restarts == restarts && c.Tick > 0
		})
		var sample struct{ Games []watch.Game }
		if err := json.Unmarshal([]byte(top("--json")), &sample); err != nil {
			t.Fatal(err)
		}
		if len(sample.Games) != 1 || len(sample.Games[0].Processes) != 1 {
			t.Fatalf("top --json: %+v, want one game of one process", sample)
		}
		p := sample.Games[0].Processes[0]
		info, err := venom.Inspect(instance + ".counter")
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "counter" || p.State != st.StateName() || p.Pid != int(st.Pid) || p.Pid != info.Daemon.Pid ||
			p.Restarts != st.Restarts || p.Epoch != info.Daemon.Epoch || !p.Owned {
			t.Fatalf("top says %+v; the status %s pid %d restarts %d; ls pid %d epoch %d", p,
				st.StateName(), st.Pid, st.Restarts, info.Daemon.Pid, info.Daemon.Epoch)
		}
		if !p.Counted || p.Note != "" || p.TicksTotal == 0 || p.TicksPerSec <= 0 || p.Rate != 100 {
			t.Fatalf("top's counters: %+v, want ticks counted and moving at a rate of 100", p)
		}
		if sample.Games[0].Supervisor == 0 || sample.Games[0].Restarts != uint64(restarts) {
			t.Fatalf("top's totals: %+v", sample.Games[0])
		}
	}
	check(0)
	st, _ := status()
	if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	check(1)

	plain := top("--sort", "cpu")
	if strings.Contains(plain, "\x1b") || !strings.Contains(plain, "PROCESS") || !strings.Contains(plain, "\ncounter ") {
		t.Fatalf("top off a terminal:\n%q", plain)
	}
	var out bytes.Buffer
	if err := exampleGame().Command(context.Background(), []string{"top", "--sort", "nope"}, &out, &out); game.ExitCode(err) != 2 {
		t.Fatalf("top --sort nope: %v", err)
	}
}
