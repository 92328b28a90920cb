package ai

import (
	"math"

	"github.com/venomrt/venomrt/procs/physics"
)

// Steering tuning.
const (
	bodyCell     = 64  // px, the body grid's cell side
	maxNear      = 32  // neighbours, or threats of each sort, one agent weighs
	wanderTurn   = 4   // rad/s, how fast a wander heading drifts at most
	wanderSpeed  = 0.6 // share of MaxSpeed an agent wanders at
	wallMargin   = 48  // px from a wall where agents start turning away
	sepShare     = 0.5 // flocking: separation acts within this share of ViewRadius
	sepWeight    = 1.5 // and beats alignment and cohesion there
	alignWeight  = 1.0
	cohereWeight = 1.0
	flockWander  = 0.3 // flocks drift as a whole rather than hovering
)

// Step advances the agents by dt seconds against the bodies physics
// published, and returns the pushes to send to physics, at most
// Params.MaxPushes. The returned slice is the World's own and valid until
// the next Step.
//
// Pass nil bodies when physics is down or its snapshot is stale: agents
// then keep moving and seekers wander. Bodies are read, never kept; a body
// with a zero ID, a position far outside the world (or NaN), or an
// implausible radius or mass is ignored. A dt that is NaN or not positive does nothing; a dt over MaxDT is
// shortened to MaxDT.
//
// Every agent steers from the positions all agents had at the start of the
// step, then all move: the result does not depend on which agent steers
// first, except for which seekers get the step's limited pushes (the
// lowest IDs).
func (w *World) Step(dt float64, bodies []physics.Body) []Push {
	w.pushes = w.pushes[:0]
	if !(dt > 0) {
		return w.pushes
	}
	h := float32(min(dt, MaxDT))
	p := &w.p

	g := &w.bodyBins
	g.begin(p.Width, p.Height, bodyCell, len(bodies))
	for i := range bodies {
		if b := &bodies[i]; usable(b) {
			g.put(i, b.X, b.Y)
		} else {
			g.skip(i)
		}
	}
	g.finish()
	n := &w.agentBins
	n.begin(p.Width, p.Height, max(p.ViewRadius, p.FleeRadius), len(w.agents))
	for i := range w.agents {
		n.put(i, w.agents[i].X, w.agents[i].Y)
	}
	n.finish()

	w.acc = resize(w.acc, len(w.agents))
	for i := range w.agents {
		a := &w.agents[i]
		// Every agent draws exactly one number per step, whatever it
		// does, so the PRNG sequence never depends on the bodies.
		a.Heading = wrap(a.Heading + (2*randFloat(&p.RNG)-1)*wanderTurn*h)
		var fx, fy float32
		switch a.Kind {
		case Seeker:
			fx, fy = w.seek(a, bodies)
		case Fleer:
			fx, fy = w.flee(i, bodies)
		case Flocker:
			fx, fy = w.flock(i)
		}
		fx, fy = limit(fx, fy, p.MaxForce)
		wx, wy := w.walls(a)
		w.acc[i] = [2]float32{fx + wx, fy + wy}
	}

	for i := range w.agents {
		a := &w.agents[i]
		a.VX, a.VY = limit(a.VX+w.acc[i][0]*h, a.VY+w.acc[i][1]*h, p.MaxSpeed)
		a.X += a.VX * h
		a.Y += a.VY * h
		// The walls' steering keeps agents off them; this is the hard
		// guarantee.
		if a.X < 0 {
			a.X, a.VX = 0, abs(a.VX)
		} else if a.X > p.Width {
			a.X, a.VX = p.Width, -abs(a.VX)
		}
		if a.Y < 0 {
			a.Y, a.VY = 0, abs(a.VY)
		} else if a.Y > p.Height {
			a.Y, a.VY = p.Height, -abs(a.VY)
		}
		a.Cooldown = max(0, a.Cooldown-h)
	}
	p.Steps++
	return w.pushes
}

// seek steers a toward the nearest body and, when a reaches it, pushes the
// body away along the line between them.
func (w *World) seek(a *Agent, bodies []physics.Body) (float32, float32) {
	var j int
	if w.naive {
		j = nearestNaive(a.X, a.Y, bodies)
	} else {
		j = w.nearest(a.X, a.Y, bodies)
	}
	if j < 0 {
		a.Target = 0
		return w.wander(a, 1)
	}
	b := &bodies[j]
	a.Target = b.ID
	dx, dy := b.X-a.X, b.Y-a.Y
	d := sqrt(dx*dx + dy*dy)
	p := &w.p
	if d <= b.R+p.ReachDist && a.Cooldown <= 0 && len(w.pushes) < int(p.MaxPushes) && p.PushSpeed > 0 {
		nx, ny := unit(dx, dy)
		if nx == 0 && ny == 0 {
			nx, ny = unit(a.VX, a.VY)
		}
		if nx == 0 && ny == 0 {
			nx, ny = 0, -1 // on top of the body and still: knock it up
		}
		// Scale by mass so every body gets the same change of velocity.
		k := p.PushSpeed * b.Mass
		w.pushes = append(w.pushes, Push{BodyID: b.ID, DX: nx * k, DY: ny * k})
		a.Cooldown = p.PushCooldown
	}
	return w.toward(a, dx, dy)
}

// nearest returns the index of the usable body nearest (x, y), or -1 if
// there is none. It searches rings of cells outward and stops once no
// unsearched cell can hold anything nearer. Ties go to the body found
// first, in a fixed cell order, so the answer is deterministic.
func (w *World) nearest(x, y float32, bodies []physics.Body) int {
	g := &w.bodyBins
	if len(g.items) == 0 {
		return -1
	}
	cx, cy := g.coords(x, y)
	best, bestD2 := -1, float32(math.MaxFloat32)
	consider := func(items []int32) {
		for _, j := range items {
			b := &bodies[j]
			dx, dy := b.X-x, b.Y-y
			if d2 := dx*dx + dy*dy; d2 < bestD2 {
				best, bestD2 = int(j), d2
			}
		}
	}
	for ring := int32(0); ring <= max(g.cols, g.rows); ring++ {
		// Every cell of this ring is at least ring-1 whole cells from
		// (x, y) along one axis.
		if gap := float32(ring-1) * g.cell; best >= 0 && gap > 0 && gap*gap >= bestD2 {
			break
		}
		x0, x1 := max(cx-ring, 0), min(cx+ring, g.cols-1)
		for _, yy := range [2]int32{cy - ring, cy + ring} {
			if yy >= 0 && yy < g.rows {
				consider(g.row(yy, x0, x1))
			}
			if ring == 0 {
				break
			}
		}
		for yy := max(cy-ring+1, 0); yy <= min(cy+ring-1, g.rows-1); yy++ {
			for _, xx := range [2]int32{cx - ring, cx + ring} {
				if xx >= 0 && xx < g.cols {
					consider(g.row(yy, xx, xx))
				}
			}
		}
	}
	return best
}

// nearestNaive is nearest by scanning every body: the O(bodies) baseline.
func nearestNaive(x, y float32, bodies []physics.Body) int {
	best, bestD2 := -1, float32(math.MaxFloat32)
	for j := range bodies {
		b := &bodies[j]
		if !usable(b) {
			continue
		}
		dx, dy := b.X-x, b.Y-y
		if d2 := dx*dx + dy*dy; d2 < bestD2 {
			best, bestD2 = j, d2
		}
	}
	return best
}

// flee steers agent i away from the seekers and bodies within FleeRadius,
// nearer ones weighing more; with nothing near it wanders.
func (w *World) flee(i int, bodies []physics.Body) (float32, float32) {
	a := &w.agents[i]
	a.Target = 0
	r := w.p.FleeRadius
	var sx, sy float32
	// away adds the push from a threat at (x, y), if it is near, and
	// reports whether it was.
	away := func(x, y float32) bool {
		dx, dy := a.X-x, a.Y-y
		d2 := dx*dx + dy*dy
		if d2 >= r*r || d2 == 0 {
			return false
		}
		d := sqrt(d2)
		k := (1 - d/r) / d
		sx += dx * k
		sy += dy * k
		return true
	}
	// Threats are weighed in a fixed cell order up to maxNear of each
	// sort, which bounds the cost of a fleer in a crowd.
	count := 0
	n := &w.agentBins
	x0, x1, y0, y1 := n.window(a.X, a.Y, r)
	for y := y0; y <= y1 && count < maxNear; y++ {
		for _, j := range n.row(y, x0, x1) {
			if o := &w.agents[j]; o.Kind == Seeker && away(o.X, o.Y) {
				if count++; count == maxNear {
					break
				}
			}
		}
	}
	count = 0
	g := &w.bodyBins
	x0, x1, y0, y1 = g.window(a.X, a.Y, r)
	for y := y0; y <= y1 && count < maxNear; y++ {
		for _, j := range g.row(y, x0, x1) {
			if away(bodies[j].X, bodies[j].Y) {
				if count++; count == maxNear {
					break
				}
			}
		}
	}
	if sx == 0 && sy == 0 {
		return w.wander(a, 1)
	}
	return w.toward(a, sx, sy)
}

// flock steers flocker i by separation, alignment and cohesion with the
// flockers within ViewRadius; alone, it wanders.
func (w *World) flock(i int) (float32, float32) {
	a := &w.agents[i]
	a.Target = 0
	r := w.p.ViewRadius
	sepR := r * sepShare
	var sepX, sepY, velX, velY, posX, posY float32
	count := 0
	n := &w.agentBins
	x0, x1, y0, y1 := n.window(a.X, a.Y, r)
	for y := y0; y <= y1 && count < maxNear; y++ {
		for _, j := range n.row(y, x0, x1) {
			o := &w.agents[j]
			if int(j) == i || o.Kind != Flocker {
				continue
			}
			dx, dy := a.X-o.X, a.Y-o.Y
			d2 := dx*dx + dy*dy
			if d2 >= r*r {
				continue
			}
			// Separation acts only at close range, or it would outweigh
			// cohesion at any distance and scatter the flock.
			if d2 > 0 && d2 < sepR*sepR {
				// Away, weighted by 1/d: close neighbours repel most.
				sepX += dx / d2
				sepY += dy / d2
			}
			velX += o.VX
			velY += o.VY
			posX += o.X
			posY += o.Y
			if count++; count == maxNear {
				break // enough to steer by; bounds the cost in a crowd
			}
		}
	}
	if count == 0 {
		return w.wander(a, 1)
	}
	k := 1 / float32(count)
	sx, sy := w.toward(a, sepX, sepY)
	ax, ay := w.toward(a, velX, velY)
	cx, cy := w.toward(a, posX*k-a.X, posY*k-a.Y)
	wx, wy := w.wander(a, flockWander)
	return sepWeight*sx + alignWeight*ax + cohereWeight*cx + wx,
		sepWeight*sy + alignWeight*ay + cohereWeight*cy + wy
}

// toward returns the steering that turns a's velocity toward full speed
// along (dx, dy), limited to MaxForce; nothing if (dx, dy) is zero.
func (w *World) toward(a *Agent, dx, dy float32) (float32, float32) {
	nx, ny := unit(dx, dy)
	if nx == 0 && ny == 0 {
		return 0, 0
	}
	v := w.p.MaxSpeed
	return limit(nx*v-a.VX, ny*v-a.VY, w.p.MaxForce)
}

// wander returns the steering toward a's wander heading at wanderSpeed,
// scaled by weight.
func (w *World) wander(a *Agent, weight float32) (float32, float32) {
	sin, cos := math.Sincos(float64(a.Heading))
	v := w.p.MaxSpeed * wanderSpeed
	fx, fy := limit(float32(cos)*v-a.VX, float32(sin)*v-a.VY, w.p.MaxForce)
	return fx * weight, fy * weight
}

// walls returns the steering that turns a away from walls it is near,
// growing from nothing at wallMargin to twice MaxForce at the wall.
func (w *World) walls(a *Agent) (float32, float32) {
	p := &w.p
	f := 2 * p.MaxForce
	push := func(pos, size float32) float32 {
		m := min(wallMargin, size/4)
		var s float32
		if pos < m {
			s += f * (1 - max(pos, 0)/m)
		}
		if far := size - pos; far < m {
			s -= f * (1 - max(far, 0)/m)
		}
		return s
	}
	return push(a.X, p.Width), push(a.Y, p.Height)
}

// unit returns (x, y) scaled to length 1, or (0, 0) if it is zero.
func unit(x, y float32) (float32, float32) {
	l2 := x*x + y*y
	if l2 == 0 {
		return 0, 0
	}
	k := 1 / sqrt(l2)
	return x * k, y * k
}

// wrap brings a heading that drifted just past ±π back into [-π, π].
func wrap(h float32) float32 {
	switch {
	case h > math.Pi:
		return h - 2*math.Pi
	case h < -math.Pi:
		return h + 2*math.Pi
	}
	return h
}

func abs(f float32) float32 { return float32(math.Abs(float64(f))) }
