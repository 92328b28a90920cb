package physics

import (
	"fmt"
	"testing"
)

// BenchmarkStep times one Step of a settling world. For 1k and 2k bodies it
// first times the same Step with the naive O(n²) pair search, then reports
// the grid's speed-up over it ("x-vs-naive") beside the grid's figure.
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{1000, 2000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var naive float64
			if n <= 2000 {
				b.Run("naive", func(b *testing.B) { naive = benchStep(b, n, true) })
			}
			b.Run("grid", func(b *testing.B) {
				ns := benchStep(b, n, false)
				if naive > 0 && ns > 0 {
					b.ReportMetric(naive/ns, "x-vs-naive")
				}
			})
		})
	}
}

// benchStep times Step on a world of n bodies after a second of warm-up
// (so the first violent overlaps are resolved) and returns ns per Step.
func benchStep(b *testing.B, n int, naive bool) float64 {
	w := newWorld(b, 1, n)
	w.naive = naive
	for range 60 {
		w.Step(dt)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Step(dt)
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}
