package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestChaosShort runs chaos for a few seconds with a fixed seed: every
// fault kind, and the run must pass — no input lost or doubled, no torn
// read, every child recovered. The renderer's stall bound is loosened for
// the race detector on 2 shared cores; timings are not asserted.
func TestChaosShort(t *testing.T) {
	jsonFile := filepath.Join(t.TempDir(), "chaos.json")
	cmd := execSelf("chaos", "--duration", "3s", "--rate", "3", "--seed", "1", "--bodies", "200", "--agents", "20",
		"--max-stall", "2s", "--json", jsonFile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep ChaosReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range rep.Faults {
		total += n
	}
	if total == 0 || rep.Sent == 0 || rep.Lost != 0 || rep.Doubled != 0 || rep.TornReads != 0 || len(rep.Failures) != 0 ||
		rep.PlayerSnapshots == 0 {
		t.Fatalf("report: %+v", rep)
	}
}
