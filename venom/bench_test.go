package venom

// Benchmarks of venom between real processes: the measured side runs in the
// benchmark process, the other side in a helper process (the test binary
// re-executed, see helper_test.go). Each figure has a baseline measured in
// the same run (baseline_test.go): Go over a Unix socket, a pipe, gRPC over
// a Unix socket, or a plain copy(). Summary lines with the ratios are
// printed on stdout after each family. Nothing here runs under plain `go test`.
//
//	go test -run '^$' -bench . ./venom/

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func init() {
	helpers["bench-echo-daemon"] = benchHelperEchoDaemon
	helpers["bench-send-client"] = benchHelperSendClient
	helpers["bench-publisher"] = benchHelperPublisher
}

// benchHelperLife bounds how long a benchmark helper lives, should it outlive
// its benchmark somehow (the parent kills it, and Pdeathsig backs that up).
const benchHelperLife = 10 * time.Minute

const benchPayload = 64 // bytes of a round-trip request and of its answer

func benchParseWait(s string) (WaitPolicy, error) {
	for _, w := range []WaitPolicy{Spin, Hybrid, Block} {
		if w.String() == s {
			return w, nil
		}
	}
	return 0, fmt.Errorf("unknown wait policy %q", s)
}

func benchArgs(args []string, n int) error {
	if len(args) != n {
		return fmt.Errorf("want %d args, got %q", n, args)
	}
	return nil
}

func benchAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// benchHelperEchoDaemon: args name wait. Serves the channel, answering each
// request with its own bytes, until killed.
func benchHelperEchoDaemon(args []string) error {
	if err := benchArgs(args, 3); err != nil {
		return err
	}
	w, err := benchParseWait(args[1])
	if err != nil {
		return err
	}
	spin, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	d, err := Create(args[0], Config{DataSize: 64, CmdSlots: 16, CmdSize: benchPayload, RespSize: benchPayload, MaxClients: 2, Wait: w, SpinFor: spin})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), benchHelperLife)
	defer cancel()
	d.Serve(ctx, func(_ ClientID, cmd, resp []byte) int { return copy(resp, cmd) })
	return nil
}

// benchHelperSendClient: args name size count. Connects, says ready, waits for
// the daemon's first snapshot (the start signal), then sends count
// commands of size bytes as fast as the lane takes them.
func benchHelperSendClient(args []string) error {
	if err := benchArgs(args, 3); err != nil {
		return err
	}
	name, size, count := args[0], benchAtoi(args[1]), benchAtoi(args[2])
	s, err := Connect(name)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("ready")
	var one [64]byte
	for deadline := time.Now().Add(time.Minute); ; {
		_, _, err := s.Read(one[:])
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoData) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for the start signal: %v", err)
		}
		time.Sleep(20 * time.Microsecond)
	}
	cmd := make([]byte, size)
	for i := range cmd {
		cmd[i] = byte(i)
	}
	const giveUp = 10 * time.Second // of a lane full without a break
	for i := 0; i < count; i++ {
		binary.LittleEndian.PutUint64(cmd, uint64(i))
		var fullSince time.Time
		for try := 0; ; try++ {
			err := s.Send(cmd)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				return fmt.Errorf("send %d: %w", i, err)
			}
			if try&1023 == 0 {
				if fullSince.IsZero() {
					fullSince = time.Now()
				} else if time.Since(fullSince) > giveUp {
					return fmt.Errorf("send %d: lane full for %v", i, giveUp)
				}
			}
			runtime.Gosched()
		}
	}
	return nil
}

// benchHelperPublisher: args name size hz. Publishes snapshots of size bytes at
// hz until killed; says ready after the first.
func benchHelperPublisher(args []string) error {
	if err := benchArgs(args, 3); err != nil {
		return err
	}
	name, size, hz := args[0], benchAtoi(args[1]), benchAtoi(args[2])
	d, err := Create(name, Config{DataSize: size, CmdSlots: 2, CmdSize: 16, RespSize: 16, MaxClients: 2})
	if err != nil {
		return err
	}
	defer d.Close()
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i * 7)
	}
	tick := time.NewTicker(time.Second / time.Duration(hz))
	defer tick.Stop()
	end := time.After(benchHelperLife)
	for i := uint64(1); ; i++ {
		binary.LittleEndian.PutUint64(p, i)
		if _, err := d.Publish(p); err != nil {
			return err
		}
		if i == 1 {
			fmt.Println("ready")
		}
		select {
		case <-tick.C:
		case <-end:
			return nil
		}
	}
}

// Knobs for experiments, from the environment: VENOM_BENCH_SPINFOR (a
// duration) sets how long Hybrid spins on both sides of a round trip
// (default DefaultSpinFor); VENOM_BENCH_SEND_WAIT (spin, hybrid, block)
// sets the daemon's Config.Wait in BenchmarkSend (default hybrid).
func benchSpinFor() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("VENOM_BENCH_SPINFOR")); err == nil && d > 0 {
		return d
	}
	return DefaultSpinFor
}

func benchSendWait() WaitPolicy {
	if w, err := benchParseWait(os.Getenv("VENOM_BENCH_SEND_WAIT")); err == nil {
		return w
	}
	return Hybrid
}

// benchSummary prints a benchmark family's summary to stdout. (b.Log of a
// benchmark that has sub-benchmarks shows only under -v.)
func benchSummary(b *testing.B, s string) {
	fmt.Printf("--- SUMMARY: %s: %s\n", b.Name(), s)
}

// benchLatency is the distribution of one run's round trips, in ns. A
// quantile is given only when at least benchTail samples lie beyond it;
// with fewer it is the maximum, or next to it, under another name (a
// "p99" of 100 samples is their largest). It is NaN then, and shown as "-".
type benchLatency struct {
	n                   int
	p50, p99, p999, max float64
}

// benchTail is how many samples must lie beyond a quantile for it to be
// given: p99 needs 1000 samples, p99.9 10000.
const benchTail = 10

// benchMinSamples is how many round trips a run measures at least, so that
// its p99.9 is a quantile: when b.Loop stops sooner, more are taken with
// the timer stopped (they count in the distribution, not in ns/op).
const benchMinSamples = benchTail * 1000

func benchPercentiles(ns []int64) benchLatency {
	if len(ns) == 0 {
		return benchLatency{p50: math.NaN(), p99: math.NaN(), p999: math.NaN(), max: math.NaN()}
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	at := func(q float64) float64 {
		if float64(len(s))*(1-q) < benchTail {
			return math.NaN()
		}
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return float64(s[max(0, min(i, len(s)-1))])
	}
	return benchLatency{n: len(s), p50: at(0.50), p99: at(0.99), p999: at(0.999), max: float64(s[len(s)-1])}
}

// benchReport reports v as metric unit unless it is NaN (too few samples).
func benchReport(b *testing.B, v float64, unit string) {
	if !math.IsNaN(v) {
		b.ReportMetric(v, unit)
	}
}

// benchNs formats a latency for a summary line: "-" when there were too
// few samples for it.
func benchNs(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// benchRoundTrip sends msg and copies the answer into out.
type benchRoundTrip func(msg, out []byte) error

// BenchmarkRoundTrip: a 64-byte request and its 64-byte answer between
// this process and an echo server in another process. Baselines first
// (unix socket, pipe, gRPC over a unix socket), then venom in each wait
// policy (daemon Config.Wait and client WithWait alike), and Hybrid once
// more with a 50µs spin instead of the default. Metrics: p50/p99/p99.9
// and max of every round trip (at least benchMinSamples of them), and
// x-vs-unix = the unix socket's p50 / this p50 (above 1: faster than the
// socket).
func BenchmarkRoundTrip(b *testing.B) {
	type result struct {
		name string
		l    benchLatency
	}
	var results []result
	unixP50 := 0.0
	run := func(name string, setup func(b *testing.B) benchRoundTrip) {
		b.Run(name, func(b *testing.B) {
			rt := setup(b)
			msg, out := make([]byte, benchPayload), make([]byte, benchPayload)
			for i := range msg {
				msg[i] = byte(i + 1)
			}
			for range 1000 { // warm up: connections, caches, the daemon's loop
				if err := rt(msg, out); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]int64, 0, 1<<16)
			for b.Loop() {
				t0 := nanotime()
				if err := rt(msg, out); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, nanotime()-t0)
			}
			for len(lat) < benchMinSamples { // the timer is stopped now
				t0 := nanotime()
				if err := rt(msg, out); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, nanotime()-t0)
			}
			if string(out) != string(msg) {
				b.Fatalf("echo answered %x, want %x", out, msg)
			}
			l := benchPercentiles(lat)
			benchReport(b, l.p50, "p50-ns")
			benchReport(b, l.p99, "p99-ns")
			benchReport(b, l.p999, "p99.9-ns")
			benchReport(b, l.max, "max-ns")
			if name == "unix" {
				unixP50 = l.p50
			} else if unixP50 > 0 && l.p50 > 0 {
				b.ReportMetric(unixP50/l.p50, "x-vs-unix")
			}
			results = append(results, result{name, l})
		})
	}
	run("unix", func(b *testing.B) benchRoundTrip { return benchUnixEchoClient(b, benchPayload) })
	run("pipe", func(b *testing.B) benchRoundTrip { return benchPipeEchoClient(b, benchPayload) })
	run("grpc", func(b *testing.B) benchRoundTrip { return benchGRPCEchoClient(b) })
	for _, w := range []WaitPolicy{Spin, Hybrid, Block} {
		run("venom-"+w.String(), func(b *testing.B) benchRoundTrip { return benchVenomEchoClient(b, w, benchSpinFor()) })
	}
	// Hybrid again with a spin longer than a futex wake-up takes here.
	run("venom-hybrid-spin50us", func(b *testing.B) benchRoundTrip {
		return benchVenomEchoClient(b, Hybrid, 50*time.Microsecond)
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "round trip %d B, ns p50/p99/p99.9/max (x-vs-unix at p50) on %d CPUs:", benchPayload, runtime.NumCPU())
	for _, r := range results {
		fmt.Fprintf(&sb, "\n\t%-21s %8s %8s %8s %8s", r.name, benchNs(r.l.p50), benchNs(r.l.p99), benchNs(r.l.p999), benchNs(r.l.max))
		if unixP50 > 0 && r.l.p50 > 0 {
			fmt.Fprintf(&sb, "  %6.2fx", unixP50/r.l.p50)
		}
		fmt.Fprintf(&sb, "  (n=%d)", r.l.n)
	}
	benchSummary(b, sb.String())
}

func benchVenomEchoClient(b *testing.B, w WaitPolicy, spin time.Duration) benchRoundTrip {
	name := chanName(b)
	p := startProc(b, "bench-echo-daemon", name, w.String(), spin.String())
	p.Expect(b, `^ready$`, 30*time.Second)
	s, err := Connect(name, WithWait(w), WithSpin(spin))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	return func(msg, out []byte) error {
		n, err := s.Request(ctx, msg, out)
		if err == nil && n != len(msg) {
			err = fmt.Errorf("answer of %d bytes, want %d", n, len(msg))
		}
		return err
	}
}

// benchSplit shares n commands among procs senders.
func benchSplit(n, procs int) []int {
	c := make([]int, procs)
	for i := range c {
		c[i] = n / procs
		if i < n%procs {
			c[i]++
		}
	}
	return c
}

// BenchmarkSend: throughput of commands from 1 and 4 client processes to
// this process, which counts them. One op is one command; the metric is
// cmds/s. The baseline floods a Unix stream socket with length-prefixed
// frames of the same size, one write per command (as one Send is one
// command), from the same number of processes.
func BenchmarkSend(b *testing.B) {
	type key struct{ size, procs int }
	unix, venom := map[key]float64{}, map[key]float64{}
	for _, size := range []int{64, 256} {
		for _, procs := range []int{1, 4} {
			k := key{size, procs}
			b.Run(fmt.Sprintf("unix-%dB-%dproc", size, procs), func(b *testing.B) {
				unix[k] = benchUnixFloodRate(b, size, procs)
			})
			b.Run(fmt.Sprintf("venom-%dB-%dproc", size, procs), func(b *testing.B) {
				r := benchVenomFloodRate(b, size, procs)
				venom[k] = r
				if u := unix[k]; u > 0 {
					b.ReportMetric(r/u, "x-vs-unix")
				}
			})
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "send throughput, cmds/s (x-vs-unix) on %d CPUs:", runtime.NumCPU())
	for _, size := range []int{64, 256} {
		for _, procs := range []int{1, 4} {
			k := key{size, procs}
			fmt.Fprintf(&sb, "\n\t%4d B from %d proc: venom %12.0f  unix %12.0f", size, procs, venom[k], unix[k])
			if unix[k] > 0 {
				fmt.Fprintf(&sb, "  %6.2fx", venom[k]/unix[k])
			}
		}
	}
	benchSummary(b, sb.String())
}

// benchVenomFloodRate has procs client processes send b.N commands of size bytes
// to a daemon in this process (Serve), and returns commands per second.
func benchVenomFloodRate(b *testing.B, size, procs int) float64 {
	name := chanName(b)
	d, err := Create(name, Config{DataSize: 64, CmdSlots: 1024, CmdSize: 256, RespSize: 64, MaxClients: 8, Wait: benchSendWait()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	ps := make([]*proc, procs)
	for i, n := range benchSplit(b.N, procs) {
		ps[i] = startProc(b, "bench-send-client", name, strconv.Itoa(size), strconv.Itoa(n))
	}
	for _, p := range ps {
		p.Expect(b, `^ready$`, 30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	failed := make(chan error, 1)
	go func() { // a client that fails ends the benchmark
		for _, p := range ps {
			if err := p.Err(); err != nil {
				failed <- fmt.Errorf("client pid %d: %v", p.Pid(), err)
				cancel()
				return
			}
		}
	}()
	got, bad := 0, 0
	b.ResetTimer()
	if _, err := d.Publish([]byte{1}); err != nil { // the start signal
		b.Fatal(err)
	}
	d.Serve(ctx, func(_ ClientID, cmd, _ []byte) int {
		if len(cmd) != size {
			bad++
		}
		if got++; got == b.N {
			cancel()
		}
		return 0
	})
	b.StopTimer()
	if got != b.N {
		select {
		case err := <-failed:
			b.Fatalf("received %d of %d commands: %v", got, b.N, err)
		default:
			b.Fatalf("received %d of %d commands: %v", got, b.N, ctx.Err())
		}
	}
	if bad > 0 {
		b.Fatalf("%d commands of the wrong size", bad)
	}
	for _, p := range ps {
		p.Wait(b, 30*time.Second)
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "cmds/s")
	return rate
}

var benchReadSizes = []struct {
	label string
	size  int
}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

const benchPublishHz = 60

// BenchmarkRead: bandwidth of Read of the newest snapshot, in this
// process, while a helper process publishes at 60 Hz; beside a plain
// copy() of the same size in this process. pct-of-memcpy = venom MB/s /
// memcpy MB/s × 100.
//
// Between two publishes Read copies the same newest snapshot again, so
// venom-SIZE is mostly the shell's re-read of a snapshot it has found
// before (Shell.readAgain). venom-SIZE-back1 reads the one before the
// newest (ReadAt 1): every read finds its snapshot from latest, as the
// first Read after a publish does.
func BenchmarkRead(b *testing.B) {
	mem, ven, back1 := map[int]float64{}, map[int]float64{}, map[int]float64{}
	mbps := func(b *testing.B, size int) float64 {
		return float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
	}
	for _, rs := range benchReadSizes {
		size := rs.size
		b.Run("memcpy-"+rs.label, func(b *testing.B) {
			// The source starts where a snapshot's bytes start relative to
			// a page (bufHeader past the ring's first buffer): copy speed
			// depends on how source and destination sit relative to 4 KiB
			// pages (4K aliasing), and this keeps the two comparable.
			off := int(newLayout(Config{DataSize: size, History: 2}.withDefaults()).buf(0)+bufHeader) % 4096
			src, dst := benchPageAligned(off + size)[off:], benchPageAligned(size)
			for i := range src {
				src[i] = byte(i * 7)
			}
			copy(dst, src) // fault the pages in
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
			}
			mem[size] = mbps(b, size)
		})
		// The publisher and the shell serve both venom runs of this size.
		name := fmt.Sprintf("%s-%s", chanName(b), rs.label)
		Remove(name)
		b.Cleanup(func() { Remove(name) })
		p := startProc(b, "bench-publisher", name, strconv.Itoa(size), strconv.Itoa(benchPublishHz))
		p.Expect(b, `^ready$`, 30*time.Second)
		s, err := Connect(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		b.Run("venom-"+rs.label, func(b *testing.B) {
			buf := benchPageAligned(size)
			if _, _, err := s.Read(buf); err != nil { // fault the pages in
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			first := uint64(0)
			var seq uint64
			for b.Loop() {
				n, sq, err := s.Read(buf)
				if err != nil || n != size {
					b.Fatalf("Read: %d bytes, %v", n, err)
				}
				if first == 0 {
					first = sq
				}
				seq = sq
			}
			if buf[size-1] != byte((size-1)*7) {
				b.Fatalf("snapshot byte %d = %d", size-1, buf[size-1])
			}
			ven[size] = mbps(b, size)
			b.ReportMetric(float64(seq-first), "publishes-seen")
			if m := mem[size]; m > 0 {
				b.ReportMetric(100*ven[size]/m, "pct-of-memcpy")
			}
		})
		b.Run("venom-"+rs.label+"-back1", func(b *testing.B) {
			buf := benchPageAligned(size)
			b.SetBytes(int64(size))
			for b.Loop() {
				n, _, err := s.ReadAt(1, buf)
				if errors.Is(err, ErrNoData) {
					continue // overwritten meanwhile: rare at 60 Hz
				}
				if err != nil || n != size {
					b.Fatalf("ReadAt(1): %d bytes, %v", n, err)
				}
			}
			back1[size] = mbps(b, size)
			if m := mem[size]; m > 0 {
				b.ReportMetric(100*back1[size]/m, "pct-of-memcpy")
			}
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "read bandwidth, MB/s, with a %d Hz publisher in another process (Read of the newest; ReadAt 1):", benchPublishHz)
	for _, rs := range benchReadSizes {
		fmt.Fprintf(&sb, "\n\t%-6s venom %9.0f  memcpy %9.0f", rs.label, ven[rs.size], mem[rs.size])
		if m := mem[rs.size]; m > 0 {
			fmt.Fprintf(&sb, "  %5.1f%%;  ReadAt 1 %9.0f  %5.1f%%", 100*ven[rs.size]/m, back1[rs.size], 100*back1[rs.size]/m)
		}
	}
	benchSummary(b, sb.String())
}

// benchPageAligned is n bytes starting on a page boundary, so that a copy
// from or to it sits relative to pages as a segment's bytes do.
func benchPageAligned(n int) []byte {
	b := make([]byte, n+4095)
	o := int(-uintptr(unsafe.Pointer(&b[0])) & 4095)
	return b[o : o+n : o+n]
}
