package game

import (
	"fmt"
	"slices"
	"time"
)

// Percentiles summarizes a distribution in milliseconds, as the tools'
// reports print it (chaos's recovery, bench's ticks). A percentile the
// sample count cannot support is left zero: of fewer than 100 samples
// the "p99" is the maximum, so there is no P99, and no P999 below 1,000.
type Percentiles struct {
	P50  float64
	P99  float64 `json:",omitempty"`
	P999 float64 `json:",omitempty"`
	Max  float64
	N    int
}

// PercentilesOf summarizes d, which it sorts.
func PercentilesOf(d []time.Duration) Percentiles {
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
