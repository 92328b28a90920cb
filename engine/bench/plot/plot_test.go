package plot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gonumplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

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

// The title is wrapped to the figure's width: the one line it was is
// wider than a figure of two panels, whose right edge cut it off.
func TestTitleWrapped(t *testing.T) {
	sty := gonumplot.New().Title.TextStyle
	sty.Font.Size = vg.Points(13)
	const title = "bench: tick time of every process and the renderer's read, per world size (cumulative; a curve left of its budget line missed nothing)"
	width := 2*4.2*vg.Inch - vg.Points(20)
	if sty.Width(title) <= width {
		t.Fatalf("the title fits in one line (%v of %v): the test shows nothing", sty.Width(title), width)
	}
	lines := wrap(sty, title, width)
	if len(lines) < 2 || strings.Join(lines, " ") != title {
		t.Fatalf("wrapped into %q", lines)
	}
	for _, l := range lines {
		if sty.Width(l) > width {
			t.Errorf("line %q is %v wide, more than %v", l, sty.Width(l), width)
		}
	}
}
