package gametest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Only the process the kit started and its children are signalled: a
// pid of anyone else (the test's own sibling, init) is refused and left
// running.
func TestSignalOnlyOwnPids(t *testing.T) {
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = deathSignal()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	game := start("sh", "-c", "sleep 60 & wait")
	stranger := start("sleep", "60")
	g := &Game{proc: game.Process}
	var child int
	if err := Wait(10*time.Second, "the game's child", func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(game.Process.Pid) + "/task/" + strconv.Itoa(game.Process.Pid) + "/children")
		f := strings.Fields(string(b))
		if len(f) == 1 {
			child, _ = strconv.Atoi(f[0])
		}
		return child != 0
	}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{stranger.Process.Pid, 1, os.Getpid(), 0} {
		if err := g.signalOwn(pid, syscall.SIGKILL); err == nil {
			t.Errorf("pid %d signalled", pid)
		}
	}
	if gone(stranger.Process.Pid) {
		t.Error("the stranger was killed")
	}
	if err := g.signalOwn(child, syscall.SIGKILL); err != nil {
		t.Fatalf("the game's child %d: %v", child, err)
	}
	if err := Wait(10*time.Second, "the game's child gone", func() bool { return gone(child) }); err != nil {
		t.Error(err)
	}
}
