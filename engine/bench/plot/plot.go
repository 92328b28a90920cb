// Package plot draws a bench report (engine/bench) as a PNG with gonum's
// plot: registered with bench.Tool(bench.Plot(plot.Ticks)), it gives
// bench its --plot flag. A game that does not register it links no
// plotting library.
package plot

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/venomrt/venomrt/engine/bench"
)

// plotColors are the series' colours, the same in every panel and in the
// legend: blue, orange, green, red, purple, brown (Okabe–Ito-like, apart
// for colour-blind readers too).
var plotColors = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255},
	{204, 68, 68, 255}, {148, 103, 189, 255}, {140, 86, 75, 255},
}

// Ticks writes a PNG with one panel per world size: the cumulative
// distribution of every process's tick time and of the renderer's read
// of every slice, on one log-scaled time axis, with each tick budget
// (1/rate, the deadline) drawn as a dashed line. A curve that reaches 1
// left of its budget line never missed it. One legend, above the panels,
// for them all.
func Ticks(file string, rep *bench.Report) error {
	type series struct {
		name  string
		ms    []float64
		color color.RGBA
		dash  bool
	}
	var (
		panels  [][]series
		titles  []string
		budgets = map[float64][]string{} // rate → the processes it is theirs
		lo, hi  = math.Inf(1), 0.0
	)
	for _, s := range rep.Sizes {
		var ss []series
		for i, r := range s.Procs {
			ms := make([]float64, len(r.TickSamples))
			for j, d := range r.TickSamples {
				ms[j] = float64(d.Nanoseconds()) / 1e6
			}
			ss = append(ss, series{name: r.Name + " tick", ms: ms, color: plotColors[i%len(plotColors)]})
			if r.TargetRate > 0 && !slices.Contains(budgets[r.TargetRate], r.Name) {
				budgets[r.TargetRate] = append(budgets[r.TargetRate], r.Name)
			}
		}
		read := make([]float64, len(s.ReadUs))
		for j, us := range s.ReadUs {
			read[j] = us / 1e3
		}
		name := "the renderer's read of every slice"
		if s.ReadBy != "renderer" {
			name = "a raw read of every channel"
		}
		ss = append(ss, series{name: name, ms: read, color: color.RGBA{40, 40, 40, 255}, dash: true})
		for _, x := range ss {
			for _, v := range x.ms {
				if v > 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		title := fmt.Sprintf("%d %s", s.Size, rep.SizeFlag)
		if rep.SizeFlag == "" {
			title = "the game"
		}
		for _, g := range rep.GroupFlags { // a sweep of a group's count: which count
			if n, ok := s.Counts[g]; ok {
				title += fmt.Sprintf(", %d %s", n, g)
			}
		}
		panels, titles = append(panels, ss), append(titles, title)
	}
	if len(panels) == 0 || math.IsInf(lo, 1) {
		return fmt.Errorf("plot: no samples")
	}
	var rates []float64 // fastest first: the tightest budget
	for r := range budgets {
		rates = append(rates, r)
		hi = max(hi, 1000/r)
	}
	slices.Sort(rates)
	slices.Reverse(rates)
	// Whole decades around every sample and every budget.
	xmin := math.Pow(10, math.Floor(math.Log10(lo)))
	xmax := math.Pow(10, math.Ceil(math.Log10(hi*1.2)))

	budgetStyle := func(i int) (color.Color, []vg.Length) {
		shades := []color.RGBA{{200, 0, 0, 255}, {240, 120, 120, 255}, {150, 60, 60, 255}}
		return shades[i%len(shades)], []vg.Length{vg.Points(6), vg.Points(3)}
	}
	var plots []*plot.Plot
	for k, ss := range panels {
		p := plot.New()
		p.Title.Text = titles[k]
		p.X.Label.Text = "time per tick or read (log scale)"
		if k == 0 {
			p.Y.Label.Text = "fraction of ticks (reads) taking at most that"
		}
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = timeTicks(xmin, xmax)
		p.X.Min, p.X.Max = xmin, xmax
		p.Y.Min, p.Y.Max = 0, 1.02
		p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25, Label: ""}, {Value: 0.5, Label: "0.5"},
			{Value: 0.75, Label: ""}, {Value: 1, Label: "1"}}
		p.Add(plotter.NewGrid())
		for i, r := range rates {
			l, err := plotter.NewLine(plotter.XYs{{X: 1000 / r, Y: 0}, {X: 1000 / r, Y: 1.02}})
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Dashes = budgetStyle(i)
			l.Width = vg.Points(1.5)
			p.Add(l)
		}
		for _, x := range ss {
			if len(x.ms) == 0 {
				continue
			}
			l, err := plotter.NewLine(cdf(x.ms, xmin))
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Width = x.color, vg.Points(2)
			if x.dash {
				l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			}
			p.Add(l)
		}
		plots = append(plots, p)
	}

	// The legend: one row above the panels, entry by entry.
	type entry struct {
		name  string
		thumb plot.Thumbnailer
	}
	var entries []entry
	for _, x := range panels[len(panels)-1] {
		l := &plotter.Line{LineStyle: draw.LineStyle{Color: x.color, Width: vg.Points(2)}}
		if x.dash {
			l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		entries = append(entries, entry{x.name, l})
	}
	for i, r := range rates {
		l := &plotter.Line{LineStyle: draw.LineStyle{Width: vg.Points(1.5)}}
		l.Color, l.Dashes = budgetStyle(i)
		entries = append(entries, entry{fmt.Sprintf("tick budget 1/%s s (%s)", strconv.FormatFloat(r, 'f', -1, 64),
			strings.Join(budgets[r], ", ")), l})
	}

	const perRow = 3
	rows := (len(entries) + perRow - 1) / perRow
	w := vg.Length(max(len(plots), 2)) * 4.2 * vg.Inch
	sty := plot.New().Title.TextStyle
	sty.Font.Size = vg.Points(13)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	what := "the renderer's read"
	if len(rep.Sizes) > 0 && rep.Sizes[0].ReadBy != "renderer" {
		what = "a raw read of every channel"
	}
	// The title, in as many lines as the figure's width needs: a figure
	// of two panels is narrower than the title's one line.
	title := wrap(sty, "bench: tick time of every process and "+what+", per world size (cumulative; a curve left of its budget line missed nothing)", w-vg.Points(20))
	lineH := sty.Height("X") * 1.2
	titleH := lineH*vg.Length(len(title)) + vg.Points(4)
	band := vg.Length(rows)*vg.Points(16) + vg.Points(10) + titleH
	h := 4.4*vg.Inch + band
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	for i, line := range title {
		dc.FillText(sty, vg.Point{X: w / 2, Y: h - vg.Points(4) - vg.Length(i)*lineH}, line)
	}
	top := draw.Crop(dc, vg.Points(10), 0, h-band, -vg.Points(4)-titleH)
	colW := (top.Max.X - top.Min.X) / perRow
	for i, e := range entries {
		r, c := i/perRow, i%perRow
		cell := top
		cell.Min.X = top.Min.X + vg.Length(c)*colW
		cell.Max.X = cell.Min.X + colW
		cell.Max.Y = top.Max.Y - vg.Length(r)*vg.Points(16)
		cell.Min.Y = cell.Max.Y - vg.Points(16)
		lg := plot.NewLegend()
		lg.Top, lg.Left = true, true
		lg.ThumbnailWidth = vg.Points(28)
		lg.Add(e.name, e.thumb)
		lg.Draw(cell)
	}
	body := draw.Crop(dc, 0, 0, 0, -band)
	canvases := plot.Align([][]*plot.Plot{plots}, draw.Tiles{Rows: 1, Cols: len(plots),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(6), PadRight: vg.Points(10), PadX: vg.Points(14)}, body)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}

	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}

// cdf is the empirical distribution of ms as a step line starting at
// xmin: at x, the fraction of samples ≤ x.
func cdf(ms []float64, xmin float64) plotter.XYs {
	s := slices.Clone(ms)
	slices.Sort(s)
	xy := plotter.XYs{{X: xmin, Y: 0}}
	for i, v := range s {
		v = max(v, xmin)
		xy = append(xy, plotter.XY{X: v, Y: float64(i) / float64(len(s))}, plotter.XY{X: v, Y: float64(i+1) / float64(len(s))})
	}
	return xy
}

// timeTicks marks a log-scaled axis in milliseconds with durations at
// every decade (1µs, 10µs, … 100ms) and minor ticks between.
func timeTicks(xmin, xmax float64) plot.ConstantTicks {
	var ts plot.ConstantTicks
	for d := xmin; d <= xmax*1.0001; d *= 10 {
		ts = append(ts, plot.Tick{Value: d, Label: time.Duration(d * 1e6).String()})
		for m := 2.0; m < 10 && d*m <= xmax; m++ {
			ts = append(ts, plot.Tick{Value: d * m})
		}
	}
	return ts
}

// wrap breaks text into lines, at spaces, no wider than width in sty.
func wrap(sty draw.TextStyle, text string, width vg.Length) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if next := strings.TrimSpace(line + " " + word); line == "" || sty.Width(next) <= width {
			line = next
			continue
		}
		lines = append(lines, line)
		line = word
	}
	return append(lines, line)
}
