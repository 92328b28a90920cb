package supervisor

import (
	"context"
	"errors"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/venomrt/venomrt/venom"
)

// Restart says whether the supervisor restarts a child that exited.
type Restart int

const (
	// Permanent children are always restarted.
	Permanent Restart = iota
	// Transient children are restarted unless they exited 0.
	Transient
	// Temporary children are never restarted.
	Temporary
)

// String is the policy's name.
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

// Defaults for a zero ChildSpec or Options field.
const (
	DefaultHangTimeout  = time.Second
	DefaultQuitGrace    = 500 * time.Millisecond
	DefaultStartTimeout = 10 * time.Second
	DefaultStopGrace    = 3 * time.Second

	DefaultBackoffMin = 50 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// StableAfter is how long a child must have run for its next failure
	// not to count as consecutive: backoff starts again from BackoffMin.
	// A child killed from outside (SIGKILL, SIGTERM, SIGINT, SIGHUP or
	// SIGQUIT it did not get from the supervisor) after it published a
	// tick of its own counts as stable however short its run: see
	// ChildSpec.Standby and Options.BackoffMin.
	StableAfter             = time.Second
	DefaultFailureThreshold = 5
	DefaultFailureDecay     = 30 * time.Second
	DefaultStatusEvery      = 100 * time.Millisecond
)

// ChildSpec describes a child process of a Supervisor.
type ChildSpec struct {
	// Name names the child in logs and the status: 1 to 15 bytes, unique.
	Name string
	// Command builds the command that starts the child; it is called for
	// every launch. The supervisor sets Pdeathsig to SIGKILL (no child
	// outlives the supervisor) and puts the child in a process group of
	// its own (unless the command asks for a new session), which it
	// SIGKILLs as a whole when it kills the child. The child's output goes
	// where the command says: nil Stdout and Stderr are /dev/null.
	Command func() *exec.Cmd
	// Channel is the child's venom channel ("<instance>.physics"), which
	// the supervisor watches for the first snapshot (StartTimeout) and the
	// heartbeat (HangTimeout), reads the newest tick from, and removes
	// when it stops. "" means none: the child is running once launched.
	Channel string
	// Restart is the policy for a child that exited. A child that exits
	// with ExitNoSpace (its channel cannot be backed by /dev/shm) is
	// failed at once, whatever its policy: no restart could succeed.
	Restart Restart
	// Significant children stop the supervisor, cleanly, by exiting 0
	// (the renderer: closing its window ends the game). A significant
	// child that crashes is restarted as its policy says.
	Significant bool
	// HangTimeout: a running child whose channel's heartbeat has not
	// moved for this long is hung: it gets SIGQUIT (a Go process prints
	// its goroutines and exits), then SIGKILL after QuitGrace. It must
	// exceed the longest tick. Default 1s; negative disables it.
	HangTimeout time.Duration
	// QuitGrace is how long a hung child has to exit after SIGQUIT
	// (default 500ms).
	QuitGrace time.Duration
	// StartTimeout: a child whose first snapshot has not appeared this
	// long after its launch is treated as hung, and its end counts as a
	// failure. Default 10s; negative disables it.
	StartTimeout time.Duration
	// StopGrace is how long a child has to exit after SIGTERM when the
	// supervisor stops, before SIGKILL (default 3s).
	StopGrace time.Duration
	// Standby keeps a hot standby of the child: a second process, started
	// once the child runs, that waits on its channel's ownership lock and
	// adopts the channel the instant the child dies, however it dies (see
	// StandbyEnv). After a failure that follows a stable run
	// (StableAfter, or killed from outside after publishing a tick of
	// its own) the supervisor tells it to go at once, and it
	// publishes on its next tick; after any other failure it says go when
	// the backoff ends, as it would restart, so a crash loop backs off
	// exactly as without. Once the successor runs, a new standby is
	// started. It needs a Channel, and a Command whose process runs Run
	// (or takes the line itself, TakeStandby). A Temporary child, never
	// restarted, gets none.
	Standby bool
}

// Options configure a Supervisor.
type Options struct {
	// Instance is the game's instance name; the status is published on
	// the channel StatusChannel(Instance), "<instance>.sup".
	Instance string
	// StatusChannel, when set, is the status channel's name instead (an
	// edge supervisor's, whose "<instance>.sup" mirrors the game's).
	StatusChannel string
	// Restarts are delayed by BackoffMin (default 50ms), doubled for every
	// further consecutive failure up to BackoffMax (default 5s), ±20%
	// jitter. A child that ran for StableAfter is no longer failing
	// consecutively, and neither is one killed from outside — a signal a
	// process does not raise on itself, which the supervisor did not
	// send — once it had published a tick of its own: a kill storm
	// replaces a process that was doing its work at once, every time,
	// while a process that fails by itself (an exit, a panic, a hang)
	// before StableAfter, or dies before stepping once, backs off as a
	// crash loop. (Erlang/OTP restarts at once and escalates past an
	// intensity; systemd waits RestartSec, optionally growing; this is
	// between: growing backoff for what looks like the process's own
	// loop, none for what was done to it.)
	BackoffMin, BackoffMax time.Duration
	// Every restart adds 1 to the child's failure score, which halves
	// every FailureDecay (default 30s). A child whose score goes above
	// FailureThreshold (default 5) is failed: it is not restarted again
	// and its slice stays as it last was. The supervisor and the other
	// children carry on.
	FailureThreshold float64
	FailureDecay     time.Duration
	// StatusEvery is the status publishing period (default 100ms).
	StatusEvery time.Duration
	// Log receives one structured record per lifecycle event (default
	// slog.Default()): its message, then the keys event (the
	// EventKind), child, pid and, where there is one, reason.
	Log *slog.Logger
	// OnEvent, when set, is handed every lifecycle event, as suture's
	// EventHook is: a Go program (a test, chaos) learns what happened
	// without polling the status. It is called from the supervise loop,
	// one event at a time and in order: it must return quickly and must
	// not call the Supervisor's methods but Status.
	OnEvent func(Event)
}

// Supervisor starts child processes, watches them, restarts those that
// crash or hang, and publishes their status. Status may be called from
// any goroutine; Run only once.
type Supervisor struct {
	o         Options
	log       *slog.Logger
	kids      []*child
	pollEvery time.Duration
	ran       atomic.Bool

	// wake tells the supervise loop that a standby said something.
	wake chan struct{}

	mu        sync.Mutex // guards what follows, written by the supervise loop
	view      []childView
	stopping  bool
	startMono int64
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// New checks the options and specs and fills in their defaults.
func New(o Options, specs ...ChildSpec) (*Supervisor, error) {
	bad := func(format string, args ...any) (*Supervisor, error) {
		return nil, fmt.Errorf("engine: supervisor: "+format, args...)
	}
	if o.StatusChannel == "" {
		o.StatusChannel = StatusChannel(o.Instance)
	}
	if !nameRE.MatchString(o.StatusChannel) || o.Instance == "" {
		return bad("instance %q: want 1 to 60 of [A-Za-z0-9._-]", o.Instance)
	}
	if len(specs) == 0 {
		return bad("no children")
	}
	if o.BackoffMin < 0 || o.BackoffMax < 0 || o.FailureThreshold < 0 || o.FailureDecay < 0 || o.StatusEvery < 0 {
		return bad("negative option in %+v", o)
	}
	o.BackoffMin = cmp0(o.BackoffMin, DefaultBackoffMin)
	o.BackoffMax = max(cmp0(o.BackoffMax, DefaultBackoffMax), o.BackoffMin)
	o.FailureThreshold = cmp0(o.FailureThreshold, DefaultFailureThreshold)
	o.FailureDecay = cmp0(o.FailureDecay, DefaultFailureDecay)
	o.StatusEvery = cmp0(o.StatusEvery, DefaultStatusEvery)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Supervisor{o: o, log: o.Log.With("instance", o.Instance), pollEvery: 50 * time.Millisecond, wake: make(chan struct{}, 1)}
	names, channels := map[string]bool{}, map[string]bool{o.StatusChannel: true}
	for i, sp := range specs {
		switch {
		case sp.Name == "" || len(sp.Name) > 15:
			return bad("child %d: name %q: want 1 to 15 bytes", i, sp.Name)
		case names[sp.Name]:
			return bad("child %q named twice", sp.Name)
		case sp.Command == nil:
			return bad("child %q: no Command", sp.Name)
		case sp.Channel != "" && !nameRE.MatchString(sp.Channel):
			return bad("child %q: channel %q: want 1 to 64 of [A-Za-z0-9._-]", sp.Name, sp.Channel)
		case sp.Channel != "" && channels[sp.Channel]:
			return bad("child %q: channel %q used twice", sp.Name, sp.Channel)
		case sp.Restart < Permanent || sp.Restart > Temporary:
			return bad("child %q: restart policy %v", sp.Name, sp.Restart)
		case sp.QuitGrace < 0 || sp.StopGrace < 0:
			return bad("child %q: negative grace", sp.Name)
		case sp.Standby && sp.Channel == "":
			return bad("child %q: a standby waits on the child's channel: Standby needs a Channel", sp.Name)
		}
		names[sp.Name], channels[sp.Channel] = true, sp.Channel != ""
		sp.HangTimeout = cmp0(sp.HangTimeout, DefaultHangTimeout)
		sp.QuitGrace = cmp0(sp.QuitGrace, DefaultQuitGrace)
		sp.StartTimeout = cmp0(sp.StartTimeout, DefaultStartTimeout)
		sp.StopGrace = cmp0(sp.StopGrace, DefaultStopGrace)
		// Look at the channel often enough for the shortest timeout.
		for _, d := range []time.Duration{sp.HangTimeout, sp.StartTimeout} {
			if sp.Channel != "" && d > 0 {
				s.pollEvery = min(s.pollEvery, max(d/4, 5*time.Millisecond))
			}
		}
		s.kids = append(s.kids, &child{spec: sp, log: s.log.With("child", sp.Name), exitCode: -1})
	}
	s.view = make([]childView, len(s.kids))
	for i, k := range s.kids {
		s.view[i] = k.snapshot()
	}
	return s, nil
}

func cmp0[T time.Duration | float64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// ErrAllFailed is what Supervisor.Run returns when every Permanent child
// has failed: the game cannot go on, so the supervisor stops the rest and
// ends instead of running on with nothing to run.
var ErrAllFailed = errors.New("engine: supervisor: every permanent child failed")

// errLoopDone ends the oklog/run group when the supervise loop returns by
// itself (a significant child exited 0).
var errLoopDone = errors.New("engine: supervise loop done")

// Run starts every child and supervises them until ctx ends, the process
// gets SIGINT or SIGTERM, a Significant child exits 0, or every Permanent
// child has failed (then it returns an error wrapping ErrAllFailed). Then
// it stops every child (SIGTERM, its StopGrace, SIGKILL), waits for them,
// removes their channels' segments and its own status segment, and
// returns nil when all went well. Another live supervisor of the same
// instance makes it fail at once (its status segment is taken).
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("engine: supervisor: Run called twice")
	}
	d, err := s.createStatus()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.startMono = venom.Monotonic()
	s.mu.Unlock()
	s.log.Info("supervisor started", "pid", os.Getpid(), "children", len(s.kids), "status", d.Name())

	loopCtx, stopLoop := context.WithCancel(context.Background())
	defer stopLoop()
	loopDone := make(chan struct{})
	var (
		significant string
		loopErr     error
	)
	var g run.Group
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error {
		defer close(loopDone)
		significant, loopErr = s.supervise(loopCtx)
		return errLoopDone
	}, func(error) { stopLoop() })
	// The publisher keeps going while the loop stops the children, so
	// readers see them stopping; it ends when the loop has.
	g.Add(func() error { s.publishStatus(d, loopDone); return nil }, func(error) {})
	why := g.Run()
	switch {
	case significant != "":
		s.log.Info("supervisor stopped", "why", "significant child exited 0", "child", significant)
	case errors.Is(loopErr, ErrAllFailed):
		s.log.Error("supervisor stopped", "why", "every permanent child failed")
	case errors.Is(why, run.ErrSignal):
		s.log.Info("supervisor stopped", "why", why.Error())
	default:
		s.log.Info("supervisor stopped", "why", fmt.Sprint(why))
	}
	d.Close()
	if err := venom.Remove(d.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		loopErr = errors.Join(loopErr, err)
	}
	return loopErr
}

// StatusConfig is the venom.Config of the status channel of a supervisor
// of n children: what it holds of /dev/shm is
// venom.SegmentSize(StatusConfig(n)).
func StatusConfig(n int) venom.Config {
	return venom.Config{
		DataSize: StatusSchema.Size(n), History: 4,
		CmdSlots: 2, CmdSize: 16, RespSize: 16, MaxClients: 32,
	}
}

// createStatus creates (or adopts, after a supervisor that was killed)
// the status segment.
func (s *Supervisor) createStatus() (*venom.Daemon, error) {
	// A segment of another shape was left by a supervisor with other
	// children: ours to replace, as engine.Run's own channel is.
	d, err := engine.CreateChannel(s.o.StatusChannel, StatusConfig(len(s.kids)), s.log)
	if errors.Is(err, venom.ErrBusy) {
		return nil, fmt.Errorf("engine: supervisor: another supervisor runs instance %q: %w", s.o.Instance, err)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: supervisor: %w", err)
	}
	return d, nil
}

// publishStatus publishes the status every StatusEvery until done is
// closed, and once more then.
func (s *Supervisor) publishStatus(d *venom.Daemon, done <-chan struct{}) {
	t := time.NewTicker(s.o.StatusEvery)
	defer t.Stop()
	buf := make([]byte, StatusSchema.Size(len(s.kids)))
	items := make([]ChildStatus, len(s.kids))
	h := engine.Header{Rate: uint32(max(1, time.Second/s.o.StatusEvery)), Epoch: d.Epoch()}
	ignore := func(venom.ClientID, []byte, []byte) int { return 0 }
	failing := false
	publish := func() {
		meta := s.status(items)
		h.Tick++
		h.SimTime += int64(s.o.StatusEvery)
		h.Mono = venom.Monotonic()
		n, err := StatusSchema.Encode(buf, h, &meta, items)
		if err == nil {
			_, err = d.Publish(buf[:n])
		}
		if err != nil && !failing {
			s.log.Error("status not published", "err", err)
		}
		failing = err != nil
		d.Poll(ignore) // nobody sends commands; this reclaims dead readers' slots
	}
	publish()
	for {
		select {
		case <-done:
			publish()
			return
		case <-t.C:
			publish()
		}
	}
}

// Status returns the state of every child, in spec order.
func (s *Supervisor) Status() []ChildStatus {
	items := make([]ChildStatus, len(s.kids))
	s.status(items)
	return items
}

// status fills items and returns the meta, as of now.
func (s *Supervisor) status(items []ChildStatus) Meta {
	now, mono := time.Now(), venom.Monotonic()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, v := range s.view {
		items[i] = v.at(now, mono, s.o.FailureDecay)
	}
	meta := Meta{Pid: uint32(os.Getpid()), Children: uint32(len(items)), Started: s.startMono}
	if s.stopping {
		meta.Stopping = 1
	}
	return meta
}

// refresh copies the loop's view of the children for Status.
func (s *Supervisor) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.kids {
		s.view[i] = k.snapshot()
	}
}
