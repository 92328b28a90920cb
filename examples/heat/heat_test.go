package heat

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/gametest"
)

// The test binary is the heat program when the kit starts it as the
// game: the game re-executes its own binary to start every process, and
// in tests that binary is this one.
func TestMain(m *testing.M) { gametest.Main(m, Game(nil)) }

func newGridProc(t *testing.T) *GridProc {
	t.Helper()
	p := &GridProc{Seed: 3, Width: 16, Height: 12}
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func newHeatersProc(t *testing.T) *HeatersProc {
	t.Helper()
	p := &HeatersProc{Seed: 3, N: 4, Width: 16, Height: 12}
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// encode is what the engine publishes of a Sim: its snapshot's bytes.
func encode[M, T any](t testing.TB, sl engine.Schema[M, T], p engine.Sim[M, T], tick uint64) []byte {
	t.Helper()
	var m M
	items := p.Snapshot(&m, nil)
	buf := make([]byte, sl.Size(len(items)))
	n, err := sl.Encode(buf, engine.Header{Tick: tick}, &m, items)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// Every malformed command is an error of the engine's kinds (so Run
// drops and counts it) and leaves the state as it was.
func TestBadCommands(t *testing.T) {
	long := engine.Cmd(OpHeat, 1, 2, 3, 1)
	long.Argc = 5
	for _, tc := range []struct {
		name string
		cmd  engine.Command
		want error
	}{
		{"unknown op", engine.Cmd(engine.OpUser + 40), engine.ErrUnknownOp},
		{"heaters op", engine.Cmd(OpSetpoint, 30), engine.ErrUnknownOp},
		{"heat without amount", engine.Cmd(OpHeat, 1, 2), engine.ErrBadCommand},
		{"heat with five args", long, engine.ErrBadCommand},
		{"clear with an arg", engine.Cmd(OpClear, 1), engine.ErrBadCommand},
		{"x out of the grid", engine.Cmd(OpHeat, 16, 0, 5), engine.ErrBadArg},
		{"negative y", engine.Cmd(OpHeat, 0, -1, 5), engine.ErrBadArg},
		{"x far out", engine.Cmd(OpHeat, 1e12, 0, 5), engine.ErrBadArg},
		{"half a cell", engine.Cmd(OpHeat, 1.5, 2, 5), engine.ErrBadArg},
		{"too much heat", engine.Cmd(OpHeat, 1, 2, MaxHeat+1), engine.ErrBadArg},
		{"radius too big", engine.Cmd(OpHeat, 1, 2, 5, MaxRadius+1), engine.ErrBadArg},
	} {
		p := newGridProc(t)
		before := encode(t, GridSchema, engine.Sim[GridMeta, Cell](p), 1)
		if err := p.Handle(tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("grid %s: %v, want %v", tc.name, err, tc.want)
		}
		if after := encode(t, GridSchema, engine.Sim[GridMeta, Cell](p), 1); !bytes.Equal(before, after) {
			t.Errorf("grid %s changed the state", tc.name)
		}
	}
	for _, tc := range []struct {
		name string
		cmd  engine.Command
		want error
	}{
		{"unknown op", engine.Cmd(engine.OpUser + 40), engine.ErrUnknownOp},
		{"spawn without y", engine.Cmd(OpSpawn, 1), engine.ErrBadCommand},
		{"remove all with an arg", engine.Cmd(OpRemoveAll, 0), engine.ErrBadCommand},
		{"setpoint without value", engine.Cmd(OpSetpoint), engine.ErrBadCommand},
		{"spawn out of the grid", engine.Cmd(OpSpawn, 16, 3), engine.ErrBadArg},
		{"spawn far out", engine.Cmd(OpSpawn, 3, 1e300), engine.ErrBadArg},
		{"setpoint too hot", engine.Cmd(OpSetpoint, MaxSetpoint+1), engine.ErrBadArg},
	} {
		p := newHeatersProc(t)
		before := encode(t, HeatersSchema, engine.Sim[HeatersMeta, Heater](p), 1)
		if err := p.Handle(tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("heaters %s: %v, want %v", tc.name, err, tc.want)
		}
		if after := encode(t, HeatersSchema, engine.Sim[HeatersMeta, Heater](p), 1); !bytes.Equal(before, after) {
			t.Errorf("heaters %s changed the state", tc.name)
		}
	}
	// No more than MaxHeaters.
	p := newHeatersProc(t)
	for range MaxHeaters - 4 {
		if err := p.Handle(engine.Cmd(OpSpawn, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Handle(engine.Cmd(OpSpawn, 1, 1)); !errors.Is(err, engine.ErrBadArg) {
		t.Errorf("heater %d: %v, want engine.ErrBadArg", MaxHeaters+1, err)
	}
}

// Good commands do what they say.
func TestCommands(t *testing.T) {
	g := newGridProc(t)
	for _, c := range []engine.Command{engine.Cmd(OpClear), engine.Cmd(OpHeat, 5, 5, 100, 1), engine.Cmd(OpHeat, 0, 0, -50)} {
		if err := g.Handle(c); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	cells, w := g.g.Cells(), 16
	for _, tc := range []struct {
		x, y int
		want float32
	}{{5, 5, Ambient + 100}, {4, 5, Ambient + 100}, {5, 6, Ambient + 100}, {4, 4, Ambient}, {0, 0, Ambient - 50}, {7, 5, Ambient}} {
		if got := cells[tc.y*w+tc.x].T; got != tc.want {
			t.Errorf("cell %d,%d at %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
	if m := g.g.Meta(); m.Heats != 2 || m.HeatIn != 50 {
		t.Errorf("heats %d, heat in %v: want 2 and 50", m.Heats, m.HeatIn)
	}
	h := newHeatersProc(t)
	for _, c := range []engine.Command{engine.Cmd(OpRemoveAll), engine.Cmd(OpSpawn, 2.5, 3.5), engine.Cmd(OpSetpoint, 55)} {
		if err := h.Handle(c); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if all, m := h.s.All(), h.s.Meta(); len(all) != 1 || all[0].X != 2.5 || all[0].Y != 3.5 || all[0].ID != 5 || m.Setpoint != 55 {
		t.Errorf("heaters %+v, setpoint %v", all, m.Setpoint)
	}
}

// A snapshot that does not check out is refused, each way it can be
// wrong; the engine then starts the process fresh.
func TestRestoreRefusesCorruptFrames(t *testing.T) {
	good := func() *engine.Frame[GridMeta, Cell] {
		g, err := NewGrid(1, 8, 6)
		if err != nil {
			t.Fatal(err)
		}
		return &engine.Frame[GridMeta, Cell]{Meta: g.Meta(), Items: append([]Cell(nil), g.Cells()...)}
	}
	if err := (&GridProc{}).Restore(good()); err != nil {
		t.Fatalf("a good frame: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(f *engine.Frame[GridMeta, Cell])
	}{
		{"NaN cell", func(f *engine.Frame[GridMeta, Cell]) { f.Items[7].T = float32(math.NaN()) }},
		{"infinite cell", func(f *engine.Frame[GridMeta, Cell]) { f.Items[0].T = float32(math.Inf(1)) }},
		{"cell too hot", func(f *engine.Frame[GridMeta, Cell]) { f.Items[3].T = MaxTemp + 1 }},
		{"cell too cold", func(f *engine.Frame[GridMeta, Cell]) { f.Items[3].T = MinTemp - 1 }},
		{"a cell short", func(f *engine.Frame[GridMeta, Cell]) { f.Items = f.Items[:len(f.Items)-1] }},
		{"no cells", func(f *engine.Frame[GridMeta, Cell]) { f.Items = nil }},
		{"width zero", func(f *engine.Frame[GridMeta, Cell]) { f.Meta.Width = 0 }},
		{"huge grid", func(f *engine.Frame[GridMeta, Cell]) { f.Meta.Width, f.Meta.Height = 1<<16, 1<<16 }},
		{"width and height swapped wrong", func(f *engine.Frame[GridMeta, Cell]) { f.Meta.Width = 7 }},
		{"NaN heat in", func(f *engine.Frame[GridMeta, Cell]) { f.Meta.HeatIn = math.NaN() }},
		{"more heat than commands", func(f *engine.Frame[GridMeta, Cell]) { f.Meta.HeatIn = 1 }},
	} {
		f := good()
		tc.spoil(f)
		if err := (&GridProc{}).Restore(f); !errors.Is(err, ErrSnapshot) {
			t.Errorf("grid %s: %v, want ErrSnapshot", tc.name, err)
		}
	}

	goodH := func() *engine.Frame[HeatersMeta, Heater] {
		s, err := NewHeaters(1, 5, 8, 6)
		if err != nil {
			t.Fatal(err)
		}
		return &engine.Frame[HeatersMeta, Heater]{Meta: s.Meta(), Items: append([]Heater(nil), s.All()...)}
	}
	if err := (&HeatersProc{}).Restore(goodH()); err != nil {
		t.Fatalf("a good frame: %v", err)
	}
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name  string
		spoil func(f *engine.Frame[HeatersMeta, Heater])
	}{
		{"NaN x", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[1].X = nan }},
		{"outside", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[1].Y = 6 }},
		{"negative power", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[2].Power = -1 }},
		{"NaN power", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[2].Power = nan }},
		{"too fast", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[0].VX = 1e6 }},
		{"NaN temperature", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[0].Temp = nan }},
		{"IDs out of order", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items[3].ID = 1 }},
		{"ID not yet given", func(f *engine.Frame[HeatersMeta, Heater]) { f.Meta.NextID = 3 }},
		{"too many", func(f *engine.Frame[HeatersMeta, Heater]) { f.Items = make([]Heater, MaxHeaters+1) }},
		{"NaN setpoint", func(f *engine.Frame[HeatersMeta, Heater]) { f.Meta.Setpoint = nan }},
		{"no grid", func(f *engine.Frame[HeatersMeta, Heater]) { f.Meta.Width = 0 }},
	} {
		f := goodH()
		tc.spoil(f)
		if err := (&HeatersProc{}).Restore(f); !errors.Is(err, ErrSnapshot) {
			t.Errorf("heaters %s: %v, want ErrSnapshot", tc.name, err)
		}
	}
}

// stepBoth steps a grid and heaters together as the two processes do,
// on each other's state, with a command every few steps.
func stepBoth(t *testing.T, g *Grid, s *Heaters, from, steps int) {
	t.Helper()
	m := g.Meta()
	for i := from; i < from+steps; i++ {
		if i%7 == 0 {
			if err := g.Heat(i%int(m.Width), i%int(m.Height), float32(i%50)-10, i%3); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 0 {
			if err := s.Spawn(float32(i%int(m.Width)), 1); err != nil {
				t.Fatal(err)
			}
		}
		g.Step(1.0/60, s.All())
		if i%2 == 0 {
			s.Step(1.0/30, int(m.Width), int(m.Height), g.Cells())
		}
	}
}

// The same seed, commands and inputs give bit-identical worlds; a world
// restored from a snapshot's bytes continues exactly as the one that
// published it.
func TestDeterministicAndWarmRestartExact(t *testing.T) {
	mk := func(seed uint64) (*Grid, *Heaters) {
		g, err := NewGrid(seed, 32, 24)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewHeaters(seed, 5, 32, 24)
		if err != nil {
			t.Fatal(err)
		}
		return g, s
	}
	snap := func(g *Grid, s *Heaters) []byte {
		var b []byte
		gm, sm := g.Meta(), s.Meta()
		buf := make([]byte, GridSchema.Size(len(g.Cells()))+HeatersSchema.Size(len(s.All())))
		n, err := GridSchema.Encode(buf, engine.Header{}, &gm, g.Cells())
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, buf[:n]...)
		n, err = HeatersSchema.Encode(buf, engine.Header{}, &sm, s.All())
		if err != nil {
			t.Fatal(err)
		}
		return append(b, buf[:n]...)
	}
	g1, s1 := mk(7)
	g2, s2 := mk(7)
	stepBoth(t, g1, s1, 0, 300)
	stepBoth(t, g2, s2, 0, 300)
	if !bytes.Equal(snap(g1, s1), snap(g2, s2)) {
		t.Fatal("two runs of one seed differ")
	}
	if g3, s3 := mk(8); bytes.Equal(snap(g1, s1), snap(g3, s3)) {
		t.Fatal("two seeds give the same world")
	}

	// A warm restart, each process on its own: what it published,
	// decoded and restored, goes on bit for bit with the same commands.
	if err := gametest.CheckRestore(gametest.RestoreCheck[GridMeta, Cell]{Schema: GridSchema, Steps: 300,
		Commands: func(i int) []engine.Command {
			return []engine.Command{engine.Cmd(OpHeat, float64(i%32), float64(i%24), float64(i%50)-10, float64(i%3))}
		}}, &GridProc{g: g1}, &GridProc{}); err != nil {
		t.Fatalf("grid: %v", err)
	}
	if err := gametest.CheckRestore(gametest.RestoreCheck[HeatersMeta, Heater]{Schema: HeatersSchema, Steps: 300, Step: time.Second / 30,
		Commands: func(i int) []engine.Command {
			if i%50 == 0 {
				return []engine.Command{engine.Cmd(OpSpawn, float64(i%32), 1), engine.Cmd(OpSetpoint, float64(30+i%20))}
			}
			return nil
		}}, &HeatersProc{s: s1}, &HeatersProc{}); err != nil {
		t.Fatalf("heaters: %v", err)
	}
}

// The heaters keep the grid warmer than it would be without them, and
// each reads the other: the grid takes their power, they read its cells.
func TestHeatersWarmTheGrid(t *testing.T) {
	cold, err := NewGrid(1, 32, 24)
	if err != nil {
		t.Fatal(err)
	}
	g, s := func() (*Grid, *Heaters) {
		g, _ := NewGrid(1, 32, 24)
		s, _ := NewHeaters(1, 4, 32, 24)
		return g, s
	}()
	for i := range 60 * 20 {
		cold.Step(1.0/60, nil)
		g.Step(1.0/60, s.All())
		if i%2 == 0 {
			s.Step(1.0/30, 32, 24, g.Cells())
		}
	}
	if w, c := g.Meta().Mean, cold.Meta().Mean; w < c+10 {
		t.Errorf("mean %.1f with heaters, %.1f without: want at least 10 degrees warmer", w, c)
	}
	for _, h := range s.All() {
		if h.Temp == Ambient {
			t.Errorf("heater %d never read the grid: %+v", h.ID, h)
		}
	}
	if !(Color(-50) == Color(-20) && Color(Setpoint).R > Color(Setpoint).B && Color(Ambient).B > Color(Ambient).R) {
		t.Error("colormap: want cold blue and the setpoint orange")
	}
}

// FuzzCommand: whatever bytes reach a process, decoding and handling
// them gives an error or a change, never a panic.
func FuzzCommand(f *testing.F) {
	for _, c := range []engine.Command{engine.Cmd(OpHeat, 1, 2, 3), engine.Cmd(OpHeat, 1, 2, 3, 4), engine.Cmd(OpClear),
		engine.Cmd(OpSpawn, 1, 2), engine.Cmd(OpSetpoint, 30), engine.Cmd(OpRemoveAll), engine.Cmd(OpHeat, -1, 1e300, 5)} {
		f.Add(c.Append(nil))
	}
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := engine.DecodeCommand(b)
		if err != nil {
			return
		}
		g := &GridProc{Seed: 1, Width: 8, Height: 6}
		h := &HeatersProc{Seed: 1, N: 2, Width: 8, Height: 6}
		if g.Restore(nil) != nil || h.Restore(nil) != nil {
			t.Fatal("fresh start failed")
		}
		g.Handle(c)
		h.Handle(c)
		g.Step(time.Second / 60)
		h.Step(time.Second / 30)
		if _, err := RestoreGrid(g.g.Meta(), g.g.Cells()); err != nil {
			t.Fatalf("the grid published a snapshot it would refuse: %v", err)
		}
		if _, err := RestoreHeaters(h.s.Meta(), h.s.All()); err != nil {
			t.Fatalf("the heaters published a snapshot they would refuse: %v", err)
		}
	})
}

// FuzzRestore: whatever bytes a snapshot holds, decoding and restoring
// it gives an error or a world, never a panic.
func FuzzRestore(f *testing.F) {
	f.Add(encode(f, GridSchema, engine.Sim[GridMeta, Cell](&GridProc{g: must(NewGrid(1, 4, 4))}), 1))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr engine.Frame[GridMeta, Cell]
		if GridSchema.Decode(b, &fr) != nil {
			return
		}
		if g, err := RestoreGrid(fr.Meta, fr.Items); err == nil {
			g.Step(1.0/60, nil)
		}
	})
}

func must[X any](x X, err error) X {
	if err != nil {
		panic(err)
	}
	return x
}
