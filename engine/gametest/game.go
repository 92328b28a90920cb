package gametest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// Options configure Launch.
type Options struct {
	// Instance names the game's instance (--instance): every channel is
	// "<Instance>.<process>". Required; Instance(t) makes one per test.
	Instance string
	// Args are the subcommand and its flags, without the program name:
	// "run" (the supervisor and every process), or "proc NAME" (one
	// process alone). Launch adds --instance, and --headless to run
	// unless Args set it.
	Args []string
	// Timeout bounds every wait of the Game (default DefaultTimeout).
	Timeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL
	// (default 15 s: a supervisor gives each child its stop grace).
	StopGrace time.Duration
}

// Game is a game the kit started: the test binary run as the game, as a
// process tree of its own (its supervisor and every process under
// "run"). Its methods may be called from any goroutine.
type Game struct {
	o    Options
	proc *os.Process // the process the kit started
	out  proctest.Buffer
	done chan struct{}
	err  error // the exit, once done is closed

	mu      sync.Mutex
	status  *engine.Follower[supervisor.Meta, supervisor.ChildStatus]
	readers map[string]any // process → *engine.Client[M, T] of its schema
	closers []func() error
	stopped bool
}

// Start launches the game for t (Launch with args, under Instance(t)
// unless args set --instance), waits until it is up (Ready) and
// stops it when t ends (Stop); on a failed test it logs the game's last
// output lines. Any error fails t.
//
//	g := gametest.Start(t, "run", "--seed=3")
//	g := gametest.Start(t, "proc", "grid")
func Start(t testing.TB, args ...string) *Game {
	t.Helper()
	inst := Instance(t)
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "instance="); ok {
			inst = v
		} else if a == "instance" && i+1 < len(args) {
			inst = args[i+1]
		}
	}
	g, err := Launch(Options{Instance: inst, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: last output:\n%s", g.o.Instance, lastLines(g.Output(), 40))
		}
		if err := g.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if err := g.Ready(); err != nil {
		t.Fatal(err)
	}
	return g
}

// Launch starts the test binary as the game with o.Args, output captured
// (Output), and returns at once; Ready waits until it is up. Stop it
// when done: it dies with the test process anyway, but its segments
// stay until Stop.
func Launch(o Options) (*Game, error) {
	if len(o.Args) == 0 {
		return nil, errors.New("gametest: launch: no subcommand")
	}
	if o.Instance == "" {
		return nil, errors.New("gametest: launch: no instance")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 15 * time.Second
	}
	args := []string{o.Args[0]}
	if !hasFlag(o.Args, "instance") {
		args = append(args, "--instance="+o.Instance)
	}
	if o.Args[0] == "run" && !hasFlag(o.Args, "headless") {
		args = append(args, "--headless")
	}
	args = append(args, o.Args[1:]...)
	g := &Game{o: o, done: make(chan struct{}), readers: map[string]any{}}
	cmd := Command(args...)
	cmd.Stdout, cmd.Stderr = &g.out, &g.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("gametest: launch %q: %w", args, err)
	}
	g.proc = cmd.Process
	go func() {
		g.err = cmd.Wait()
		close(g.done)
	}()
	return g, nil
}

// hasFlag reports whether args set --name (or -name), with a value or not.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// Command is the test binary run as the game with a one-shot subcommand
// for this game's instance: args[0] is the subcommand ("send", "fault",
// "ls"), --instance is added after it unless args set it.
//
//	out, err := g.Command("send", "herd", "spawn", "3").CombinedOutput()
func (g *Game) Command(args ...string) *exec.Cmd {
	if len(args) > 0 && !hasFlag(args, "instance") {
		args = append([]string{args[0], "--instance=" + g.o.Instance}, args[1:]...)
	}
	return Command(args...)
}

// Instance is the game's instance name.
func (g *Game) Instance() string { return g.o.Instance }

// Channel is the full channel name of one of the game's processes.
func (g *Game) Channel(process string) string { return g.o.Instance + "." + process }

// Pid is the pid of the process the kit started: under "run", the
// supervisor.
func (g *Game) Pid() int { return g.proc.Pid }

// Output is everything the game has written so far, standard output and
// error interleaved: the supervisor's and every process's log and
// status lines.
func (g *Game) Output() string { return g.out.String() }

// Done is closed once the process the kit started has exited.
func (g *Game) Done() <-chan struct{} { return g.done }

// Err is how the process the kit started exited (nil: status 0), once
// Done is closed; nil before.
func (g *Game) Err() error {
	select {
	case <-g.done:
		return g.err
	default:
		return nil
	}
}

// Wait is the package's Wait with the Game's timeout, and an early end:
// the game exiting meanwhile is an error that says how.
func (g *Game) Wait(what string, cond func() bool) error {
	var exited bool
	err := Wait(g.o.Timeout, what, func() bool {
		select {
		case <-g.done:
			exited = true
			return true
		default:
		}
		return cond()
	})
	if exited && !cond() {
		return fmt.Errorf("gametest: %s: the game exited (%v) first", what, g.err)
	}
	return err
}

// Ready waits until the game is up: under "run", every child running
// and every child with a channel publishing; under "proc NAME", NAME
// owning its channel and publishing.
func (g *Game) Ready() error {
	switch g.o.Args[0] {
	case "run":
		return g.Wait("every child running", func() bool {
			st, err := g.Status()
			if err != nil || len(st) == 0 {
				return false
			}
			for _, c := range st {
				if c.State != supervisor.ChildRunning || c.Flags&supervisor.FlagChannel != 0 && c.TickMono == 0 {
					return false
				}
			}
			return true
		})
	case "proc":
		if len(g.o.Args) < 2 {
			return nil
		}
		name := g.o.Args[1]
		return g.Wait(name+" owning its channel and publishing", func() bool {
			info, err := venom.Inspect(g.Channel(name))
			if err != nil || !info.Owned || info.Daemon.Pid != g.proc.Pid {
				return false
			}
			_, err = g.Header(name)
			return err == nil
		})
	}
	return nil
}

// Status is the supervisor's newest status (game "run" only): one
// ChildStatus per child, in the order declared.
func (g *Game) Status() ([]supervisor.ChildStatus, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, errors.New("gametest: status: the game is stopped")
	}
	if g.status == nil {
		g.status = engine.Follow(supervisor.StatusChannel(g.o.Instance), supervisor.StatusSchema, engine.FollowOptions{Retry: maxPoll})
	}
	if g.status.Poll(); !g.status.Have() {
		why := g.status.Err()
		if why == nil {
			why = venom.ErrNoData
		}
		return nil, fmt.Errorf("gametest: status: %s: %w", g.status.State(), why)
	}
	return slices.Clone(g.status.Cur.Items), nil
}

// Child is the newest status of one child.
func (g *Game) Child(name string) (supervisor.ChildStatus, error) {
	st, err := g.Status()
	if err != nil {
		return supervisor.ChildStatus{}, err
	}
	for _, c := range st {
		if c.NameString() == name {
			return c, nil
		}
	}
	return supervisor.ChildStatus{}, fmt.Errorf("gametest: no child %q in the status", name)
}

// Members are the names of the children that run process: the process
// itself, or for a group of more than one (game.Process.Group) its
// members NAME-0 … NAME-(N-1), in the supervisor's order (game "run"
// only). Every method that takes a child or process name (Child, Kill,
// Signal, Header, Channel, Ask…) takes a member's name.
func (g *Game) Members(process string) ([]string, error) {
	st, err := g.Status()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range st {
		name := c.NameString()
		rest, ok := strings.CutPrefix(name, process)
		if ok && (rest == "" || len(rest) > 1 && rest[0] == '-' && strings.Trim(rest[1:], "0123456789") == "") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("gametest: no child %q nor members of it in the status", process)
	}
	return names, nil
}

// Header is the header of a process's newest snapshot: its tick, epoch
// and input ledger, whatever its schema.
func (g *Game) Header(process string) (engine.Header, error) {
	p, err := g.probe(process)
	if err != nil {
		return engine.Header{}, err
	}
	return p.Header()
}

// probe is the process's cached header reader.
func (g *Game) probe(process string) (*engine.InputProbe, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := "\x00header." + process
	if p, ok := g.readers[key].(*engine.InputProbe); ok {
		return p, nil
	}
	p, err := engine.NewInputProbe(g.Channel(process))
	if err != nil {
		return nil, fmt.Errorf("gametest: %s: %w", process, err)
	}
	g.readers[key] = p
	g.closers = append(g.closers, p.Close)
	return p, nil
}

// Kill SIGKILLs the process that runs child now and waits for its
// successor: Signal, then Successor. It returns the successor's status.
func (g *Game) Kill(child string) (supervisor.ChildStatus, error) {
	s, err := g.Signal(child, syscall.SIGKILL)
	if err != nil {
		return s.Status, err
	}
	return g.Successor(s)
}

// Signalled is a child's process as Signal found it before the signal.
type Signalled struct {
	Child  string
	Pid    int
	Epoch  uint64                 // of its newest snapshot: its successor's are newer
	Status supervisor.ChildStatus // the child's status then
}

// Signal sends sig to the process that runs child now, once it runs,
// and returns at once: what a test does meanwhile (send commands, read
// the last snapshot) happens while the child is down or being replaced;
// Successor then waits for the next process. The pid comes from the
// supervisor's status, and is signalled only if it is a child of the
// supervisor this Game started.
func (g *Game) Signal(child string, sig syscall.Signal) (Signalled, error) {
	s := Signalled{Child: child}
	if err := g.Wait(child+" running", func() bool {
		c, err := g.Child(child)
		s.Status = c
		return err == nil && c.State == supervisor.ChildRunning && c.Pid != 0
	}); err != nil {
		return s, err
	}
	h, err := g.Header(child)
	if err != nil {
		return s, fmt.Errorf("gametest: signal %s: %w", child, err)
	}
	s.Pid, s.Epoch = int(s.Status.Pid), h.Epoch
	if err := g.signalOwn(s.Pid, sig); err != nil {
		return s, fmt.Errorf("gametest: signal %s: %w", child, err)
	}
	return s, nil
}

// Successor waits until the process Signal signalled is gone (a stopped
// or hung one is the supervisor's to kill) and another pid runs the
// child and publishes again: a snapshot of a newer epoch. It returns
// the successor's status.
func (g *Game) Successor(s Signalled) (supervisor.ChildStatus, error) {
	if err := g.Wait(fmt.Sprintf("%s's pid %d gone", s.Child, s.Pid), func() bool { return gone(s.Pid) }); err != nil {
		return s.Status, err
	}
	var after supervisor.ChildStatus
	err := g.Wait(fmt.Sprintf("a successor of %s's pid %d running and publishing", s.Child, s.Pid), func() bool {
		c, err := g.Child(s.Child)
		if err != nil || c.State != supervisor.ChildRunning || c.Pid == 0 || int(c.Pid) == s.Pid {
			return false
		}
		h, err := g.Header(s.Child)
		after = c
		return err == nil && h.Epoch > s.Epoch
	})
	return after, err
}

// signalOwn sends sig to pid if it is the process this Game started or
// a child of it (a supervised process): never to a pid of anyone else.
func (g *Game) signalOwn(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("no pid")
	}
	if pid != g.proc.Pid {
		ppid, err := parentOf(pid)
		if err != nil {
			return err
		}
		if ppid != g.proc.Pid {
			return fmt.Errorf("pid %d is not a child of the game's pid %d (its parent is %d)", pid, g.proc.Pid, ppid)
		}
	}
	return syscall.Kill(pid, sig)
}

// parentOf is pid's parent pid, from /proc.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold anything: the fields
	// that follow start after its last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return strconv.Atoi(f[1])
}

// gone reports whether pid has exited: no such process, or a zombie.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// Stop stops the game: SIGTERM to the process the kit started (a
// supervisor stops its children and removes their segments), SIGKILL
// after StopGrace; then the kit's connections are closed and every
// segment of the instance left is removed. It returns an error when the
// game had to be killed or exited with a failure.
func (g *Game) Stop() error {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		<-g.done
		return nil
	}
	g.stopped = true
	g.mu.Unlock()

	var errs []error
	g.proc.Signal(syscall.SIGTERM)
	t := time.NewTimer(g.o.StopGrace)
	select {
	case <-g.done:
		t.Stop()
		if g.err != nil {
			errs = append(errs, fmt.Errorf("gametest: %s exited: %w", g.o.Instance, g.err))
		}
	case <-t.C:
		g.proc.Kill()
		<-g.done
		errs = append(errs, fmt.Errorf("gametest: %s still running %v after SIGTERM: killed", g.o.Instance, g.o.StopGrace))
	}
	g.mu.Lock()
	if g.status != nil {
		g.status.Close()
	}
	for _, c := range g.closers {
		c()
	}
	g.closers, g.readers, g.status = nil, nil, nil
	g.mu.Unlock()
	if err := RemoveSegments(g.o.Instance); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RemoveSegments removes every segment of an instance from /dev/shm:
// what a game that was killed outright leaves.
func RemoveSegments(instance string) error {
	m, err := filepath.Glob(venom.Path(instance + ".*"))
	if err != nil {
		return fmt.Errorf("gametest: segments of %s: %w", instance, err)
	}
	var errs []error
	for _, f := range m {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func deathSignal() *syscall.SysProcAttr {
	// The game dies with the test process, however that ends.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
