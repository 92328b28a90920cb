// Package bench is the bench tool of a game declared on engine/game:
// "PROGRAM bench" runs every process of the game as a real process, at
// each world size of the game's size knob (game.Size), and measures
// from outside, as a renderer reads them: tick times against the tick
// budget, ticks per second, a numbered input's way to the first
// snapshot that holds it, the renderer's read of every slice beside a
// raw copy and memcpy of the same bytes, and venom's round trip beside a
// Unix socket's, each figure beside its baseline from the same run.
//
// A process group's flag (game.Process.Group) is swept as the size is:
// "bench --regions 1,2,4 --bodies 2000,10000" runs every size with each
// count, every member its own process measured as one; a game's own
// measure of its world as a whole (World: the demo's body-steps per
// second over its regions) is printed as a table, each count beside the
// same size with one member in the same run.
//
// A game opts in on its declaration:
//
//	g.Use(bench.Tool())                     // bench --plot needs bench.Plot(plot.Ticks)
//
// The PNG of the tick times is package engine/bench/plot, registered
// with Plot, so that a game without it links no plotting library.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// Plotter writes a picture of a bench report to file (see package
// engine/bench/plot).
type Plotter func(file string, rep *Report) error

// Option adjusts the bench tool.
type Option func(*options)

type options struct {
	plot  Plotter
	world func(env game.Env) (Meter, error)
}

// Plot adds bench's --plot flag, which writes the report's picture with
// p (plot.Ticks: the tick-time distribution per size, as a PNG).
func Plot(p Plotter) Option { return func(o *options) { o.plot = p } }

// World adds the game's own measure of its world as a whole (the demo's:
// body-steps per second over every physics region, the border exchange,
// hand-overs), taken while each size runs: start is called with the
// Env of the processes bench runs (its instance, its groups' counts:
// Env.Members names them). bench prints its figures as a table, each
// group count beside the same size with one member in the same run.
func World(start func(env game.Env) (Meter, error)) Option {
	return func(o *options) { o.world = start }
}

// Meter measures a game's world while bench runs one size, from outside,
// as bench measures the processes: it should read headers and metas,
// not whole snapshots, which would cost the processes measured their
// cores and caches.
type Meter interface {
	// Sample is called about every millisecond while the size runs.
	Sample(now time.Time)
	// Figures are the world's figures over the time sampled.
	Figures() []Figure
	// Close releases what the meter holds.
	Close() error
}

// Figure is one figure of a Meter.
type Figure struct {
	// Name is the figure's unit, one word as Go's benchmark format wants
	// it ("body-steps/s", "exchange-B/tick").
	Name  string
	Value float64
	// Scales marks a throughput that should grow with a group's members:
	// bench prints it divided by N × the same size's figure with one
	// member (N the product of the groups' counts) — 1.0 is perfect
	// scaling.
	Scales bool `json:",omitempty"`
}

// Tool registers the subcommand bench on a game.
func Tool(opts ...Option) game.Tool {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return func(g *game.Game) {
		g.Subcommand(game.Subcommand{
			Name:    "bench",
			Summary: "tick, read and input benchmarks of every process",
			Run:     func(ctx context.Context, c game.Call) error { return cmdBench(ctx, g, &o, c) },
		})
	}
}

// ReadReport reads a report bench wrote with --json.
func ReadReport(path string) (Report, error) {
	var rep Report
	b, err := os.ReadFile(path)
	if err != nil {
		return rep, fmt.Errorf("bench: report: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("bench: report %s: %w", path, err)
	}
	return rep, nil
}

// Report is what bench prints and writes with --json.
type Report struct {
	SizeFlag string // the game's size knob ("bodies"); "" without one
	// GroupFlags are the flags of the game's process groups
	// (game.Process.Group, "regions"), whose counts bench sweeps.
	GroupFlags []string `json:",omitempty"`
	Sizes      []SizeResult
	Venom      VenomSummary
}

// SizeResult is the bench of one world size at one count of each
// group: every process (each member of a group), and the renderer's read
// of every slice.
type SizeResult struct {
	Size int
	// Counts are the groups' counts this size ran with, by flag.
	Counts map[string]int `json:",omitempty"`
	// Run is the run (of --count) this result is of: a group's count is
	// compared with one member of the same size in the same run.
	Run   int
	Procs []ProcResult
	// World are the figures of the game's World Meter.
	World []Figure `json:",omitempty"`
	// ReadMs is a 60 Hz reader's read of every slice, per frame, while
	// the processes are measured: the renderer's own (ReadBy "renderer",
	// Renderer.Reader) or a raw venom Read of each process's channel
	// (ReadBy "raw").
	ReadMs game.Percentiles
	ReadBy string
	// RawReadMs is the baseline beside the renderer's read, from the same
	// run: a raw venom Read of every channel the renderer reads, per 60 Hz
	// frame, for a while after (not beside: its copies would cool the
	// renderer's caches). MemcpyUs is a copy of as many bytes as one raw
	// read copies between two private buffers, hot in cache (p50).
	RawReadMs game.Percentiles `json:",omitzero"`
	MemcpyUs  float64          `json:",omitempty"`
	// ReadUs are ReadMs's samples, in µs, for a Plotter.
	ReadUs []float64 `json:"-"`
}

// ProcResult is one process at one size.
type ProcResult struct {
	Name string // the child's: a member of a group is NAME-i
	// Group is the declared process of a member of a group (its name,
	// for a group of one too); "" for a process not in a group.
	Group          string           `json:",omitempty"`
	TickMs         game.Percentiles // Header.StepNanos: commands and step
	TicksPerSecond float64
	TargetRate     float64
	DeadlineMisses int // ticks longer than the tick budget, 1/rate
	Lag            uint64
	InputMs        game.Percentiles // numbered input sent → the first snapshot that holds it
	// TickSamples are TickMs's samples, for a Plotter.
	TickSamples []time.Duration `json:"-"`
}

// VenomSummary is venom's own round trip and read bandwidth beside the
// baselines measured in the same run (two goroutines of this process).
type VenomSummary struct {
	RoundTripUs, UnixSocketUs float64 // p50, 64 B
	ReadGBs, MemcpyGBs        float64 // 64 KiB snapshot
}

func cmdBench(ctx context.Context, g *game.Game, o *options, call game.Call) error {
	stdout, stderr := call.Stdout, call.Stderr
	knob := ""
	size, sized := g.Size()
	if sized {
		knob = size.Flag
	}
	// bench takes each group's flag over as a list of counts, as it takes
	// the size knob's as a list of sizes.
	var groupFlags []string
	for _, p := range g.Processes() {
		if p.Group != "" && !slices.Contains(groupFlags, p.Group) {
			groupFlags = append(groupFlags, p.Group)
		}
	}
	f := g.NewFlags("bench", append([]string{knob}, groupFlags...)...)
	f.SetOutput(stderr)
	counts := map[string]*countList{}
	for _, name := range groupFlags {
		counts[name] = &countList{list: []int{1}}
		f.Var(counts[name], name, "members of the process group on --"+name+": a comma-separated `list` of counts (each size runs with each; 1 is the baseline the others are compared with)")
	}
	var sizes *string
	if knob != "" {
		def := make([]string, len(size.Default))
		for i, n := range size.Default {
			def[i] = strconv.Itoa(n)
		}
		sizes = f.String(knob, strings.Join(def, ","), "world sizes ("+knob+"), comma-separated")
	}
	duration := f.Duration("duration", 5*time.Second, "how long each size runs")
	jsonOut := f.String("json", "", "also write the report as JSON to this file")
	goOut := f.String("gobench", "", "also write the figures in Go's benchmark format to this file (\"-\": stdout), for benchstat")
	count := f.Int("count", 1, "runs of each size (each a line per figure in --gobench: benchstat's samples)")
	var plotOut *string
	if o.plot != nil {
		plotOut = f.String("plot", "", "write a PNG of the tick-time distribution per size")
	}
	pos, err := g.Parse(f, call.Args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: bench: unexpected arguments %q", game.ErrUsage, pos)
	}
	if *count < 1 || *count > 100 {
		return fmt.Errorf("%w: bench: --count %d: want 1..100", game.ErrUsage, *count)
	}
	if len(g.Processes()) == 0 {
		return fmt.Errorf("%w: bench: the game declares no process", game.ErrUsage)
	}
	ns := []int{0}
	if knob != "" {
		if ns, err = parseSizes(size, *sizes); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep := Report{SizeFlag: knob, GroupFlags: groupFlags}
	combos := countCombos(groupFlags, counts)
	// Each size with each count in turn, so that a count runs beside
	// its baseline (one member) in time as well as in the run.
	for run := range *count {
		for i, n := range ns {
			for ci, combo := range combos {
				for name, c := range combo {
					counts[name].cur = c
				}
				fmt.Fprintf(stderr, "bench: size %d%s (%d/%d), run %d/%d\n", n, countsLabel(groupFlags, combo), i*len(combos)+ci+1, len(ns)*len(combos), run+1, *count)
				r, err := benchSize(ctx, g, o, self, f, combo, n, *duration, stderr)
				if err != nil {
					return fmt.Errorf("bench size %d%s: %w", n, countsLabel(groupFlags, combo), err)
				}
				r.Run = run
				rep.Sizes = append(rep.Sizes, r)
			}
		}
	}
	fmt.Fprintln(stderr, "bench: venom round trip and read bandwidth")
	if rep.Venom, err = benchVenom(); err != nil {
		return err
	}
	PrintReport(stdout, &rep)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(&rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *goOut != "" {
		var b strings.Builder
		WriteGoBench(&b, g.Name(), &rep)
		if *goOut == "-" {
			io.WriteString(stdout, b.String())
		} else if err := os.WriteFile(*goOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if plotOut != nil && *plotOut != "" {
		if err := o.plot(*plotOut, &rep); err != nil {
			return err
		}
	}
	return nil
}

// countList is a group's flag as bench takes it: a list of counts to
// sweep. To the game (Flags.Count, Children, Env) it is the integer
// flag it replaces, whose value is the count being run.
type countList struct {
	list []int
	cur  int
}

func (c *countList) String() string {
	if c == nil {
		return ""
	}
	s := make([]string, len(c.list))
	for i, n := range c.list {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set takes a comma-separated list of counts, each 1..game.MaxGroup.
func (c *countList) Set(v string) error {
	var list []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > game.MaxGroup {
			return fmt.Errorf("%q: want counts 1..%d", f, game.MaxGroup)
		}
		list = append(list, n)
	}
	c.list, c.cur = list, list[0]
	return nil
}

// Get is the count being run: what the game reads as the flag's value.
func (c *countList) Get() any { return max(c.cur, 1) }

// countCombos are every combination of the groups' counts, the first
// group's slowest; one empty combination without groups.
func countCombos(flags []string, counts map[string]*countList) []map[string]int {
	combos := []map[string]int{{}}
	for _, name := range flags {
		var next []map[string]int
		for _, c := range combos {
			for _, n := range counts[name].list {
				m := maps.Clone(c)
				m[name] = n
				next = append(next, m)
			}
		}
		combos = next
	}
	return combos
}

// countsLabel prints a combination of counts: ", regions 2" (nothing
// without groups).
func countsLabel(flags []string, combo map[string]int) string {
	var b strings.Builder
	for _, name := range flags {
		if n, ok := combo[name]; ok {
			fmt.Fprintf(&b, ", %s %d", name, n)
		}
	}
	return b.String()
}

func parseSizes(size game.Size, list string) ([]int, error) {
	var ns []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || size.Max > 0 && n > size.Max {
			return nil, fmt.Errorf("%w: bench: --%s %q: want numbers 0..%d", game.ErrUsage, size.Flag, s, size.Max)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// watched is one process's channel as bench reads it.
type watched struct {
	name   string
	shell  *venom.Shell
	buf    []byte
	header func([]byte) (engine.Header, error)
}

// read reads the newest snapshot's header: a torn or foreign snapshot is
// an error, no snapshot yet is venom.ErrNoData.
func (w *watched) read() (engine.Header, error) {
	n, _, err := w.shell.Read(w.buf)
	if err != nil {
		return engine.Header{}, err
	}
	return w.header(w.buf[:n])
}

// benched is one process under bench.
type benched struct {
	watched
	res         ProcResult
	probe       *engine.InputProbe // nil unless the process takes inputs
	sent        map[uint64]time.Time
	inputs      []time.Duration
	first, last uint64 // ticks
	budget      time.Duration
	head        [engine.HeaderSize]byte
	schema      uint64 // of the process's slice, from a whole read
}

// benchSize runs every process as a real process at one size and
// measures them from this process, as a renderer would read them.
func benchSize(ctx context.Context, g *game.Game, o *options, self string, f *game.Flags, combo map[string]int, size int, d time.Duration, stderr io.Writer) (SizeResult, error) {
	inst := fmt.Sprintf("bench%d-%d", os.Getpid(), size)
	for _, name := range slices.Sorted(maps.Keys(combo)) {
		inst += "-" + strconv.Itoa(combo[name])
	}
	defer g.RemoveSegments(inst)
	// One run id for the processes of this size, as run gives its
	// children: the members of a group make one world.
	f.RunID = 0
	f.DrawRunID()
	args := f.ChildArgs()
	for i, a := range args {
		if strings.HasPrefix(a, "--instance=") {
			args[i] = "--instance=" + inst
		}
	}
	if knob, ok := g.Size(); ok {
		args = append(args, "--"+knob.Flag+"="+strconv.Itoa(size))
	}
	for _, name := range slices.Sorted(maps.Keys(combo)) {
		args = append(args, "--"+name+"="+strconv.Itoa(combo[name]))
	}
	// The children as run starts them: each member of a group.
	var members []game.Member
	for _, m := range g.Children(f) {
		if m.Name != game.RenderName {
			members = append(members, m)
		}
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	}()
	for _, m := range members {
		cmd := exec.Command(self, append([]string{"proc", m.Name}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return SizeResult{}, err
		}
		procs = append(procs, cmd)
	}
	var bs []*benched
	defer func() {
		for _, b := range bs {
			b.shell.Close()
			if b.probe != nil {
				b.probe.Close()
			}
		}
	}()
	for _, m := range members {
		p := m.Process
		ch := inst + "." + m.Name
		s, err := connectWithin(ctx, ch, 20*time.Second)
		if err != nil {
			return SizeResult{}, err
		}
		b := &benched{watched: watched{name: m.Name, shell: s, buf: make([]byte, s.Config().DataSize), header: p.DecodeHeader},
			res: ProcResult{Name: m.Name, TargetRate: float64(p.Rate)}, sent: map[uint64]time.Time{},
			budget: time.Second / time.Duration(max(p.Rate, 1))}
		if p.Group != "" {
			b.res.Group = p.Name
		}
		bs = append(bs, b)
		h, err := b.read() // a whole snapshot, its schema checked
		if err != nil {
			return SizeResult{}, fmt.Errorf("%s: %w", ch, err)
		}
		b.schema = h.Schema
		if p.Inputs {
			if b.probe, err = engine.NewInputProbe(ch); err != nil {
				return SizeResult{}, err
			}
		}
	}
	res := SizeResult{Size: size, Counts: combo, ReadBy: "raw"}
	if len(combo) == 0 {
		res.Counts = nil
	}
	raw := rawReader(bs)
	read := raw.frame
	env := g.Env(f)
	env.Instance = inst
	if r, ok := g.Renderer(); ok && r.Reader != nil {
		// The renderer reads the supervisor's status too: bench, which
		// runs the processes itself, publishes one as a supervisor would.
		stop, err := benchStatus(inst, bs)
		if err != nil {
			return SizeResult{}, err
		}
		defer stop()
		frame, closeReader := r.Reader(env)
		defer closeReader()
		frame() // connect: the renderer's first frame, not measured
		read, res.ReadBy = frame, "renderer"
	}
	var meter Meter
	if o.world != nil {
		m, err := o.world(env)
		if err != nil {
			return SizeResult{}, fmt.Errorf("world: %w", err)
		}
		defer m.Close()
		meter = m
	}
	total := d // what the progress bar shows
	if res.ReadBy == "renderer" {
		total += benchBaseline
	}
	bar := newProgress(stderr, total)
	var reads []time.Duration
	start, nextInput := time.Now(), time.Now()
	frames := newFrameClock(start)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for time.Since(start) < d {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-poll.C:
		}
		now := time.Now()
		if frames.tick(now) { // a 60 Hz renderer's read of every slice
			reads = append(reads, read())
		}
		if now.After(nextInput) { // a numbered no-op every 20 ms: the world stays the game's own
			for _, b := range bs {
				if b.probe != nil && b.probe.Send() == nil {
					b.sent[b.probe.Sent()] = now
				}
			}
			nextInput = now.Add(20 * time.Millisecond)
		}
		for _, b := range bs {
			b.sample(now)
		}
		if meter != nil {
			meter.Sample(now)
		}
		bar.show(time.Since(start))
	}
	elapsed := time.Since(start)
	if meter != nil {
		res.World = meter.Figures()
	}
	for _, b := range bs {
		b.res.TicksPerSecond = float64(b.last-b.first) / elapsed.Seconds()
		b.res.TickMs = game.PercentilesOf(slices.Clone(b.res.TickSamples))
		b.res.InputMs = game.PercentilesOf(b.inputs)
		res.Procs = append(res.Procs, b.res)
	}
	for _, r := range reads {
		res.ReadUs = append(res.ReadUs, float64(r.Nanoseconds())/1e3)
	}
	res.ReadMs = game.PercentilesOf(reads)
	if res.ReadBy == "renderer" {
		// The baseline: the raw read of every channel, 60 Hz, after.
		reads = reads[:0]
		for t0 := time.Now(); time.Since(t0) < benchBaseline; {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-poll.C:
			}
			if frames.tick(time.Now()) {
				reads = append(reads, raw.frame())
			}
			bar.show(elapsed + time.Since(t0))
		}
		res.RawReadMs = game.PercentilesOf(reads)
	}
	bar.end()
	res.MemcpyUs = benchMemcpy(raw.bytes)
	return res, nil
}

// frameClock paces a renderer's frames: 60 a second, as a display's
// refresh or a ticker paces one (a frame taken a poll late does not delay
// the next), unless the reader fell a whole frame behind — and every
// tenth frame comes a sixth of a frame early, so the frames' phase
// against the processes' ticks goes round once a second (61 frames). A
// renderer's clock is not locked to theirs, and what a read costs
// depends on how long after physics' publish it comes (the same copy of
// 320 KB took 35 µs 8 ms after and 70 µs within 2 ms of it, while ai and
// net read the same snapshot): a run at one phase would measure that
// phase only. Early frames never find two new snapshots.
type frameClock struct {
	due    time.Time
	frames int
}

func newFrameClock(now time.Time) *frameClock { return &frameClock{due: now} }

// tick reports whether a frame is due at now, and if so takes it.
func (c *frameClock) tick(now time.Time) bool {
	if now.Before(c.due) {
		return false
	}
	const period = time.Second / 60
	c.frames++
	next := c.due.Add(period)
	if c.frames%10 == 0 {
		next = next.Add(-period / 6)
	}
	if next.Before(now) {
		next = now.Add(period)
	}
	c.due = next
	return true
}

// benchBaseline is how long the raw read runs after the renderer's.
const benchBaseline = 2 * time.Second

// rawRead reads every process's channel with venom, without decoding.
type rawRead struct {
	bs    []*benched
	bytes int // copied by the last frame
}

func rawReader(bs []*benched) *rawRead { return &rawRead{bs: bs} }

// frame reads every channel once and returns how long that took.
func (r *rawRead) frame() time.Duration {
	t := time.Now()
	n := 0
	for _, b := range r.bs {
		k, _, _ := b.shell.Read(b.buf)
		n += k
	}
	d := time.Since(t)
	r.bytes = n
	return d
}

// benchMemcpy is the p50 of a copy of n bytes between two private
// buffers, hot in cache, in µs.
func benchMemcpy(n int) float64 {
	src, dst := make([]byte, n), make([]byte, n)
	copy(dst, src)
	var d []time.Duration
	for range 200 {
		t := time.Now()
		copy(dst, src)
		d = append(d, time.Since(t))
	}
	return game.PercentilesOf(d).P50 * 1000
}

// benchStatus publishes a status slice on the instance's "sup" channel
// every supervisor.DefaultStatusEvery, as the supervisor does, with every
// process running; stop ends it.
func benchStatus(inst string, bs []*benched) (stop func(), err error) {
	ch := supervisor.StatusChannel(inst)
	venom.Remove(ch)
	d, err := venom.Create(ch, supervisor.StatusConfig(len(bs)))
	if err != nil {
		return nil, err
	}
	kids := make([]supervisor.ChildStatus, len(bs))
	for i, b := range bs {
		copy(kids[i].Name[:15], b.name)
		kids[i].State, kids[i].Flags, kids[i].ExitCode = supervisor.ChildRunning, supervisor.FlagChannel, -1
	}
	buf := make([]byte, supervisor.StatusSchema.Size(len(kids)))
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(supervisor.DefaultStatusEvery)
		defer tick.Stop()
		for i := uint64(1); ; i++ {
			now := venom.Monotonic()
			for j := range kids {
				kids[j].TickMono, kids[j].TickAge = now, 0
			}
			h := engine.Header{Tick: i, Mono: now, Rate: uint32(time.Second / supervisor.DefaultStatusEvery)}
			if n, err := supervisor.StatusSchema.Encode(buf, h, &supervisor.Meta{Pid: uint32(os.Getpid()), Children: uint32(len(kids))}, kids); err == nil {
				d.Publish(buf[:n])
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished; d.Close() }, nil
}

// readHeader reads the newest snapshot's header and not its body
// (venom.Shell.ReadHead): sampling every process each millisecond must
// not copy whole snapshots, which would also warm the cache for the
// renderer's read that bench measures. Its schema is the one the first
// whole read checked.
func (b *benched) readHeader() (engine.Header, error) {
	var h engine.Header
	snap, err := b.shell.ReadHead(b.head[:])
	if err != nil {
		return h, err
	}
	if snap.Len < engine.HeaderSize {
		return h, fmt.Errorf("%w: snapshot of %d bytes", engine.ErrCorrupt, snap.Len)
	}
	// The engine's own decoding: the header holds more than its exported
	// fields (encoding/binary cannot set those).
	if h, err = engine.PeekHeader(b.head[:]); err != nil {
		return h, err
	}
	if h.Schema != b.schema {
		return h, fmt.Errorf("%w: snapshot schema %#x, want %#x", engine.ErrIncompatible, h.Schema, b.schema)
	}
	return h, nil
}

// sample reads the process's newest header and takes its tick time and
// the inputs it shows, once per new tick.
func (b *benched) sample(now time.Time) {
	h, err := b.readHeader()
	if err != nil || h.Tick == b.last {
		return
	}
	if b.first == 0 {
		b.first = h.Tick
	} else {
		b.res.TickSamples = append(b.res.TickSamples, time.Duration(h.StepNanos))
		if time.Duration(h.StepNanos) > b.budget {
			b.res.DeadlineMisses++
		}
	}
	b.last, b.res.Lag = h.Tick, h.Lag
	for s, t := range b.sent {
		if h.LastInput >= s {
			b.inputs = append(b.inputs, now.Sub(t))
			delete(b.sent, s)
		}
	}
}

// connectWithin connects to a channel, waiting up to d for it to appear
// and publish.
func connectWithin(ctx context.Context, ch string, d time.Duration) (*venom.Shell, error) {
	deadline := time.Now().Add(d)
	for {
		s, err := venom.Connect(ch)
		if err == nil {
			if _, _, err = s.Read(nil); !errors.Is(err, venom.ErrNoData) {
				return s, nil // published: ErrTooLarge for the nil buffer
			}
			s.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect %s: %w", ch, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// progress shows how far a measurement has got: on a terminal a bar
// redrawn in place at most ten times a second; to a file or a pipe,
// which would keep every redraw, one line a second.
type progress struct {
	w     io.Writer
	total time.Duration
	tty   bool
	shown time.Duration // the last line's time (not a terminal)
	drawn bool
}

func newProgress(w io.Writer, total time.Duration) *progress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		tty = err == nil
	}
	return &progress{w: w, total: total, tty: tty}
}

func (p *progress) show(done time.Duration) {
	if !p.tty {
		if done-p.shown >= time.Second {
			p.shown = done.Truncate(time.Second)
			fmt.Fprintf(p.w, "  %4.1fs of %.1fs\n", p.shown.Seconds(), p.total.Seconds())
		}
		return
	}
	if done%(100*time.Millisecond) > 2*time.Millisecond {
		return
	}
	const width = 30
	n := int(float64(width) * min(1, done.Seconds()/p.total.Seconds()))
	fmt.Fprintf(p.w, "\r  [%s%s] %4.1fs", strings.Repeat("#", n), strings.Repeat(".", width-n), done.Seconds())
	p.drawn = true
}

// end ends the bar's line.
func (p *progress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// benchVenom measures venom's round trip and read bandwidth beside a Unix
// socket and memcpy, between two goroutines of this process.
func benchVenom() (VenomSummary, error) {
	var v VenomSummary
	name := fmt.Sprintf("bench%d.echo", os.Getpid())
	d, err := venom.Create(name, venom.Config{DataSize: 64 << 10})
	if err != nil {
		return v, err
	}
	defer venom.Remove(name)
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Serve(ctx, func(_ venom.ClientID, cmd, resp []byte) int { return copy(resp, cmd) })
	s, err := venom.Connect(name)
	if err != nil {
		return v, err
	}
	defer s.Close()
	msg, resp := make([]byte, 64), make([]byte, 64)
	const rounds = 20000
	var rt []time.Duration
	for range rounds {
		t := time.Now()
		if _, err := s.Request(ctx, msg, resp); err != nil {
			return v, err
		}
		rt = append(rt, time.Since(t))
	}
	v.RoundTripUs = game.PercentilesOf(rt).P50 * 1000

	sock := filepath.Join(os.TempDir(), name+".sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return v, err
	}
	defer os.Remove(sock)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			c.Write(buf)
		}
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		return v, err
	}
	defer c.Close()
	rt = rt[:0]
	for range rounds {
		t := time.Now()
		c.Write(msg)
		if _, err := io.ReadFull(c, resp); err != nil {
			return v, err
		}
		rt = append(rt, time.Since(t))
	}
	v.UnixSocketUs = game.PercentilesOf(rt).P50 * 1000

	snap := make([]byte, 64<<10)
	if _, err := d.Publish(snap); err != nil {
		return v, err
	}
	buf := make([]byte, 64<<10)
	const reads = 20000
	t := time.Now()
	for range reads {
		if _, _, err := s.Read(buf); err != nil {
			return v, err
		}
	}
	v.ReadGBs = float64(reads*len(buf)) / time.Since(t).Seconds() / 1e9
	t = time.Now()
	for range reads {
		copy(buf, snap)
	}
	v.MemcpyGBs = float64(reads*len(buf)) / time.Since(t).Seconds() / 1e9
	return v, nil
}

// PrintReport prints a bench report as the bench subcommand does.
func PrintReport(w io.Writer, rep *Report) {
	for _, s := range rep.Sizes {
		if rep.SizeFlag != "" || len(s.Counts) > 0 {
			label := strings.TrimPrefix(countsLabel(rep.GroupFlags, s.Counts), ", ")
			if rep.SizeFlag != "" {
				label = fmt.Sprintf("%s %d%s", rep.SizeFlag, s.Size, countsLabel(rep.GroupFlags, s.Counts))
			}
			fmt.Fprintln(w, label)
		}
		fmt.Fprintln(w, "  process       tick p50/p99/p99.9/max ms       tps (target)  misses   input→visible p50/p99 ms   n ticks/inputs")
		for _, r := range s.Procs {
			fmt.Fprintf(w, "  %-12s  %5.2f / %5s / %5s / %6.2f   %5.1f (%.0f)  %6d   %6.1f / %6s             %d/%d\n",
				r.Name, r.TickMs.P50, cell(r.TickMs.P99, 1), cell(r.TickMs.P999, 1), r.TickMs.Max, r.TicksPerSecond, r.TargetRate,
				r.DeadlineMisses, r.InputMs.P50, cell(r.InputMs.P99, 1), r.TickMs.N, r.InputMs.N)
		}
		if s.ReadBy == "renderer" {
			fmt.Fprintf(w, "  the renderer's read of every slice per frame: p50 %.1f µs, p99 %s µs (n=%d)\n", s.ReadMs.P50*1000, cell(s.ReadMs.P99, 1000), s.ReadMs.N)
			fmt.Fprintf(w, "    baselines, same run: raw copy of every slice per frame p50 %.1f µs, p99 %s µs (n=%d, %v after); memcpy of its bytes, hot, %.1f µs\n",
				s.RawReadMs.P50*1000, cell(s.RawReadMs.P99, 1000), s.RawReadMs.N, benchBaseline, s.MemcpyUs)
		} else {
			fmt.Fprintf(w, "  raw copy of every slice per frame (no Renderer.Reader): p50 %.1f µs, p99 %s µs (n=%d); memcpy of its bytes, hot, %.1f µs\n",
				s.ReadMs.P50*1000, cell(s.ReadMs.P99, 1000), s.ReadMs.N, s.MemcpyUs)
		}
	}
	fmt.Fprintln(w, "(-: too few samples for that percentile: a p99 needs 100, a p99.9 1,000)")
	printWorld(w, rep)
	v := rep.Venom
	fmt.Fprintf(w, "venom round trip 64 B p50 %.2f µs, unix socket %.2f µs (%s); read 64 KiB %.1f GB/s, memcpy %.1f GB/s (%.0f%%)\n",
		v.RoundTripUs, v.UnixSocketUs, Ratio(v.UnixSocketUs, v.RoundTripUs), v.ReadGBs, v.MemcpyGBs, 100*v.ReadGBs/v.MemcpyGBs)
}

// printWorld prints the game's World figures as a table, a row per size
// and count: each figure that Scales beside N × the figure of the same
// size with one member of each group in the same run (its ratio), and
// the worst member's tick p50 and p99 of the groups.
func printWorld(w io.Writer, rep *Report) {
	var names []string
	scales := map[string]bool{}
	for _, s := range rep.Sizes {
		for _, f := range s.World {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
			scales[f.Name] = scales[f.Name] || f.Scales
		}
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, "world (the game's own measure), each count beside one member of the same size in the same run (÷ N×1: the figure over N times that one's):")
	var head strings.Builder
	if rep.SizeFlag != "" {
		fmt.Fprintf(&head, "  %8s", rep.SizeFlag)
	}
	for _, g := range rep.GroupFlags {
		fmt.Fprintf(&head, "  %7s", g)
	}
	width := func(name string) int { return max(12, len(name)) }
	for _, name := range names {
		fmt.Fprintf(&head, "  %*s", width(name), name)
		if scales[name] {
			fmt.Fprintf(&head, "  %7s", "÷ N×1")
		}
	}
	if len(rep.GroupFlags) > 0 {
		fmt.Fprintf(&head, "  %s", "member tick p50 / p99 ms (worst member)")
	}
	fmt.Fprintln(w, head.String())
	for i := range rep.Sizes {
		s := &rep.Sizes[i]
		var row strings.Builder
		if rep.SizeFlag != "" {
			fmt.Fprintf(&row, "  %8d", s.Size)
		}
		n := 1
		for _, g := range rep.GroupFlags {
			fmt.Fprintf(&row, "  %7d", s.Counts[g])
			n *= max(s.Counts[g], 1)
		}
		base := baseline(rep, s)
		for _, name := range names {
			v, ok := figure(s.World, name)
			if !ok {
				fmt.Fprintf(&row, "  %*s", width(name), "-")
			} else {
				fmt.Fprintf(&row, "  %*s", width(name), number(v))
			}
			if scales[name] {
				ratio := "-"
				if b, bok := figure(base, name); ok && bok && base != nil {
					ratio = strconv.FormatFloat(v/(float64(n)*b), 'f', 2, 64)
				}
				fmt.Fprintf(&row, "  %7s", ratio)
			}
		}
		if len(rep.GroupFlags) > 0 {
			var p50, p99 float64
			for _, p := range s.Procs {
				if p.Group != "" {
					p50, p99 = max(p50, p.TickMs.P50), max(p99, p.TickMs.P99)
				}
			}
			fmt.Fprintf(&row, "  %6.2f / %s", p50, cell(p99, 1))
		}
		fmt.Fprintln(w, row.String())
	}
}

// baseline is the World figures of the same size and run as s with one
// member of each group, nil when the sweep has none.
func baseline(rep *Report, s *SizeResult) []Figure {
	for _, b := range rep.Sizes {
		if b.Size != s.Size || b.Run != s.Run {
			continue
		}
		one := true
		for _, n := range b.Counts {
			one = one && n == 1
		}
		if one {
			return b.World
		}
	}
	return nil
}

// figure is the value of the figure called name.
func figure(fs []Figure, name string) (float64, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

// number prints a figure with three significant digits or its whole
// part, whichever is longer.
func number(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// cell prints a percentile scaled by unit, or "-" when it was left out for
// too few samples.
func cell(v, unit float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v*unit)
}

// Ratio prints a/b as a ratio ("3.2x") with two significant digits at
// least, so that no ratio rounds to "0.0x": one below 0.01 is "<0.01x";
// one of no meaning (b zero, a NaN) is "-".
func Ratio(a, b float64) string {
	r := a / b
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0) || r < 0:
		return "-"
	case r == 0:
		return "0x"
	case r < 0.01:
		return "<0.01x"
	case r < 1:
		return strconv.FormatFloat(r, 'f', 2+max(0, -int(math.Floor(math.Log10(r)))-1), 64) + "x"
	case r < 10:
		return strconv.FormatFloat(r, 'f', 1, 64) + "x"
	}
	return strconv.FormatFloat(r, 'f', 0, 64) + "x"
}

// WriteGoBench writes rep's figures in Go's benchmark format, one line
// per figure and size run, so that benchstat compares two commits' runs
// (bench --count N gives it N samples of each):
//
//	BenchmarkTick/physics/bodies=2000  7200  412000 ns/op  380000 p50-ns  1900000 p99-ns  60.0 ticks/s  0 misses
//	BenchmarkRead/bodies=2000          300    21000 ns/op  ...
//	BenchmarkVenomRoundTrip            1       5100 ns/op   (the same run's Unix socket: BenchmarkUnixSocketRoundTrip)
//
// A tick's ns/op is the mean of its measured tick times (Header.StepNanos
// samples), its iterations the samples taken; a read's, the mean per
// frame of the reader's read of every slice.
func WriteGoBench(w io.Writer, name string, rep *Report) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: %s\n", runtime.GOOS, runtime.GOARCH, name)
	size := func(r SizeResult) string {
		var b strings.Builder
		if rep.SizeFlag != "" {
			fmt.Fprintf(&b, "/%s=%d", rep.SizeFlag, r.Size)
		}
		for _, g := range rep.GroupFlags {
			if n, ok := r.Counts[g]; ok {
				fmt.Fprintf(&b, "/%s=%d", g, n)
			}
		}
		return b.String()
	}
	for _, r := range rep.Sizes {
		for _, p := range r.Procs {
			n := len(p.TickSamples)
			if n == 0 {
				continue
			}
			var sum time.Duration
			for _, d := range p.TickSamples {
				sum += d
			}
			fmt.Fprintf(w, "BenchmarkTick/%s%s \t%d\t%d ns/op\t%.0f p50-ns%s\t%.1f ticks/s\t%d misses\n",
				p.Name, size(r), n, (sum / time.Duration(n)).Nanoseconds(), p.TickMs.P50*1e6, p99(p.TickMs), p.TicksPerSecond, p.DeadlineMisses)
		}
		if len(r.ReadUs) > 0 {
			var sum float64
			for _, us := range r.ReadUs {
				sum += us
			}
			fmt.Fprintf(w, "BenchmarkRead%s \t%d\t%.0f ns/op%s\n", size(r), len(r.ReadUs), 1e3*sum/float64(len(r.ReadUs)), p99(r.ReadMs))
		}
		if len(r.World) > 0 {
			fmt.Fprintf(w, "BenchmarkWorld%s \t1", size(r))
			for _, f := range r.World {
				fmt.Fprintf(w, "\t%g %s", f.Value, f.Name)
			}
			fmt.Fprintln(w)
		}
	}
	if v := rep.Venom; v.RoundTripUs > 0 {
		fmt.Fprintf(w, "BenchmarkVenomRoundTrip \t1\t%.0f ns/op\n", v.RoundTripUs*1e3)
		fmt.Fprintf(w, "BenchmarkUnixSocketRoundTrip \t1\t%.0f ns/op\n", v.UnixSocketUs*1e3)
	}
}

// p99 is a --gobench line's p99 field, none when too few samples gave
// one (a 0 would be a sample to benchstat).
func p99(p game.Percentiles) string {
	if p.P99 == 0 {
		return ""
	}
	return fmt.Sprintf("\t%.0f p99-ns", p.P99*1e6)
}
