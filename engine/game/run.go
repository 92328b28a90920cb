package game

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// cmdRun runs the game: a supervisor of every declared process, the
// renderer and the children tools add (OnRun), with a status line per
// second on stdout.
func (g *Game) cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	f := g.newFlags("run", false)
	f.SetOutput(stderr)
	duration := f.Duration("duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	threshold := f.Float64("failure-threshold", supervisor.DefaultFailureThreshold, "failure score above which a child is failed")
	decay := f.Duration("failure-decay", supervisor.DefaultFailureDecay, "half-life of a child's failure score")
	standby := f.Bool("standby", true, "keep a hot standby of every process declared with one (false: plain restarts)")
	pos, err := g.Parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: run: unexpected arguments %q", ErrUsage, pos)
	}
	if f.Fresh {
		g.RemoveSegments(f.Instance)
	}
	if err := g.checkCounts(f); err != nil {
		return err
	}
	f.DrawRunID()
	call := Call{Args: args, Stdout: stdout, Stderr: stderr, Log: log}
	// The tools' stops come after the supervisor and the tools' children
	// have stopped, in reverse (the bridge's embedded NATS server last).
	extra, stop, err := g.RunHooks(ctx, "run", f, call)
	defer stop()
	if err != nil {
		return err
	}
	if err := g.checkSpace(f, extra); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var specs []supervisor.ChildSpec
	for _, m := range g.Children(f) {
		spec, err := g.ChildSpec(f, m.Name, call)
		if err != nil {
			return err
		}
		if !*standby {
			spec.Standby = false
		}
		specs = append(specs, spec)
	}
	for _, c := range extra {
		specs = append(specs, c.Spec)
	}
	sup, err := supervisor.New(supervisor.Options{
		Instance: f.Instance, Log: log, FailureThreshold: *threshold, FailureDecay: *decay,
	}, specs...)
	if err != nil {
		return err
	}
	return Supervise(ctx, sup, stdout)
}

// Supervise runs sup until it is done or ctx ends, with its StatusLine
// once a second on w; the end of ctx is a clean stop (nil).
func Supervise(ctx context.Context, sup *supervisor.Supervisor, w io.Writer) error {
	done := make(chan struct{})
	defer close(done)
	go statusLines(sup, w, done)
	err := sup.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// ChildSpec is the supervisor's spec of the child called name as run
// starts it (a process, a member of a group by its NAME-i, or the
// renderer: Children): "PROGRAM proc NAME" with f's ChildArgs, its
// stderr to c.Stderr, the declared Spec for each member of a group; the
// renderer is the window binary where there is one and a display, else
// this program's renderer headless, its status lines to c.Stdout. A
// name that is no child under f (a group's own name when it runs more
// than one member) is a usage error.
func (g *Game) ChildSpec(f *Flags, name string, c Call) (supervisor.ChildSpec, error) {
	self, err := os.Executable()
	if err != nil {
		return supervisor.ChildSpec{}, err
	}
	args := f.ChildArgs()
	if name == RenderName && g.renderer != nil {
		return g.renderSpec(f, self, args, c.Stdout, c.Stderr, c.Log)
	}
	m, err := g.member(f, name)
	if err != nil {
		return supervisor.ChildSpec{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	spec := m.Process.Spec
	spec.Name, spec.Channel = m.Name, f.Instance+"."+m.Name
	stderr := c.Stderr
	spec.Command = func() *exec.Cmd {
		cmd := exec.Command(self, append([]string{"proc", m.Name}, args...)...)
		cmd.Stderr = stderr
		return cmd
	}
	return spec, nil
}

// renderSpec is the renderer's child: the window binary where there is
// one and a display, else this program's renderer headless.
func (g *Game) renderSpec(f *Flags, self string, args []string, stdout, stderr io.Writer, log *slog.Logger) (supervisor.ChildSpec, error) {
	r := g.renderer
	spec := r.Spec
	if reflect.ValueOf(spec).IsZero() {
		// Closing the window (exit 0) ends the game; a crash restarts
		// it. A window under Xvfb can stall a few seconds at start: the
		// start timeout covers that, up to its first drawn frame (the
		// supervisor's hang clock starts after it); then a hang is found
		// as fast as any other child's (supervisor.DefaultHangTimeout). No
		// standby: a second window would open.
		spec = supervisor.ChildSpec{Restart: supervisor.Transient, Significant: true,
			HangTimeout: supervisor.DefaultHangTimeout, StartTimeout: 20 * time.Second}
	}
	spec.Name, spec.Channel = RenderName, f.Instance+"."+RenderName
	bin, err := g.pickWindow(f, log)
	if err != nil {
		return spec, err
	}
	// Without its window binary the renderer runs headless in this
	// program, unless this program is the window binary (it has Window),
	// which draws as asked.
	exe, rargs := bin, args
	if bin == "" {
		exe = self
		if r.Window == nil {
			rargs = withFlag(args, "headless", "true")
		}
	}
	spec.Command = func() *exec.Cmd {
		cmd := exec.Command(exe, append([]string{"proc", RenderName}, rargs...)...)
		cmd.Stdout, cmd.Stderr = stdout, stderr // its status lines
		return cmd
	}
	return spec, nil
}

// withFlag is args with flag name set to value: its --name=... replaced.
func withFlag(args []string, name, value string) []string {
	out := make([]string, 0, len(args)+1)
	for _, a := range args {
		if !strings.HasPrefix(a, "--"+name+"=") {
			out = append(out, a)
		}
	}
	return append(out, "--"+name+"="+value)
}

// findWindow finds the renderer's window binary: the one named by
// --window, else the game's beside this program, else on PATH. It
// returns "" and why when the renderer is to run headless.
func (g *Game) findWindow(f *Flags) (path, why string) {
	r := g.renderer
	switch {
	case r == nil:
		return "", "no renderer declared"
	case f.Headless:
		return "", "--headless"
	case !hasDisplay():
		return "", "no DISPLAY (the window needs an X display: set DISPLAY, e.g. run under xvfb-run)"
	case r.Window != nil:
		return "", "" // this program is the window binary
	case r.WindowBinary == "":
		return "", "the game has no window"
	case f.Window != "":
		if err := isExecutable(f.Window); err != nil {
			return "", fmt.Sprintf("--window %s: %v", f.Window, err)
		}
		return absPath(f.Window), ""
	}
	beside := "this program"
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), r.WindowBinary)
		if isExecutable(p) == nil {
			return p, ""
		}
		beside = self
	}
	if p, err := exec.LookPath(r.WindowBinary); err == nil {
		return absPath(p), ""
	}
	return "", fmt.Sprintf("no %s binary beside %s or on PATH: build it (make run does, into ./bin) or pass --window PATH", r.WindowBinary, beside)
}

// pickWindow decides, once per run or render, whether the renderer runs
// its window, logs one line saying which (and, headless, why and how to
// get the window), and asks the renderer whether it can run that way.
func (g *Game) pickWindow(f *Flags, log *slog.Logger) (string, error) {
	bin, why := g.findWindow(f)
	switch {
	case g.renderer == nil:
		return "", nil
	case bin != "":
		log.Info("renderer: window", "binary", bin)
	case why == "":
	case f.Headless || !hasDisplay() || g.renderer.WindowBinary == "":
		log.Info("renderer runs headless: " + why)
	default:
		log.Warn("renderer runs headless: " + why)
	}
	// A window runs: one started (bin), or this program's own.
	window := bin != "" || why == "" && g.renderer.Window != nil
	if need := g.renderer.NeedsWindow; need != nil && !window {
		if what := need(); what != "" {
			name := g.renderer.WindowBinary
			if name == "" {
				name = "the game has none"
			}
			return "", fmt.Errorf("%w: %s: %s needs the window (%s) and a display (%s)", ErrUsage, f.Name(), what, name, why)
		}
	}
	return bin, nil
}

// isExecutable says why path is not an executable file, or nil.
func isExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// cmdProc runs one process: how run starts each child.
func (g *Game) cmdProc(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) (err error) {
	defer func() {
		// A channel /dev/shm cannot back: the supervisor is to fail the
		// child at once rather than restart it.
		if code := engine.ExitCode(err); code == engine.ExitNoSpace {
			err = &ExitError{Code: code, Err: err}
		}
	}()
	f := g.newFlags("proc", true)
	pos, err := g.Parse(f, args)
	if err != nil {
		return err
	}
	names := strings.Join(g.memberNames(f), ", ")
	if len(pos) != 1 {
		return fmt.Errorf("%w: proc: want one process name: %s", ErrUsage, names)
	}
	name := pos[0]
	env := g.Env(f)
	env.Out, env.Log = stdout, log.With("proc", name, "pid", os.Getpid())
	isTool := slices.ContainsFunc(g.toolProcs, func(t toolProc) bool { return t.name == name })
	m, err := g.member(f, name)
	if err != nil && !isTool {
		return fmt.Errorf("%w: proc: %v", ErrUsage, err)
	}
	env.Index, env.Count = m.Index, max(m.Count, 1)
	if p, ok := g.process(m.Process.Name); !ok || !p.inRun {
		// A standby of a process whose main is its own: started ahead,
		// it runs its main only once told go (engine.Run takes the line
		// itself, and waits on the channel's lock).
		if run, err := awaitGo(ctx, env); !run {
			return err
		}
	}
	if name == RenderName && g.renderer != nil {
		return g.renderer.run(ctx, env)
	}
	p, ok := g.process(m.Process.Name)
	if i := slices.IndexFunc(g.toolProcs, func(t toolProc) bool { return t.name == name }); !ok && i >= 0 {
		return g.toolProcs[i].run(ctx, env)
	}
	if !ok {
		return fmt.Errorf("%w: proc: unknown process %q (want %s)", ErrUsage, name, names)
	}
	return p.Run(ctx, env)
}

// cmdRender runs the renderer alone: the window binary where there is a
// display and one is found, else the headless loop in this process.
func (g *Game) cmdRender(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if g.renderer == nil {
		return fmt.Errorf("%w: render: the game declares no renderer", ErrUsage)
	}
	f := g.newFlags("render", true)
	f.SetOutput(stderr)
	pos, err := g.Parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: render: unexpected arguments %q", ErrUsage, pos)
	}
	bin, err := g.pickWindow(f, log)
	if err != nil {
		return err
	}
	if bin != "" {
		cmd := exec.CommandContext(ctx, bin, append([]string{"render"}, args...)...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return &ExitError{Code: exit.ExitCode(), Err: fmt.Errorf("render: %s: %w", bin, err)}
		}
		return err
	}
	env := g.Env(f)
	env.Fresh, env.Out, env.Log = false, stdout, log.With("proc", RenderName, "pid", os.Getpid())
	return g.renderer.run(ctx, env)
}

// statusLines prints one line per second: per child its state, pid,
// restarts, tick and snapshot age.
func statusLines(sup *supervisor.Supervisor, w io.Writer, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintln(w, StatusLine(sup.Status()))
		}
	}
}

// StatusLine is the supervisor's status line: per child its state, pid,
// restarts, tick and snapshot age, and for a failed child why.
func StatusLine(st []supervisor.ChildStatus) string {
	var b strings.Builder
	for i, c := range st {
		if i > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "%s %s pid=%d restarts=%d tick=%d age=%s", c.NameString(), c.StateName(), c.Pid, c.Restarts,
			c.Tick, time.Duration(c.TickAge).Round(time.Millisecond))
		if c.State == supervisor.ChildFailed {
			fmt.Fprintf(&b, " reason=%q", c.ReasonString()) // why it is not coming back
		}
	}
	return b.String()
}

// checkSpace refuses to start a game whose channels /dev/shm cannot hold,
// before anything starts: the sum of every channel's segment (the
// declared processes', each member's of a group, the renderer's, the
// status channel's, the tools' children's), less what segments of the
// same names already hold (a dead run's, adopted), must be free. The refusal says what is needed and free, what stale segments
// of dead owners hold, and how a container gets more. A filesystem of
// no set size is not checked; venom.Create still refuses a segment it
// cannot back (the child fails with engine.ExitNoSpace).
func (g *Game) checkSpace(f *Flags, extra []Child) error {
	instance := f.Instance
	sp, err := venom.FreeSpace()
	if err != nil || sp.Size == 0 {
		return nil
	}
	type segment struct {
		name string
		size int64
	}
	var segs []segment
	add := func(name string, cfg venom.Config) error {
		if reflect.ValueOf(cfg).IsZero() {
			cfg = engine.ChannelConfig(engine.Options{})
		}
		n, err := venom.SegmentSize(cfg)
		if err != nil {
			return fmt.Errorf("%w: channel %q: %v", ErrDeclare, name, err)
		}
		segs = append(segs, segment{instance + "." + name, venom.PageAligned(n)})
		return nil
	}
	children := g.Children(f)
	for _, m := range children {
		seg := m.Process.Segment
		if m.Name == RenderName {
			seg = g.renderer.Segment
		}
		if err := add(m.Name, seg); err != nil { // each member's
			return err
		}
	}
	if err := add("sup", supervisor.StatusConfig(len(children)+len(extra))); err != nil {
		return err
	}
	for _, c := range extra {
		if err := add(strings.TrimPrefix(c.Spec.Channel, instance+"."), c.Segment); err != nil {
			return err
		}
	}
	// What is there already: ours is adopted (or replaced), and holds
	// its part; the rest, whose owners are dead, could be removed.
	have := map[string]int64{}
	var stale int64
	var staleN int
	names, _ := venom.List()
	for _, name := range names {
		info, err := venom.Inspect(name)
		if err != nil {
			continue // being created, or not a segment this code reads
		}
		if strings.HasPrefix(name, instance+".") {
			have[name] = info.Reserved
		} else if !info.Owned {
			stale += info.Reserved
			staleN++
		}
	}
	var need, total int64
	var parts []string
	for _, s := range segs {
		total += s.size
		need += max(0, s.size-have[s.name])
		parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(s.name, instance+"."), byteSize(s.size)))
	}
	if need <= sp.Free {
		return nil
	}
	prog := filepath.Base(os.Args[0])
	var b strings.Builder
	fmt.Fprintf(&b, "not enough shared memory in %s to start the game (nothing was started):\n", venom.Dir)
	fmt.Fprintf(&b, "  needed: %s (%d bytes) for %s (%s)", byteSize(need), need, plural(len(segs), "segment"), strings.Join(parts, ", "))
	if held := total - need; held > 0 {
		fmt.Fprintf(&b, ", %s of them already held by this instance's segments", byteSize(held))
	}
	fmt.Fprintf(&b, "\n  free:   %s (%d bytes) of %s\n", byteSize(sp.Free), sp.Free, byteSize(sp.Size))
	fmt.Fprintf(&b, "  stale:  %s (%d bytes) held by %s of dead owners: '%s rm --stale' removes them", byteSize(stale), stale, plural(staleN, "segment"), prog)
	if stale > 0 && need <= sp.Free+stale {
		b.WriteString(" (that would make room)")
	}
	// What /dev/shm must hold: what others hold now, and the game.
	want := (sp.Size - sp.Free - stale + need + 1<<20 - 1) >> 20
	fmt.Fprintf(&b, "\n  more:   in a container, give it a larger /dev/shm: docker run --shm-size=%dm (or more); on a host, remount it: mount -o remount,size=... /dev/shm", max(want, 64))
	return &ExitError{Code: engine.ExitNoSpace, Err: noSpaceError(b.String())}
}

// plural is "1 segment", "2 segments".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// noSpaceError is run's refusal for want of shared memory: it wraps
// venom.ErrNoSpace.
type noSpaceError string

func (e noSpaceError) Error() string { return string(e) }
func (e noSpaceError) Unwrap() error { return venom.ErrNoSpace }

// awaitGo is a standby's wait for go before a main of its own. It
// reports whether the main is to run: at once when the process is no
// standby, once told go; not when the standby is stood down (or ctx ends
// first).
func awaitGo(ctx context.Context, env Env) (bool, error) {
	sb, err := engine.TakeStandby()
	if err != nil || sb == nil {
		return err == nil, err
	}
	defer sb.Close()
	env.Log.Info("standby waiting for go")
	sb.Waiting()
	if err := sb.AwaitGo(ctx); err != nil {
		if ctx.Err() != nil || errors.Is(err, engine.ErrStandDown) {
			env.Log.Info("standby stood down")
			return false, nil
		}
		return false, err
	}
	env.Log.Info("standby took over")
	return true, nil
}
