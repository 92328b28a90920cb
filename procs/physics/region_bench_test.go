package physics

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkRegionTick times a region's whole tick as engine.Run runs it
// — the exchange with its neighbours (their snapshots read from real
// channels, checked, handed over, ghosts taken), the step, the snapshot
// published — for a world (WorldWidth wide) in one and in two regions,
// stepped in turn in one goroutine. It reports the ticks' p50 / p99 per
// region, the exchange's share (µs and bytes read per tick) and the
// hand-overs per tick. A world in N regions on N cores ticks at about
// its slowest region's pace: compare regions=2's p50 with regions=1's.
func BenchmarkRegionTick(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, count := range []int{1, 2} {
			b.Run(fmt.Sprintf("bodies=%d/regions=%d", n, count), func(b *testing.B) {
				c := newCluster(b, count, n)
				c.width = WorldWidth(n)
				c.startAll()
				for range 60 { // settle the first overlaps
					for i := range count {
						c.tick(i)
					}
				}
				var times, exchange []time.Duration
				var bytes uint64
				var handed [2]uint64
				for i := range count {
					handed[0] += c.region(i).Handed
				}
				for b.Loop() {
					for i := range count {
						start := time.Now()
						c.tick(i)
						times = append(times, time.Since(start))
						if r := c.sims[i].r; r != nil {
							exchange = append(exchange, time.Duration(r.exNanos))
							bytes += uint64(r.exBytes)
						}
					}
				}
				for i := range count {
					handed[1] += c.region(i).Handed
				}
				q := func(d []time.Duration, f float64) float64 {
					slices.Sort(d)
					return float64(d[int(f*float64(len(d)-1))].Nanoseconds())
				}
				b.ReportMetric(q(times, 0.5), "p50-ns")
				b.ReportMetric(q(times, 0.99), "p99-ns")
				if len(exchange) > 0 {
					b.ReportMetric(q(exchange, 0.5), "exchange-p50-ns")
					b.ReportMetric(float64(bytes)/float64(len(exchange)), "exchange-B/tick")
				}
				b.ReportMetric(float64(handed[1]-handed[0])/float64(len(times)), "handovers/tick")
			})
		}
	}
}
