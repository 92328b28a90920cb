package demo_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkSliceRead times the renderer's read of every slice (physics
// newest and the one before it, ai, net, the supervisor's status) while
// physics, ai and net run as real processes and a status publisher in
// this process stands in for the supervisor's (every 100 ms, as it does).
//
//	go test -run '^$' -bench SliceRead -benchtime 600x ./demo/
//
// Per world size, sub-benchmarks share the running game:
//
//   - 60Hz-reader: demo.Reader.Frame once per 60 Hz frame, then the
//     interpolation (Bodies), as the renderer runs them (ns/op is the
//     frame period; the metrics are the read's, and the frame's). It
//     copies a snapshot only when a newer one exists, and physics'
//     previous snapshot is the frame it had (a swap).
//   - 60Hz-twocopy: the read as the Reader did it before, on the same
//     game — per frame, physics' two newest snapshots, ai, net and sup
//     each copied out of shared memory and decoded into items (a second
//     copy). The same-run "before".
//   - 60Hz-raw: a venom Read of every channel per frame into a private
//     buffer, no decoding (what supervisor bench measured as "read").
//   - tight: Reader.Frame back to back; most frames find nothing new.
//
// Baseline from the same run, on every 60 Hz line: memcpy-ns, a copy of
// the bytes of one physics and one ai snapshot between two private
// buffers (hot in cache): what a frame copies when both have ticked. The
// 60 Hz frames' phase against physics' ticks goes round once a second
// (frameClock): a read's cost depends on its phase.
func BenchmarkSliceRead(b *testing.B) {
	type line struct {
		name                    string
		p50, p99, copies, frame float64
	}
	var lines []line
	var memcpys []string
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("bodies=%d", n), func(b *testing.B) {
			inst := proctest.Name(b)
			demotest.Cleanup(b, inst)
			proctest.Start(b, "physics", inst, fmt.Sprint(n))
			proctest.Start(b, "ai", inst)
			demotest.StartNet(b, inst, "127.0.0.1:0")
			benchStatus(b, inst)
			r := demo.NewReader(inst)
			defer r.Close()
			proctest.Eventually(b, 20*time.Second, "every slice read", func() bool {
				r.Frame()
				return r.Physics.Have() && r.AI.Have() && r.Net.Have() && r.Sup.Have() && len(r.Physics.Cur.Items) == n
			})
			memcpy := benchMemcpy(physics.Schema.Size(n) + ai.Schema.Size(len(r.AI.Cur.Items)))
			memcpys = append(memcpys, fmt.Sprintf("%d bodies %.1f µs", n, memcpy/1e3))
			report := func(b *testing.B, name string, reads []time.Duration, copies, frames float64, frame []time.Duration) {
				l := line{name: fmt.Sprintf("%5d bodies  %-14s", n, name), p50: q(reads, 0.5), p99: q(reads, 0.99), frame: math.NaN()}
				b.ReportMetric(l.p50, "read-p50-ns")
				b.ReportMetric(l.p99, "read-p99-ns")
				b.ReportMetric(memcpy, "memcpy-ns")
				b.ReportMetric(l.p50/memcpy, "p50-x-memcpy")
				if frames > 0 {
					l.copies = copies / frames
					b.ReportMetric(l.copies, "copies/frame")
				}
				if frame != nil {
					l.frame = q(frame, 0.5)
					b.ReportMetric(l.frame, "frame-p50-ns")
					b.ReportMetric(q(frame, 0.99), "frame-p99-ns")
				}
				lines = append(lines, l)
			}
			copies := func() uint64 {
				return r.Physics.Stats().Copies + r.AI.Stats().Copies + r.Net.Stats().Copies + r.Sup.Stats().Copies
			}

			b.Run("60Hz-reader", func(b *testing.B) {
				var reads, frame []time.Duration
				c0, clock := copies(), newFrameClock()
				for b.Loop() {
					clock.wait()
					start := venom.Monotonic()
					r.Frame()
					reads = append(reads, time.Duration(r.ReadNanos))
					r.Bodies(venom.Monotonic())
					frame = append(frame, time.Duration(venom.Monotonic()-start))
				}
				report(b, "60Hz reader", reads, float64(copies()-c0), float64(len(reads)), frame)
			})
			b.Run("60Hz-twocopy", func(b *testing.B) {
				read := benchTwoCopy(b, inst)
				var reads []time.Duration
				clock := newFrameClock()
				for b.Loop() {
					clock.wait()
					reads = append(reads, read())
				}
				report(b, "60Hz two-copy", reads, 5*float64(len(reads)), float64(len(reads)), nil)
			})
			b.Run("60Hz-raw", func(b *testing.B) {
				read := benchRaw(b, inst)
				var reads []time.Duration
				clock := newFrameClock()
				for b.Loop() {
					clock.wait()
					reads = append(reads, read())
				}
				report(b, "60Hz raw copy", reads, 4*float64(len(reads)), float64(len(reads)), nil)
			})
			b.Run("tight", func(b *testing.B) {
				var reads, frame []time.Duration
				c0 := copies()
				for b.Loop() {
					start := venom.Monotonic()
					r.Frame()
					reads = append(reads, time.Duration(r.ReadNanos))
					r.Bodies(venom.Monotonic())
					frame = append(frame, time.Duration(venom.Monotonic()-start))
				}
				report(b, "tight reader", reads, float64(copies()-c0), float64(len(reads)), frame)
			})
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "the renderer's read of every slice per frame, µs p50 / p99 (× memcpy at p50); memcpy of one physics + ai snapshot, hot: %s",
		strings.Join(memcpys, ", "))
	for _, l := range lines {
		fmt.Fprintf(&sb, "\n\t%s %8.1f / %8.1f", l.name, l.p50/1e3, l.p99/1e3)
		if l.copies > 0 {
			fmt.Fprintf(&sb, "  copies/frame %.2f", l.copies)
		}
		if !math.IsNaN(l.frame) {
			fmt.Fprintf(&sb, "  frame (read + interpolate) p50 %.1f", l.frame/1e3)
		}
	}
	fmt.Printf("--- SUMMARY: %s: %s\n", b.Name(), sb.String())
}

// frameClock paces frames at 60 Hz, every tenth a sixth of a frame
// early, so that their phase against the processes' ticks goes round
// once a second, as bench's does: what a read costs depends on how long
// after physics' publish it comes.
type frameClock struct {
	due    time.Time
	frames int
}

func newFrameClock() *frameClock { return &frameClock{due: time.Now()} }

// wait sleeps until the next frame is due.
func (c *frameClock) wait() {
	time.Sleep(time.Until(c.due))
	const period = time.Second / 60
	if c.frames++; c.frames%10 == 0 {
		c.due = c.due.Add(-period / 6)
	}
	if c.due = c.due.Add(period); c.due.Before(time.Now()) {
		c.due = time.Now().Add(period)
	}
}

func q(d []time.Duration, f float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(f*float64(len(s)-1))].Nanoseconds())
}

// benchMemcpy is the time of a copy of n bytes between two private
// buffers, hot in cache, in ns.
func benchMemcpy(n int) float64 {
	src, dst := make([]byte, n), make([]byte, n)
	copy(dst, src)
	const copies = 1000
	start := time.Now()
	for range copies {
		copy(dst, src)
	}
	return float64(time.Since(start).Nanoseconds()) / copies
}

// benchStatus publishes a status slice on inst's "sup" channel every
// 100 ms until the benchmark ends, as a supervisor does.
func benchStatus(b *testing.B, inst string) {
	b.Helper()
	ch := supervisor.StatusChannel(inst)
	venom.Remove(ch)
	d, err := venom.Create(ch, venom.Config{DataSize: supervisor.StatusSchema.Size(8), CmdSlots: 2, CmdSize: 64, RespSize: 64, MaxClients: 8})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done; d.Close() })
	go func() {
		defer close(done)
		var kids []supervisor.ChildStatus
		for _, name := range []string{"physics", "ai", "net", "render"} {
			var c supervisor.ChildStatus
			copy(c.Name[:], name)
			c.State = supervisor.ChildRunning
			kids = append(kids, c)
		}
		buf := make([]byte, supervisor.StatusSchema.Size(len(kids)))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := uint64(1); ; i++ {
			now := venom.Monotonic()
			for j := range kids {
				kids[j].Tick, kids[j].TickMono = i, now
			}
			n, _ := supervisor.StatusSchema.Encode(buf, engine.Header{Tick: i, Mono: now, Rate: 10}, &supervisor.Meta{Children: uint32(len(kids))}, kids)
			d.Publish(buf[:n])
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// benchShells connects a venom shell to each of inst's channels the
// renderer reads, with a buffer of its DataSize.
func benchShells(b *testing.B, inst string) (shells []*venom.Shell, bufs [][]byte) {
	b.Helper()
	for _, c := range []string{"physics", "ai", "net", "sup"} {
		s, err := venom.Connect(inst + "." + c)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		shells, bufs = append(shells, s), append(bufs, make([]byte, s.Config().DataSize))
	}
	return shells, bufs
}

// benchRaw reads every channel once per call, without decoding, and
// returns how long that took.
func benchRaw(b *testing.B, inst string) func() time.Duration {
	shells, bufs := benchShells(b, inst)
	return func() time.Duration {
		start := venom.Monotonic()
		for i, s := range shells {
			s.Read(bufs[i])
		}
		return time.Duration(venom.Monotonic() - start)
	}
}

// benchTwoCopy reads every slice as the renderer did before it read in
// place: each snapshot copied out of shared memory, then decoded into
// items (a second copy), and physics' previous snapshot read again every
// frame.
func benchTwoCopy(b *testing.B, inst string) func() time.Duration {
	shells, bufs := benchShells(b, inst)
	var (
		cur, prev engine.Frame[physics.Meta, physics.Body]
		agents    engine.Frame[ai.Params, ai.Agent]
		players   engine.Frame[netproc.Meta, netproc.Player]
		status    engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	)
	return func() time.Duration {
		start := venom.Monotonic()
		if n, _, err := shells[0].Read(bufs[0]); err == nil {
			physics.Schema.Decode(bufs[0][:n], &cur)
		}
		if n, _, err := shells[0].ReadAt(1, bufs[0]); err == nil {
			physics.Schema.Decode(bufs[0][:n], &prev)
		}
		if n, _, err := shells[1].Read(bufs[1]); err == nil {
			ai.Schema.Decode(bufs[1][:n], &agents)
		}
		if n, _, err := shells[2].Read(bufs[2]); err == nil {
			netproc.Schema.Decode(bufs[2][:n], &players)
		}
		if n, _, err := shells[3].Read(bufs[3]); err == nil {
			supervisor.StatusSchema.Decode(bufs[3][:n], &status)
		}
		return time.Duration(venom.Monotonic() - start)
	}
}
