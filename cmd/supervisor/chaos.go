package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
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
	Unrecovered   []string    // faults whose child never published again
	Frames        uint64      // renderer frames during the run
	LongestGapMs  float64     // longest time between two frames, outside faults to the renderer
	// Numbered inputs (engine.OpInput) flow to every simulation child
	// for the whole run; each child's account compares the numbers its
	// final snapshot holds with the ones sent. Sent, Lost and Doubled are
	// their sums.
	Inputs         map[string]engine.InputAccount
	Sent           uint64
	Lost, Doubled  uint64
	TornReads      int
	TickRegression int
	// A player on net's WebSocket for the whole run: snapshots received,
	// reconnections (net faulted), and the longest time between two
	// snapshots outside the 10 s after a fault to net.
	PlayerSnapshots    uint64
	PlayerReconnects   int
	PlayerLongestGapMs float64
	FinalStates        map[string]string
	Failures           []string // why the run failed; empty when it passed
}

// chaosFault is one fault in flight: when it was injected and what the
// child's channel looked like then.
type chaosFault struct {
	child, kind string
	at          time.Time
	epoch       uint64
}

func cmdChaos(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var g gameFlags
	g.register(fs)
	duration := fs.Duration("duration", 10*time.Second, "how long faults are injected")
	faults := fs.String("faults", "kill,stop,panic,midpublish,slow",
		"fault kinds to inject: kill, stop, panic, midpublish, slow; drop and double break exactly-once on purpose (the run must fail)")
	rate := fs.Float64("rate", 1, "faults per second")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	maxStall := fs.Duration("max-stall", 100*time.Millisecond, "longest renderer gap between frames that still passes (0: report it, judge nothing)")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	var err error
	kinds := strings.Split(*faults, ",")
	for _, k := range kinds {
		if _, ok := faultOps[k]; !ok && k != "kill" && k != "stop" && inputFaultOps[k] == 0 {
			return fmt.Errorf("chaos: unknown fault %q (want kill, stop, %s, drop, double)", k, faultNames())
		}
	}
	if *rate <= 0 || *rate > 100 {
		return fmt.Errorf("chaos: --rate %v, want (0, 100]", *rate)
	}
	if !isFlagSet(fs, "instance") {
		g.instance = fmt.Sprintf("chaos%d", os.Getpid())
	}
	if !isFlagSet(fs, "bodies") {
		g.bodies = 500
	}
	if !isFlagSet(fs, "net-addr") {
		// A port of our own, so that the player below knows it and net
		// binds it again after each restart.
		if g.netAddr, err = freePort(); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
	}
	g.headless = true
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sup, err := engine.NewSupervisor(engine.SupervisorOptions{Instance: g.instance, Log: log, FailureThreshold: 1e6},
		g.children(self, io.Discard)...)
	if err != nil {
		return err
	}
	supCtx, stopSup := context.WithCancel(ctx)
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()
	defer func() { stopSup(); <-supDone }()

	c := &chaos{g: g, sup: sup, rng: rand.New(rand.NewPCG(g.seed, 0x5eed)), kinds: kinds, log: log,
		rep: ChaosReport{Seed: g.seed, Duration: duration.String(), Faults: map[string]int{}, FaultsByChild: map[string]int{},
			Restarts: map[string]uint32{}, FinalStates: map[string]string{}, Inputs: map[string]engine.InputAccount{}}}
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
		return &exitError{code: 1, err: fmt.Errorf("chaos: %s", strings.Join(c.rep.Failures, "; "))}
	}
	return nil
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

type chaos struct {
	g     gameFlags
	sup   *engine.Supervisor
	rng   *rand.Rand
	kinds []string
	log   *slog.Logger
	rep   ChaosReport

	phys      *engine.Client[physics.Params, physics.Body]
	render    *engine.Client[demo.RenderMeta, demo.SliceStat]
	probes    map[string]*engine.InputProbe // numbered inputs, per simulation child
	pending   []chaosFault
	recovery  []time.Duration
	lastTick  uint64
	frames    uint64 // last frame counter seen
	firstF    uint64
	lastFrame time.Time
	renderHit time.Time // the renderer was faulted: its gap is recovery, not a stall

	player   *netproc.Client
	lastSnap time.Time
	netHit   time.Time // net was last faulted
}

// freePort is a 127.0.0.1 address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var chaosChildren = []string{"physics", "ai", "net", "render"}

// inputChildren are the children that run on engine.Run: they take
// numbered inputs and the input faults.
var inputChildren = []string{"physics", "ai", "net"}

// inputFaultOps are the faults that break exactly-once on purpose, to see
// chaos fail.
var inputFaultOps = map[string]engine.Op{"drop": engine.OpDropInput, "double": engine.OpDoubleInput}

// inputTail is how long numbered inputs flow after the last fault, so that
// every input fault finds an input to act on.
const inputTail = 500 * time.Millisecond

func (c *chaos) run(ctx context.Context, d time.Duration, rate float64, maxStall time.Duration) error {
	var err error
	if c.phys, err = connectWithin(ctx, c.g.channel("physics"), 20*time.Second); err != nil {
		return err
	}
	defer c.phys.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c.render, err = engine.Connect(c.g.channel("render"), demo.RenderSlice); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: renderer never came up: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.render.Close()
	// Wait until every child runs before the first fault.
	if !c.waitAllRunning(ctx, 20*time.Second) {
		return errors.New("chaos: the game did not start")
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	c.player, err = netproc.Dial(dctx, "ws://"+c.g.netAddr, "chaos")
	cancel()
	if err != nil {
		return fmt.Errorf("chaos: a player cannot join net: %w", err)
	}
	defer c.player.Close()
	c.lastSnap = time.Now()
	c.probes = map[string]*engine.InputProbe{}
	for _, ch := range inputChildren {
		p, err := engine.NewInputProbe(c.g.channel(ch))
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		defer p.Close()
		c.probes[ch] = p
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
	// Let the last faults recover, the inputs land and the player hear
	// from net again: conditions, each with a generous deadline.
	settled := time.Now()
	for deadline := time.Now().Add(settleTimeout); !c.settled(settled) && time.Now().Before(deadline); {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
		c.observe(time.Now())
	}
	c.finish(maxStall, settled)
	return nil
}

// settleTimeout bounds the wait for a run's last faults to recover and
// its inputs to land.
const settleTimeout = 30 * time.Second

// settled reports whether nothing is recovering, every child runs, every
// numbered input sent has landed, and the player has had a snapshot since
// the run ended.
func (c *chaos) settled(since time.Time) bool {
	if len(c.pending) > 0 || !c.allRunning() || c.lastSnap.Before(since) {
		return false
	}
	for _, p := range c.probes {
		if h, err := p.Header(); err != nil || h.LastInput < p.Sent() {
			return false
		}
	}
	return true
}

func (c *chaos) interval(rate float64) time.Duration {
	return time.Duration(c.rng.ExpFloat64() / rate * float64(time.Second))
}

func (c *chaos) allRunning() bool {
	for _, s := range c.sup.Status() {
		if s.State != engine.ChildRunning {
			return false
		}
	}
	return true
}

func (c *chaos) waitAllRunning(ctx context.Context, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && ctx.Err() == nil; {
		if len(c.sup.Status()) == len(chaosChildren) && c.allRunning() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// inject picks a child that is not recovering and a fault kind, and
// carries it out.
func (c *chaos) inject(now time.Time) {
	kind := c.kinds[c.rng.IntN(len(c.kinds))]
	targets := chaosChildren
	if inputFaultOps[kind] != 0 {
		targets = inputChildren
	}
	var free []string
	for _, ch := range targets {
		busy := slices.ContainsFunc(c.pending, func(f chaosFault) bool { return f.child == ch })
		if !busy && c.running(ch) {
			free = append(free, ch)
		}
	}
	if len(free) == 0 {
		return
	}
	child := free[c.rng.IntN(len(free))]
	info, err := venom.Inspect(c.g.channel(child))
	if err != nil || info.Daemon.Pid == 0 {
		return
	}
	switch kind {
	case "kill":
		err = syscall.Kill(info.Daemon.Pid, syscall.SIGKILL)
	case "stop":
		err = syscall.Kill(info.Daemon.Pid, syscall.SIGSTOP)
	default:
		var s *venom.Shell
		if s, err = venom.Connect(c.g.channel(child)); err == nil {
			cmd := engine.Cmd(faultOps[kind])
			if op := inputFaultOps[kind]; op != 0 {
				cmd = engine.Cmd(op)
			} else if kind == "slow" {
				cmd = engine.Cmd(engine.OpSlow, 30, 10) // 10 ticks 30 ms slower: slow, not hung
			}
			err = s.Send(cmd.Append(nil))
			s.Close()
		}
	}
	if err != nil {
		c.log.Warn("chaos: fault not injected", "child", child, "kind", kind, "err", err)
		return
	}
	c.log.Info("chaos: fault injected", "child", child, "kind", kind, "pid", info.Daemon.Pid)
	c.rep.Faults[kind]++
	c.rep.FaultsByChild[child]++
	if kind != "slow" && inputFaultOps[kind] == 0 {
		c.pending = append(c.pending, chaosFault{child: child, kind: kind, at: now, epoch: info.Daemon.Epoch})
		if child == "render" {
			c.renderHit = now
		}
	}
	if child == "net" {
		c.netHit = now
	}
}

func (c *chaos) running(child string) bool {
	for _, s := range c.sup.Status() {
		if s.NameString() == child {
			return s.State == engine.ChildRunning
		}
	}
	return false
}

// observe reads physics (torn reads, tick regressions), the renderer's
// frame counter, and which faulted children have published again.
func (c *chaos) observe(now time.Time) {
	var f engine.Frame[physics.Params, physics.Body]
	switch err := c.phys.Read(&f); {
	case err == nil:
		if f.Tick < c.lastTick {
			c.rep.TickRegression++
		}
		c.lastTick = max(c.lastTick, f.Tick)
	case !errors.Is(err, venom.ErrNoData):
		c.rep.TornReads++
	}
	var r engine.Frame[demo.RenderMeta, demo.SliceStat]
	if c.render.Read(&r) == nil && r.Meta.Frames != c.frames {
		if c.firstF == 0 {
			c.firstF = r.Meta.Frames
		} else if c.renderHit.IsZero() || now.Sub(c.renderHit) > 10*time.Second {
			c.rep.LongestGapMs = max(c.rep.LongestGapMs, float64(now.Sub(c.lastFrame).Microseconds())/1000)
		}
		c.frames, c.lastFrame = r.Meta.Frames, now
		c.rep.Frames = r.Meta.Frames - c.firstF
	}
	if _, ok := c.player.Latest(); ok {
		if c.netHit.IsZero() || now.Sub(c.netHit) > 10*time.Second {
			c.rep.PlayerLongestGapMs = max(c.rep.PlayerLongestGapMs, float64(now.Sub(c.lastSnap).Microseconds())/1000)
		}
		c.rep.PlayerSnapshots++
		c.lastSnap = now
	}
	c.pending = slices.DeleteFunc(c.pending, func(p chaosFault) bool {
		info, err := venom.Inspect(c.g.channel(p.child))
		if err != nil || info.Daemon.Epoch <= p.epoch || !info.Owned || info.Age < 0 || info.Age > now.Sub(p.at) {
			return false
		}
		c.recovery = append(c.recovery, now.Sub(p.at))
		if p.child == "render" {
			c.renderHit = time.Time{}
			c.lastFrame = now
		}
		return true
	})
}

func (c *chaos) finish(maxStall time.Duration, ended time.Time) {
	r := &c.rep
	r.RecoveryMs = percentiles(c.recovery)
	for _, p := range c.pending {
		r.Unrecovered = append(r.Unrecovered, p.child+" "+p.kind)
	}
	for _, s := range c.sup.Status() {
		r.Restarts[s.NameString()] = s.Restarts
		r.FinalStates[s.NameString()] = s.StateName()
		if s.State != engine.ChildRunning {
			r.Failures = append(r.Failures, fmt.Sprintf("%s ended %s", s.NameString(), s.StateName()))
		}
	}
	var lost, doubled, unsent []string
	for _, ch := range inputChildren {
		p := c.probes[ch]
		a, err := p.Account()
		if err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: inputs unreadable: %v", ch, err))
			continue
		}
		r.Inputs[ch] = a
		r.Sent += a.Sent
		r.Lost += a.Lost
		r.Doubled += a.Doubled
		if a.Lost > 0 {
			lost = append(lost, fmt.Sprintf("%s %d", ch, a.Lost))
		}
		if a.Doubled > 0 {
			doubled = append(doubled, fmt.Sprintf("%s %d", ch, a.Doubled))
		}
		if a.Unsent > 0 {
			unsent = append(unsent, fmt.Sprintf("%s %d", ch, a.Unsent))
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
		r.Failures = append(r.Failures, fmt.Sprintf("physics tick went back %d times", r.TickRegression))
	}
	if maxStall > 0 && r.LongestGapMs > float64(maxStall.Milliseconds()) {
		r.Failures = append(r.Failures, fmt.Sprintf("renderer stalled %.0f ms", r.LongestGapMs))
	}
	if len(r.Unrecovered) > 0 {
		r.Failures = append(r.Failures, "not recovered: "+strings.Join(r.Unrecovered, ", "))
	}
	r.PlayerReconnects = c.player.Reconnects()
	if c.lastSnap.Before(ended) {
		r.Failures = append(r.Failures, fmt.Sprintf("the net player received nothing in the %v after the run", settleTimeout))
	}
}

func printChaos(w io.Writer, r *ChaosReport) {
	fmt.Fprintf(w, "chaos seed=%d duration=%s\n", r.Seed, r.Duration)
	fmt.Fprintf(w, "faults: %v  by child: %v\n", r.Faults, r.FaultsByChild)
	fmt.Fprintf(w, "restarts: %v\n", r.Restarts)
	fmt.Fprintf(w, "recovery ms: %s\n", r.RecoveryMs)
	fmt.Fprintf(w, "renderer: %d frames, longest gap %.1f ms\n", r.Frames, r.LongestGapMs)
	fmt.Fprintf(w, "inputs: sent %d lost %d doubled %d;", r.Sent, r.Lost, r.Doubled)
	for _, ch := range inputChildren {
		if a, ok := r.Inputs[ch]; ok {
			fmt.Fprintf(w, " %s %d/%d applied", ch, a.Applied, a.Sent)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "net player: %d snapshots, %d reconnects, longest gap %.1f ms (outside net faults)\n",
		r.PlayerSnapshots, r.PlayerReconnects, r.PlayerLongestGapMs)
	fmt.Fprintf(w, "torn reads %d, tick regressions %d\n", r.TornReads, r.TickRegression)
	fmt.Fprintf(w, "final: %v\n", r.FinalStates)
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL:", strings.Join(r.Failures, "; "))
	}
}
