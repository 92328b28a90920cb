package demo_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkSliceRead times the renderer's per-frame read of every slice
// (physics newest + previous, ai, sup) while physics and ai run as real
// processes, and the whole headless frame (read + interpolation). Baseline
// from the same run: a memcpy of the same bytes.
func BenchmarkSliceRead(b *testing.B) {
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("bodies=%d", n), func(b *testing.B) {
			inst := proctest.Name(b)
			b.Cleanup(func() {
				for _, c := range []string{"physics", "ai"} {
					venom.Remove(inst + "." + c)
				}
			})
			proctest.Start(b, "physics", inst, fmt.Sprint(n))
			proctest.Start(b, "ai", inst)
			r := demo.NewReader(inst)
			defer r.Close()
			proctest.Eventually(b, 20*time.Second, "slices read", func() bool {
				r.Frame()
				return r.Physics.Have && r.AI.Have && len(r.Physics.Cur.Items) == n
			})
			var reads, frames []time.Duration
			for b.Loop() {
				start := time.Now()
				r.Frame()
				reads = append(reads, time.Duration(r.ReadNanos))
				r.Bodies(venom.Monotonic())
				frames = append(frames, time.Since(start))
			}
			bytes := 2*physics.Slice.Size(n) + 200*64 // two physics snapshots + ai, roughly
			src, dst := make([]byte, bytes), make([]byte, bytes)
			start := time.Now()
			const copies = 1000
			for range copies {
				copy(dst, src)
			}
			memcpy := float64(time.Since(start).Nanoseconds()) / copies
			q := func(d []time.Duration, f float64) float64 {
				slices.Sort(d)
				return float64(d[int(f*float64(len(d)-1))].Nanoseconds())
			}
			b.ReportMetric(q(reads, 0.5), "read-p50-ns")
			b.ReportMetric(q(reads, 0.99), "read-p99-ns")
			b.ReportMetric(q(frames, 0.5), "frame-p50-ns")
			b.ReportMetric(q(frames, 0.99), "frame-p99-ns")
			b.ReportMetric(memcpy, "memcpy-ns")
			b.ReportMetric(q(reads, 0.5)/memcpy, "x-of-memcpy")
		})
	}
}
