// Package chaos is the chaos tool of a game declared on engine/game:
// "PROGRAM chaos" runs the game as "PROGRAM run" in a child process and
// injects random faults into its processes — signals, the engine's fault
// ops, a SIGKILL of the supervisor itself — while numbered inputs flow
// to every process on engine.Run; then it reports recovery times,
// restarts, the renderer's longest stall, and whether every input landed
// exactly once, and exits 1 when the game failed.
//
// A game opts in on its declaration:
//
//	g.Use(chaos.Tool())                     // or chaos.Tool(chaos.Watch(start))
//
// It needs nothing of a process beyond engine.Run: faults are engine ops
// and signals; exactly-once is checked with the numbered inputs every
// process on engine.Run accepts (Command.Seq → Header.LastInput). A
// process group's members (game.Process.Group) are children like any
// other: each is faulted and numbered inputs go to each.
//
// A game may declare what must hold of its world whatever the faults
// (Invariant): chaos checks it on the published snapshots during the run
// and after it, reports its figures and fails the run on a violation —
// the demo's: every body exactly once across its physics regions.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// DefaultFailureThreshold is the supervisor's failure threshold chaos
// runs the game with unless --failure-threshold says otherwise: so high
// that no child is ever given up on, since chaos provokes failures faster
// than a game's own threshold allows (a child failed by its intensity
// would fail the run for want of a restart, not for a fault of the
// runtime). Set it to the game's own to see where that is crossed.
const DefaultFailureThreshold = 1e6

// Option adjusts the chaos tool.
type Option func(*options)

type options struct {
	watch     func(ctx context.Context, env game.Env) (Watcher, error)
	invariant func(ctx context.Context, env game.Env) (Checker, error)
}

// Watch sets how chaos watches the game from outside, as a user would
// (the demo: a player on net's WebSocket for the whole run). start is
// called once the game runs.
func Watch(start func(ctx context.Context, env game.Env) (Watcher, error)) Option {
	return func(o *options) { o.watch = start }
}

// Invariant declares a world invariant the game keeps under any fault
// (the demo's: every body exactly once across its regions, the total
// conserved). start is called once the game runs; chaos then checks the
// Checker every --check-every during the run and again once the run has
// settled, reports its figures, and fails the run on any violation a
// check names.
func Invariant(start func(ctx context.Context, env game.Env) (Checker, error)) Option {
	return func(o *options) { o.invariant = start }
}

// Checker checks a game's world invariant from outside the game, on the
// snapshots its processes publish.
type Checker interface {
	// Check reads the world once and judges it. An error means that no
	// reading could be taken this time (a snapshot not yet published, a
	// world that moved under every try of a consistent read): chaos
	// counts it as a skipped check, never as a violation.
	Check(ctx context.Context) (Reading, error)
	// Close releases what the checker holds.
	Close() error
}

// Reading is one check of a world invariant.
type Reading struct {
	// Figures are the reading's named counts (the demo: lost, doubled,
	// in flight, total); the report keeps each one's final value and
	// the largest seen.
	Figures map[string]float64
	// Violations say what does not hold ("2 bodies lost: 17, 45"): any
	// fails the run.
	Violations []string
}

// WorldAccount is what chaos saw of the game's world invariant
// (Invariant) over a run.
type WorldAccount struct {
	Checks  int // readings judged
	Skipped int // checks that took no reading (Checker.Check's errors)
	// Violated counts the readings with a violation.
	Violated int
	// Final holds the figures of the reading taken after the run
	// settled (nil when none could be taken), Max the largest value of
	// each figure over the run.
	Final, Max map[string]float64
	// Violations are the first distinct violations seen (at most
	// maxViolations), each with when into the run it was seen.
	Violations []string `json:",omitempty"`
	// SkipReasons are the first distinct reasons a check took no
	// reading (at most maxViolations).
	SkipReasons []string `json:",omitempty"`
}

// maxViolations bounds the violations and skip reasons a report keeps.
const maxViolations = 10

// Watcher watches a chaos run from outside the game, as a user would: it
// adds its own figures and failures to the report.
type Watcher interface {
	// Observe is called every few milliseconds during the run and while
	// it settles.
	Observe(now time.Time)
	// Faulted tells that a fault was injected into child.
	Faulted(child string, now time.Time)
	// Settled reports whether the watcher has seen what it waits for
	// since the run ended (since).
	Settled(since time.Time) bool
	// Report adds the watcher's figures, under Watch, and its failures.
	Report(r *Report)
	// Close releases what the watcher holds.
	Close() error
}

// Tool registers the subcommand chaos on a game.
func Tool(opts ...Option) game.Tool {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return func(g *game.Game) {
		g.Subcommand(game.Subcommand{
			Name:    "chaos",
			Summary: "run the game under random faults and report",
			Run:     func(ctx context.Context, c game.Call) error { return cmdChaos(ctx, g, &o, c) },
		})
		g.ToolProcess(ControlName, runControl)
	}
}

// ControlName is the control frame loop's process and channel name: a
// process chaos starts beside the game, never faults and reads as it
// reads the renderer, so that the longest gap between the renderer's
// frames is judged against what the host itself does to a 60 Hz frame
// loop in the same run (a loaded machine stalls both).
const ControlName = "chaos-control"

// controlSchema is the control's channel: its frames are Header.Tick.
var controlSchema = engine.MustSchema[uint64, uint64]()

// runControl is the control frame loop: 60 frames a second, each one a
// publish, as a renderer's, and nothing else.
func runControl(ctx context.Context, env game.Env) error {
	w, err := engine.Own(ctx, controlSchema, engine.OwnOptions[uint64, uint64]{Channel: env.Channel(ControlName), Fresh: true, Log: env.Log})
	if err != nil {
		return err
	}
	defer w.Close()
	frame := time.NewTicker(time.Second / 60)
	defer frame.Stop()
	var none uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-frame.C:
		}
		w.Poll()
		w.Header().Tick++
		w.Header().Rate = 60
		if err := w.Publish(&none, nil); err != nil {
			return err
		}
	}
}

// ReadReport reads a report chaos wrote with --json.
func ReadReport(path string) (Report, error) {
	var rep Report
	b, err := os.ReadFile(path)
	if err != nil {
		return rep, fmt.Errorf("chaos: report: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("chaos: report %s: %w", path, err)
	}
	return rep, nil
}

// Report is what chaos prints and writes with --json.
type Report struct {
	Seed     uint64
	Duration string
	// FailureThreshold is the supervisor's failure threshold the game
	// ran with (--failure-threshold).
	FailureThreshold float64
	Faults           map[string]int // injected, by kind
	FaultsByChild    map[string]int
	Restarts         map[string]uint32
	RecoveryMs       game.Percentiles // fault → first publish of the successor
	// RecoveryByKind is RecoveryMs per fault kind, so a tail explains
	// itself (a supervisor's recovery is every child's).
	RecoveryByKind map[string]game.Percentiles
	// RecoveryByChild is RecoveryMs per child faulted.
	RecoveryByChild map[string]game.Percentiles
	Unrecovered     []string // faults whose child never published again
	// Unprovoked counts restarts that no fault explains: every fault but
	// slow and the input faults costs one restart, so any more is the
	// runtime's own doing (a false hang alarm, a fault handed twice). It
	// is reported, not judged.
	Unprovoked   int
	Frames       uint64  // renderer frames during the run
	LongestGapMs float64 // longest time between two frames, outside faults to the renderer
	// ControlGapMs is the longest gap between two frames of the control
	// (ControlName), a 60 Hz frame loop beside the game that suffers no
	// fault, read the same way in the same run: what the host itself did
	// to a frame loop. The run fails when the renderer's gap exceeds it
	// by more than StallMarginMs (and, when MaxStallMs is set, when the
	// renderer's gap exceeds that).
	ControlGapMs  float64
	StallMarginMs float64
	MaxStallMs    float64 `json:",omitempty"`
	JudgeStall    bool
	// Numbered inputs (engine.OpInput) flow to every process that runs on
	// engine.Run for the whole run; each one's account compares the
	// numbers its final snapshot holds with the ones sent. Sent, Lost and
	// Doubled are their sums.
	Inputs         map[string]engine.InputAccount
	Sent           uint64
	Lost, Doubled  uint64
	Redelivered    uint64 // arrived again after being applied, and dropped
	TornReads      int
	TickRegression int
	// Watch holds the figures of the game's Watcher (the demo: a player
	// on net's WebSocket), Notes its lines of the printed report.
	Watch map[string]float64 `json:",omitempty"`
	Notes []string           `json:",omitempty"`
	// World is the account of the game's world invariant (Invariant),
	// nil without one.
	World       *WorldAccount `json:",omitempty"`
	FinalStates map[string]string
	Failures    []string // why the run failed; empty when it passed
}

// SupervisorFault is the chaos fault that SIGKILLs the game's supervisor
// (its children die with it) and runs the game again.
const SupervisorFault = "supervisor"

// faultKinds are the faults chaos knows: game.FaultKinds and the
// supervisor's death.
func faultKinds() []string { return append(game.FaultKinds(), SupervisorFault) }

// inputFault reports whether a fault kind breaks exactly-once.
func inputFault(kind string) bool { return kind == "drop" || kind == "double" }

// inputTail is how long numbered inputs flow after the last fault, so that
// every input fault finds an input to act on.
const inputTail = 500 * time.Millisecond

// settleTimeout bounds the wait for a run's last faults to recover and
// its inputs to land.
const settleTimeout = 30 * time.Second

func cmdChaos(ctx context.Context, g *game.Game, o *options, call game.Call) error {
	f := g.NewFlags("chaos")
	f.SetOutput(call.Stderr)
	duration := f.Duration("duration", 10*time.Second, "how long faults are injected")
	faults := f.String("faults", "kill,stop,panic,midpublish,slow",
		"fault kinds to inject: kill, stop, panic, exit, hang, midpublish, slow, supervisor; drop and double break exactly-once on purpose (the run must fail)")
	rate := f.Float64("rate", 1, "faults per second")
	targets := f.String("targets", "", "the children faults go to, comma-separated: a process (a group's name: every member of it), a member (physics-1) or render (default: every child); the supervisor fault is --faults' own")
	jsonOut := f.String("json", "", "also write the report as JSON to this file")
	gameLog := f.String("game-log", "", "append the game's own log (its supervisor's and children's) to this file, to explain a tail")
	maxStall := f.Duration("max-stall", 0, "longest renderer gap between frames that still passes, whatever the control's (0: judge it against the control only)")
	margin := f.Duration("stall-margin", 50*time.Millisecond, "how much longer than the control's longest gap (a fault-free 60 Hz frame loop beside the game) the renderer's may be")
	judgeStall := f.Bool("judge-stall", true, "judge the renderer's longest gap (false: report it only, for a run that must assert no timing)")
	threshold := f.Float64("failure-threshold", DefaultFailureThreshold,
		"the supervisor's failure score above which a child is failed, as the game runs with it (\"run --failure-threshold\"): high by default, so that no child is given up on under faults far faster than a game's own")
	var checkEvery *time.Duration
	if o.invariant != nil {
		checkEvery = f.Duration("check-every", 50*time.Millisecond, "how often the game's world invariant is checked during the run")
	}
	var seed uint64
	if f.Lookup("seed") == nil { // else the game's own --seed seeds the faults too
		f.Uint64Var(&seed, "seed", 1, "seed of the faults")
	}
	pos, err := g.Parse(f, call.Args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: chaos: unexpected arguments %q", game.ErrUsage, pos)
	}
	if seed, err = strconv.ParseUint(f.Lookup("seed").Value.String(), 10, 64); err != nil {
		return fmt.Errorf("%w: chaos: --seed: %v", game.ErrUsage, err)
	}
	kinds := strings.Split(*faults, ",")
	for _, k := range kinds {
		if !slices.Contains(faultKinds(), k) {
			return fmt.Errorf("%w: chaos: unknown fault %q (want %s)", game.ErrUsage, k, strings.Join(faultKinds(), ", "))
		}
	}
	if *rate <= 0 || *rate > 100 {
		return fmt.Errorf("%w: chaos: --rate %v, want (0, 100]", game.ErrUsage, *rate)
	}
	if *margin < 0 || *maxStall < 0 {
		return fmt.Errorf("%w: chaos: --stall-margin %v, --max-stall %v: want >= 0", game.ErrUsage, *margin, *maxStall)
	}
	if !(*threshold > 0) { // NaN too
		return fmt.Errorf("%w: chaos: --failure-threshold %v, want > 0", game.ErrUsage, *threshold)
	}
	if checkEvery != nil && *checkEvery <= 0 {
		return fmt.Errorf("%w: chaos: --check-every %v, want > 0", game.ErrUsage, *checkEvery)
	}
	targeted, err := targetChildren(g, f, *targets)
	if err != nil {
		return err
	}
	if !isSet(f.FlagSet, "instance") {
		f.Instance = fmt.Sprintf("chaos%d", os.Getpid())
	}
	f.Headless = true
	self, err := os.Executable()
	if err != nil {
		return err
	}
	log, stdout := call.Log, call.Stdout
	// The game runs as "PROGRAM run", a process of its own, so that its
	// supervisor can be killed and run again like any child.
	gp := &gameProc{self: self, args: runArgs(*threshold, f.ChildArgs())}
	if *gameLog != "" {
		lf, err := os.OpenFile(*gameLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("chaos: --game-log: %w", err)
		}
		defer lf.Close()
		gp.log = lf
	}
	log.Info("chaos: the game runs", "failure-threshold", *threshold)
	if err := gp.start(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	defer g.RemoveSegments(f.Instance) // what a killed supervisor left
	defer gp.stop()
	// The control: a frame loop beside the game, never faulted.
	control := &gameProc{self: self, args: []string{"proc", ControlName, "--instance=" + f.Instance}, log: gp.log}
	if err := control.start(); err != nil {
		return fmt.Errorf("chaos: control: %w", err)
	}
	defer control.stop()

	// The children as run starts them: each member of a group is one.
	env := g.Env(f)
	env.Headless, env.Log, env.Out = true, log, io.Discard
	var members []string
	procs := map[string]game.Process{}
	for _, m := range g.Children(f) {
		members = append(members, m.Name)
		procs[m.Name] = m.Process
	}
	c := &chaos{g: g, opts: o, env: env, members: members, procs: procs, targets: targeted, game: gp,
		rng: rand.New(rand.NewPCG(seed, 0x5eed)), kinds: kinds, log: log,
		rep: Report{Seed: seed, Duration: duration.String(), FailureThreshold: *threshold, Faults: map[string]int{}, FaultsByChild: map[string]int{},
			Restarts: map[string]uint32{}, FinalStates: map[string]string{}, Inputs: map[string]engine.InputAccount{},
			RecoveryByKind: map[string]game.Percentiles{}, RecoveryByChild: map[string]game.Percentiles{},
			StallMarginMs: float64(margin.Microseconds()) / 1000, MaxStallMs: float64(maxStall.Microseconds()) / 1000, JudgeStall: *judgeStall}}
	if checkEvery != nil {
		c.checkEvery = *checkEvery
	}
	defer c.close()
	if err := c.run(ctx, *duration, *rate); err != nil {
		return err
	}
	PrintReport(stdout, &c.rep)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(&c.rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if len(c.rep.Failures) > 0 {
		return &game.ExitError{Code: 1, Err: fmt.Errorf("chaos: %s", strings.Join(c.rep.Failures, "; "))}
	}
	return nil
}

// targetChildren are the children named by --targets (every child when
// it is empty): a process's name stands for every member of its group.
// A name that is no child's is a usage error that names them.
func targetChildren(g *game.Game, f *game.Flags, list string) ([]string, error) {
	children := g.Children(f)
	var all []string
	for _, m := range children {
		all = append(all, m.Name)
	}
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	var out []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, m := range children {
			if m.Name == name || m.Process.Name == name {
				found = true
				if !slices.Contains(out, m.Name) {
					out = append(out, m.Name)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: chaos: --targets: no child %q (want %s)", game.ErrUsage, name, strings.Join(all, ", "))
		}
	}
	return out, nil
}

// runArgs are the game's command line under chaos: "run" with the
// failure threshold chaos runs it with, and the game's flags.
func runArgs(threshold float64, childArgs []string) []string {
	return append([]string{"run", "--failure-threshold=" + strconv.FormatFloat(threshold, 'g', -1, 64)}, childArgs...)
}

// isSet reports whether the command line set flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// watched is one child's channel as chaos reads it.
type watched struct {
	name   string
	shell  *venom.Shell
	buf    []byte
	header func([]byte) (engine.Header, error)
	tick   uint64
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

type chaos struct {
	g       *game.Game
	opts    *options
	env     game.Env
	members []string                // the children's names: a group's members each, the renderer last
	targets []string                // the children faults go to (--targets)
	procs   map[string]game.Process // each child's declared process (a member's: its group's)
	game    *gameProc
	status  *engine.Client[supervisor.Meta, supervisor.ChildStatus]
	epochs  map[string]uint64 // each channel's epoch when the faults began
	rng     *rand.Rand
	kinds   []string
	log     *slog.Logger
	rep     Report

	watch      []*watched
	render     *watched // nil without a renderer
	control    *watched // the control frame loop's channel
	controlF   uint64   // its last frame counter seen
	controlAt  time.Time
	probes     map[string]*engine.InputProbe
	watcher    Watcher
	checker    Checker       // the game's world invariant, nil without one
	checkEvery time.Duration // how often it is checked during the run
	started    time.Time     // when the faults began
	pending    []chaosFault
	recovery   []time.Duration
	byKind     map[string][]time.Duration
	byChild    map[string][]time.Duration
	frames     uint64 // the renderer's last frame counter seen
	firstF     uint64
	lastFrame  time.Time
	renderHit  time.Time // the renderer was faulted: its gap is recovery, not a stall
}

// chaosFault is one fault in flight: when it was injected and what the
// child's channel looked like then.
type chaosFault struct {
	child, kind string
	at          time.Time
	epochs      map[string]uint64 // of the channels it takes down
}

func (c *chaos) close() {
	if c.status != nil {
		c.status.Close()
	}
	if c.control != nil {
		c.control.shell.Close()
	}
	for _, w := range c.watch {
		w.shell.Close()
	}
	for _, p := range c.probes {
		p.Close()
	}
	if c.watcher != nil {
		c.watcher.Close()
	}
	if c.checker != nil {
		c.checker.Close()
	}
}

// connect attaches to every child's channel once the game runs.
func (c *chaos) connect(ctx context.Context) error {
	if !c.waitAllRunning(ctx, 30*time.Second) {
		return errors.New("chaos: the game did not start")
	}
	c.epochs, c.byKind, c.byChild = c.channelEpochs(), map[string][]time.Duration{}, map[string][]time.Duration{}
	c.probes = map[string]*engine.InputProbe{}
	for _, name := range c.members {
		s, err := venom.Connect(c.env.Channel(name))
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		w := &watched{name: name, shell: s, buf: make([]byte, s.Config().DataSize), header: engine.PeekHeader}
		c.watch = append(c.watch, w)
		if name == game.RenderName {
			c.render = w
			continue
		}
		p := c.procs[name]
		w.header = p.DecodeHeader
		if p.Inputs {
			if c.probes[name], err = engine.NewInputProbe(c.env.Channel(name)); err != nil {
				return fmt.Errorf("chaos: %w", err)
			}
		}
	}
	var s *venom.Shell
	for deadline := time.Now().Add(30 * time.Second); s == nil; {
		var err error
		if s, err = venom.Connect(c.env.Channel(ControlName)); err != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("chaos: control: %w", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.control = &watched{name: ControlName, shell: s, buf: make([]byte, s.Config().DataSize), header: controlSchema.DecodeHeader}
	if c.opts.watch != nil {
		var err error
		if c.watcher, err = c.opts.watch(ctx, c.env); err != nil {
			return fmt.Errorf("chaos: watch: %w", err)
		}
	}
	if c.opts.invariant != nil {
		var err error
		if c.checker, err = c.opts.invariant(ctx, c.env); err != nil {
			return fmt.Errorf("chaos: invariant: %w", err)
		}
		c.rep.World = &WorldAccount{Max: map[string]float64{}}
	}
	return nil
}

func (c *chaos) run(ctx context.Context, d time.Duration, rate float64) error {
	if err := c.connect(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	c.started = start
	nextFault := start.Add(c.interval(rate))
	nextInput, nextCheck := start, start
	end := start.Add(d)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		if now.After(nextInput) && now.Before(end.Add(inputTail)) {
			for _, p := range c.probes {
				p.Send() // a full lane (the child is down) keeps the number for next time
			}
			nextInput = now.Add(10 * time.Millisecond)
		}
		c.observe(now)
		if c.checker != nil && !now.Before(nextCheck) {
			c.check(ctx, now)
			nextCheck = time.Now().Add(c.checkEvery)
		}
		if now.After(nextFault) && now.Before(end) {
			c.inject(now)
			nextFault = now.Add(c.interval(rate))
		}
		if now.After(end.Add(inputTail)) {
			break
		}
	}
	// Let the last faults recover, the inputs land and the watcher see
	// the game again: conditions, each with a generous deadline.
	ended := time.Now()
	for deadline := ended.Add(settleTimeout); !c.settled(ended) && time.Now().Before(deadline); {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
		c.observe(time.Now())
	}
	if c.checker != nil {
		c.finalCheck(ctx)
	}
	c.finish(ended)
	return nil
}

// check takes one reading of the game's world invariant and accounts for
// it; it returns whether a reading was taken.
func (c *chaos) check(ctx context.Context, now time.Time) bool {
	w := c.rep.World
	r, err := c.checker.Check(ctx)
	if err != nil {
		w.Skipped++
		if msg := err.Error(); len(w.SkipReasons) < maxViolations && !slices.Contains(w.SkipReasons, msg) {
			w.SkipReasons = append(w.SkipReasons, msg)
		}
		return false
	}
	w.Checks++
	for name, v := range r.Figures {
		if _, ok := w.Max[name]; !ok || v > w.Max[name] {
			w.Max[name] = v
		}
	}
	w.Final = r.Figures
	if len(r.Violations) == 0 {
		return true
	}
	w.Violated++
	at := now.Sub(c.started).Round(time.Millisecond)
	for _, v := range r.Violations {
		if len(w.Violations) < maxViolations && !slices.ContainsFunc(w.Violations, func(s string) bool { return strings.HasSuffix(s, ": "+v) }) {
			w.Violations = append(w.Violations, fmt.Sprintf("at %v: %s", at, v))
			c.log.Warn("chaos: world invariant violated", "at", at, "violation", v)
		}
	}
	return true
}

// finalCheck takes the reading of the world after the run settled: the
// first one taken within finalCheckTimeout. None leaves Final nil, which
// fails the run.
func (c *chaos) finalCheck(ctx context.Context) {
	c.rep.World.Final = nil
	for deadline := time.Now().Add(finalCheckTimeout); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
		if c.check(ctx, time.Now()) {
			return
		}
	}
}

// finalCheckTimeout bounds the wait for a reading of the world after the
// run settled.
const finalCheckTimeout = 10 * time.Second

func (c *chaos) interval(rate float64) time.Duration {
	return time.Duration(c.rng.ExpFloat64() / rate * float64(time.Second))
}

// settled reports whether nothing is recovering, every child runs, every
// numbered input sent has landed and the watcher is content.
func (c *chaos) settled(since time.Time) bool {
	if len(c.pending) > 0 || !c.allRunning() || c.watcher != nil && !c.watcher.Settled(since) {
		return false
	}
	for _, p := range c.probes {
		if h, err := p.Header(); err != nil || h.LastInput < p.Sent() {
			return false
		}
	}
	return true
}

// children is the newest status the game's supervisor published.
func (c *chaos) children() []supervisor.ChildStatus {
	if c.status == nil {
		s, err := engine.Connect(c.env.Status(), supervisor.StatusSchema)
		if err != nil {
			return nil
		}
		c.status = s
	}
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if c.status.Read(&f) != nil {
		return nil
	}
	return f.Items
}

func (c *chaos) allRunning() bool {
	st := c.children()
	if len(st) != len(c.members) {
		return false
	}
	for _, s := range st {
		if s.State != supervisor.ChildRunning {
			return false
		}
	}
	return true
}

func (c *chaos) waitAllRunning(ctx context.Context, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && ctx.Err() == nil; {
		if c.allRunning() && c.everyChannelPublished() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (c *chaos) everyChannelPublished() bool {
	for _, name := range c.members {
		if info, err := venom.Inspect(c.env.Channel(name)); err != nil || info.Age < 0 {
			return false
		}
	}
	return true
}

func (c *chaos) running(child string) bool {
	for _, s := range c.children() {
		if s.NameString() == child {
			return s.State == supervisor.ChildRunning
		}
	}
	return false
}

// inject picks a fault kind and a child that can take it and is not
// recovering, and carries it out.
func (c *chaos) inject(now time.Time) {
	kind := c.kinds[c.rng.IntN(len(c.kinds))]
	if kind == SupervisorFault {
		c.killSupervisor(now)
		return
	}
	var free []string
	for _, ch := range c.targets {
		if inputFault(kind) && c.probes[ch] == nil {
			continue // only a process on engine.Run counts inputs
		}
		busy := slices.ContainsFunc(c.pending, func(f chaosFault) bool { return f.child == ch })
		if !busy && c.running(ch) {
			free = append(free, ch)
		}
	}
	if len(free) == 0 {
		return
	}
	child := free[c.rng.IntN(len(free))]
	info, err := venom.Inspect(c.env.Channel(child))
	if err != nil || info.Daemon.Pid == 0 {
		return
	}
	if err := game.SendFault(c.env.Channel(child), info.Daemon.Pid, kind, game.FaultArgs{Code: 1, Ms: 30, Ticks: 10}); err != nil {
		c.log.Warn("chaos: fault not injected", "child", child, "kind", kind, "err", err)
		return
	}
	c.log.Info("chaos: fault injected", "child", child, "kind", kind, "pid", info.Daemon.Pid)
	c.rep.Faults[kind]++
	c.rep.FaultsByChild[child]++
	if kind != "slow" && !inputFault(kind) {
		c.pending = append(c.pending, chaosFault{child: child, kind: kind, at: now, epochs: map[string]uint64{child: info.Daemon.Epoch}})
		if child == game.RenderName {
			c.renderHit = now
		}
	}
	if c.watcher != nil {
		c.watcher.Faulted(child, now)
	}
}

// observe reads every channel (torn reads, tick regressions), the
// renderer's frame counter, and which faulted children have published
// again.
func (c *chaos) observe(now time.Time) {
	for _, w := range c.watch {
		h, err := w.read()
		switch {
		case err == nil:
			if h.Tick < w.tick {
				c.rep.TickRegression++
			}
			w.tick = max(w.tick, h.Tick)
		case !errors.Is(err, venom.ErrNoData):
			c.rep.TornReads++
			c.log.Warn("chaos: bad read", "child", w.name, "err", err)
		}
	}
	if c.render != nil && c.render.tick != c.frames { // the renderer's tick is its frame counter
		if c.firstF == 0 {
			c.firstF = c.render.tick
		} else if c.renderHit.IsZero() || now.Sub(c.renderHit) > 10*time.Second {
			c.rep.LongestGapMs = max(c.rep.LongestGapMs, float64(now.Sub(c.lastFrame).Microseconds())/1000)
		}
		c.frames, c.lastFrame = c.render.tick, now
		c.rep.Frames = c.render.tick - c.firstF
	}
	// The control's frames, read the same way: what the host did to a
	// frame loop that no fault touched.
	if c.control == nil {
		// not connected yet
	} else if h, err := c.control.read(); err == nil && h.Tick != c.controlF {
		if !c.controlAt.IsZero() {
			c.rep.ControlGapMs = max(c.rep.ControlGapMs, float64(now.Sub(c.controlAt).Microseconds())/1000)
		}
		c.controlF, c.controlAt = h.Tick, now
	}
	if c.watcher != nil {
		c.watcher.Observe(now)
	}
	c.pending = slices.DeleteFunc(c.pending, func(p chaosFault) bool {
		if !c.recovered(p, now) {
			return false
		}
		c.recovery = append(c.recovery, now.Sub(p.at))
		c.byKind[p.kind] = append(c.byKind[p.kind], now.Sub(p.at))
		c.byChild[p.child] = append(c.byChild[p.child], now.Sub(p.at))
		if p.child == game.RenderName || p.kind == SupervisorFault {
			c.renderHit = time.Time{}
			c.lastFrame = now
		}
		return true
	})
}

// recovered reports whether the child a fault hit — every child, for the
// supervisor — has a successor that published since.
func (c *chaos) recovered(p chaosFault, now time.Time) bool {
	names := []string{p.child}
	if p.kind == SupervisorFault {
		names = append(slices.Clone(c.members), "sup")
	}
	for _, name := range names {
		info, err := venom.Inspect(c.env.Channel(name))
		if err != nil || info.Daemon.Epoch <= p.epochs[name] || !info.Owned || info.Age < 0 || info.Age > now.Sub(p.at) {
			return false
		}
	}
	return true
}

// killSupervisor SIGKILLs the game's supervisor — its children die with
// it — and runs the game again on the same instance once the old
// children are gone: the new one resumes the world from the last
// snapshots and is handed every queued input.
func (c *chaos) killSupervisor(now time.Time) {
	if len(c.pending) > 0 {
		return // one at a time: a whole game restarting is recovery enough
	}
	epochs := c.channelEpochs()
	var pids []int
	for _, st := range c.children() {
		if st.Pid != 0 {
			pids = append(pids, int(st.Pid))
		}
	}
	c.game.kill()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if !slices.ContainsFunc(pids, alive) {
			break
		}
	}
	if err := c.game.start(); err != nil {
		c.log.Error("chaos: the game does not start again", "err", err)
	}
	c.log.Info("chaos: fault injected", "child", "supervisor", "kind", SupervisorFault)
	c.rep.Faults[SupervisorFault]++
	c.rep.FaultsByChild["supervisor"]++
	c.pending = append(c.pending, chaosFault{child: "supervisor", kind: SupervisorFault, at: now, epochs: epochs})
	c.renderHit = now
	if c.watcher != nil {
		for _, name := range c.members {
			c.watcher.Faulted(name, now)
		}
	}
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z' && b[i+2] != 'X'
}

// channelEpochs are the epochs of every channel of the game now.
func (c *chaos) channelEpochs() map[string]uint64 {
	epochs := map[string]uint64{}
	for _, name := range append(slices.Clone(c.members), "sup") {
		if info, err := venom.Inspect(c.env.Channel(name)); err == nil {
			epochs[name] = info.Daemon.Epoch
		}
	}
	return epochs
}

func (c *chaos) finish(ended time.Time) {
	r := &c.rep
	r.RecoveryMs = game.PercentilesOf(c.recovery)
	for _, p := range c.pending {
		r.Unrecovered = append(r.Unrecovered, p.child+" "+p.kind)
	}
	for _, s := range c.children() {
		r.FinalStates[s.NameString()] = s.StateName()
		if s.State != supervisor.ChildRunning {
			r.Failures = append(r.Failures, fmt.Sprintf("%s ended %s", s.NameString(), s.StateName()))
		}
	}
	// A restart is a new owner of the child's channel: its epoch counts
	// them, across restarts of the supervisor too.
	restarts, explained := 0, 0
	now := c.channelEpochs()
	for _, name := range c.members {
		n := now[name] - min(now[name], c.epochs[name])
		r.Restarts[name] = uint32(n)
		restarts += int(n)
	}
	for child, d := range c.byChild {
		r.RecoveryByChild[child] = game.PercentilesOf(d)
	}
	for kind, d := range c.byKind {
		r.RecoveryByKind[kind] = game.PercentilesOf(d)
		if kind == SupervisorFault {
			explained += len(d) * len(c.members)
		} else {
			explained += len(d)
		}
	}
	// Reported, not judged: on a loaded machine a hang timeout can fire
	// for a process that was only starved.
	r.Unprovoked = max(0, restarts-explained-len(c.pending))
	var lost, doubled, unsent []string
	for _, name := range c.members {
		p := c.probes[name]
		if p == nil {
			continue
		}
		a, err := p.Account()
		if err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: inputs unreadable: %v", name, err))
			continue
		}
		r.Inputs[name] = a
		r.Sent += a.Sent
		r.Lost += a.Lost
		r.Doubled += a.Doubled
		r.Redelivered += a.Redelivered
		if a.Lost > 0 {
			lost = append(lost, fmt.Sprintf("%s %d", name, a.Lost))
		}
		if a.Doubled > 0 {
			doubled = append(doubled, fmt.Sprintf("%s %d", name, a.Doubled))
		}
		if a.Unsent > 0 {
			unsent = append(unsent, fmt.Sprintf("%s %d", name, a.Unsent))
		}
	}
	if r.Lost > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d inputs lost (%s)", r.Lost, strings.Join(lost, ", ")))
	}
	if r.Doubled > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d inputs doubled (%s)", r.Doubled, strings.Join(doubled, ", ")))
	}
	if len(unsent) > 0 {
		r.Failures = append(r.Failures, "inputs applied that were never sent: "+strings.Join(unsent, ", "))
	}
	if r.TornReads > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d torn reads", r.TornReads))
	}
	if r.TickRegression > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("a tick went back %d times", r.TickRegression))
	}
	if c.render != nil {
		r.Failures = append(r.Failures, stalls(r)...)
	}
	if len(r.Unrecovered) > 0 {
		r.Failures = append(r.Failures, "not recovered: "+strings.Join(r.Unrecovered, ", "))
	}
	if w := r.World; w != nil {
		if w.Violated > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("world invariant violated in %d of %d checks: %s", w.Violated, w.Checks, strings.Join(w.Violations, "; ")))
		}
		if w.Final == nil {
			r.Failures = append(r.Failures, fmt.Sprintf("world invariant: no reading of the world within %v after the run (%s)", finalCheckTimeout, strings.Join(w.SkipReasons, "; ")))
		}
	}
	if c.watcher != nil {
		if !c.watcher.Settled(ended) {
			r.Failures = append(r.Failures, fmt.Sprintf("the watcher saw nothing of the game in the %v after the run", settleTimeout))
		}
		c.watcher.Report(r)
	}
}

// stalls judges the renderer's longest gap: against the control's
// longest gap in the same run plus the margin — what the host did to any
// frame loop is not the renderer's fault — and against the absolute
// --max-stall when it is set. Nothing when the run judges no gap.
func stalls(r *Report) []string {
	if !r.JudgeStall {
		return nil
	}
	var out []string
	if r.LongestGapMs > r.ControlGapMs+r.StallMarginMs {
		out = append(out, fmt.Sprintf("renderer stalled %.0f ms, more than the control's %.0f ms + %.0f ms", r.LongestGapMs, r.ControlGapMs, r.StallMarginMs))
	}
	if r.MaxStallMs > 0 && r.LongestGapMs > r.MaxStallMs {
		out = append(out, fmt.Sprintf("renderer stalled %.0f ms, more than --max-stall %.0f ms", r.LongestGapMs, r.MaxStallMs))
	}
	return out
}

// PrintReport prints a chaos report as the chaos subcommand does.
func PrintReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "chaos seed=%d duration=%s failure-threshold=%s\n", r.Seed, r.Duration, strconv.FormatFloat(r.FailureThreshold, 'g', -1, 64))
	fmt.Fprintf(w, "faults: %v  by child: %v\n", r.Faults, r.FaultsByChild)
	fmt.Fprintf(w, "restarts: %v (%d no fault explains)\n", r.Restarts, r.Unprovoked)
	fmt.Fprintf(w, "recovery ms: %s\n", r.RecoveryMs)
	for _, kind := range slices.Sorted(maps.Keys(r.RecoveryByKind)) {
		fmt.Fprintf(w, "  %-10s %s\n", kind, r.RecoveryByKind[kind])
	}
	for _, child := range slices.Sorted(maps.Keys(r.RecoveryByChild)) {
		fmt.Fprintf(w, "  %-10s %s\n", child, r.RecoveryByChild[child])
	}
	fmt.Fprintf(w, "renderer: %d frames, longest gap %.1f ms; control (a fault-free 60 Hz loop beside the game): %.1f ms\n", r.Frames, r.LongestGapMs, r.ControlGapMs)
	fmt.Fprintf(w, "inputs: sent %d lost %d doubled %d redelivered (dropped) %d;", r.Sent, r.Lost, r.Doubled, r.Redelivered)
	for _, name := range slices.Sorted(maps.Keys(r.Inputs)) {
		fmt.Fprintf(w, " %s %d/%d applied", name, r.Inputs[name].Applied, r.Inputs[name].Sent)
	}
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintln(w, n)
	}
	if a := r.World; a != nil {
		fmt.Fprintf(w, "world invariant: %d checks (%d skipped), %d violated; final:", a.Checks, a.Skipped, a.Violated)
		for _, name := range slices.Sorted(maps.Keys(a.Max)) {
			final := "-"
			if v, ok := a.Final[name]; ok {
				final = strconv.FormatFloat(v, 'g', -1, 64)
			}
			fmt.Fprintf(w, " %s %s (max %s)", name, final, strconv.FormatFloat(a.Max[name], 'g', -1, 64))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "torn reads %d, tick regressions %d\n", r.TornReads, r.TickRegression)
	fmt.Fprintf(w, "final: %v\n", r.FinalStates)
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL:", strings.Join(r.Failures, "; "))
	}
}

// gameProc is the game under chaos: "PROGRAM run" as a child process.
type gameProc struct {
	self string
	args []string
	log  io.Writer // the game's stderr (nil: discarded)
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *gameProc) start() error {
	cmd := exec.Command(p.self, p.args...)
	cmd.Stderr = p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(p.done)
	return nil
}

// kill SIGKILLs the supervisor and waits until it is reaped.
func (p *gameProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// stop ends the game as an operator would: SIGTERM, its children stopped,
// its channels removed; SIGKILL after a grace.
func (p *gameProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}
