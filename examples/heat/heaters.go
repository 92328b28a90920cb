package heat

import (
	"fmt"
	"math"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// Limits and constants of the heaters.
const (
	MaxHeaters  = 64   // heaters in one world
	MaxPower    = 2000 // degrees/s a heater gives the cell under it, at most
	MaxSpeed    = 6    // cells/s
	Sense       = 3    // cells: how far around itself a heater samples the grid
	Spacing     = 5    // cells: heaters closer than this push apart
	Setpoint    = 40   // degrees a fresh world's heaters aim at
	MinSetpoint = MinTemp
	MaxSetpoint = 200
)

// The heaters' commands, from engine.OpUser on.
const (
	// OpSpawn adds a heater at x, y (cells, any real in the grid).
	OpSpawn = engine.OpUser + iota
	// OpRemoveAll removes every heater. No arguments.
	OpRemoveAll
	// OpSetpoint sets the temperature the heaters aim at: degrees.
	OpSetpoint
)

// Heater is one mover, an item of the heaters' slice.
type Heater struct {
	ID     uint32  // unique, > 0, ascending
	_      uint32  // padding: the layout is spelled out, not left to the compiler
	X, Y   float32 // position, cells; the grid heats cell (int(X), int(Y))
	VX, VY float32 // velocity, cells/s
	Power  float32 // degrees/s it gives the cell under it, in [0, MaxPower]
	Temp   float32 // the grid's temperature around it, as last read
}

// HeatersMeta is the heaters' process-wide state, the random generator's
// included, so a restarted process continues exactly.
type HeatersMeta struct {
	Seed     uint64  // the seed of the fresh world
	RNG      uint64  // the random generator's state
	GridTick uint64  // tick of the grid's snapshot the last step used (0: none)
	NextID   uint32  // the next heater's ID
	Width    uint32  // cells: the grid's size as last read
	Height   uint32  // cells
	Setpoint float32 // degrees the heaters aim at
}

// HeatersSchema is the shape of the heaters' channel.
var HeatersSchema = engine.MustSchema[HeatersMeta, Heater]()

// Heaters is the heaters' simulation: movers that sample the grid around
// them, steer toward the coldest side, keep apart, and set their power by
// how far the temperature around them is below the setpoint. Like Grid
// it is deterministic for its seed, its commands and its Step inputs.
type Heaters struct {
	m  HeatersMeta
	hs []Heater
}

// NewHeaters places n heaters at random on a w×h grid.
func NewHeaters(seed uint64, n, w, h int) (*Heaters, error) {
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	if n < 0 || n > MaxHeaters {
		return nil, fmt.Errorf("heat: %d heaters, want 0..%d", n, MaxHeaters)
	}
	s := &Heaters{m: HeatersMeta{Seed: seed, RNG: seed, NextID: 1, Width: uint32(w), Height: uint32(h), Setpoint: Setpoint}}
	for range n {
		s.Spawn(s.rand()*float32(w), s.rand()*float32(h))
	}
	return s, nil
}

// RestoreHeaters continues from a snapshot, checking every value.
func RestoreHeaters(m HeatersMeta, hs []Heater) (*Heaters, error) {
	w, h := float32(m.Width), float32(m.Height)
	if err := checkSize(int(m.Width), int(m.Height)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if len(hs) > MaxHeaters {
		return nil, fmt.Errorf("%w: %d heaters, at most %d", ErrSnapshot, len(hs), MaxHeaters)
	}
	if !(m.Setpoint >= MinSetpoint && m.Setpoint <= MaxSetpoint) {
		return nil, fmt.Errorf("%w: setpoint %v, want [%d, %d]", ErrSnapshot, m.Setpoint, MinSetpoint, MaxSetpoint)
	}
	var last uint32
	for i, ht := range hs {
		switch {
		case ht.ID <= last || ht.ID >= m.NextID:
			return nil, fmt.Errorf("%w: heater %d has ID %d after %d (next %d)", ErrSnapshot, i, ht.ID, last, m.NextID)
		case !(ht.X >= 0 && ht.X < w && ht.Y >= 0 && ht.Y < h):
			return nil, fmt.Errorf("%w: heater %d at %v,%v, outside %v×%v", ErrSnapshot, ht.ID, ht.X, ht.Y, w, h)
		case !(math.Abs(float64(ht.VX)) <= MaxSpeed*1.01 && math.Abs(float64(ht.VY)) <= MaxSpeed*1.01):
			return nil, fmt.Errorf("%w: heater %d moves at %v,%v", ErrSnapshot, ht.ID, ht.VX, ht.VY)
		case !(ht.Power >= 0 && ht.Power <= MaxPower) || !(ht.Temp >= MinTemp && ht.Temp <= MaxTemp):
			return nil, fmt.Errorf("%w: heater %d power %v at %v degrees", ErrSnapshot, ht.ID, ht.Power, ht.Temp)
		}
		last = ht.ID
	}
	return &Heaters{m: m, hs: append([]Heater(nil), hs...)}, nil
}

// Meta is the heaters' process-wide state.
func (s *Heaters) Meta() HeatersMeta { return s.m }

// All are the heaters in ID order; the slice is the world's own.
func (s *Heaters) All() []Heater { return s.hs }

// Spawn adds a heater at x, y.
func (s *Heaters) Spawn(x, y float32) error {
	switch {
	case len(s.hs) >= MaxHeaters || s.m.NextID == math.MaxUint32:
		return fmt.Errorf("%w: %d heaters already", engine.ErrBadArg, len(s.hs))
	case !(x >= 0 && x < float32(s.m.Width) && y >= 0 && y < float32(s.m.Height)):
		return fmt.Errorf("%w: heater at %v,%v outside the %d×%d grid", engine.ErrBadArg, x, y, s.m.Width, s.m.Height)
	}
	s.hs = append(s.hs, Heater{ID: s.m.NextID, X: x, Y: y, Temp: Ambient})
	s.m.NextID++
	return nil
}

// RemoveAll removes every heater.
func (s *Heaters) RemoveAll() { s.hs = s.hs[:0] }

// SetSetpoint sets the temperature the heaters aim at.
func (s *Heaters) SetSetpoint(t float32) error {
	if !(t >= MinSetpoint && t <= MaxSetpoint) {
		return fmt.Errorf("%w: setpoint %v, want [%d, %d]", engine.ErrBadArg, t, MinSetpoint, MaxSetpoint)
	}
	s.m.Setpoint = t
	return nil
}

// rand is the next number in [0, 1) of the world's own generator
// (splitmix64), whose state is published with the heaters.
func (s *Heaters) rand() float32 {
	s.m.RNG += 0x9e3779b97f4a7c15
	z := s.m.RNG
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return float32((z^z>>31)>>40) / (1 << 24)
}

// dirs are the eight directions a heater samples the grid in.
var dirs = func() (d [8][2]float32) {
	for i := range d {
		a := float64(i) * math.Pi / 4
		d[i] = [2]float32{float32(math.Cos(a)), float32(math.Sin(a))}
	}
	return d
}()

// Step moves the heaters by dt seconds over the grid's cells (w×h, row
// by row; nil while the grid is down: the heaters then drift on and keep
// their power).
func (s *Heaters) Step(dt float64, w, h int, cells []Cell) {
	dt = min(max(dt, 0), MaxDT)
	haveGrid := cells != nil && checkSize(w, h) == nil && len(cells) == w*h
	if haveGrid {
		s.m.Width, s.m.Height = uint32(w), uint32(h)
	}
	fw, fh := float32(s.m.Width), float32(s.m.Height)
	at := func(x, y float32) float32 {
		cx, cy := min(max(int(x), 0), w-1), min(max(int(y), 0), h-1)
		return cells[cy*w+cx].T
	}
	for i := range s.hs {
		ht := &s.hs[i]
		var ax, ay float32
		if haveGrid {
			// The coldest of eight samples around it is where to go; their
			// mean is the temperature it regulates.
			coldest, sum := 0, float32(0)
			var temps [8]float32
			for d, v := range dirs {
				temps[d] = at(ht.X+Sense*v[0], ht.Y+Sense*v[1])
				sum += temps[d]
				if temps[d] < temps[coldest] {
					coldest = d
				}
			}
			ht.Temp = sum / 8
			ht.Power = MaxPower * min(max((s.m.Setpoint-ht.Temp)/20, 0), 1)
			ax, ay = dirs[coldest][0]*MaxSpeed, dirs[coldest][1]*MaxSpeed
		} else {
			ax, ay = ht.VX, ht.VY
		}
		// Keep apart from the others, and wander a little.
		for j := range s.hs {
			o := &s.hs[j]
			dx, dy := ht.X-o.X, ht.Y-o.Y
			if d := float32(math.Sqrt(float64(dx*dx + dy*dy))); j != i && d < Spacing && d > 1e-3 {
				push := MaxSpeed * 2 * (1 - d/Spacing) / d
				ax, ay = ax+dx*push, ay+dy*push
			}
		}
		ax += (s.rand()*2 - 1) * MaxSpeed / 2
		ay += (s.rand()*2 - 1) * MaxSpeed / 2
		// Steer: velocity eases toward the wish, capped at MaxSpeed.
		f := float32(min(2*dt, 1))
		ht.VX += (ax - ht.VX) * f
		ht.VY += (ay - ht.VY) * f
		if v := float32(math.Sqrt(float64(ht.VX*ht.VX + ht.VY*ht.VY))); v > MaxSpeed {
			ht.VX, ht.VY = ht.VX*MaxSpeed/v, ht.VY*MaxSpeed/v
		}
		ht.X, ht.VX = bounce(ht.X+ht.VX*float32(dt), ht.VX, fw)
		ht.Y, ht.VY = bounce(ht.Y+ht.VY*float32(dt), ht.VY, fh)
	}
}

// bounce keeps a coordinate in [0, size), turning the velocity back at
// an edge.
func bounce(p, v, size float32) (float32, float32) {
	switch {
	case p < 0:
		return min(-p, size*0.999), -v
	case p >= size:
		return max(size*0.999-(p-size), 0), -v
	}
	return p, v
}

// HeatersProc is the heaters' process: Heaters on engine.Run, reading
// the grid's slice every tick.
type HeatersProc struct {
	Seed          uint64 // of a fresh world
	N             int    // heaters in a fresh world
	Width, Height int    // of a fresh world, until the grid is read
	Grid          string // the grid's channel ("" for none)

	s    *Heaters
	grid *engine.Follower[GridMeta, Cell]
}

// Restore resumes from the last snapshot, or places N heaters.
func (p *HeatersProc) Restore(f *engine.Frame[HeatersMeta, Heater]) error {
	if p.grid == nil && p.Grid != "" {
		p.grid = engine.Follow(p.Grid, GridSchema, engine.FollowOptions{})
	}
	var err error
	if f == nil {
		p.s, err = NewHeaters(p.Seed, p.N, p.Width, p.Height)
	} else {
		p.s, err = RestoreHeaters(f.Meta, f.Items)
	}
	return err
}

// Handle applies one of the heaters' commands; anything else is an error
// the engine counts in Header.Dropped.
func (p *HeatersProc) Handle(c engine.Command) error {
	n, ok := heaterArgs[c.Op]
	switch {
	case !ok:
		return fmt.Errorf("%w: %d is not a heaters op", engine.ErrUnknownOp, c.Op)
	case c.Argc != n:
		return fmt.Errorf("%w: op %d wants %d arguments, got %d", engine.ErrBadCommand, c.Op, n, c.Argc)
	}
	switch c.Op {
	case OpSpawn:
		return p.s.Spawn(float32(c.Args[0]), float32(c.Args[1]))
	case OpRemoveAll:
		p.s.RemoveAll()
		return nil
	}
	return p.s.SetSetpoint(float32(c.Args[0]))
}

// heaterArgs is how many arguments each heaters op takes.
var heaterArgs = map[engine.Op]int{OpSpawn: 2, OpRemoveAll: 0, OpSetpoint: 1}

// Step reads the grid's newest snapshot and steers by it; with the grid
// down (its slice stale) the heaters drift.
func (p *HeatersProc) Step(dt time.Duration) {
	g := p.grid
	if g != nil && g.Poll() == engine.FollowLive {
		p.s.m.GridTick = g.Cur.Tick
		p.s.Step(dt.Seconds(), int(g.Cur.Meta.Width), int(g.Cur.Meta.Height), g.Cur.Items)
		return
	}
	p.s.Step(dt.Seconds(), 0, 0, nil)
}

// Snapshot publishes the meta and every heater.
func (p *HeatersProc) Snapshot(m *HeatersMeta, items []Heater) []Heater {
	*m = p.s.Meta()
	return append(items, p.s.All()...)
}

// Close lets go of the grid's channel.
func (p *HeatersProc) Close() {
	if p.grid != nil {
		p.grid.Close()
	}
}
