package heat

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bench"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/gametest"
	"github.com/venomrt/venomrt/venom"
)

// waitFor waits for a snapshot of a process that satisfies cond.
func waitFor[M, T any](t *testing.T, g *gametest.Game, name string, sl engine.Schema[M, T], what string, cond func(f *engine.Frame[M, T]) bool) engine.Frame[M, T] {
	t.Helper()
	f, err := gametest.WaitFor(g, name, sl, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return f
}

// instance is a game instance of the test's own, for a program the test
// runs itself; its segments are removed when the test ends.
func instance(t *testing.T) string {
	t.Helper()
	inst := gametest.Instance(t)
	t.Cleanup(func() { gametest.RemoveSegments(inst) })
	return inst
}

// killAndResume SIGKILLs a running process, with numbered commands sent
// before the kill (and applied) and right after it, while it is down or
// its standby takes over, and checks that the supervisor brings it back
// warm: a new pid, a new epoch, the tick going on from the last
// snapshot, and every command applied exactly once. It returns the
// newest snapshot once the process is dead (its last, or the same state
// restored by its successor) and the first of the successor's that
// holds every command.
func killAndResume[M, T any](t *testing.T, g *gametest.Game, name string, sl engine.Schema[M, T], cmd func(seq uint64) engine.Command) (last, after engine.Frame[M, T]) {
	t.Helper()
	before := waitFor(t, g, name, sl, name+" ticking", func(f *engine.Frame[M, T]) bool { return f.Tick > 20 })
	s, err := g.Sender(name)
	if err != nil {
		t.Fatal(err)
	}
	const up, down = 5, 10
	for range up {
		if err := s.Send(cmd(s.Sent() + 1)); err != nil {
			t.Fatal(err)
		}
	}
	if a, _, err := s.Settle(); err != nil || !a.Exact() {
		t.Fatalf("%s: the first commands: %+v, %v", name, a, err)
	}
	killed, err := g.Signal(name, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	// The newest snapshot: the killed process's last, or already its
	// successor's first, which is the same state restored.
	if last, err = gametest.Newest(g, name, sl); err != nil {
		t.Fatalf("%s: the last snapshot is unreadable while it is down: %v", name, err)
	}
	for range down {
		if err := s.Send(cmd(s.Sent() + 1)); err != nil {
			t.Fatal(err)
		}
	}
	next, err := g.Successor(killed)
	if err != nil {
		t.Fatal(err)
	}
	a, h, err := s.Settle()
	if err != nil {
		t.Fatal(err)
	}
	if !a.Exact() || a.Applied != up+down {
		t.Errorf("%s: inputs %+v, want each of %d applied once", name, a, up+down)
	}
	after = waitFor(t, g, name, sl, name+" back with every command", func(f *engine.Frame[M, T]) bool { return f.Tick >= h.Tick })
	if last.LastInput != up || last.Inputs != up {
		t.Errorf("%s: last snapshot before the kill holds inputs up to %d (%d applied), want %d", name, last.LastInput, last.Inputs, up)
	}
	if !(before.Tick <= last.Tick && last.Tick <= after.Tick) || after.Epoch <= killed.Epoch {
		t.Errorf("%s: ticks %d → %d (killed) → %d, epoch %d → %d: want them to go on", name, before.Tick, last.Tick, after.Tick, killed.Epoch, after.Epoch)
	}
	if after.Dropped != 0 {
		t.Errorf("%s: %d commands dropped", name, after.Dropped)
	}
	t.Logf("%s: pid %d killed, pid %d resumed at tick %d (restarts %d, handovers %d)", name, killed.Pid, next.Pid, after.Tick, next.Restarts, next.Handovers)
	return last, after
}

// (1) "run" under its supervisor: SIGKILL grid, then heaters; each comes
// back from its last snapshot, and the commands sent while it was down
// are applied exactly once.
func TestKilledProcessesResume(t *testing.T) {
	g := gametest.Start(t, "run")

	const amount = 3
	last, after := killAndResume(t, g, "grid", GridSchema, func(seq uint64) engine.Command {
		return engine.Cmd(OpHeat, float64(seq%8), 2, amount)
	})
	if last.Meta.Heats != 5 || after.Meta.Heats != 15 || after.Meta.HeatIn != 15*amount {
		t.Errorf("grid: %d heat commands before the kill, %d (%v degrees) after: want 5, then 15 (%d)",
			last.Meta.Heats, after.Meta.Heats, after.Meta.HeatIn, 15*amount)
	}
	if after.Meta.Width != last.Meta.Width || len(after.Items) != len(last.Items) {
		t.Errorf("grid: %dx%d after, %dx%d before", after.Meta.Width, after.Meta.Height, last.Meta.Width, last.Meta.Height)
	}

	hl, ha := killAndResume(t, g, "heaters", HeatersSchema, func(seq uint64) engine.Command {
		return engine.Cmd(OpSetpoint, 20+float64(seq))
	})
	if hl.Meta.Setpoint != 25 || ha.Meta.Setpoint != 35 || len(ha.Items) != len(hl.Items) || ha.Meta.NextID != hl.Meta.NextID {
		t.Errorf("heaters: setpoint %v → %v (want 25 → 35), %d → %d heaters", hl.Meta.Setpoint, ha.Meta.Setpoint, len(hl.Items), len(ha.Items))
	}
	if ha.Meta.RNG == hl.Meta.RNG && ha.Tick > hl.Tick {
		t.Error("heaters: the random generator did not move on")
	}

	// Each follows the other again: the grid applies the new heaters'
	// snapshots, the heaters read the new grid's.
	waitFor(t, g, "grid", GridSchema, "the grid reading the restarted heaters", func(f *engine.Frame[GridMeta, Cell]) bool { return f.Meta.HeatersTick > ha.Tick })
	waitFor(t, g, "heaters", HeatersSchema, "the heaters reading the restarted grid", func(f *engine.Frame[HeatersMeta, Heater]) bool { return f.Meta.GridTick > after.Tick })
	if err := g.Err(); err != nil {
		t.Fatalf("run exited: %v", err)
	}
}

// (2) chaos: random kills, stops, panics, deaths mid-publish and slow
// ticks for 10 s; it must exit 0 with every numbered input to grid and
// heaters applied exactly once. The renderer's longest stall is
// reported, not judged (--judge-stall=false): tests assert no timing.
func TestChaos(t *testing.T) {
	inst := instance(t)
	file := filepath.Join(t.TempDir(), "chaos.json")
	cmd := gametest.Command("chaos", "--duration", "10s", "--instance", inst, "--judge-stall=false", "--json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("chaos:\n%s", out)
	if err != nil {
		t.Fatalf("chaos: %v\n%s", err, lastLines(stderr.String(), 30))
	}
	rep, err := chaos.ReadReport(file)
	if err != nil {
		t.Fatal(err)
	}
	faults := 0
	for _, n := range rep.Faults {
		faults += n
	}
	if faults == 0 || len(rep.Failures) > 0 || rep.TornReads != 0 || rep.TickRegression != 0 {
		t.Errorf("report: %d faults, failures %q, %d torn reads, %d tick regressions", faults, rep.Failures, rep.TornReads, rep.TickRegression)
	}
	for _, name := range []string{"grid", "heaters"} {
		if a, ok := rep.Inputs[name]; !ok || a.Sent == 0 || !a.Exact() || a.Applied != a.Sent {
			t.Errorf("%s inputs: %+v, want every one applied once", name, a)
		}
	}
	if !strings.Contains(string(out), "PASS") {
		t.Error("chaos did not print PASS")
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// (3) bench at two small widths prints the tick times of both processes.
func TestBench(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bench.json")
	cmd := gametest.Command("bench", "--duration", "1s", "--width", "16,24", "--json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("bench:\n%s", out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, lastLines(stderr.String(), 20))
	}
	rep, err := bench.ReadReport(file)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SizeFlag != "width" || len(rep.Sizes) != 2 || rep.Sizes[0].Size != 16 || rep.Sizes[1].Size != 24 {
		t.Fatalf("sizes %+v of %q, want width 16 and 24", rep.Sizes, rep.SizeFlag)
	}
	for _, s := range rep.Sizes {
		var names []string
		for _, p := range s.Procs {
			names = append(names, p.Name)
			if p.TickMs.N == 0 || p.TickMs.Max <= 0 || p.TicksPerSecond <= 0 {
				t.Errorf("width %d, %s: no tick times: %+v", s.Size, p.Name, p)
			}
		}
		if strings.Join(names, ",") != "grid,heaters" {
			t.Errorf("width %d: processes %q, want grid and heaters", s.Size, names)
		}
	}
	for _, re := range []string{`(?m)^width 16$`, `(?m)^width 24$`, `(?m)^\s+grid\s+\d+\.\d+ /`, `(?m)^\s+heaters\s+\d+\.\d+ /`} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("bench printed no line matching %s", re)
		}
	}
}

// (4) Malformed and unknown commands sent to a running process are
// counted in Header.Dropped, one each, and never stop it.
func TestBadCommandsDropped(t *testing.T) {
	reserved := engine.Cmd(OpClear).Append(nil)
	reserved[4] = 1
	bad := [][]byte{
		{1, 2, 3}, // too short for a command
		engine.Cmd(engine.OpUser + 99).Append(nil),         // an op neither process has
		engine.Cmd(OpHeat, 1, 2).Append(nil),               // grid: heat without amount (heaters: a good spawn)
		engine.Cmd(OpHeat, 9999, 1, 5).Append(nil),         // grid: out of the grid (heaters: spawn with 3 arguments)
		engine.Cmd(OpClear, 1, 2, 3).Append(nil),           // clear, remove all: no arguments wanted
		append(engine.Cmd(OpHeat).Append(nil), 0, 0, 0, 0), // bytes after the arguments
		binaryNaN(), // a NaN argument
		reserved,    // reserved bits set
	}
	for _, name := range []string{"grid", "heaters"} {
		t.Run(name, func(t *testing.T) {
			g := gametest.Start(t, "proc", name)
			s, err := g.Sender(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bad {
				if err := s.SendRaw(b); err != nil {
					t.Fatal(err)
				}
			}
			// A numbered no-op on the same lane, after them: once it is
			// applied, so is every command before it.
			if err := s.Input(1); err != nil {
				t.Fatal(err)
			}
			_, h, err := s.Settle()
			if err != nil {
				t.Fatal(err)
			}
			// The ops are numbers: for heaters OpHeat with 2 arguments is
			// OpSpawn, a good one.
			wantDropped, wantApplied := uint64(len(bad)), uint64(1)
			if name == "heaters" {
				wantDropped, wantApplied = wantDropped-1, wantApplied+1
			}
			if h.Dropped != wantDropped || h.Applied != wantApplied {
				t.Errorf("dropped %d, applied %d: want %d and %d", h.Dropped, h.Applied, wantDropped, wantApplied)
			}
			if info, err := venom.Inspect(g.Channel(name)); err != nil || info.Daemon.Pid != g.Pid() || g.Err() != nil {
				t.Errorf("owner %d (%v), exit %v: want %d still running", info.Daemon.Pid, err, g.Err(), g.Pid())
			}
		})
	}
}

func binaryNaN() []byte {
	b := engine.Cmd(OpHeat, 1, 1, 1).Append(nil)
	nan := math.Float64bits(math.NaN())
	for i := range 8 {
		b[16+16+i] = byte(nan >> (8 * i))
	}
	return b
}

// (4) A grid process started on a segment whose snapshot is corrupt
// refuses to resume from it and starts fresh; one started on a good
// snapshot resumes at its tick.
func TestCorruptSnapshotRefused(t *testing.T) {
	const tick = 5000
	for _, tc := range []struct {
		name   string
		spoil  func(m *GridMeta, cells []Cell) []Cell
		resume bool
	}{
		{"good", func(m *GridMeta, cells []Cell) []Cell { return cells }, true},
		{"NaN cell", func(m *GridMeta, cells []Cell) []Cell { cells[100].T = float32(math.NaN()); return cells }, false},
		{"count off", func(m *GridMeta, cells []Cell) []Cell { return cells[:len(cells)-64] }, false},
		{"width too big", func(m *GridMeta, cells []Cell) []Cell { m.Width = MaxSide + 1; return cells }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instance(t)
			ch := inst + ".grid"
			grid, err := NewGrid(9, 64, 48)
			if err != nil {
				t.Fatal(err)
			}
			m := grid.Meta()
			m.Heats, m.HeatIn = 7, 70
			cells := tc.spoil(&m, append([]Cell(nil), grid.Cells()...))
			// The channel as engine.Run makes it, holding the snapshot of
			// a process that died.
			d, err := venom.Create(ch, engine.ChannelConfig(engine.Options{DataSize: GridSchema.Size(MaxCells)}))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, GridSchema.Size(len(cells)))
			n, err := GridSchema.Encode(buf, engine.Header{Tick: tick, Epoch: d.Epoch()}, &m, cells)
			if err == nil {
				_, err = d.Publish(buf[:n])
			}
			epoch := d.Epoch()
			d.Close()
			if err != nil {
				t.Fatal(err)
			}

			g := gametest.Start(t, "proc", "grid", "--instance", inst)
			f := waitFor(t, g, "grid", GridSchema, "the grid's own snapshot", func(f *engine.Frame[GridMeta, Cell]) bool { return f.Epoch > epoch })
			if tc.resume {
				if f.Tick < tick || f.Meta.Heats != 7 {
					t.Errorf("tick %d, %d heats: want it resumed at tick %d with 7", f.Tick, f.Meta.Heats, tick)
				}
				return
			}
			if f.Tick >= tick || f.Meta.Heats != 0 {
				t.Errorf("tick %d, %d heats: want a fresh start", f.Tick, f.Meta.Heats)
			}
			if err := g.Wait("the refusal logged", func() bool { return strings.Contains(g.Output(), "restore refused") }); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", lastLines(g.Output(), 3))
		})
	}
}

// A screenshot asked of the headless renderer is a usage error before
// anything starts.
func TestHeadlessScreenshotRefused(t *testing.T) {
	inst := instance(t)
	cmd := gametest.Command("run", "--headless", "--instance", inst, "--screenshot", filepath.Join(t.TempDir(), "x.png"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "--screenshot needs the window") {
		t.Fatalf("%v: %s; want exit 2 saying the screenshot needs the window", err, out)
	}
	if m, _ := filepath.Glob(venom.Path(inst + ".*")); len(m) > 0 {
		t.Errorf("segments left: %v", m)
	}
}

// The main binary links no Ebiten: it builds with CGO_ENABLED=0 and runs
// where there is no display.
func TestMainBinaryHasNoEbiten(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/heat").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := string(out)
	if strings.Contains(deps, "hajimehoshi/ebiten") || !strings.Contains(deps, "github.com/venomrt/venomrt/engine/game") {
		t.Errorf("cmd/heat imports Ebiten, or not the game API:\n%s", deps)
	}
	for _, p := range strings.Fields(deps) {
		if strings.HasPrefix(p, "github.com/venomrt/venomrt/demo") {
			t.Errorf("cmd/heat depends on %s, the demo", p)
		}
	}
	// What the example's own code imports is the public API only: venom,
	// engine and the packages under it (the game API and the tools it
	// registers), nothing internal.
	out, err = exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, p := range strings.Fields(imports) {
			if strings.HasPrefix(p, "github.com/venomrt/venomrt/") && !strings.HasPrefix(p, "github.com/venomrt/venomrt/examples/") &&
				p != "github.com/venomrt/venomrt/venom" && p != "github.com/venomrt/venomrt/engine" &&
				(!strings.HasPrefix(p, "github.com/venomrt/venomrt/engine/") || strings.Contains(p, "/internal/")) {
				t.Errorf("%s imports %s: want only the public API", pkg, p)
			}
		}
	}
}

// (5) The window under a display: heat-window runs the game, draws the
// grid and the heaters and writes a screenshot after 60 frames; the
// picture is the grid's colors.
func TestWindowScreenshot(t *testing.T) {
	if os.Getenv("DISPLAY") == "" {
		t.Skip("no display (DISPLAY unset): run under xvfb-run, as make test does (scripts/xrun.sh)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "heat-window")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/heat-window").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	inst := instance(t)
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.Command(bin, "run", "--instance", inst, "--screenshot", shot, "--frames", "60", "--duration", "3m")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("heat-window run: %v\n%s\n%s", err, lastLines(string(out), 5), lastLines(stderr.String(), 30))
	}
	if !strings.Contains(stderr.String(), "screenshot written") {
		t.Errorf("no screenshot logged:\n%s", lastLines(stderr.String(), 30))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	onMap, warm, cold, white, total := shotStats(img)
	t.Logf("%d pixels: %d in the colormap (%d warm, %d cold), %d white", total, onMap, warm, cold, white)
	if onMap < total*7/10 || warm < total/100 || cold < total/100 || white < 100 {
		t.Errorf("want the grid's colors on 70%% of the picture, some warm and some cold, and white heaters")
	}
}

// shotStats counts a picture's pixels: those in the grid's colormap
// (within a few levels), the warm and cold ones among them, the white.
func shotStats(img image.Image) (onMap, warm, cold, white, total int) {
	const q = 4 // quantization of the colormap's lookup
	type key struct{ r, g, b int }
	palette := map[key]bool{}
	for t := float32(-30); t <= 300; t += 0.05 {
		c := Color(t)
		palette[key{int(c.R) / q, int(c.G) / q, int(c.B) / q}] = true
	}
	near := func(r, g, b int) bool {
		for dr := -1; dr <= 1; dr++ {
			for dg := -1; dg <= 1; dg++ {
				for db := -1; db <= 1; db++ {
					if palette[key{r/q + dr, g/q + dg, b/q + db}] {
						return true
					}
				}
			}
		}
		return false
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			total++
			if r >= 245 && g >= 245 && bl >= 245 {
				white++
			}
			if near(int(r), int(g), int(bl)) {
				onMap++
				if r > bl+60 {
					warm++
				} else if bl > r+60 {
					cold++
				}
			}
		}
	}
	return
}
