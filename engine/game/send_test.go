package game_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/venom"
)

// TestSend: "PROGRAM send PROCESS OP [ARGS...]" asks a running process
// for one command and prints its answer: applied (exit 0), refused with
// the process's reason (exit 1); a one-shot send run twice is applied
// twice; bad arguments are usage errors (exit 2).
func TestSend(t *testing.T) {
	instance := fmt.Sprintf("send%d", os.Getpid())
	ch := instance + ".counter"
	t.Cleanup(func() { venom.Remove(ch) })
	proc := exec.Command(os.Args[0], "proc", "counter", "--instance", instance)
	proc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Signal(syscall.SIGTERM); proc.Wait() })
	f := engine.Follow(ch, engine.MustSchema[totals, entry](), engine.FollowOptions{})
	defer f.Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if f.Poll() == engine.FollowLive && cond() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not within 20s: %s", what)
			}
		}
	}
	waitFor("the counter running", func() bool { return true })

	// The program itself, run twice: one-shot senders, by op number.
	for range 2 {
		out, err := exec.Command(os.Args[0], "send", "counter", fmt.Sprint(int(opAdd)), "5", "--instance", instance).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "applied" {
			t.Fatalf("send by number: %v: %q", err, out)
		}
	}
	waitFor("both sends applied", func() bool { return f.Cur.Meta.Adds == 2 })
	if f.Cur.Meta.Sum != 10 {
		t.Fatalf("sum %v, want 10", f.Cur.Meta.Sum)
	}

	// A declaration that names the op; flags anywhere; a negative number
	// is an argument.
	g := game.New("example").Add(withOps(exampleGameProcess(), game.Op{Name: "add", Op: opAdd, Doc: "v: add v to the sum"}))
	send := func(args ...string) (string, int) {
		var out bytes.Buffer
		err := g.Command(context.Background(), append([]string{"send"}, args...), &out, &out)
		return strings.TrimSpace(out.String()), game.ExitCode(err)
	}
	if out, code := send("--instance", instance, "counter", "add", "-3"); out != "applied" || code != 0 {
		t.Fatalf("send add -3: %q exit %d", out, code)
	}
	if out, code := send("counter", "add", "1", "2", "--instance", instance); code != 1 || !strings.HasPrefix(out, "refused: ") || !strings.Contains(out, "unknown op: 64") {
		t.Fatalf("a refused add: %q exit %d, want the counter's reason and exit 1", out, code)
	}
	waitFor("the add applied and the refusal counted", func() bool { return f.Cur.Meta.Adds == 3 && f.Cur.Dropped >= 1 })
	if f.Cur.Meta.Sum != 7 || f.Cur.Dropped != 1 {
		t.Fatalf("sum %v dropped %d, want 7 and 1", f.Cur.Meta.Sum, f.Cur.Dropped)
	}

	for _, args := range [][]string{
		{},
		{"counter"},
		{"nosuch", "add"},
		{"counter", "explode"},
		{"counter", "0"},
		{"counter", "70000"},
		{"counter", "add", "x"},
		{"counter", "add", "NaN"},
		{"counter", "add", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		{"counter", "add", "1", "--no-such-flag"},
		{"counter", "add", "1", "--timeout", "-1s"},
		{"counter", "add", "1", "--instance", "bad/name"},
	} {
		out, code := send(args...)
		if code != 2 {
			t.Errorf("send %q: exit %d (%s), want 2", args, code, out)
		}
	}
	if out, code := send("counter", "add", "1", "--instance", instance+"x"); code != 1 {
		t.Errorf("send to an instance not running: %q exit %d, want 1", out, code)
	}
}

// exampleGameProcess is the example game's counter declaration.
func exampleGameProcess() game.Process {
	return game.Sim("counter", func(game.Env) (engine.Sim[totals, entry], error) { return &counter{}, nil },
		engine.Options{Rate: 100, DataSize: 4 << 10})
}

func withOps(p game.Process, ops ...game.Op) game.Process {
	p.Ops = ops
	return p
}
