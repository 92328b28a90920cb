package game

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// ChaosReport is what chaos prints and writes with --json.
type ChaosReport struct {
	Seed          uint64
	Duration      string
	Faults        map[string]int // injected, by kind
	FaultsByChild map[string]int
	Restarts      map[string]uint32
	RecoveryMs    Percentiles // fault → first publish of the successor
	// RecoveryByKind is RecoveryMs per fault kind, so a tail explains
	// itself (a supervisor's recovery is every child's).
	RecoveryByKind map[string]Percentiles
	// RecoveryByChild is RecoveryMs per child faulted.
	RecoveryByChild map[string]Percentiles
	Unrecovered     []string // faults whose child never published again
	// Unprovoked counts restarts that no fault explains: every fault but
	// slow and the input faults costs one restart, so any more is the
	// runtime's own doing (a false hang alarm, a fault handed twice). It
	// is reported, not judged.
	Unprovoked   int
	Frames       uint64  // renderer frames during the run
	LongestGapMs float64 // longest time between two frames, outside faults to the renderer
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
	Watch       map[string]float64 `json:",omitempty"`
	Notes       []string           `json:",omitempty"`
	FinalStates map[string]string
	Failures    []string // why the run failed; empty when it passed
}

// faultKinds are the faults chaos and fault know. kill and stop are
// signals to the channel's owner; the others are engine ops sent on the
// child's channel; drop and double break exactly-once on purpose.
var faultKinds = []string{"kill", "stop", "panic", "exit", "hang", "midpublish", "slow", "drop", "double", SupervisorFault}

// SupervisorFault is the chaos fault that SIGKILLs the game's supervisor
// (its children die with it) and runs the game again.
const SupervisorFault = "supervisor"

var faultOps = map[string]engine.Op{
	"panic": engine.OpPanic, "exit": engine.OpExit, "hang": engine.OpHang, "midpublish": engine.OpMidPublish,
	"slow": engine.OpSlow, "drop": engine.OpDropInput, "double": engine.OpDoubleInput,
}

// inputFault reports whether a fault kind breaks exactly-once.
func inputFault(kind string) bool { return kind == "drop" || kind == "double" }

// inputTail is how long numbered inputs flow after the last fault, so that
// every input fault finds an input to act on.
const inputTail = 500 * time.Millisecond

// settleTimeout bounds the wait for a run's last faults to recover and
// its inputs to land.
const settleTimeout = 30 * time.Second

func (g *Game) cmdChaos(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	f := g.newFlags("chaos", "", false)
	duration := f.Duration("duration", 10*time.Second, "how long faults are injected")
	faults := f.String("faults", "kill,stop,panic,midpublish,slow",
		"fault kinds to inject: kill, stop, panic, exit, hang, midpublish, slow, supervisor; drop and double break exactly-once on purpose (the run must fail)")
	rate := f.Float64("rate", 1, "faults per second")
	jsonOut := f.String("json", "", "also write the report as JSON to this file")
	gameLog := f.String("game-log", "", "append the game's own log (its supervisor's and children's) to this file, to explain a tail")
	maxStall := f.Duration("max-stall", 100*time.Millisecond, "longest renderer gap between frames that still passes (0: report it, judge nothing)")
	var seed uint64
	if f.Lookup("seed") == nil { // else the game's own --seed seeds the faults too
		f.Uint64Var(&seed, "seed", 1, "seed of the faults")
	}
	pos, err := g.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: chaos: unexpected arguments %q", ErrUsage, pos)
	}
	if seed, err = strconv.ParseUint(f.Lookup("seed").Value.String(), 10, 64); err != nil {
		return fmt.Errorf("%w: chaos: --seed: %v", ErrUsage, err)
	}
	kinds := strings.Split(*faults, ",")
	for _, k := range kinds {
		if !slices.Contains(faultKinds, k) {
			return fmt.Errorf("%w: chaos: unknown fault %q (want %s)", ErrUsage, k, strings.Join(faultKinds, ", "))
		}
	}
	if *rate <= 0 || *rate > 100 {
		return fmt.Errorf("%w: chaos: --rate %v, want (0, 100]", ErrUsage, *rate)
	}
	if !isSet(f.FlagSet, "instance") {
		f.instance = fmt.Sprintf("chaos%d", os.Getpid())
	}
	f.headless = true
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The game runs as "PROGRAM run", a process of its own, so that its
	// supervisor can be killed and run again like any child.
	gp := &gameProc{self: self, args: append([]string{"run", "--failure-threshold=1e6"}, f.childArgs()...)}
	if *gameLog != "" {
		lf, err := os.OpenFile(*gameLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("chaos: --game-log: %w", err)
		}
		defer lf.Close()
		gp.log = lf
	}
	if err := gp.start(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	defer g.removeSegments(f.instance) // what a killed supervisor left
	defer gp.stop()

	c := &chaos{g: g, env: Env{Instance: f.instance, Headless: true, Log: log, Out: io.Discard}, game: gp,
		rng: rand.New(rand.NewPCG(seed, 0x5eed)), kinds: kinds, log: log,
		rep: ChaosReport{Seed: seed, Duration: duration.String(), Faults: map[string]int{}, FaultsByChild: map[string]int{},
			Restarts: map[string]uint32{}, FinalStates: map[string]string{}, Inputs: map[string]engine.InputAccount{},
			RecoveryByKind: map[string]Percentiles{}, RecoveryByChild: map[string]Percentiles{}}}
	defer c.close()
	if err := c.run(ctx, *duration, *rate, *maxStall); err != nil {
		return err
	}
	printChaos(stdout, &c.rep)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(&c.rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if len(c.rep.Failures) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("chaos: %s", strings.Join(c.rep.Failures, "; "))}
	}
	return nil
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
	g      *Game
	env    Env
	game   *gameProc
	status *engine.Client[supervisor.Meta, supervisor.ChildStatus]
	epochs map[string]uint64 // each channel's epoch when the faults began
	rng    *rand.Rand
	kinds  []string
	log    *slog.Logger
	rep    ChaosReport

	watch     []*watched
	render    *watched // nil without a renderer
	probes    map[string]*engine.InputProbe
	watcher   Watcher
	pending   []chaosFault
	recovery  []time.Duration
	byKind    map[string][]time.Duration
	byChild   map[string][]time.Duration
	frames    uint64 // the renderer's last frame counter seen
	firstF    uint64
	lastFrame time.Time
	renderHit time.Time // the renderer was faulted: its gap is recovery, not a stall
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
	for _, w := range c.watch {
		w.shell.Close()
	}
	for _, p := range c.probes {
		p.Close()
	}
	if c.watcher != nil {
		c.watcher.Close()
	}
}

// connect attaches to every child's channel once the game runs.
func (c *chaos) connect(ctx context.Context) error {
	if !c.waitAllRunning(ctx, 30*time.Second) {
		return errors.New("chaos: the game did not start")
	}
	c.epochs, c.byKind, c.byChild = c.channelEpochs(), map[string][]time.Duration{}, map[string][]time.Duration{}
	c.probes = map[string]*engine.InputProbe{}
	for _, name := range c.g.childNames() {
		s, err := venom.Connect(c.env.Channel(name))
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		w := &watched{name: name, shell: s, buf: make([]byte, s.Config().DataSize), header: engine.PeekHeader}
		c.watch = append(c.watch, w)
		if name == RenderName {
			c.render = w
			continue
		}
		p, _ := c.g.process(name)
		w.header = p.header
		if p.Inputs {
			if c.probes[name], err = engine.NewInputProbe(c.env.Channel(name)); err != nil {
				return fmt.Errorf("chaos: %w", err)
			}
		}
	}
	if c.g.watch != nil {
		var err error
		if c.watcher, err = c.g.watch(ctx, c.env); err != nil {
			return fmt.Errorf("chaos: watch: %w", err)
		}
	}
	return nil
}

func (c *chaos) run(ctx context.Context, d time.Duration, rate float64, maxStall time.Duration) error {
	if err := c.connect(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	nextFault := start.Add(c.interval(rate))
	nextInput := start
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
	c.finish(maxStall, ended)
	return nil
}

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
	if len(st) != len(c.g.childNames()) {
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
	for _, name := range c.g.childNames() {
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
	for _, ch := range c.g.childNames() {
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
	if err := sendFault(c.env.Channel(child), info.Daemon.Pid, kind, faultArgs{code: 1, ms: 30, ticks: 10}); err != nil {
		c.log.Warn("chaos: fault not injected", "child", child, "kind", kind, "err", err)
		return
	}
	c.log.Info("chaos: fault injected", "child", child, "kind", kind, "pid", info.Daemon.Pid)
	c.rep.Faults[kind]++
	c.rep.FaultsByChild[child]++
	if kind != "slow" && !inputFault(kind) {
		c.pending = append(c.pending, chaosFault{child: child, kind: kind, at: now, epochs: map[string]uint64{child: info.Daemon.Epoch}})
		if child == RenderName {
			c.renderHit = now
		}
	}
	if c.watcher != nil {
		c.watcher.Faulted(child, now)
	}
}

// faultArgs are the arguments of exit (its code) and slow (how much
// slower, how many ticks): 30 ms for 10 ticks is slow, not hung.
type faultArgs struct{ code, ms, ticks int }

// sendFault injects one fault: a signal to pid, or an engine op on the
// channel.
func sendFault(channel string, pid int, kind string, a faultArgs) error {
	switch kind {
	case "kill":
		return syscall.Kill(pid, syscall.SIGKILL)
	case "stop":
		return syscall.Kill(pid, syscall.SIGSTOP)
	}
	op, ok := faultOps[kind]
	if !ok {
		return fmt.Errorf("%w: unknown fault %q (want %s)", ErrUsage, kind, strings.Join(faultKinds, ", "))
	}
	cmd := engine.Cmd(op)
	switch op {
	case engine.OpExit:
		cmd = engine.Cmd(op, float64(a.code))
	case engine.OpSlow:
		cmd = engine.Cmd(op, float64(a.ms), float64(a.ticks))
	}
	s, err := venom.Connect(channel)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Send(cmd.Append(nil))
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
		if p.child == RenderName || p.kind == SupervisorFault {
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
		names = append(c.g.childNames(), "sup")
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
		for _, name := range c.g.childNames() {
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
	for _, name := range append(c.g.childNames(), "sup") {
		if info, err := venom.Inspect(c.env.Channel(name)); err == nil {
			epochs[name] = info.Daemon.Epoch
		}
	}
	return epochs
}

func (c *chaos) finish(maxStall time.Duration, ended time.Time) {
	r := &c.rep
	r.RecoveryMs = percentiles(c.recovery)
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
	for _, name := range c.g.childNames() {
		n := now[name] - min(now[name], c.epochs[name])
		r.Restarts[name] = uint32(n)
		restarts += int(n)
	}
	for child, d := range c.byChild {
		r.RecoveryByChild[child] = percentiles(d)
	}
	for kind, d := range c.byKind {
		r.RecoveryByKind[kind] = percentiles(d)
		if kind == SupervisorFault {
			explained += len(d) * len(c.g.childNames())
		} else {
			explained += len(d)
		}
	}
	// Reported, not judged: on a loaded machine a hang timeout can fire
	// for a process that was only starved.
	r.Unprovoked = max(0, restarts-explained-len(c.pending))
	var lost, doubled, unsent []string
	for _, name := range c.g.childNames() {
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
	if maxStall > 0 && r.LongestGapMs > float64(maxStall.Milliseconds()) {
		r.Failures = append(r.Failures, fmt.Sprintf("renderer stalled %.0f ms", r.LongestGapMs))
	}
	if len(r.Unrecovered) > 0 {
		r.Failures = append(r.Failures, "not recovered: "+strings.Join(r.Unrecovered, ", "))
	}
	if c.watcher != nil {
		if !c.watcher.Settled(ended) {
			r.Failures = append(r.Failures, fmt.Sprintf("the watcher saw nothing of the game in the %v after the run", settleTimeout))
		}
		c.watcher.Report(r)
	}
}

func printChaos(w io.Writer, r *ChaosReport) {
	fmt.Fprintf(w, "chaos seed=%d duration=%s\n", r.Seed, r.Duration)
	fmt.Fprintf(w, "faults: %v  by child: %v\n", r.Faults, r.FaultsByChild)
	fmt.Fprintf(w, "restarts: %v (%d no fault explains)\n", r.Restarts, r.Unprovoked)
	fmt.Fprintf(w, "recovery ms: %s\n", r.RecoveryMs)
	for _, kind := range slices.Sorted(maps.Keys(r.RecoveryByKind)) {
		fmt.Fprintf(w, "  %-10s %s\n", kind, r.RecoveryByKind[kind])
	}
	for _, child := range slices.Sorted(maps.Keys(r.RecoveryByChild)) {
		fmt.Fprintf(w, "  %-10s %s\n", child, r.RecoveryByChild[child])
	}
	fmt.Fprintf(w, "renderer: %d frames, longest gap %.1f ms\n", r.Frames, r.LongestGapMs)
	fmt.Fprintf(w, "inputs: sent %d lost %d doubled %d redelivered (dropped) %d;", r.Sent, r.Lost, r.Doubled, r.Redelivered)
	for _, name := range slices.Sorted(maps.Keys(r.Inputs)) {
		fmt.Fprintf(w, " %s %d/%d applied", name, r.Inputs[name].Applied, r.Inputs[name].Sent)
	}
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintln(w, n)
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
