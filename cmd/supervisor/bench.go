package main

import (
	"context"
	"encoding/json"
	"flag"
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

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
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

// SizeResult is the bench of one world size.
type SizeResult struct {
	Bodies         int
	TickMs         Percentiles // physics tick: commands, step, encode
	TicksPerSecond float64
	TargetRate     float64
	DeadlineMisses int // ticks longer than the 16.67 ms budget
	Lag            uint64
	ReadMs         Percentiles // the renderer's read of every slice, per frame
	InputMs        Percentiles // command sent → first snapshot that shows it
	tickSamples    []time.Duration
}

// VenomSummary is venom's own round trip and read bandwidth beside the
// baselines measured in the same run (two goroutines of this process).
type VenomSummary struct {
	RoundTripUs, UnixSocketUs float64 // p50, 64 B
	ReadGBs, MemcpyGBs        float64 // 64 KiB snapshot
}

// BenchReport is what bench prints and writes with --json.
type BenchReport struct {
	Sizes []SizeResult
	Venom VenomSummary
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("bodies", "1000,2000,10000", "world sizes, comma-separated")
	agents := fs.Int("agents", 200, "ai agents (the ai process runs beside physics)")
	duration := fs.Duration("duration", 5*time.Second, "how long each size runs")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	plotOut := fs.String("plot", "", "write a PNG of the tick-time distribution per size")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > physics.MaxBodies {
			return fmt.Errorf("bench: --bodies %q: want numbers 0..%d", f, physics.MaxBodies)
		}
		ns = append(ns, n)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rep BenchReport
	for i, n := range ns {
		fmt.Fprintf(stderr, "bench: %d bodies (%d/%d)\n", n, i+1, len(ns))
		r, err := benchSize(ctx, self, n, *agents, *duration, stderr)
		if err != nil {
			return fmt.Errorf("bench %d bodies: %w", n, err)
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
		if err := plotTicks(*plotOut, rep.Sizes); err != nil {
			return err
		}
	}
	return nil
}

// benchSize runs physics (and ai) as real processes for one size and
// measures them from this process, as the renderer would.
func benchSize(ctx context.Context, self string, bodies, agents int, d time.Duration, stderr io.Writer) (SizeResult, error) {
	inst := fmt.Sprintf("bench%d-%d", os.Getpid(), bodies)
	defer func() {
		for _, c := range []string{"physics", "ai"} {
			venom.Remove(inst + "." + c)
		}
	}()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	}()
	for _, child := range []string{"physics", "ai"} {
		cmd := exec.Command(self, "proc", child, "--instance", inst, "--bodies", strconv.Itoa(bodies), "--agents", strconv.Itoa(agents))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return SizeResult{}, err
		}
		procs = append(procs, cmd)
	}
	phys, err := connectWithin(ctx, inst+".physics", 10*time.Second)
	if err != nil {
		return SizeResult{}, err
	}
	defer phys.Close()
	probe, err := engine.NewInputProbe(inst + ".physics")
	if err != nil {
		return SizeResult{}, err
	}
	defer probe.Close()
	reader := demo.NewReader(inst)
	defer reader.Close()

	res := SizeResult{Bodies: bodies, TargetRate: 60}
	var f engine.Frame[physics.Params, physics.Body]
	var reads, inputs []time.Duration
	sent := map[uint64]time.Time{}
	var lastTick, firstTick uint64
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
		if now.After(nextFrame) { // a 60 Hz renderer's reads
			reader.Frame()
			reads = append(reads, time.Duration(reader.ReadNanos))
			nextFrame = now.Add(time.Second / 60)
		}
		if now.After(nextInput) { // an input every 20 ms, numbered
			// A numbered no-op: the world stays the game's own while the
			// input is applied and shows in LastInput all the same.
			if err := probe.Send(); err == nil {
				sent[probe.Sent()] = now
			}
			nextInput = now.Add(20 * time.Millisecond)
		}
		if phys.Read(&f) != nil || f.Tick == lastTick {
			continue
		}
		if firstTick == 0 {
			firstTick = f.Tick
		} else {
			res.tickSamples = append(res.tickSamples, time.Duration(f.StepNanos))
			if time.Duration(f.StepNanos) > time.Second/60 {
				res.DeadlineMisses++
			}
		}
		lastTick, res.Lag = f.Tick, f.Lag
		for s, t := range sent {
			if f.LastInput >= s {
				inputs = append(inputs, now.Sub(t))
				delete(sent, s)
			}
		}
		progress(stderr, time.Since(start), d)
	}
	fmt.Fprintln(stderr)
	res.TicksPerSecond = float64(lastTick-firstTick) / time.Since(start).Seconds()
	res.TickMs = percentiles(append([]time.Duration(nil), res.tickSamples...))
	res.ReadMs = percentiles(reads)
	res.InputMs = percentiles(inputs)
	return res, nil
}

func connectWithin(ctx context.Context, ch string, d time.Duration) (*engine.Client[physics.Params, physics.Body], error) {
	deadline := time.Now().Add(d)
	for {
		c, err := engine.Connect(ch, physics.Slice)
		if err == nil {
			return c, nil
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
	fmt.Fprintln(w, "bodies  tick p50/p99/p99.9/max ms        tps (target)   misses  read p50/p99 µs   input→visible p50/p99 ms")
	for _, r := range rep.Sizes {
		fmt.Fprintf(w, "%6d  %5.2f / %5s / %5s / %6.2f   %5.1f (%.0f)   %6d  %6.1f / %6s    %6.1f / %6s   (n: %d ticks, %d reads, %d inputs)\n",
			r.Bodies, r.TickMs.P50, cell(r.TickMs.P99, 1), cell(r.TickMs.P999, 1), r.TickMs.Max, r.TicksPerSecond, r.TargetRate,
			r.DeadlineMisses, r.ReadMs.P50*1000, cell(r.ReadMs.P99, 1000), r.InputMs.P50, cell(r.InputMs.P99, 1),
			r.TickMs.N, r.ReadMs.N, r.InputMs.N)
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
