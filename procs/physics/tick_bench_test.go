package physics

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// BenchmarkTick times whole physics ticks as engine.Run runs them — the
// step and the snapshot encoded into a buffer of the channel's size — and
// reports p50 / p99 / max per size. Baseline from the same run: a copy of
// the snapshot's bytes, what a tick costs at the least.
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{1000, 2000, 10000} {
		b.Run(fmt.Sprintf("bodies=%d", n), func(b *testing.B) {
			p := &Sim{Seed: 1, Bodies: n}
			if err := p.Restore(nil); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, DataSize)
			var meta Meta
			var items []Body
			tick := func() time.Duration {
				start := time.Now()
				p.Step(time.Second / 60)
				items = p.Snapshot(&meta, items[:0])
				if _, err := Schema.Encode(buf, engine.Header{}, &meta, items); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for range 60 {
				tick() // settle the first overlaps
			}
			var times []time.Duration
			for b.Loop() {
				times = append(times, tick())
			}
			slices.Sort(times)
			q := func(f float64) float64 { return float64(times[int(f*float64(len(times)-1))].Nanoseconds()) }
			b.ReportMetric(q(0.5), "p50-ns")
			b.ReportMetric(q(0.99), "p99-ns")
			b.ReportMetric(q(1), "max-ns")
			size := Schema.Size(n)
			dst := make([]byte, size)
			src := buf[:size]
			start := time.Now()
			const copies = 1000
			for range copies {
				copy(dst, src)
			}
			cp := float64(time.Since(start).Nanoseconds()) / copies
			b.ReportMetric(cp, "memcpy-ns")
			b.ReportMetric(q(0.99)/2e6, "p99-of-2ms-budget")
		})
	}
}
