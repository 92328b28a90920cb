package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
)

// A ratio never prints as "0.0x": two significant digits at least, and
// "<0.01x" below a hundredth.
func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want string
	}{
		{3.456, 1, "3.5x"},
		{12.3, 1, "12x"},
		{1234, 1, "1234x"},
		{1, 1, "1.0x"},
		{0.5, 1, "0.50x"},
		{0.123, 1, "0.12x"},
		{0.049, 1, "0.049x"},
		{0.0123, 1, "0.012x"},
		{0.0099, 1, "<0.01x"},
		{1, 1000, "<0.01x"},
		{0, 1, "0x"},
		{1, 0, "-"},
		{math.NaN(), 1, "-"},
	} {
		got := Ratio(tc.a, tc.b)
		if got != tc.want {
			t.Errorf("Ratio(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
		if strings.HasPrefix(got, "0.0x") || got == "0.00x" {
			t.Errorf("Ratio(%v, %v) = %q rounds to zero", tc.a, tc.b, got)
		}
	}
}

// The printed report's venom line carries the ratio as Ratio prints it,
// even when venom is far faster than the socket.
func TestPrintReportRatio(t *testing.T) {
	var out bytes.Buffer
	PrintReport(&out, &Report{Venom: VenomSummary{RoundTripUs: 0.5, UnixSocketUs: 0.001, ReadGBs: 1, MemcpyGBs: 2}})
	if !strings.Contains(out.String(), "unix socket 0.00 µs (<0.01x)") {
		t.Errorf("report:\n%s", out.String())
	}
}

type meta struct{ N uint64 }
type item struct{ V float64 }

type idle struct{}

func (idle) Restore(*engine.Frame[meta, item]) error { return nil }
func (idle) Handle(engine.Command) error             { return nil }
func (idle) Step(time.Duration)                      {}
func (idle) Snapshot(m *meta, items []item) []item   { return items }

// bench -h has --plot only when a Plotter is registered, and the size
// knob as a list; a bad size is a usage error.
func TestFlags(t *testing.T) {
	newGame := func(opts ...Option) *game.Game {
		var width int
		return game.New("b").
			Flags(func(fs *flag.FlagSet) { fs.IntVar(&width, "width", 8, "width") }).
			Add(game.Sim("sim", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{})).
			Sized(game.Size{Flag: "width", Default: []int{8, 16}, Max: 64}).
			Use(Tool(opts...))
	}
	usage := func(g *game.Game) string {
		var out, errs bytes.Buffer
		if err := g.Command(context.Background(), []string{"bench", "-h"}, &out, &errs); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("bench -h: %v", err)
		}
		return errs.String()
	}
	if u := usage(newGame()); strings.Contains(u, "-plot") || !strings.Contains(u, `world sizes (width), comma-separated (default "8,16")`) {
		t.Errorf("bench -h without a plotter:\n%s", u)
	}
	if u := usage(newGame(Plot(func(string, *Report) error { return nil }))); !strings.Contains(u, "-plot") {
		t.Errorf("bench -h with a plotter has no --plot:\n%s", u)
	}
	for _, args := range [][]string{{"bench", "--width", "65"}, {"bench", "--width", "x"}, {"bench", "--plot", "p.png"}, {"bench", "stray"}, {"bench", "--count", "0"}} {
		var out bytes.Buffer
		if err := newGame().Command(context.Background(), args, &out, &out); game.ExitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// Off a terminal the progress is a line a second, never a carriage
// return's redraw (a file would keep every one).
func TestProgressOffTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, 3*time.Second)
	for done := time.Duration(0); done <= 3500*time.Millisecond; done += time.Millisecond {
		p.show(done)
	}
	p.end()
	if strings.Contains(out.String(), "\r") || strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("progress to a buffer:\n%q", out.String())
	}
}

// --gobench lines are Go's benchmark format: a name, an iteration count,
// value-unit pairs; one line per figure and size run, so benchstat has a
// sample per run.
func TestGoBenchFormat(t *testing.T) {
	run := func(n int) SizeResult {
		return SizeResult{Size: n, ReadUs: []float64{20, 30}, ReadMs: game.Percentiles{P99: 0.03},
			Procs: []ProcResult{{Name: "physics", TickSamples: []time.Duration{time.Millisecond, 3 * time.Millisecond},
				TickMs: game.Percentiles{P50: 1, P99: 3}, TicksPerSecond: 60, DeadlineMisses: 1}}}
	}
	rep := &Report{SizeFlag: "bodies", Sizes: []SizeResult{run(2000), run(2000)}, Venom: VenomSummary{RoundTripUs: 5, UnixSocketUs: 20}}
	var out bytes.Buffer
	WriteGoBench(&out, "demo", rep)
	line := regexp.MustCompile(`^Benchmark[^\s]+ \t\d+(\t[0-9.]+ [^\s]+)+$`)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "Benchmark") {
			continue
		}
		if !line.MatchString(l) {
			t.Errorf("not Go's benchmark format: %q", l)
		}
		names = append(names, strings.Fields(l)[0])
	}
	want := []string{"BenchmarkTick/physics/bodies=2000", "BenchmarkRead/bodies=2000", "BenchmarkTick/physics/bodies=2000", "BenchmarkRead/bodies=2000",
		"BenchmarkVenomRoundTrip", "BenchmarkUnixSocketRoundTrip"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("lines %q, want %q", names, want)
	}
	if !strings.Contains(out.String(), "BenchmarkTick/physics/bodies=2000 \t2\t2000000 ns/op\t1000000 p50-ns\t3000000 p99-ns\t60.0 ticks/s\t1 misses\n") {
		t.Fatalf("the tick line:\n%s", out.String())
	}
}

// A group's flag is bench's list of counts: in bench -h as a list, each
// count 1..game.MaxGroup, anything else a usage error.
func TestGroupFlag(t *testing.T) {
	newGame := func() *game.Game {
		var n int
		p := game.Sim("sim", func(game.Env) (engine.Sim[meta, item], error) { return idle{}, nil }, engine.Options{})
		p.Group = "shards"
		return game.New("b").
			Flags(func(fs *flag.FlagSet) { fs.IntVar(&n, "shards", 1, "shards") }).
			Add(p).
			Use(Tool())
	}
	var out, errs bytes.Buffer
	if err := newGame().Command(context.Background(), []string{"bench", "-h"}, &out, &errs); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("bench -h: %v", err)
	}
	if !strings.Contains(errs.String(), "-shards list") || !strings.Contains(errs.String(), "members of the process group on --shards: a comma-separated list of counts") ||
		!strings.Contains(errs.String(), "(default 1)") {
		t.Errorf("bench -h:\n%s", errs.String())
	}
	for _, args := range [][]string{{"bench", "--shards", "0"}, {"bench", "--shards", "65"}, {"bench", "--shards", "1,x"}, {"bench", "--shards", ""}} {
		var out bytes.Buffer
		if err := newGame().Command(context.Background(), args, &out, &out); game.ExitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	c := &countList{}
	if err := c.Set("1,2,4"); err != nil || c.String() != "1,2,4" || c.Get() != 1 {
		t.Errorf("countList: %v %q %v", err, c.String(), c.Get())
	}
	combos := countCombos([]string{"a", "b"}, map[string]*countList{"a": {list: []int{1, 2}}, "b": {list: []int{3}}})
	if len(combos) != 2 || combos[0]["a"] != 1 || combos[1]["a"] != 2 || combos[1]["b"] != 3 {
		t.Errorf("combos %v", combos)
	}
}

// The world table: a row per size and count, a figure that Scales
// beside N × the same size's figure with one member in the same run, the
// worst member's tick; --gobench names the count too.
func TestWorldTable(t *testing.T) {
	size := func(n, regions, run int, steps float64, p99 float64) SizeResult {
		return SizeResult{Size: n, Counts: map[string]int{"regions": regions}, Run: run,
			Procs: []ProcResult{{Name: "physics-0", Group: "physics", TickMs: game.Percentiles{P50: 1, P99: p99}, TickSamples: []time.Duration{time.Millisecond}},
				{Name: "ai", TickMs: game.Percentiles{P50: 9, P99: 99}}},
			World: []Figure{{Name: "capacity-steps/s", Value: steps, Scales: true}, {Name: "handovers/s", Value: 12.5}}}
	}
	rep := &Report{SizeFlag: "bodies", GroupFlags: []string{"regions"}, Sizes: []SizeResult{
		size(1000, 1, 0, 100, 2), size(1000, 2, 0, 180, 3), size(1000, 4, 0, 300, 4), size(1000, 2, 1, 150, 3)}}
	var out bytes.Buffer
	PrintReport(&out, rep)
	for _, want := range []string{
		"bodies 1000, regions 2\n",
		"    bodies  regions  capacity-steps/s    ÷ N×1   handovers/s  member tick p50 / p99 ms (worst member)\n",
		"      1000        1               100     1.00          12.5    1.00 / 2.00\n",
		"      1000        2               180     0.90          12.5    1.00 / 3.00\n",
		"      1000        4               300     0.75          12.5    1.00 / 4.00\n",
		"      1000        2               150        -          12.5    1.00 / 3.00\n", // run 1 has no baseline
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	out.Reset()
	WriteGoBench(&out, "demo", rep)
	if !strings.Contains(out.String(), "BenchmarkWorld/bodies=1000/regions=2 \t1\t180 capacity-steps/s\t12.5 handovers/s\n") ||
		!strings.Contains(out.String(), "BenchmarkTick/physics-0/bodies=1000/regions=4 ") {
		t.Errorf("--gobench:\n%s", out.String())
	}
}
