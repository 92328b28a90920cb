package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine/chaos"
)

// runChaos runs chaos with args and its report written as JSON; it
// returns the report, what chaos printed and its exit code.
func runChaos(t *testing.T, args ...string) (chaos.Report, string, int) {
	t.Helper()
	jsonFile := filepath.Join(t.TempDir(), "chaos.json")
	cmd := execSelf(append([]string{"chaos", "--json", jsonFile}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	t.Logf("%s", out)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	rep, err := chaos.ReadReport(jsonFile)
	if err != nil {
		t.Fatalf("chaos exited %d without a report: %v", code, err)
	}
	return rep, string(out), code
}

// TestChaosShort runs chaos for a few seconds with a fixed seed: every
// fault kind, and the run must pass — every numbered input to every
// simulation child applied exactly once, no torn read, every child
// recovered. The renderer's stall is reported, not judged (--judge-stall=false):
// timings are not asserted.
func TestChaosShort(t *testing.T) {
	rep, _, code := runChaos(t, "--duration", "3s", "--rate", "3", "--seed", "1", "--bodies", "200", "--agents", "20",
		"--judge-stall=false")
	if code != 0 {
		t.Fatalf("chaos exited %d: %v", code, rep.Failures)
	}
	total := 0
	for _, n := range rep.Faults {
		total += n
	}
	if total == 0 || rep.Lost != 0 || rep.Doubled != 0 || rep.TornReads != 0 || len(rep.Failures) != 0 || rep.Watch["PlayerSnapshots"] == 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, ch := range []string{"physics", "ai", "net"} {
		if a := rep.Inputs[ch]; a.Sent == 0 || !a.Exact() || a.Applied != a.Sent {
			t.Errorf("%s inputs: %+v, want every one applied once", ch, a)
		}
	}
}

// TestChaosCatchesLostAndDoubled breaks exactly-once on purpose: each
// drop fault makes a child drop one numbered input, each double fault
// apply one twice. Chaos must fail and count both exactly.
func TestChaosCatchesLostAndDoubled(t *testing.T) {
	rep, out, code := runChaos(t, "--duration", "2s", "--rate", "4", "--seed", "3", "--faults", "drop,double",
		"--bodies", "200", "--agents", "20", "--judge-stall=false")
	drops, doubles := uint64(rep.Faults["drop"]), uint64(rep.Faults["double"])
	if drops == 0 || doubles == 0 {
		t.Fatalf("faults injected: %v, want both kinds (pick another seed)", rep.Faults)
	}
	if code != 1 || rep.Lost != drops || rep.Doubled != doubles {
		t.Fatalf("exit %d, lost %d doubled %d: want exit 1, %d lost and %d doubled", code, rep.Lost, rep.Doubled, drops, doubles)
	}
	for _, want := range []string{fmt.Sprintf("%d inputs lost", drops), fmt.Sprintf("%d inputs doubled", doubles)} {
		if !strings.Contains(out, want) {
			t.Errorf("output names no %q", want)
		}
	}
}

// TestChaosSurvivesItsSupervisor: chaos SIGKILLs the game's supervisor
// (every child dies with it) and runs the game again; the world resumes
// from its snapshots — ticks never go back — and every numbered input is
// applied exactly once across it.
func TestChaosSurvivesItsSupervisor(t *testing.T) {
	rep, _, code := runChaos(t, "--duration", "4s", "--rate", "2", "--seed", "5", "--faults", "supervisor,kill",
		"--bodies", "200", "--agents", "20", "--judge-stall=false")
	if code != 0 || rep.Faults["supervisor"] == 0 {
		t.Fatalf("exit %d, faults %v: want a pass with the supervisor killed at least once (pick another seed)", code, rep.Faults)
	}
	if rep.TickRegression != 0 || rep.Lost != 0 || rep.Doubled != 0 || rep.RecoveryByKind["supervisor"].N == 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, ch := range []string{"physics", "ai", "net"} {
		if a := rep.Inputs[ch]; a.Sent == 0 || !a.Exact() {
			t.Errorf("%s inputs: %+v", ch, a)
		}
		if rep.Restarts[ch] < uint32(rep.Faults["supervisor"]) {
			t.Errorf("%s restarted %d times for %d supervisor faults", ch, rep.Restarts[ch], rep.Faults["supervisor"])
		}
	}
}
