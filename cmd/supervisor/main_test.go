package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// The supervisor re-executes its own binary to start children; in tests
// that binary is the test binary, which then acts as the supervisor. The
// helper "own" holds a segment (see ownSegment).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		main()
		return
	}
	proctest.Main(m, proctest.Helpers{"own": ownSegment})
}

// startGame runs "supervisor run" as a child process of the test.
func startGame(t *testing.T, extra ...string) (*proctest.Proc, string) {
	t.Helper()
	return startGameB(t, extra...)
}

func startGameB(t testing.TB, extra ...string) (*proctest.Proc, string) {
	t.Helper()
	inst := proctest.Name(t)
	t.Cleanup(func() { removeInstance(inst) })
	cmd := execSelf(append([]string{"run", "--headless", "--instance", inst, "--bodies", "300", "--agents", "20", "--duration", "2m"}, extra...)...)
	return proctest.StartCmd(t, cmd), inst
}

func removeInstance(inst string) {
	names, _ := venom.List()
	for _, n := range names {
		if strings.HasPrefix(n, inst+".") {
			venom.Remove(n)
		}
	}
}

func physicsClient(t *testing.T, inst string) *engine.Client[physics.Meta, physics.Body] {
	t.Helper()
	var c *engine.Client[physics.Meta, physics.Body]
	proctest.Eventually(t, 20*time.Second, "physics channel", func() bool {
		var err error
		c, err = engine.Connect(inst+".physics", physics.Schema)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func readPhysics(t *testing.T, c *engine.Client[physics.Meta, physics.Body], what string, cond func(f *engine.Frame[physics.Meta, physics.Body]) bool) engine.Frame[physics.Meta, physics.Body] {
	t.Helper()
	var f engine.Frame[physics.Meta, physics.Body]
	proctest.Eventually(t, 20*time.Second, what, func() bool { return c.Read(&f) == nil && cond(&f) })
	return f
}

// ownerPid waits until channel ch has a live owner and returns its pid:
// the children of a game start in parallel, so a channel may not exist yet.
func ownerPid(t *testing.T, ch string) int {
	t.Helper()
	var pid int
	proctest.Eventually(t, 20*time.Second, "an owner for "+ch, func() bool {
		info, err := venom.Inspect(ch)
		pid = info.Daemon.Pid
		return err == nil && info.Owned && pid != 0
	})
	return pid
}

func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func itoa(n int) string { return strconv.Itoa(n) }

// run is the supervisor's command line, in this process.
func run(args []string, stdout, stderr io.Writer) error {
	return demo.Game(nil).Command(context.Background(), args, stdout, stderr)
}

// freePort is a 127.0.0.1 address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func TestPhysicsKilledResumesWithInputs(t *testing.T) {
	_, inst := startGame(t)
	c := physicsClient(t, inst)
	before := readPhysics(t, c, "physics ticking", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > 30 })
	pid := ownerPid(t, inst+".physics")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 5*time.Second, "physics dead", func() bool { return gone(pid) })
	// Killed while it worked, physics is handed to its standby at once:
	// this read may already be the successor's, so the successor is told
	// by an epoch newer than the killed one's (before's).
	var last engine.Frame[physics.Meta, physics.Body]
	if err := c.Read(&last); err != nil {
		t.Fatalf("Read after the kill: %v", err)
	}
	for i := 0; i < 10; i++ {
		if err := c.Send(engine.Cmd(physics.OpSpawn, float64(100+50*i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	after := readPhysics(t, c, "physics restarted with the spawns", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.Epoch > before.Epoch && f.Applied >= last.Applied+10
	})
	if got, want := len(after.Items), len(last.Items)+10; got != want {
		t.Fatalf("bodies after restart %d, want %d (%d before the kill + 10 spawned while down)", got, want, len(last.Items))
	}
	if after.Tick < last.Tick || last.Tick < before.Tick {
		t.Fatalf("ticks %d → %d → %d: want them to continue", before.Tick, last.Tick, after.Tick)
	}
	if newPid := ownerPid(t, inst+".physics"); newPid == pid || newPid == 0 {
		t.Fatalf("physics pid %d after restart (was %d)", newPid, pid)
	}
}

func TestPhysicsStoppedIsRestarted(t *testing.T) {
	_, inst := startGame(t)
	c := physicsClient(t, inst)
	readPhysics(t, c, "physics ticking", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > 10 })
	pid := ownerPid(t, inst+".physics")
	aiC, err := engine.Connect(inst+".ai", ai.Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer aiC.Close()
	var a engine.Frame[ai.Params, ai.Agent]
	if err := aiC.Read(&a); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	start := time.Now()
	// ai keeps ticking on the last physics snapshot while physics hangs.
	aiTick := a.Tick
	proctest.Eventually(t, 5*time.Second, "ai ticking while physics is stopped", func() bool {
		return aiC.Read(&a) == nil && a.Tick > aiTick+10 && ownerPid(t, inst+".physics") == pid
	})
	proctest.Eventually(t, 10*time.Second, "a new physics process", func() bool {
		info, err := venom.Inspect(inst + ".physics")
		return err == nil && info.Daemon.Pid != pid && info.Owned
	})
	t.Logf("hung physics replaced after %v", time.Since(start).Round(time.Millisecond))
	proctest.Eventually(t, 5*time.Second, "stopped physics killed", func() bool { return gone(pid) })
}

func TestGracefulStopLeavesNothing(t *testing.T) {
	game, inst := startGame(t)
	c := physicsClient(t, inst)
	readPhysics(t, c, "physics ticking", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > 5 })
	pids := []int{ownerPid(t, inst+".physics"), ownerPid(t, inst+".ai")}
	game.Expect(t, `physics running pid=\d+`, 10*time.Second)
	game.Cmd.Process.Signal(syscall.SIGTERM)
	game.Wait(t, 20*time.Second)
	for _, pid := range pids {
		proctest.Eventually(t, 5*time.Second, "child gone", func() bool { return gone(pid) })
	}
	names, _ := venom.List()
	for _, n := range names {
		if strings.HasPrefix(n, inst+".") {
			t.Errorf("segment %s left behind", n)
		}
	}
}

func TestSupervisorKilledTakesChildren(t *testing.T) {
	game, inst := startGame(t)
	c := physicsClient(t, inst)
	readPhysics(t, c, "physics ticking", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.Tick > 5 })
	pids := []int{ownerPid(t, inst+".physics"), ownerPid(t, inst+".ai")}
	game.Kill(t)
	for _, pid := range pids {
		proctest.Eventually(t, 5*time.Second, "child of a killed supervisor gone", func() bool { return gone(pid) })
	}
}

// "supervisor render --connect" draws a running game from its net
// process: every body and agent, the children's states, itself a player.
func TestRenderConnect(t *testing.T) {
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	startGame(t, "--net-addr", addr)
	r := proctest.StartCmd(t, execSelf("render", "--connect", "ws://"+addr, "--headless", "--name", "far"))
	rx := `bodies=(\d+) agents=(\d+) players=(\d+) .*\| net +connected .*\| physics +running .*\| net +running`
	var m []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		m = r.Expect(t, rx, time.Until(deadline))
		if m[1] == "300" && m[2] == "20" && m[3] == "1" {
			break
		}
	}
	t.Logf("status: %s", m[0])
	r.Cmd.Process.Signal(syscall.SIGTERM)
	r.Wait(t, 10*time.Second)
}

func TestRenderConnectErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.1:7777", "want ws://HOST:PORT"},
		{"ws://127.0.0.1:1", `connect "ws://127.0.0.1:1"`},
	} {
		var out, errb bytes.Buffer
		err := run([]string{"render", "--connect", tc.url, "--headless", "--connect-timeout", "300ms"}, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("render --connect %s: %v, want an error with %q", tc.url, err, tc.want)
		}
	}
}
