package game

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// Percentiles summarizes a distribution in milliseconds. A percentile
// the sample count cannot support is left zero: of fewer than 100 samples
// the "p99" is the maximum, so there is no P99, and no P999 below 1,000.
type Percentiles struct {
	P50  float64
	P99  float64 `json:",omitempty"`
	P999 float64 `json:",omitempty"`
	Max  float64
	N    int
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	q := func(f float64) float64 { return float64(d[int(f*float64(len(d)-1))].Nanoseconds()) / 1e6 }
	p := Percentiles{P50: q(0.5), Max: q(1), N: len(d)}
	if p.N >= 100 {
		p.P99 = q(0.99)
	}
	if p.N >= 1000 {
		p.P999 = q(0.999)
	}
	return p
}

// String prints the percentiles the samples support, in milliseconds.
func (p Percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	s := fmt.Sprintf("p50 %.2f", p.P50)
	if p.N >= 100 {
		s += fmt.Sprintf("  p99 %.2f", p.P99)
	}
	if p.N >= 1000 {
		s += fmt.Sprintf("  p99.9 %.2f", p.P999)
	}
	return s + fmt.Sprintf("  max %.2f  (n=%d)", p.Max, p.N)
}

// BenchReport is what bench prints and writes with --json.
type BenchReport struct {
	SizeFlag string // the game's size knob ("bodies"); "" without one
	Sizes    []SizeResult
	Venom    VenomSummary
}

// SizeResult is the bench of one world size: every process, and the
// renderer's read of every slice.
type SizeResult struct {
	Size   int
	Procs  []ProcResult
	ReadMs Percentiles // a 60 Hz reader's read of every slice, per frame
}

// ProcResult is one process at one size.
type ProcResult struct {
	Name           string
	TickMs         Percentiles // Header.StepNanos: commands, step, encode
	TicksPerSecond float64
	TargetRate     float64
	DeadlineMisses int // ticks longer than the tick budget, 1/rate
	Lag            uint64
	InputMs        Percentiles // numbered input sent → the first snapshot that holds it
	tickSamples    []time.Duration
}

// VenomSummary is venom's own round trip and read bandwidth beside the
// baselines measured in the same run (two goroutines of this process).
type VenomSummary struct {
	RoundTripUs, UnixSocketUs float64 // p50, 64 B
	ReadGBs, MemcpyGBs        float64 // 64 KiB snapshot
}

func (g *Game) cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	knob := ""
	if g.size != nil {
		knob = g.size.Flag
	}
	f := g.newFlags("bench", knob, false)
	var sizes *string
	if knob != "" {
		def := make([]string, len(g.size.Default))
		for i, n := range g.size.Default {
			def[i] = strconv.Itoa(n)
		}
		sizes = f.String(knob, strings.Join(def, ","), "world sizes ("+knob+"), comma-separated")
	}
	duration := f.Duration("duration", 5*time.Second, "how long each size runs")
	jsonOut := f.String("json", "", "also write the report as JSON to this file")
	plotOut := f.String("plot", "", "write a PNG of the tick-time distribution per size")
	pos, err := g.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: bench: unexpected arguments %q", ErrUsage, pos)
	}
	if len(g.procs) == 0 {
		return fmt.Errorf("%w: bench: the game declares no process", ErrUsage)
	}
	ns := []int{0}
	if knob != "" {
		if ns, err = g.parseSizes(*sizes); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep := BenchReport{SizeFlag: knob}
	for i, n := range ns {
		fmt.Fprintf(stderr, "bench: size %d (%d/%d)\n", n, i+1, len(ns))
		r, err := g.benchSize(ctx, self, f, n, *duration, stderr)
		if err != nil {
			return fmt.Errorf("bench size %d: %w", n, err)
		}
		rep.Sizes = append(rep.Sizes, r)
	}
	fmt.Fprintln(stderr, "bench: venom round trip and read bandwidth")
	if rep.Venom, err = benchVenom(); err != nil {
		return err
	}
	printBench(stdout, &rep)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(&rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *plotOut != "" {
		if err := plotTicks(*plotOut, &rep); err != nil {
			return err
		}
	}
	return nil
}

func (g *Game) parseSizes(list string) ([]int, error) {
	var ns []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || g.size.Max > 0 && n > g.size.Max {
			return nil, fmt.Errorf("%w: bench: --%s %q: want numbers 0..%d", ErrUsage, g.size.Flag, s, g.size.Max)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// benched is one process under bench.
type benched struct {
	watched
	res         ProcResult
	probe       *engine.InputProbe // nil unless the process takes inputs
	sent        map[uint64]time.Time
	inputs      []time.Duration
	first, last uint64 // ticks
	budget      time.Duration
}

// benchSize runs every process as a real process at one size and
// measures them from this process, as a renderer would read them.
func (g *Game) benchSize(ctx context.Context, self string, f *flags, size int, d time.Duration, stderr io.Writer) (SizeResult, error) {
	inst := fmt.Sprintf("bench%d-%d", os.Getpid(), size)
	defer g.removeSegments(inst)
	args := f.childArgs()
	for i, a := range args {
		if strings.HasPrefix(a, "--instance=") {
			args[i] = "--instance=" + inst
		}
	}
	if g.size != nil {
		args = append(args, "--"+g.size.Flag+"="+strconv.Itoa(size))
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	}()
	for _, p := range g.procs {
		cmd := exec.Command(self, append([]string{"proc", p.Name}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return SizeResult{}, err
		}
		procs = append(procs, cmd)
	}
	var bs []*benched
	defer func() {
		for _, b := range bs {
			b.shell.Close()
			if b.probe != nil {
				b.probe.Close()
			}
		}
	}()
	for _, p := range g.procs {
		ch := inst + "." + p.Name
		s, err := connectWithin(ctx, ch, 20*time.Second)
		if err != nil {
			return SizeResult{}, err
		}
		b := &benched{watched: watched{name: p.Name, shell: s, buf: make([]byte, s.Config().DataSize), header: p.header},
			res: ProcResult{Name: p.Name, TargetRate: float64(p.Rate)}, sent: map[uint64]time.Time{},
			budget: time.Second / time.Duration(max(p.Rate, 1))}
		bs = append(bs, b)
		if p.Inputs {
			if b.probe, err = engine.NewInputProbe(ch); err != nil {
				return SizeResult{}, err
			}
		}
	}
	res := SizeResult{Size: size}
	var reads []time.Duration
	start, nextInput, nextFrame := time.Now(), time.Now(), time.Now()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for time.Since(start) < d {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-poll.C:
		}
		now := time.Now()
		if now.After(nextFrame) { // a 60 Hz renderer's read of every slice
			t := time.Now()
			for _, b := range bs {
				b.shell.Read(b.buf)
			}
			reads = append(reads, time.Since(t))
			nextFrame = now.Add(time.Second / 60)
		}
		if now.After(nextInput) { // a numbered no-op every 20 ms: the world stays the game's own
			for _, b := range bs {
				if b.probe != nil && b.probe.Send() == nil {
					b.sent[b.probe.Sent()] = now
				}
			}
			nextInput = now.Add(20 * time.Millisecond)
		}
		for _, b := range bs {
			b.sample(now)
		}
		progress(stderr, time.Since(start), d)
	}
	fmt.Fprintln(stderr)
	for _, b := range bs {
		b.res.TicksPerSecond = float64(b.last-b.first) / time.Since(start).Seconds()
		b.res.TickMs = percentiles(slices.Clone(b.res.tickSamples))
		b.res.InputMs = percentiles(b.inputs)
		res.Procs = append(res.Procs, b.res)
	}
	res.ReadMs = percentiles(reads)
	return res, nil
}

// sample reads the process's newest header and takes its tick time and
// the inputs it shows, once per new tick.
func (b *benched) sample(now time.Time) {
	h, err := b.read()
	if err != nil || h.Tick == b.last {
		return
	}
	if b.first == 0 {
		b.first = h.Tick
	} else {
		b.res.tickSamples = append(b.res.tickSamples, time.Duration(h.StepNanos))
		if time.Duration(h.StepNanos) > b.budget {
			b.res.DeadlineMisses++
		}
	}
	b.last, b.res.Lag = h.Tick, h.Lag
	for s, t := range b.sent {
		if h.LastInput >= s {
			b.inputs = append(b.inputs, now.Sub(t))
			delete(b.sent, s)
		}
	}
}

// connectWithin connects to a channel, waiting up to d for it to appear
// and publish.
func connectWithin(ctx context.Context, ch string, d time.Duration) (*venom.Shell, error) {
	deadline := time.Now().Add(d)
	for {
		s, err := venom.Connect(ch)
		if err == nil {
			if _, _, err = s.Read(nil); !errors.Is(err, venom.ErrNoData) {
				return s, nil // published: ErrTooLarge for the nil buffer
			}
			s.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect %s: %w", ch, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// progress draws a bar on the terminal, at most ten times a second.
func progress(w io.Writer, done, total time.Duration) {
	if done%(100*time.Millisecond) > 2*time.Millisecond {
		return
	}
	const width = 30
	n := int(float64(width) * min(1, done.Seconds()/total.Seconds()))
	fmt.Fprintf(w, "\r  [%s%s] %4.1fs", strings.Repeat("#", n), strings.Repeat(".", width-n), done.Seconds())
}

// benchVenom measures venom's round trip and read bandwidth beside a Unix
// socket and memcpy, between two goroutines of this process.
func benchVenom() (VenomSummary, error) {
	var v VenomSummary
	name := fmt.Sprintf("bench%d.echo", os.Getpid())
	d, err := venom.Create(name, venom.Config{DataSize: 64 << 10})
	if err != nil {
		return v, err
	}
	defer venom.Remove(name)
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Serve(ctx, func(_ venom.ClientID, cmd, resp []byte) int { return copy(resp, cmd) })
	s, err := venom.Connect(name)
	if err != nil {
		return v, err
	}
	defer s.Close()
	msg, resp := make([]byte, 64), make([]byte, 64)
	const rounds = 20000
	var rt []time.Duration
	for range rounds {
		t := time.Now()
		if _, err := s.Request(ctx, msg, resp); err != nil {
			return v, err
		}
		rt = append(rt, time.Since(t))
	}
	v.RoundTripUs = percentiles(rt).P50 * 1000

	sock := filepath.Join(os.TempDir(), name+".sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return v, err
	}
	defer os.Remove(sock)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			c.Write(buf)
		}
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		return v, err
	}
	defer c.Close()
	rt = rt[:0]
	for range rounds {
		t := time.Now()
		c.Write(msg)
		if _, err := io.ReadFull(c, resp); err != nil {
			return v, err
		}
		rt = append(rt, time.Since(t))
	}
	v.UnixSocketUs = percentiles(rt).P50 * 1000

	snap := make([]byte, 64<<10)
	if _, err := d.Publish(snap); err != nil {
		return v, err
	}
	buf := make([]byte, 64<<10)
	const reads = 20000
	t := time.Now()
	for range reads {
		if _, _, err := s.Read(buf); err != nil {
			return v, err
		}
	}
	v.ReadGBs = float64(reads*len(buf)) / time.Since(t).Seconds() / 1e9
	t = time.Now()
	for range reads {
		copy(buf, snap)
	}
	v.MemcpyGBs = float64(reads*len(buf)) / time.Since(t).Seconds() / 1e9
	return v, nil
}

func printBench(w io.Writer, rep *BenchReport) {
	for _, s := range rep.Sizes {
		if rep.SizeFlag != "" {
			fmt.Fprintf(w, "%s %d\n", rep.SizeFlag, s.Size)
		}
		fmt.Fprintln(w, "  process       tick p50/p99/p99.9/max ms       tps (target)  misses   input→visible p50/p99 ms   n ticks/inputs")
		for _, r := range s.Procs {
			fmt.Fprintf(w, "  %-12s  %5.2f / %5s / %5s / %6.2f   %5.1f (%.0f)  %6d   %6.1f / %6s             %d/%d\n",
				r.Name, r.TickMs.P50, cell(r.TickMs.P99, 1), cell(r.TickMs.P999, 1), r.TickMs.Max, r.TicksPerSecond, r.TargetRate,
				r.DeadlineMisses, r.InputMs.P50, cell(r.InputMs.P99, 1), r.TickMs.N, r.InputMs.N)
		}
		fmt.Fprintf(w, "  read of every slice per frame: p50 %.1f µs, p99 %s µs (n=%d)\n", s.ReadMs.P50*1000, cell(s.ReadMs.P99, 1000), s.ReadMs.N)
	}
	fmt.Fprintln(w, "(-: too few samples for that percentile: a p99 needs 100, a p99.9 1,000)")
	v := rep.Venom
	fmt.Fprintf(w, "venom round trip 64 B p50 %.2f µs, unix socket %.2f µs (%.1fx); read 64 KiB %.1f GB/s, memcpy %.1f GB/s (%.0f%%)\n",
		v.RoundTripUs, v.UnixSocketUs, v.UnixSocketUs/v.RoundTripUs, v.ReadGBs, v.MemcpyGBs, 100*v.ReadGBs/v.MemcpyGBs)
}

// cell prints a percentile scaled by unit, or "-" when it was left out for
// too few samples.
func cell(v, unit float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v*unit)
}
