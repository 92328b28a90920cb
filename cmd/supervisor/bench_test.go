package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/venomrt/venomrt/engine/bench"
)

// TestBenchReport runs a short bench end to end and checks the report's
// shape; timings are never asserted.
func TestBenchReport(t *testing.T) {
	dir := t.TempDir()
	jsonFile, pngFile := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.png")
	cmd := execSelf("bench", "--bodies", "100,300", "--agents", "10", "--duration", "1s", "--json", jsonFile, "--plot", pngFile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	rep, err := bench.ReadReport(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SizeFlag != "bodies" || len(rep.Sizes) != 2 || rep.Sizes[1].Size != 300 {
		t.Fatalf("report sizes: %+v", rep.Sizes)
	}
	for _, s := range rep.Sizes {
		if s.ReadMs.N == 0 || len(s.Procs) != 3 {
			t.Fatalf("size %d: %+v, want reads and physics, ai, net", s.Size, s)
		}
		// The demo declares its renderer's read: bench measures it, and
		// a raw read after it as the baseline.
		if s.ReadBy != "renderer" || s.RawReadMs.N == 0 || s.MemcpyUs <= 0 {
			t.Fatalf("size %d: read by %q, baseline %+v, memcpy %v µs: want the renderer's read and its baselines",
				s.Size, s.ReadBy, s.RawReadMs, s.MemcpyUs)
		}
		for _, p := range s.Procs {
			if p.TickMs.N == 0 || p.InputMs.N == 0 || p.TicksPerSecond <= 0 || p.TargetRate <= 0 {
				t.Fatalf("size %d, %s: empty measurements %+v", s.Size, p.Name, p)
			}
		}
	}
	if rep.Venom.RoundTripUs <= 0 || rep.Venom.UnixSocketUs <= 0 || rep.Venom.ReadGBs <= 0 || rep.Venom.MemcpyGBs <= 0 {
		t.Fatalf("venom summary: %+v", rep.Venom)
	}
	if st, err := os.Stat(pngFile); err != nil || st.Size() == 0 {
		t.Fatalf("plot: %v", err)
	}
}
