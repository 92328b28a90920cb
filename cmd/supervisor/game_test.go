package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// testBodies is the size of the physics world of a game started by
// runGame: small, so that five processes under the race detector leave
// the two cores some slack.
const testBodies = 200

// game is a "supervisor run" started by a test. Unlike startGame it keeps
// the log (the supervisor's stderr, which its children share) in a file,
// for the tests whose claim is in what the processes said, and it can be
// started again on the same instance.
type game struct {
	inst string
	cmd  *exec.Cmd
	log  string // path of the log file
	done chan struct{}
	sup  *engine.Client[supervisor.Meta, supervisor.ChildStatus]
}

// runGame starts a game on instance inst with a small world and a net
// port of its own (games run by other test binaries must not collide on
// the default one). The game is SIGKILLed when the test ends, and the
// instance's segments are removed.
func runGame(t *testing.T, inst string, extra ...string) *game {
	t.Helper()
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp(t.TempDir(), "game-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the game has its own descriptor
	args := append([]string{"run", "--headless", "--instance", inst, "--bodies", strconv.Itoa(testBodies),
		"--agents", "10", "--net-addr", addr, "--duration", "2m"}, extra...)
	cmd := execSelf(args...)
	// A file, not a pipe: the children inherit it, and a child that
	// outlives the supervisor for a moment holds up nobody's Wait.
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Cleanup(func() { removeInstance(inst) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &game{inst: inst, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.kill(t)
		if g.sup != nil {
			g.sup.Close()
		}
	})
	return g
}

// kill SIGKILLs the supervisor and waits until it is reaped; its children
// follow by their parent-death signal.
func (g *game) kill(t *testing.T) {
	t.Helper()
	g.cmd.Process.Kill()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("supervisor pid %d not reaped after SIGKILL", g.cmd.Process.Pid)
	}
}

// logText is everything the game has logged so far.
func (g *game) logText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(g.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitLog waits for a log line matching re and returns its submatches.
func (g *game) waitLog(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	proctest.Eventually(t, 20*time.Second, "log line "+re, func() bool {
		m = rx.FindStringSubmatch(g.logText(t))
		return m != nil
	})
	return m
}

// status is this game's supervisor status, once its supervisor publishes
// it: the channel "<instance>.sup" may be left by an earlier supervisor
// of the instance, whose status is not this game's.
func (g *game) status(t *testing.T) engine.Frame[supervisor.Meta, supervisor.ChildStatus] {
	t.Helper()
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	proctest.Eventually(t, 20*time.Second, "the status of supervisor pid "+itoa(g.cmd.Process.Pid), func() bool {
		if g.sup == nil {
			c, err := engine.Connect(supervisor.StatusChannel(g.inst), supervisor.StatusSchema)
			if err != nil {
				return false
			}
			g.sup = c
		}
		if g.sup.Read(&f) == nil && int(f.Meta.Pid) == g.cmd.Process.Pid {
			return true
		}
		// Maybe a segment this supervisor is replacing: map the file anew.
		g.sup.Close()
		g.sup = nil
		return false
	})
	return f
}

// child waits until the status of the named child satisfies cond and
// returns it.
func (g *game) child(t *testing.T, name, what string, cond func(c supervisor.ChildStatus) bool) supervisor.ChildStatus {
	t.Helper()
	var c supervisor.ChildStatus
	proctest.Eventually(t, 30*time.Second, name+": "+what, func() bool {
		var ok bool
		c, ok = childOf(g.status(t), name)
		return ok && cond(c)
	})
	return c
}

// running waits until the named child runs and returns its status.
func (g *game) running(t *testing.T, name string) supervisor.ChildStatus {
	t.Helper()
	return g.child(t, name, "running", func(c supervisor.ChildStatus) bool { return c.State == supervisor.ChildRunning && c.Pid != 0 })
}

func childOf(f engine.Frame[supervisor.Meta, supervisor.ChildStatus], name string) (supervisor.ChildStatus, bool) {
	for _, c := range f.Items {
		if c.NameString() == name {
			return c, true
		}
	}
	return supervisor.ChildStatus{}, false
}

// physics connects to the physics channel owned by pid: after --fresh
// the channel is a new segment, and connecting to the old one before it
// is removed would read the old world.
func (g *game) physics(t *testing.T, pid uint32) *engine.Client[physics.Meta, physics.Body] {
	t.Helper()
	var c *engine.Client[physics.Meta, physics.Body]
	proctest.Eventually(t, 20*time.Second, "the physics channel of pid "+itoa(int(pid)), func() bool {
		if c != nil {
			c.Close()
		}
		var err error
		c, err = engine.Connect(g.inst+".physics", physics.Schema)
		if err != nil {
			c = nil
			return false
		}
		info, err := c.Shell().Daemon()
		return err == nil && info.Pid == int(pid)
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// spawnNumbered sends physics spawns numbered from..to (Command.Seq), so
// that the world's body count and Header.LastInput say which arrived.
func spawnNumbered(t *testing.T, c *engine.Client[physics.Meta, physics.Body], from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		cmd := engine.Cmd(physics.OpSpawn, float64(100+40*seq), 100)
		cmd.Seq = seq
		if err := c.Send(cmd); err != nil {
			t.Fatalf("spawn %d: %v", seq, err)
		}
	}
}

// killGame SIGKILLs a game's supervisor and waits for its children to die
// by their parent-death signal: what a crashed or OOM-killed supervisor
// leaves is segments with dead owners.
func killGame(t *testing.T, g *game) {
	t.Helper()
	st := g.status(t)
	g.kill(t)
	for _, c := range st.Items {
		if pid := int(c.Pid); pid != 0 {
			proctest.Eventually(t, 10*time.Second, c.NameString()+" dead with its supervisor", func() bool { return gone(pid) })
		}
	}
	// A SIGKILLed process's threads may still be exiting, holding its
	// files (and the ownership lock), when its main thread is a zombie.
	proctest.Eventually(t, 10*time.Second, "the physics segment left, unowned", func() bool {
		info, err := venom.Inspect(g.inst + ".physics")
		return err == nil && !info.Owned
	})
}

// A supervisor SIGKILLed and run again on the same instance resumes the
// game: physics adopts its segment (the epoch moves), restores its last
// snapshot (ticks continue, bodies spawned are still there) and applies
// the inputs sent while nothing ran, each exactly once.
func TestRunResumesAfterSupervisorKilled(t *testing.T) {
	inst := proctest.Name(t)
	g1 := runGame(t, inst)
	p1 := g1.running(t, "physics")
	c := g1.physics(t, p1.Pid)
	spawnNumbered(t, c, 1, 5)
	before := readPhysics(t, c, "the first 5 spawns applied", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.LastInput == 5 && f.Tick > 30
	})
	if len(before.Items) != testBodies+5 {
		t.Fatalf("%d bodies after 5 spawns, want %d", len(before.Items), testBodies+5)
	}
	killGame(t, g1)
	// Sent while no process owns the channel: they wait in shared memory.
	spawnNumbered(t, c, 6, 8)

	g2 := runGame(t, inst)
	p2 := g2.running(t, "physics")
	if p2.Pid == p1.Pid {
		t.Fatalf("physics pid %d in both runs", p1.Pid)
	}
	after := readPhysics(t, c, "physics resumed with the 3 spawns sent while down", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.Epoch > before.Epoch && f.LastInput == 8
	})
	if after.Tick < before.Tick {
		t.Errorf("tick %d after the restart, %d before: want it to continue", after.Tick, before.Tick)
	}
	if a := after.Account(8); !a.Exact() || len(after.Items) != testBodies+8 {
		t.Errorf("after the restart: inputs %+v, %d bodies; want all 8 applied once and %d bodies (each spawn exactly once)",
			a, len(after.Items), testBodies+8)
	}
	m := g2.waitLog(t, `msg="warm restart" .*channel=`+regexp.QuoteMeta(inst+".physics")+` .*tick=(\d+)`)
	if tick, _ := strconv.ParseUint(m[1], 10, 64); tick < before.Tick {
		t.Errorf("physics logged %q: restored tick below %d, read before the kill", m[0], before.Tick)
	}
	t.Logf("tick %d (epoch %d) → %d (epoch %d); %s", before.Tick, before.Epoch, after.Tick, after.Epoch, m[0])
}

// "run --fresh" on an instance whose previous supervisor died starts a
// new world: new segments (epoch 1), the seed's bodies only, no inputs,
// and physics says it started fresh instead of restoring.
func TestRunFresh(t *testing.T) {
	inst := proctest.Name(t)
	g1 := runGame(t, inst)
	p1 := g1.running(t, "physics")
	c1 := g1.physics(t, p1.Pid)
	spawnNumbered(t, c1, 1, 5)
	old := readPhysics(t, c1, "the spawns applied", func(f *engine.Frame[physics.Meta, physics.Body]) bool {
		return f.LastInput == 5 && f.Tick > 30
	})
	killGame(t, g1)

	g2 := runGame(t, inst, "--fresh")
	p2 := g2.running(t, "physics")
	c2 := g2.physics(t, p2.Pid)
	var f engine.Frame[physics.Meta, physics.Body]
	if err := c2.Read(&f); err != nil {
		t.Fatal(err)
	}
	if f.Epoch != 1 || len(f.Items) != testBodies || f.LastInput != 0 || f.Inputs != 0 {
		t.Errorf("after --fresh: epoch %d, %d bodies, last input %d, %d inputs; want epoch 1, %d bodies, no input (the old world: epoch %d, %d bodies, tick %d)",
			f.Epoch, len(f.Items), f.LastInput, f.Inputs, testBodies, old.Epoch, len(old.Items), old.Tick)
	}
	g2.waitLog(t, `msg="no snapshot: fresh start" .*channel=`+regexp.QuoteMeta(inst+".physics")+` `)
	if rx := regexp.MustCompile(`msg="warm restart" .*channel=` + regexp.QuoteMeta(inst+".physics") + ` `); rx.MatchString(g2.logText(t)) {
		t.Errorf("physics restored a snapshot under --fresh:\n%s", g2.logText(t))
	}
}
