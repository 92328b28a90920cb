package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// standbyStatus waits until the named child of the game's status
// satisfies cond and returns it.
func standbyStatus(t testing.TB, inst, name, what string, cond func(c supervisor.ChildStatus) bool) supervisor.ChildStatus {
	t.Helper()
	var c supervisor.ChildStatus
	proctest.Eventually(t, 60*time.Second, name+": "+what, func() bool {
		sup, err := engine.Connect(supervisor.StatusChannel(inst), supervisor.StatusSchema)
		if err != nil {
			return false
		}
		defer sup.Close()
		var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if sup.Read(&f) != nil {
			return false
		}
		var ok bool
		c, ok = childOf(f, name)
		return ok && cond(c)
	})
	return c
}

// stableWithStandby: running for long enough that a failure is one after
// a stable run, with a standby ready.
func stableWithStandby(c supervisor.ChildStatus) bool {
	return c.State == supervisor.ChildRunning && c.StandbyReady() && c.Uptime > int64(2*supervisor.StableAfter)
}

// The demo keeps physics, ai and net with a hot standby and the renderer
// without; the status slice, ls and the HUD (the headless renderer's
// status line) say so. A SIGKILL of physics and of net after a stable run
// is served by the standby, whose pid owns the channel next, and
// physics's numbered inputs are applied exactly once across it.
func TestStandbyInTheGame(t *testing.T) {
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	game, inst := startGameB(t, "--net-addr", addr)
	before := map[string]supervisor.ChildStatus{}
	for _, name := range []string{"physics", "ai", "net"} {
		before[name] = standbyStatus(t, inst, name, "running stably with a standby ready", stableWithStandby)
	}
	r := standbyStatus(t, inst, "render", "running", func(c supervisor.ChildStatus) bool { return c.State == supervisor.ChildRunning })
	if r.StandbyPid != 0 || r.StandbyString() != "-" {
		t.Errorf("render: standby pid %d (%s), want none kept", r.StandbyPid, r.StandbyString())
	}
	game.Expect(t, `physics running pid=\d+ .* standby=ready \| ai running .* standby=ready \| net running .* standby=ready \| render running [^|]*age=\S+$`, 20*time.Second)

	// ls: "ready PID" where the status says so, "-" for the renderer and
	// the status channel.
	proctest.Eventually(t, 30*time.Second, "ls's STANDBY column as the status has it", func() bool {
		_, rows := lsTable(t)
		for _, name := range []string{"physics", "ai", "net"} {
			c := standbyStatus(t, inst, name, "status", func(supervisor.ChildStatus) bool { return true })
			row := rows[inst+"."+name]
			if len(row) != 9 || row[8] != fmt.Sprintf("ready %d", c.StandbyPid) {
				t.Logf("ls %s: %q; status: standby %d %s", name, row, c.StandbyPid, c.StandbyString())
				return false
			}
		}
		return len(rows[inst+".render"]) == 9 && rows[inst+".render"][8] == "-" && rows[inst+".sup"][8] == "-"
	})

	probe, err := engine.NewInputProbe(inst+".physics", venom.WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	send := func(n int) {
		for range n {
			if err := probe.Send(); err != nil {
				t.Fatalf("input %d: %v", probe.Sent()+1, err)
			}
		}
	}
	send(20)
	proctest.Eventually(t, 10*time.Second, "inputs applied", func() bool {
		a, err := probe.Account()
		return err == nil && a.Lost == 0
	})
	for _, name := range []string{"physics", "net"} {
		c := standbyStatus(t, inst, name, "running stably with a standby ready", stableWithStandby)
		if name == "physics" {
			send(20)
		}
		if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if name == "physics" {
			send(20)
		}
		c2 := standbyStatus(t, inst, name, "taken over by its standby", func(x supervisor.ChildStatus) bool {
			return x.Handovers > c.Handovers && x.State == supervisor.ChildRunning
		})
		// Told go at once after a stable run, not when a backoff ended:
		// the path taken, as the status says it.
		if c2.Pid != c.StandbyPid || c2.Restarts != c.Restarts+1 || c2.ReasonString() != "killed by SIGKILL" || c2.Replaced != supervisor.HandoverAtOnce {
			t.Errorf("%s after SIGKILL: pid %d restarts %d reason %q replaced %v; want the standby's pid %d, one restart more, a handover at once",
				name, c2.Pid, c2.Restarts, c2.ReasonString(), c2.Replaced, c.StandbyPid)
		}
		proctest.Eventually(t, 10*time.Second, name+" published by the standby", func() bool {
			info, err := venom.Inspect(inst + "." + name)
			return err == nil && info.Daemon.Pid == int(c.StandbyPid) && info.Age >= 0 && info.Age < time.Second
		})
	}
	var a engine.InputAccount
	proctest.Eventually(t, 15*time.Second, "every input applied", func() bool {
		a, err = probe.Account()
		return err == nil && a.Lost == 0
	})
	if !a.Exact() || a.Sent != 60 {
		t.Errorf("physics inputs across the handover: %+v, want 60 sent, each applied once", a)
	}
	if !strings.Contains(strings.Join(game.Lines(), "\n"), "standby=") {
		t.Error("no standby in the renderer's status lines")
	}
}
