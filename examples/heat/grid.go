package heat

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// Limits on what the grid accepts. Commands and snapshots come from other
// processes, so every value is checked against them before use.
const (
	MinSide   = 4         // cells, the narrowest grid
	MaxSide   = 512       // cells, the widest or tallest grid
	MaxCells  = 512 * 512 // cells in one grid: a snapshot of 1 MiB
	MinTemp   = -100      // degrees; colder cells are clamped to it
	MaxTemp   = 1000      // degrees; hotter cells are clamped to it
	MaxHeat   = 1000      // degrees, the largest |amount| of one heat command
	MaxRadius = 16        // cells, the largest radius of one heat command
	MaxDT     = 0.1       // s; a longer step is shortened to this
)

// The grid's physics: every cell relaxes toward Ambient, and heat spreads
// to the four neighbours (the grid's edges are insulated).
const (
	Ambient   = 10   // degrees of a fresh grid, and what cells cool to
	Diffusion = 8    // cells²/s
	Cooling   = 0.05 // 1/s
)

// The grid's commands, from engine.OpUser on. Arguments are float64s;
// cell coordinates must be whole numbers.
const (
	// OpHeat adds amount degrees to the cells within radius of cell
	// (x, y): x, y, amount[, radius] (default radius 0: the one cell).
	// A negative amount cools.
	OpHeat = engine.OpUser + iota
	// OpClear sets every cell back to Ambient. No arguments.
	OpClear
)

// ErrSnapshot is a snapshot Restore refuses: the engine then starts the
// process fresh instead of resuming garbage.
var ErrSnapshot = errors.New("heat: bad snapshot")

// Cell is one grid cell, an item of the grid's slice.
type Cell struct {
	T float32 // temperature, degrees, in [MinTemp, MaxTemp]
}

// GridMeta is the grid's process-wide state, published before the cells.
// It is fixed-layout (only fixed-size numbers), like every slice type:
// the engine refuses pointers, strings, slices, maps, bools and ints.
type GridMeta struct {
	Seed        uint64  // the seed of the fresh grid
	Heats       uint64  // heat commands applied since the grid began
	HeatersTick uint64  // tick of the heaters' snapshot the last step used (0: none)
	HeatIn      float64 // sum of the amounts of the heat commands applied
	Width       uint32  // cells
	Height      uint32  // cells
	Mean        float32 // mean temperature, for readers (recomputed on restore)
	Max         float32 // hottest cell, for readers (recomputed on restore)
}

// GridSchema is the shape of the grid's channel.
var GridSchema = engine.MustSchema[GridMeta, Cell]()

// Grid is the grid's simulation, with no process around it: a
// temperature field that diffuses, cools and takes the heaters' power.
// It is deterministic: the same seed, commands and Step inputs give
// bit-identical cells (on one binary and architecture); it never reads
// the clock and keeps no state outside GridMeta and the cells.
type Grid struct {
	m           GridMeta
	cells, next []Cell
}

// NewGrid makes a fresh w×h grid at Ambient, with warm and cold spots
// placed by seed.
func NewGrid(seed uint64, w, h int) (*Grid, error) {
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	g := &Grid{m: GridMeta{Seed: seed, Width: uint32(w), Height: uint32(h)}}
	g.cells, g.next = make([]Cell, w*h), make([]Cell, w*h)
	g.Clear()
	rng := rand.New(rand.NewPCG(seed, 0x6865617421))
	for range 4 + rng.IntN(4) {
		cx, cy := rng.Float64()*float64(w), rng.Float64()*float64(h)
		r := 2 + rng.Float64()*float64(min(w, h))/6
		amp := 40 * (rng.Float64()*2 - 0.5) // mostly warm, some cold
		for y := range h {
			for x := range w {
				d2 := ((float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)) / (r * r)
				c := &g.cells[y*w+x]
				c.T = clampTemp(c.T + float32(amp*math.Exp(-d2)))
			}
		}
	}
	g.stats()
	return g, nil
}

func checkSize(w, h int) error {
	if w < MinSide || w > MaxSide || h < MinSide || h > MaxSide || w*h > MaxCells {
		return fmt.Errorf("heat: grid %d×%d, want %d..%d cells a side and at most %d cells", w, h, MinSide, MaxSide, MaxCells)
	}
	return nil
}

// RestoreGrid continues a grid from its snapshot. Every byte of it came
// from shared memory: the size must be in range and match the cells,
// every cell finite and in [MinTemp, MaxTemp], the counters sane.
func RestoreGrid(m GridMeta, cells []Cell) (*Grid, error) {
	w, h := int(m.Width), int(m.Height)
	if err := checkSize(w, h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if len(cells) != w*h {
		return nil, fmt.Errorf("%w: %d cells for a %d×%d grid", ErrSnapshot, len(cells), w, h)
	}
	if math.IsNaN(m.HeatIn) || math.IsInf(m.HeatIn, 0) || math.Abs(m.HeatIn) > float64(m.Heats)*MaxHeat {
		return nil, fmt.Errorf("%w: %v degrees of heat in %d commands", ErrSnapshot, m.HeatIn, m.Heats)
	}
	for i, c := range cells {
		if !(c.T >= MinTemp && c.T <= MaxTemp) { // NaN fails both
			return nil, fmt.Errorf("%w: cell %d,%d at %v degrees, want [%d, %d]", ErrSnapshot, i%w, i/w, c.T, MinTemp, MaxTemp)
		}
	}
	g := &Grid{m: m, cells: make([]Cell, len(cells)), next: make([]Cell, len(cells))}
	copy(g.cells, cells)
	g.stats()
	return g, nil
}

// Meta is the grid's process-wide state.
func (g *Grid) Meta() GridMeta { return g.m }

// Cells are the cells, row by row; the slice is the grid's own.
func (g *Grid) Cells() []Cell { return g.cells }

// Heat adds amount degrees to every cell within radius of (x, y), and
// counts the command.
func (g *Grid) Heat(x, y int, amount float32, radius int) error {
	w, h := int(g.m.Width), int(g.m.Height)
	switch {
	case x < 0 || x >= w || y < 0 || y >= h:
		return fmt.Errorf("%w: heat at cell %d,%d of a %d×%d grid", engine.ErrBadArg, x, y, w, h)
	case !(amount >= -MaxHeat && amount <= MaxHeat):
		return fmt.Errorf("%w: heat by %v degrees, want [-%d, %d]", engine.ErrBadArg, amount, MaxHeat, MaxHeat)
	case radius < 0 || radius > MaxRadius:
		return fmt.Errorf("%w: heat radius %d, want [0, %d]", engine.ErrBadArg, radius, MaxRadius)
	}
	for cy := max(0, y-radius); cy <= min(h-1, y+radius); cy++ {
		for cx := max(0, x-radius); cx <= min(w-1, x+radius); cx++ {
			if (cx-x)*(cx-x)+(cy-y)*(cy-y) <= radius*radius {
				c := &g.cells[cy*w+cx]
				c.T = clampTemp(c.T + amount)
			}
		}
	}
	g.m.Heats++
	g.m.HeatIn += float64(amount)
	return nil
}

// Clear sets every cell to Ambient.
func (g *Grid) Clear() {
	for i := range g.cells {
		g.cells[i].T = Ambient
	}
	g.stats()
}

// Step advances the grid by dt seconds: each heater in heaters gives the
// cell under it its Power for dt (heaters out of the grid or with a bad
// power are ignored: they come from another process), then heat diffuses
// and cools.
func (g *Grid) Step(dt float64, heaters []Heater) {
	dt = min(max(dt, 0), MaxDT)
	w, h := int(g.m.Width), int(g.m.Height)
	for _, ht := range heaters {
		x, y := ht.X, ht.Y
		if !(x >= 0 && x < float32(w) && y >= 0 && y < float32(h) && ht.Power >= 0 && ht.Power <= MaxPower) {
			continue
		}
		c := &g.cells[int(y)*w+int(x)]
		c.T = clampTemp(c.T + ht.Power*float32(dt))
	}
	// Explicit diffusion is stable for Diffusion·dt ≤ 1/4 per sub-step.
	n := int(math.Ceil(Diffusion * dt / 0.2))
	k, cool := float32(Diffusion*dt/float64(max(n, 1))), float32(Cooling*dt/float64(max(n, 1)))
	for range n {
		for y := range h {
			row := g.cells[y*w : (y+1)*w]
			up, down := row, row
			if y > 0 {
				up = g.cells[(y-1)*w : y*w]
			}
			if y < h-1 {
				down = g.cells[(y+1)*w : (y+2)*w]
			}
			out := g.next[y*w : (y+1)*w]
			for x := range w {
				t := row[x].T
				left, right := t, t
				if x > 0 {
					left = row[x-1].T
				}
				if x < w-1 {
					right = row[x+1].T
				}
				lap := left + right + up[x].T + down[x].T - 4*t
				out[x].T = clampTemp(t + k*lap - cool*(t-Ambient))
			}
		}
		g.cells, g.next = g.next, g.cells
	}
	g.stats()
}

// stats recomputes the mean and the hottest cell.
func (g *Grid) stats() {
	var sum float64
	hot := float32(MinTemp)
	for _, c := range g.cells {
		sum += float64(c.T)
		hot = max(hot, c.T)
	}
	g.m.Mean, g.m.Max = float32(sum/float64(max(len(g.cells), 1))), hot
}

func clampTemp(t float32) float32 { return min(max(t, MinTemp), MaxTemp) }

// GridProc is the grid process: the Grid on engine.Run. Each tick it
// reads the heaters' slice and gives the cells under them their power.
type GridProc struct {
	Seed          uint64 // of a fresh grid
	Width, Height int    // of a fresh grid; a warm restart keeps the snapshot's
	Heaters       string // the heaters' channel ("" for none)

	g       *Grid
	heaters *engine.Follower[HeatersMeta, Heater]
}

// Restore resumes from the last snapshot, or starts a fresh grid when f
// is nil. A snapshot that does not check out is refused with an error.
func (p *GridProc) Restore(f *engine.Frame[GridMeta, Cell]) error {
	if p.heaters == nil && p.Heaters != "" {
		p.heaters = engine.Follow(p.Heaters, HeatersSchema, engine.FollowOptions{})
	}
	var err error
	if f == nil {
		p.g, err = NewGrid(p.Seed, p.Width, p.Height)
	} else {
		p.g, err = RestoreGrid(f.Meta, f.Items)
	}
	return err
}

// Handle applies one of the grid's commands. An unknown op, a wrong
// number of arguments or a value out of range is an error: the engine
// drops the command and counts it in Header.Dropped.
func (p *GridProc) Handle(c engine.Command) error {
	switch c.Op {
	case OpHeat:
		if c.Argc != 3 && c.Argc != 4 {
			return fmt.Errorf("%w: heat wants x, y, amount[, radius], got %d arguments", engine.ErrBadCommand, c.Argc)
		}
		x, y, r := c.Args[0], c.Args[1], c.Arg(3, 0)
		if !whole(x, MaxSide) || !whole(y, MaxSide) || !whole(r, MaxRadius) {
			return fmt.Errorf("%w: heat at %v,%v radius %v: want whole cells", engine.ErrBadArg, x, y, r)
		}
		return p.g.Heat(int(x), int(y), float32(c.Args[2]), int(r))
	case OpClear:
		if c.Argc != 0 {
			return fmt.Errorf("%w: clear takes no arguments, got %d", engine.ErrBadCommand, c.Argc)
		}
		p.g.Clear()
		return nil
	}
	return fmt.Errorf("%w: %d is not a grid op", engine.ErrUnknownOp, c.Op)
}

// whole reports whether v is a whole number in [0, limit].
func whole(v float64, limit int) bool { return v >= 0 && v <= float64(limit) && v == math.Trunc(v) }

// Step reads the heaters' newest snapshot and steps the grid with them;
// while the heaters are down (their slice stale) it steps without.
func (p *GridProc) Step(dt time.Duration) {
	var heaters []Heater
	if s := p.heaters; s != nil && s.Poll() == engine.FollowLive {
		heaters = s.Cur.Items
		p.g.m.HeatersTick = s.Cur.Tick
	}
	p.g.Step(dt.Seconds(), heaters)
}

// Snapshot publishes the meta and every cell.
func (p *GridProc) Snapshot(m *GridMeta, items []Cell) []Cell {
	*m = p.g.Meta()
	return append(items, p.g.Cells()...)
}

// Close lets go of the heaters' channel.
func (p *GridProc) Close() {
	if p.heaters != nil {
		p.heaters.Close()
	}
}
