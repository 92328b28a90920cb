package game

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotTicks writes a PNG with one tick-time histogram per size, of the
// first declared process (the one the others read, as a rule).
func plotTicks(file string, rep *BenchReport) error {
	p := plot.New()
	p.X.Label.Text = "ms"
	p.Y.Label.Text = "ticks"
	colors := []color.RGBA{{30, 120, 220, 255}, {230, 120, 30, 255}, {40, 170, 80, 255}, {200, 40, 60, 255}}
	for i, s := range rep.Sizes {
		if len(s.Procs) == 0 || len(s.Procs[0].tickSamples) == 0 {
			continue
		}
		r := s.Procs[0]
		p.Title.Text = r.Name + " tick time"
		v := make(plotter.Values, len(r.tickSamples))
		for j, d := range r.tickSamples {
			v[j] = float64(d.Nanoseconds()) / 1e6
		}
		h, err := plotter.NewHist(v, 40)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		c := colors[i%len(colors)]
		h.FillColor = color.RGBA{c.R, c.G, c.B, 110}
		h.LineStyle.Color = c
		p.Add(h)
		label := r.Name
		if rep.SizeFlag != "" {
			label = fmt.Sprintf("%d %s", s.Size, rep.SizeFlag)
		}
		p.Legend.Add(label, h)
	}
	p.Legend.Top = true
	if err := p.Save(8*vg.Inch, 4*vg.Inch, file); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
