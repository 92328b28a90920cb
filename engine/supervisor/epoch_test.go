package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/venom"
)

// Every lifecycle record about a process whose channel the supervisor
// has seen it own carries that channel's epoch (the log's epoch key and
// Event.Epoch): the first process's running and exited records the
// epoch it created, its successor's running record the next one; a
// launch not yet running carries none.
func TestLifecycleRecordsCarryEpoch(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{}, counterSpec(inst, "a"))
	first := h.waitChild("a", "running", 30*time.Second, running)
	info, err := venom.Inspect(inst + ".a")
	if err != nil {
		t.Fatal(err)
	}
	e1 := info.Daemon.Epoch
	if err := syscall.Kill(int(first.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := h.waitChild("a", "restarted", 30*time.Second, restarted)
	for _, want := range []struct {
		kind  EventKind
		n     int
		pid   uint32
		epoch uint64
	}{
		{EventStarted, 0, first.Pid, 0}, {EventRunning, 0, first.Pid, e1}, {EventExited, 0, first.Pid, e1},
		{EventStarted, 1, second.Pid, 0}, {EventRunning, 1, second.Pid, e1 + 1},
	} {
		evs := h.ev.find(want.kind, "a")
		if len(evs) <= want.n {
			t.Fatalf("%d %s events, want %d", len(evs), want.kind, want.n+1)
		}
		ev := evs[want.n]
		if ev.Pid != int(want.pid) || ev.Epoch != want.epoch {
			t.Errorf("%s event %d: pid %d epoch %d, want pid %d epoch %d", want.kind, want.n, ev.Pid, ev.Epoch, want.pid, want.epoch)
		}
		recs := h.records("event="+want.kind.String(), fmt.Sprint("pid=", want.pid))
		if len(recs) != 1 || want.epoch != 0 && !strings.Contains(recs[0]+" ", fmt.Sprintf(" epoch=%d ", want.epoch)) ||
			want.epoch == 0 && strings.Contains(recs[0], " epoch=") {
			t.Errorf("the %s record of pid %d: %q, want one with epoch %d (0: none)", want.kind, want.pid, recs, want.epoch)
		}
	}
}

// records are the log lines with every field (key=value).
func (h *harness) records(fields ...string) []string {
	var out []string
	for _, line := range h.log.lines() {
		if !slices.ContainsFunc(fields, func(f string) bool { return !strings.Contains(line+" ", " "+f+" ") }) {
			out = append(out, line)
		}
	}
	return out
}
