package ai

import "math"

// bins is a uniform grid of points (bodies or agents) rebuilt every step by
// a counting sort, so neighbour queries look at a few cells instead of every
// point. Its buffers are kept between steps.
type bins struct {
	cell, inv  float32 // cell side and its inverse, px
	cols, rows int32
	start      []int32 // cell c holds items[start[c]:start[c+1]]
	items      []int32 // point indexes grouped by cell, ascending within one
	cellOf     []int32 // the cell of each point, -1 if it was skipped
}

// begin starts a rebuild for n points in a width×height world.
func (g *bins) begin(width, height, cell float32, n int) {
	// Keep the grid small whatever the configuration: a cell count far
	// beyond the number of points only costs time to clear.
	const maxCells = 1 << 16
	if float64(width)*float64(height)/(float64(cell)*float64(cell)) > maxCells {
		cell = float32(math.Sqrt(float64(width) * float64(height) / maxCells))
	}
	g.cell = cell
	g.inv = 1 / cell
	g.cols = max(1, int32(math.Ceil(float64(width*g.inv))))
	g.rows = max(1, int32(math.Ceil(float64(height*g.inv))))
	g.start = resize(g.start, int(g.cols*g.rows)+1)
	clear(g.start)
	g.cellOf = resize(g.cellOf, n)
}

// put files point i at (x, y).
func (g *bins) put(i int, x, y float32) {
	cx, cy := g.coords(x, y)
	c := cy*g.cols + cx
	g.cellOf[i] = c
	g.start[c+1]++
}

// skip leaves point i out of the grid.
func (g *bins) skip(i int) { g.cellOf[i] = -1 }

// finish completes the rebuild once every point was put or skipped.
func (g *bins) finish() {
	cells := len(g.start) - 1
	for c := 1; c <= cells; c++ {
		g.start[c] += g.start[c-1]
	}
	g.items = resize(g.items, int(g.start[cells]))
	// start[c] runs from the beginning of cell c to its end while the
	// points are placed; the shift then restores the beginnings.
	for i, c := range g.cellOf {
		if c >= 0 {
			g.items[g.start[c]] = int32(i)
			g.start[c]++
		}
	}
	for c := cells; c > 0; c-- {
		g.start[c] = g.start[c-1]
	}
	g.start[0] = 0
}

// coords returns the cell column and row holding (x, y), clamped to the
// grid: a point outside the world files under the nearest edge cell.
func (g *bins) coords(x, y float32) (int32, int32) {
	cx := int32(clampf(x*g.inv, 0, float32(g.cols-1)))
	cy := int32(clampf(y*g.inv, 0, float32(g.rows-1)))
	return cx, cy
}

// window returns the cell ranges [x0, x1] × [y0, y1] covering the square
// around (x, y) of half-side r.
func (g *bins) window(x, y, r float32) (x0, x1, y0, y1 int32) {
	x0, y0 = g.coords(x-r, y-r)
	x1, y1 = g.coords(x+r, y+r)
	return
}

// row returns the points in cells x0..x1 of row y: consecutive cells of a
// row are consecutive in items.
func (g *bins) row(y, x0, x1 int32) []int32 {
	base := y * g.cols
	return g.items[g.start[base+x0]:g.start[base+x1+1]]
}

// clampf limits f to [lo, hi]; it maps NaN to lo.
func clampf(f, lo, hi float32) float32 {
	if !(f >= lo) {
		return lo
	}
	return min(f, hi)
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
