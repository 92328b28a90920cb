package ai

import (
	"fmt"
	"testing"
)

// BenchmarkStep times one Step of 200 agents against 2000 bodies. It first
// times the same Step with seekers scanning every body for the nearest one
// (the naive baseline), then reports the grid's speed-up over it
// ("x-vs-naive") beside the grid's figure.
func BenchmarkStep(b *testing.B) {
	for _, n := range [][2]int{{200, 2000}, {1000, 10000}} {
		b.Run(fmt.Sprintf("agents=%d/bodies=%d", n[0], n[1]), func(b *testing.B) {
			var naive float64
			b.Run("naive", func(b *testing.B) { naive = benchStep(b, n[0], n[1], true) })
			b.Run("grid", func(b *testing.B) {
				ns := benchStep(b, n[0], n[1], false)
				if naive > 0 && ns > 0 {
					b.ReportMetric(naive/ns, "x-vs-naive")
				}
			})
		})
	}
}

// benchStep times Step on a fixed, settled physics snapshot and returns ns
// per Step.
func benchStep(b *testing.B, agents, bodies int, naive bool) float64 {
	w := newWorld(b, 1, agents)
	w.naive = naive
	feed := newFeed(b, bodies)
	for range 60 {
		feed.next(nil)
	}
	snap := feed.next(nil)
	for range 30 {
		w.Step(dt, snap)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Step(dt, snap)
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}
