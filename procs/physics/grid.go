package physics

import "math"

// maxCells bounds the grid's size for huge worlds of tiny bodies; the cell
// grows instead.
const maxCells = 1 << 20

// pair is two overlapping bodies, as indexes into World.bodies.
type pair struct{ a, b int32 }

// slot is a body's copy in the grid: what the pair search reads, packed and
// ordered by cell so the search walks memory in order.
type slot struct {
	x, y, r float32
	i       int32 // index in World.bodies
}

// grid is a uniform-grid broad phase rebuilt every step by a counting sort:
// each body sits in the one cell that holds its centre. Its buffers are kept
// between steps, so rebuilding allocates nothing once they have grown.
//
// Bodies up to radius small (nearly all of them) take the fast path: the
// cell side is 2·small, so such a body can only touch bodies in its own cell
// and the 8 around it, and each pair of neighbouring cells is visited once.
// The few bodies larger than that search a wider window themselves, so one
// big body does not coarsen the grid for everyone.
type grid struct {
	small      float32 // radius limit of the fast path, px
	cell       float32 // cell side, px, ≥ 2·small
	inv        float32 // 1 / cell
	cols, rows int32
	start      []int32 // cell c holds slots[start[c]:start[c+1]]
	slots      []slot  // bodies grouped by cell, by index within a cell
	cellOf     []int32 // the cell of each body
	large      []int32 // indexes of bodies larger than small, ascending
}

// build sorts the bodies into cells. The fast-path limit is the largest
// radius not above twice the mean radius: all of a uniform mix, and all but
// the outliers of a mix with a few big bodies.
func (g *grid) build(bodies []Body, width, height float32) {
	n := len(bodies)
	var sum float64
	for i := range bodies {
		sum += float64(bodies[i].R)
	}
	small := float32(0.5)
	if n > 0 {
		limit := float32(2 * sum / float64(n))
		for i := range bodies {
			if r := bodies[i].R; r <= limit && r > small {
				small = r
			}
		}
	}
	cell := 2 * small
	if float64(width)*float64(height)/(float64(cell)*float64(cell)) > maxCells {
		cell = float32(math.Sqrt(float64(width) * float64(height) / maxCells))
	}
	g.small = small
	g.cell = cell
	g.inv = 1 / cell
	g.cols = max(1, int32(math.Ceil(float64(width*g.inv))))
	g.rows = max(1, int32(math.Ceil(float64(height*g.inv))))
	cells := int(g.cols * g.rows)

	g.start = resize(g.start, cells+1)
	clear(g.start)
	g.slots = resize(g.slots, n)
	g.cellOf = resize(g.cellOf, n)
	g.large = g.large[:0]
	for i := range bodies {
		b := &bodies[i]
		cx, cy := g.coords(b.X, b.Y)
		c := cy*g.cols + cx
		g.cellOf[i] = c
		g.start[c+1]++
		if b.R > small {
			g.large = append(g.large, int32(i))
		}
	}
	// Counting sort, in place: after the prefix sum start[c] is where cell
	// c begins; placing bodies advances start[c] to where it ends (the
	// next cell's beginning), and the final shift restores the beginnings.
	for c := 1; c <= cells; c++ {
		g.start[c] += g.start[c-1]
	}
	for i := range bodies {
		b := &bodies[i]
		c := g.cellOf[i]
		g.slots[g.start[c]] = slot{b.X, b.Y, b.R, int32(i)}
		g.start[c]++
	}
	for c := cells; c > 0; c-- {
		g.start[c] = g.start[c-1]
	}
	g.start[0] = 0
}

// coords returns the cell column and row holding (x, y), clamped to the
// grid so a body just outside the world still lands in a cell.
func (g *grid) coords(x, y float32) (int32, int32) {
	cx := int32(clamp(x*g.inv, 0, float32(g.cols-1)))
	cy := int32(clamp(y*g.inv, 0, float32(g.rows-1)))
	return cx, cy
}

// gridPairs collects the overlapping pairs through the grid, in an order
// that depends only on the bodies (cell by cell, then the large bodies by
// index), which is what keeps the solver deterministic.
func (w *World) gridPairs() {
	if len(w.bodies) < 2 {
		// No pair: skip the grid, whose cells for an empty world are
		// of the smallest radius (a region whose bodies all left
		// would sweep a million of them every step).
		w.pairs = w.pairs[:0]
		return
	}
	g := &w.grid
	g.build(w.bodies, w.p.Width, w.p.Height)
	w.pairs = w.pairs[:0]
	small := g.small
	cols := g.cols
	for c := int32(0); c < cols*g.rows; c++ {
		cx, cy := c%cols, c/cols
		// The cells after c that its bodies can touch, as two runs of
		// consecutive slots: the rest of c with its right neighbour, and
		// the three cells below. Cells above and to the left visit c.
		end1 := g.start[c+1]
		if cx+1 < cols {
			end1 = g.start[c+2]
		}
		var lo2, hi2 int32
		if cy+1 < g.rows {
			below := c + cols
			lo2 = g.start[below-min(cx, 1)]
			hi2 = g.start[below+min(cols-1-cx, 1)+1]
		}
		for k := g.start[c]; k < g.start[c+1]; k++ {
			s := g.slots[k]
			if s.r > small {
				continue // large bodies search for themselves
			}
			w.pairs = appendOverlaps(w.pairs, s, g.slots[k+1:end1], small)
			w.pairs = appendOverlaps(w.pairs, s, g.slots[lo2:hi2], small)
		}
	}
	bodies := w.bodies
	for _, i := range g.large {
		bi := &bodies[i]
		// floor+1 rather than ceil: a spare cell when 2r is a whole number
		// of cells guards against rounding in the cell coordinates.
		reach := int32(2*bi.R*g.inv) + 1
		c := g.cellOf[i]
		cx, cy := c%cols, c/cols
		x0, x1 := max(cx-reach, 0), min(cx+reach, cols-1)
		y0, y1 := max(cy-reach, 0), min(cy+reach, g.rows-1)
		for y := y0; y <= y1; y++ {
			row := y * cols
			for _, s := range g.slots[g.start[row+x0]:g.start[row+x1+1]] {
				// Small partners are all found here. Of two large
				// bodies, the larger (or on a tie, the lower index)
				// tests the pair, whose other centre then lies within
				// 2r: inside the window.
				if s.r > small && (s.r > bi.R || (s.r == bi.R && s.i <= i)) {
					continue
				}
				dx, dy := s.x-bi.X, s.y-bi.Y
				rr := bi.R + s.r
				if dx*dx+dy*dy < rr*rr {
					w.pairs = append(w.pairs, pair{i, s.i})
				}
			}
		}
	}
}

// appendOverlaps appends the pairs that s makes with the small bodies in
// run.
func appendOverlaps(pairs []pair, s slot, run []slot, small float32) []pair {
	for _, t := range run {
		dx, dy := t.x-s.x, t.y-s.y
		rr := s.r + t.r
		if dx*dx+dy*dy < rr*rr && t.r <= small {
			pairs = append(pairs, pair{s.i, t.i})
		}
	}
	return pairs
}
