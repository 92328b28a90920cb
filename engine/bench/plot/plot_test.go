package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine/bench"
)

// Ticks draws a report as a PNG.
func TestTicks(t *testing.T) {
	var ticks []time.Duration
	var reads []float64
	for i := range 200 {
		ticks = append(ticks, time.Duration(500+i*10)*time.Microsecond)
		reads = append(reads, float64(20+i%30))
	}
	rep := &bench.Report{SizeFlag: "width", Sizes: []bench.SizeResult{
		{Size: 64, ReadUs: reads, Procs: []bench.ProcResult{{Name: "grid", TargetRate: 60, TickSamples: ticks}}},
		{Size: 128, ReadUs: reads, Procs: []bench.ProcResult{{Name: "grid", TargetRate: 60, TickSamples: ticks}}},
	}}
	file := filepath.Join(t.TempDir(), "ticks.png")
	if err := Ticks(file, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() < 200 || r.Dy() < 100 {
		t.Errorf("a %v image", r)
	}
}
