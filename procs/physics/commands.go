package physics

import (
	"fmt"
	"math"
)

// burstSpeed is the largest speed (px/s) of a body made by SpawnBurst.
const burstSpeed = 300

// Spawn adds a body of radius r at (x, y) with velocity (vx, vy). The
// position must lie inside the world (the body is then moved in far enough
// to fit), r must be in [MinRadius, MaxRadius] and the speed at most
// Params.MaxSpeed. On error nothing changes.
func (w *World) Spawn(x, y, vx, vy, r float32) error {
	if err := w.room(1); err != nil {
		return err
	}
	if err := w.checkSpawn(x, y, vx, vy, r); err != nil {
		return err
	}
	w.add(x, y, vx, vy, r)
	return nil
}

// checkSpawn checks Spawn's values against the world (not the room): a
// region not holding x checks them too, so every region answers alike.
func (w *World) checkSpawn(x, y, vx, vy, r float32) error {
	if err := w.checkInside(x, y); err != nil {
		return err
	}
	if !inRange(r, MinRadius, MaxRadius) {
		return fmt.Errorf("%w: radius %v, want [%v, %v]", ErrBadValue, r, MinRadius, MaxRadius)
	}
	if !finite(vx) || !finite(vy) || math.Hypot(float64(vx), float64(vy)) > float64(w.p.MaxSpeed) {
		return fmt.Errorf("%w: velocity (%v, %v), want a speed of at most %v", ErrBadValue, vx, vy, w.p.MaxSpeed)
	}
	return nil
}

// SpawnBurst adds n (1 to MaxBurst) random bodies around (x, y), flying
// outward in random directions, with radii in [SpawnMinR, SpawnMaxR). They
// start spread over a disc sized to hold them, so they do not all begin on
// the same point. Either all n are added or, on error, none.
func (w *World) SpawnBurst(x, y float32, n int) error {
	if n < 1 || n > MaxBurst {
		return fmt.Errorf("%w: burst of %d bodies, want [1, %d]", ErrBadValue, n, MaxBurst)
	}
	if err := w.room(n); err != nil {
		return err
	}
	if err := w.checkInside(x, y); err != nil {
		return err
	}
	spread := w.p.SpawnMaxR * float32(math.Sqrt(float64(n)))
	for range n {
		r := w.randRange(w.p.SpawnMinR, w.p.SpawnMaxR)
		sin, cos := math.Sincos(2 * math.Pi * float64(randFloat(&w.p.RNG)))
		// sqrt of a uniform radius fraction spreads bodies evenly over the
		// disc rather than crowding its centre.
		d := spread * sqrt(randFloat(&w.p.RNG))
		s := burstSpeed * (0.25 + 0.75*randFloat(&w.p.RNG))
		c, si := float32(cos), float32(sin)
		w.add(x+c*d, y+si*d, c*s, si*s, r)
	}
	return nil
}

// Impulse applies the impulse (dx, dy), in mass·px/s, to the body with the
// given ID: its velocity changes by (dx, dy)/Mass, then is limited to
// Params.MaxSpeed. Each component must be finite and within ±MaxImpulse.
func (w *World) Impulse(id uint32, dx, dy float32) error {
	if err := checkImpulse(id, dx, dy); err != nil {
		return err
	}
	i, ok := w.find(id)
	if !ok {
		return fmt.Errorf("%w: impulse on body %d", ErrNotFound, id)
	}
	w.push(&w.bodies[i], dx, dy)
	return nil
}

// checkImpulse checks Impulse's values.
func checkImpulse(id uint32, dx, dy float32) error {
	if !inRange(dx, -MaxImpulse, MaxImpulse) || !inRange(dy, -MaxImpulse, MaxImpulse) {
		return fmt.Errorf("%w: impulse (%v, %v) on body %d, want each component within ±%v", ErrBadValue, dx, dy, id, MaxImpulse)
	}
	return nil
}

// push applies the impulse (dx, dy) to b.
func (w *World) push(b *Body, dx, dy float32) {
	b.VX, b.VY = limit(b.VX+dx/b.Mass, b.VY+dy/b.Mass, w.p.MaxSpeed)
}

// Explode pushes every body within radius of (x, y) straight away from it.
// The velocity change is strength (px/s) at the centre and falls linearly to
// zero at radius; a negative strength pulls bodies in. The centre may lie
// outside the world (within ±MaxWorld), radius must be in (0, MaxWorld] and
// |strength| at most Params.MaxSpeed.
func (w *World) Explode(x, y, radius, strength float32) error {
	if !inRange(x, -MaxWorld, MaxWorld) || !inRange(y, -MaxWorld, MaxWorld) {
		return fmt.Errorf("%w: explosion at (%v, %v), want each coordinate within ±%v", ErrBadValue, x, y, MaxWorld)
	}
	if !(radius > 0) || radius > MaxWorld {
		return fmt.Errorf("%w: explosion radius %v, want (0, %v]", ErrBadValue, radius, MaxWorld)
	}
	if !inRange(strength, -w.p.MaxSpeed, w.p.MaxSpeed) {
		return fmt.Errorf("%w: explosion strength %v, want within ±%v", ErrBadValue, strength, w.p.MaxSpeed)
	}
	r2 := radius * radius
	for i := range w.bodies {
		b := &w.bodies[i]
		dx, dy := b.X-x, b.Y-y
		d2 := dx*dx + dy*dy
		if d2 >= r2 {
			continue
		}
		// A body exactly at the centre has no direction; send it up.
		nx, ny, d := float32(0), float32(-1), float32(0)
		if d2 > 0 {
			d = sqrt(d2)
			nx, ny = dx/d, dy/d
		}
		k := strength * (1 - d/radius)
		b.VX, b.VY = limit(b.VX+nx*k, b.VY+ny*k, w.p.MaxSpeed)
	}
	return nil
}

// Clear removes every body. IDs are not reused afterwards, so a stale ID
// held by another process can never name a new body.
func (w *World) Clear() {
	w.bodies = w.bodies[:0]
}

// SetGravity sets the gravity, in px/s²; each component must be finite and
// within ±MaxGravity.
func (w *World) SetGravity(gx, gy float32) error {
	if !inRange(gx, -MaxGravity, MaxGravity) || !inRange(gy, -MaxGravity, MaxGravity) {
		return fmt.Errorf("%w: gravity (%v, %v), want each component within ±%v", ErrBadValue, gx, gy, MaxGravity)
	}
	w.p.GravityX, w.p.GravityY = gx, gy
	return nil
}

// room reports whether n more bodies fit, in count and in IDs.
func (w *World) room(n int) error {
	if len(w.bodies)+n > MaxBodies {
		return fmt.Errorf("%w: %d + %d would exceed %d", ErrTooMany, len(w.bodies), n, MaxBodies)
	}
	if uint64(w.p.NextID)+uint64(n)*uint64(w.step()) > math.MaxUint32 {
		return fmt.Errorf("%w: body IDs exhausted", ErrTooMany)
	}
	return nil
}

// checkInside reports whether (x, y) lies inside the world.
func (w *World) checkInside(x, y float32) error {
	if !inRange(x, 0, w.p.Width) || !inRange(y, 0, w.p.Height) {
		return fmt.Errorf("%w: position (%v, %v) outside the %v×%v world", ErrBadValue, x, y, w.p.Width, w.p.Height)
	}
	return nil
}
