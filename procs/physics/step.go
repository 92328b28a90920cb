package physics

import "math"

// Collision solver tuning.
const (
	// correctPercent is the share of an overlap removed per solver pass;
	// removing all of it at once makes piles jitter.
	correctPercent = 0.8
	// slop is the overlap (px) left alone, so resting bodies do not push
	// each other apart every step.
	slop = 0.05
	// maxCells bounds the grid's size for huge worlds of tiny bodies; the
	// cell grows instead.
	maxCells = 1 << 20
)

// pair is two overlapping bodies, as indexes into World.bodies.
type pair struct{ a, b int32 }

// grid is a uniform-grid broad phase rebuilt every step with a counting
// sort: each body sits in the one cell holding its centre. Its buffers are
// kept between steps.
type grid struct {
	cell       float32 // cell side, px
	inv        float32 // 1 / cell
	cols, rows int32
	start      []int32 // cell c holds items[start[c]:start[c+1]]
	items      []int32 // body indexes grouped by cell, ascending within one
	cellOf     []int32 // the cell of each body
}

// Step advances the world by dt seconds: semi-implicit Euler under gravity,
// walls, then collisions. A dt that is NaN or not positive does nothing; a
// dt over MaxDT is shortened to MaxDT, because larger steps let bodies pass
// through each other.
func (w *World) Step(dt float64) {
	if !(dt > 0) {
		return
	}
	dt = min(dt, MaxDT)
	h := float32(dt)
	p := &w.p
	gx, gy := p.GravityX*h, p.GravityY*h
	// Bounces slower than what gravity adds in about two steps are damped
	// to rest, so bodies lying on the floor or on each other stay still
	// instead of hopping forever.
	rest := 2*sqrt(p.GravityX*p.GravityX+p.GravityY*p.GravityY)*h + 1

	for i := range w.bodies {
		b := &w.bodies[i]
		b.Flags &^= FlagContact
		b.VX, b.VY = limit(b.VX+gx, b.VY+gy, p.MaxSpeed)
		b.X += b.VX * h
		b.Y += b.VY * h
		w.wall(b, rest)
	}

	if w.naive {
		w.naivePairs()
	} else {
		w.gridPairs()
	}
	w.solve(rest)
	// Positional correction can push a body out of the world; put it back.
	for i := range w.bodies {
		w.wall(&w.bodies[i], rest)
	}
	p.Steps++
}

// wall keeps b inside the world, bouncing it off the wall it crossed.
func (w *World) wall(b *Body, rest float32) {
	e := w.p.Restitution
	if b.X < b.R {
		b.X = b.R
		if b.VX < 0 {
			b.VX = bounce(b.VX, e, rest)
		}
	} else if hi := w.p.Width - b.R; b.X > hi {
		b.X = hi
		if b.VX > 0 {
			b.VX = bounce(b.VX, e, rest)
		}
	}
	if b.Y < b.R {
		b.Y = b.R
		if b.VY < 0 {
			b.VY = bounce(b.VY, e, rest)
		}
	} else if hi := w.p.Height - b.R; b.Y > hi {
		b.Y = hi
		if b.VY > 0 {
			b.VY = bounce(b.VY, e, rest)
		}
	}
}

// bounce reflects velocity component v off a wall with restitution e, or
// stops it if it is slower than rest.
func bounce(v, e, rest float32) float32 {
	if v > -rest && v < rest {
		return 0
	}
	return -v * e
}

// build sorts the bodies into grid cells. The cell side is twice the mean
// radius, so a typical body overlaps only bodies in the 3×3 cells around its
// own; gridPairs handles larger bodies with a wider search, so one big body
// does not coarsen the grid for everyone.
func (g *grid) build(bodies []Body, width, height float32) {
	n := len(bodies)
	var sum float64
	for i := range bodies {
		sum += float64(bodies[i].R)
	}
	cell := float32(1)
	if n > 0 {
		cell = max(cell, float32(2*sum/float64(n)))
	}
	if float64(width)*float64(height)/(float64(cell)*float64(cell)) > maxCells {
		cell = float32(math.Sqrt(float64(width) * float64(height) / maxCells))
	}
	g.cell = cell
	g.inv = 1 / cell
	g.cols = max(1, int32(math.Ceil(float64(width*g.inv))))
	g.rows = max(1, int32(math.Ceil(float64(height*g.inv))))
	cells := int(g.cols * g.rows)

	g.start = resize(g.start, cells+1)
	clear(g.start)
	g.items = resize(g.items, n)
	g.cellOf = resize(g.cellOf, n)
	for i := range bodies {
		cx, cy := g.coords(bodies[i].X, bodies[i].Y)
		c := cy*g.cols + cx
		g.cellOf[i] = c
		g.start[c+1]++
	}
	// Counting sort, in place: after the prefix sum start[c] is where cell
	// c begins; placing bodies advances start[c] to where it ends (the
	// next cell's beginning), and the final shift restores the beginnings.
	for c := 1; c <= cells; c++ {
		g.start[c] += g.start[c-1]
	}
	for i := range bodies {
		c := g.cellOf[i]
		g.items[g.start[c]] = int32(i)
		g.start[c]++
	}
	for c := cells; c > 0; c-- {
		g.start[c] = g.start[c-1]
	}
	g.start[0] = 0
}

// coords returns the cell column and row holding (x, y), clamped to the
// grid so a body just outside the world (or a stray value) still lands in a
// cell.
func (g *grid) coords(x, y float32) (int32, int32) {
	cx := int32(clamp(x*g.inv, 0, float32(g.cols-1)))
	cy := int32(clamp(y*g.inv, 0, float32(g.rows-1)))
	return cx, cy
}

// gridPairs collects the overlapping pairs through the grid. Each pair is
// tested once, by its larger body (the lower index on a tie): the smaller
// body's centre then lies within twice the larger radius, which bounds how
// many cells the larger body must search.
func (w *World) gridPairs() {
	bodies := w.bodies
	g := &w.grid
	g.build(bodies, w.p.Width, w.p.Height)
	w.pairs = w.pairs[:0]
	for i := range bodies {
		bi := &bodies[i]
		ri := bi.R
		// floor+1 rather than ceil: one spare cell when 2r is a whole
		// number of cells guards against rounding in the cell coordinates.
		reach := int32(2*ri*g.inv) + 1
		c := g.cellOf[i]
		cx, cy := c%g.cols, c/g.cols
		x0, x1 := max(cx-reach, 0), min(cx+reach, g.cols-1)
		y0, y1 := max(cy-reach, 0), min(cy+reach, g.rows-1)
		for y := y0; y <= y1; y++ {
			row := y * g.cols
			for k := g.start[row+x0]; k < g.start[row+x1+1]; k++ {
				j := g.items[k]
				bj := &bodies[j]
				if bj.R > ri || (bj.R == ri && int(j) <= i) {
					continue
				}
				dx, dy := bj.X-bi.X, bj.Y-bi.Y
				rr := ri + bj.R
				if dx*dx+dy*dy < rr*rr {
					w.pairs = append(w.pairs, pair{int32(i), j})
				}
			}
		}
	}
}

// naivePairs collects the overlapping pairs by testing every pair: the
// O(n²) baseline.
func (w *World) naivePairs() {
	bodies := w.bodies
	w.pairs = w.pairs[:0]
	for i := range bodies {
		bi := &bodies[i]
		for j := i + 1; j < len(bodies); j++ {
			bj := &bodies[j]
			dx, dy := bj.X-bi.X, bj.Y-bi.Y
			rr := bi.R + bj.R
			if dx*dx+dy*dy < rr*rr {
				w.pairs = append(w.pairs, pair{int32(i), int32(j)})
			}
		}
	}
}

// solve resolves the collected pairs, in order, Params.Iterations times:
// push overlapping bodies apart in proportion to their inverse masses, then
// apply an impulse along the normal if they approach. Positions are re-read
// every time (Gauss–Seidel), so a pass sees the corrections made before it.
func (w *World) solve(rest float32) {
	e := w.p.Restitution
	bodies := w.bodies
	for range w.p.Iterations {
		for _, pr := range w.pairs {
			a, b := &bodies[pr.a], &bodies[pr.b]
			dx, dy := b.X-a.X, b.Y-a.Y
			rr := a.R + b.R
			d2 := dx*dx + dy*dy
			if d2 >= rr*rr {
				continue
			}
			a.Flags |= FlagContact
			b.Flags |= FlagContact
			// Coincident centres have no normal; any fixed one keeps the
			// result deterministic.
			nx, ny, d := float32(1), float32(0), float32(0)
			if d2 > 0 {
				d = sqrt(d2)
				nx, ny = dx/d, dy/d
			}
			ima, imb := 1/a.Mass, 1/b.Mass
			ims := ima + imb
			if pen := rr - d; pen > slop {
				k := (pen - slop) * correctPercent / ims
				a.X -= nx * k * ima
				a.Y -= ny * k * ima
				b.X += nx * k * imb
				b.Y += ny * k * imb
			}
			vn := (b.VX-a.VX)*nx + (b.VY-a.VY)*ny
			if vn >= 0 {
				continue // already separating
			}
			ee := e
			if vn > -rest {
				ee = 0
			}
			j := -(1 + ee) * vn / ims
			a.VX -= j * nx * ima
			a.VY -= j * ny * ima
			b.VX += j * nx * imb
			b.VY += j * ny * imb
		}
	}
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
