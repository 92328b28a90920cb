package netproc

import "slices"

// columnCount is how many vertical columns a snapshot's bodies are
// sorted into for the views: a view looks at the columns it overlaps
// only, so a player's small view of a large world costs the bodies near
// it, not the world.
const columnCount = 256

// columns are a snapshot's bodies by column of the world: the indexes of
// column k's bodies are order[start[k]:start[k+1]], each column's in
// ascending index (ID) order.
type columns struct {
	order []int32
	start [columnCount + 1]int32
}

// column is the column of x (px) in a world width px wide; beyond the
// world, the nearest.
func column(x, width float32) int {
	if !(width > 0) {
		return 0
	}
	return min(max(int(x/width*columnCount), 0), columnCount-1)
}

// indexColumns sorts bodies' indexes by column (a counting sort: two
// passes over the bodies).
func indexColumns(bodies []Body, width float32) *columns {
	c := &columns{order: make([]int32, len(bodies))}
	var count [columnCount]int32
	for i := range bodies {
		count[column(px(bodies[i].X), width)]++
	}
	for k := range columnCount {
		c.start[k+1] = c.start[k] + count[k]
	}
	next := c.start
	for i := range bodies {
		k := column(px(bodies[i].X), width)
		c.order[next[k]] = int32(i)
		next[k]++
	}
	return c
}

// nearBody is a body's index and its squared distance from a view's
// centre.
type nearBody struct {
	d2 float32
	i  int32
}

func (a nearBody) less(b nearBody) bool { return a.d2 < b.d2 || (a.d2 == b.d2 && a.i < b.i) }

// nearest moves the k nearest of bs (by d2, then index: the same bodies
// whatever their order) to bs[:k], in no order: a quickselect, linear on
// average, where sorting the view's bodies by distance was most of a
// large view's cost.
func nearest(bs []nearBody, k int) {
	lo, hi := 0, len(bs)-1
	for lo < hi {
		// Median of three as the pivot: bodies come in column order,
		// often nearly sorted by distance in a column.
		mid := lo + (hi-lo)/2
		if bs[mid].less(bs[lo]) {
			bs[mid], bs[lo] = bs[lo], bs[mid]
		}
		if bs[hi].less(bs[lo]) {
			bs[hi], bs[lo] = bs[lo], bs[hi]
		}
		if bs[hi].less(bs[mid]) {
			bs[hi], bs[mid] = bs[mid], bs[hi]
		}
		pivot := bs[mid]
		i, j := lo, hi
		for i <= j {
			for bs[i].less(pivot) {
				i++
			}
			for pivot.less(bs[j]) {
				j--
			}
			if i <= j {
				bs[i], bs[j] = bs[j], bs[i]
				i, j = i+1, j-1
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// covers reports whether v, widened by ViewMargin, holds the whole world
// width×height (the zero View does).
func (v View) covers(width, height float32) bool {
	return v.Whole() || (v.X-ViewMargin <= 0 && v.Y-ViewMargin <= 0 &&
		v.X+v.W+ViewMargin >= width && v.Y+v.H+ViewMargin >= height)
}

// px is a wire fixed-point position in px.
func px(v int32) float32 { return float32(v) / Subpixel }

// inView returns the bodies (in ID order) whose centre lies in view v
// (the zero View: the whole world width×height) widened by ViewMargin,
// at most MaxViewBodies of them: when more are in it, those nearest the
// view's centre.
func inView(bodies []Body, idx *columns, v View, width, height float32) []Body {
	if v.Whole() {
		v = View{W: width, H: height}
	}
	x0, y0 := v.X-ViewMargin, v.Y-ViewMargin
	x1, y1 := v.X+v.W+ViewMargin, v.Y+v.H+ViewMargin
	var picked []int32
	for k := column(x0, width); k <= column(x1, width); k++ {
		for _, i := range idx.order[idx.start[k]:idx.start[k+1]] {
			b := &bodies[i]
			if x, y := px(b.X), px(b.Y); x >= x0 && x < x1 && y >= y0 && y < y1 {
				picked = append(picked, i)
			}
		}
	}
	if len(picked) > MaxViewBodies {
		cx, cy := v.X+v.W/2, v.Y+v.H/2
		near := make([]nearBody, len(picked))
		for j, i := range picked {
			dx, dy := px(bodies[i].X)-cx, px(bodies[i].Y)-cy
			near[j] = nearBody{dx*dx + dy*dy, i}
		}
		nearest(near, MaxViewBodies)
		picked = picked[:MaxViewBodies]
		for j := range picked {
			picked[j] = near[j].i
		}
	}
	slices.Sort(picked) // indexes ascending: IDs ascending
	out := make([]Body, len(picked))
	for j, i := range picked {
		out[j] = bodies[i]
	}
	return out
}
