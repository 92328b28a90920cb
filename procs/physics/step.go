package physics

// Collision solver tuning.
const (
	// correctPercent is the share of an overlap removed per solver pass;
	// removing all of it at once makes piles jitter.
	correctPercent = 0.8
	// slop is the overlap (px) left alone, so resting bodies do not push
	// each other apart every step.
	slop = 0.05
)

// Step advances the world by dt seconds. A dt that is NaN or not positive
// does nothing; a dt over MaxDT is shortened to MaxDT, because larger steps
// let bodies pass through each other.
//
// Bodies move by semi-implicit Euler under gravity and bounce off the walls;
// the grid finds the overlapping pairs; Params.Iterations solver passes
// push them apart and exchange impulses; last, absorb takes out of each
// velocity what the solver's pushes undid, so piles come to rest.
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

	// Ghosts (SetGhosts) ride behind the World's own bodies for the
	// pair search and the solver, with their real masses, so a body at a
	// region's border meets its neighbour's; they are not integrated
	// (their owner steps them) and are cut off again at the end, so only
	// the own bodies' results are kept. Without ghosts this is the
	// single-process step exactly.
	own := len(w.bodies)
	if len(w.ghosts) > 0 {
		w.bodies = append(w.bodies, w.ghosts...)
	}
	w.moved = resize(w.moved, len(w.bodies))
	w.invMass = resize(w.invMass, len(w.bodies))
	for i := range w.bodies[:own] {
		b := &w.bodies[i]
		b.Flags &^= FlagContact
		b.VX, b.VY = limit(b.VX+gx, b.VY+gy, p.MaxSpeed)
		b.X += b.VX * h
		b.Y += b.VY * h
		w.wall(b, rest)
		w.moved[i] = [2]float32{b.X, b.Y}
		w.invMass[i] = 1 / b.Mass
	}
	for i := own; i < len(w.bodies); i++ {
		b := &w.bodies[i]
		w.moved[i] = [2]float32{b.X, b.Y}
		w.invMass[i] = 1 / b.Mass
	}

	if w.naive {
		w.naivePairs()
	} else {
		w.gridPairs()
	}
	w.solve(rest)
	w.absorb(h, own)
	w.bodies = w.bodies[:own]
	w.ghosts = w.ghosts[:0]
	p.Steps++
}

// wall keeps b inside the world, bouncing it off the wall it crossed.
func (w *World) wall(b *Body, rest float32) {
	e := w.p.Restitution
	// Touching counts as well as crossing: a body resting on the floor must
	// still have its downward velocity stopped there.
	if b.X <= b.R {
		b.X = b.R
		if b.VX < 0 {
			b.VX = bounce(b.VX, e, rest)
		}
	} else if hi := w.p.Width - b.R; b.X >= hi {
		b.X = hi
		if b.VX > 0 {
			b.VX = bounce(b.VX, e, rest)
		}
	}
	if b.Y <= b.R {
		b.Y = b.R
		if b.VY < 0 {
			b.VY = bounce(b.VY, e, rest)
		}
	} else if hi := w.p.Height - b.R; b.Y >= hi {
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
//
// The walls take part in every pass, so the weight of a resting column
// reaches the floor within the step instead of lingering as a downward
// drift in the bodies above it.
func (w *World) solve(rest float32) {
	e := w.p.Restitution
	bodies := w.bodies
	for range w.p.Iterations {
		w.solvePairs(e, rest)
		for i := range bodies {
			w.wall(&bodies[i], rest)
		}
	}
}

// solvePairs is one solver pass over the pairs: push overlapping bodies
// apart in proportion to their inverse masses, then apply an impulse along
// the normal if they approach.
func (w *World) solvePairs(e, rest float32) {
	bodies, im := w.bodies, w.invMass
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
			inv := 1 / d
			nx, ny = dx*inv, dy*inv
		}
		ima, imb := im[pr.a], im[pr.b]
		share := 1 / (ima + imb)
		if pen := rr - d; pen > slop {
			k := (pen - slop) * correctPercent * share
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
		j := -(1 + ee) * vn * share
		a.VX -= j * nx * ima
		a.VY -= j * ny * ima
		b.VX += j * nx * imb
		b.VY += j * ny * imb
	}
}

// absorb removes from each velocity the motion that positional correction
// undid. A body in a resting pile falls a little every step and is pushed
// back up by the solver: its velocity says it is falling while it stands
// still, and that phantom speed grows with the height of the pile. So where
// the solver moved a body against its velocity by c, the velocity loses up
// to |c|/dt along c. This only ever slows a body, so it cannot add energy,
// and a body the solver did not move keeps its velocity. Only the first
// own bodies are the World's (the rest are ghosts, dropped after).
func (w *World) absorb(h float32, own int) {
	inv := 1 / h
	for i := range w.bodies[:own] {
		b := &w.bodies[i]
		cx, cy := b.X-w.moved[i][0], b.Y-w.moved[i][1]
		c2 := cx*cx + cy*cy
		if c2 == 0 {
			continue
		}
		c := sqrt(c2)
		ux, uy := cx/c, cy/c
		along := b.VX*ux + b.VY*uy
		if along >= 0 {
			continue
		}
		cut := min(-along, c*inv)
		b.VX += ux * cut
		b.VY += uy * cut
	}
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
