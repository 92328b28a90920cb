package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["crasher"] = func([]string) error { os.Exit(1); return nil }
	helpers["sleeper"] = helperSleeper
	helpers["supervisor"] = helperSupervisor
}

// sleeper: waits for SIGTERM, then exits 0. It never opens a channel.
func helperSleeper([]string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// supervisor INSTANCE: supervises counters "a" and "b" until SIGTERM.
func helperSupervisor(args []string) error {
	inst := args[0]
	s, err := New(Options{Instance: inst}, counterSpec(inst, "a"), counterSpec(inst, "b"))
	if err != nil {
		return err
	}
	return s.Run(context.Background())
}

// counterSpec is a permanent counter child on channel "<inst>.<name>".
func counterSpec(inst, name string) ChildSpec {
	ch := inst + "." + name
	return ChildSpec{
		Name:        name,
		Channel:     ch,
		Command:     func() *exec.Cmd { return quick(proctest.Command("counter", ch, "100")) },
		HangTimeout: 3 * time.Second, // no false alarm on a loaded machine
	}
}

func helperSpec(name, mode string) ChildSpec {
	return ChildSpec{Name: name, Command: func() *exec.Cmd { return quick(proctest.Command(mode)) }}
}

// quick drops the race detector's one-second sleep at exit from a child,
// which would otherwise slow every stop and restart of a -race test.
func quick(cmd *exec.Cmd) *exec.Cmd {
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// instance is a unique instance name whose segments are removed before and
// after the test.
func instance(t *testing.T) string {
	inst := proctest.Name(t)
	removeInstance(inst)
	t.Cleanup(func() { removeInstance(inst) })
	return inst
}

func segments(inst string) []string {
	m, _ := filepath.Glob("/dev/shm/venom." + inst + ".*")
	return m
}

func removeInstance(inst string) {
	for _, p := range segments(inst) {
		os.Remove(p)
	}
}

// harness runs a Supervisor in the test process.
type harness struct {
	t    *testing.T
	inst string
	s    *Supervisor
	log  *logBuf
	ev   *eventLog
	done chan error
	ran  bool
	err  error
	stop context.CancelFunc // stops Run (the cleanup does too)
}

// logBuf keeps what a supervisor logs.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(l.b.String(), "\n")
}

// eventLog keeps the lifecycle events a supervisor hands its OnEvent.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// find returns the events of a kind for a child, in order.
func (l *eventLog) find(kind EventKind, child string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, ev := range l.evs {
		if ev.Kind == kind && ev.Child == child {
			out = append(out, ev)
		}
	}
	return out
}

func startSupervisor(t *testing.T, inst string, o Options, specs ...ChildSpec) *harness {
	t.Helper()
	lb, el := &logBuf{}, &eventLog{}
	o.Instance = inst
	o.Log = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), lb), nil))
	o.OnEvent = el.add
	s, err := New(o, specs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, inst: inst, s: s, log: lb, ev: el, done: make(chan error, 1), stop: cancel}
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := h.result(20 * time.Second); err != nil {
			t.Errorf("Run: %v", err)
		}
		// A stopped supervisor leaves no process and no segment.
		for _, st := range s.Status() {
			if st.Pid != 0 || st.State == ChildRunning || st.State == ChildStarting || st.State == ChildStopping {
				t.Errorf("after Run: %s", describeChild(st))
			}
		}
		if segs := segments(inst); len(segs) > 0 {
			t.Errorf("segments left after Run: %v", segs)
		}
	})
	return h
}

// result waits for Run to return and returns its error.
func (h *harness) result(within time.Duration) error {
	h.t.Helper()
	if !h.ran {
		select {
		case h.err = <-h.done:
			h.ran = true
		case <-time.After(within):
			h.t.Fatalf("Run did not return within %v", within)
		}
	}
	return h.err
}

func (h *harness) child(name string) ChildStatus {
	h.t.Helper()
	for _, c := range h.s.Status() {
		if c.NameString() == name {
			return c
		}
	}
	h.t.Fatalf("no child %q in the status", name)
	return ChildStatus{}
}

// waitChild waits until the child's status satisfies cond and returns it.
func (h *harness) waitChild(name, what string, within time.Duration, cond func(c ChildStatus) bool) ChildStatus {
	h.t.Helper()
	var c ChildStatus
	deadline := time.Now().Add(within)
	for c = h.child(name); !cond(c); c = h.child(name) {
		if time.Now().After(deadline) {
			h.t.Fatalf("child %s not %s within %v: %s", name, what, within, describeChild(c))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// logged reports whether the supervisor has logged a line with every one
// of fields, each a key=value as the text handler writes it.
func (h *harness) logged(fields ...string) bool {
	for _, line := range h.log.lines() {
		all := true
		for _, f := range fields {
			all = all && strings.Contains(line+" ", " "+f+" ")
		}
		if all {
			return true
		}
	}
	return false
}

func describeChild(c ChildStatus) string {
	return fmt.Sprintf("%s state %s pid %d restarts %d reason %q failures %.2f tick %d",
		c.NameString(), c.StateName(), c.Pid, c.Restarts, c.ReasonString(), c.Failures, c.Tick)
}

func running(c ChildStatus) bool { return c.State == ChildRunning }

// restarted: running again after a restart, or restarted more than once,
// which the caller reports.
func restarted(c ChildStatus) bool { return c.Restarts > 1 || c.Restarts == 1 && running(c) }

// gone reports whether pid has ended: no such process, or (zombieOK) one
// that died and waits for a parent to reap it.
func gone(pid int, zombieOK bool) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	f := bytes.Fields(b[i+1:])
	return zombieOK && len(f) > 0 && (f[0][0] == 'Z' || f[0][0] == 'X')
}

func TestSupervisorRestartsKilledChild(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{}, counterSpec(inst, "a"), counterSpec(inst, "b"))
	a := h.waitChild("a", "running", 15*time.Second, running)
	h.waitChild("b", "running", 15*time.Second, running)
	c := connectCounter(t, inst+".a")
	before := waitFrame(t, c, "ticking", func(f *engine.Frame[counterMeta, counterItem]) bool { return f.Tick > 10 })

	if err := syscall.Kill(int(a.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a2 := h.waitChild("a", "restarted", 15*time.Second, restarted)
	if a2.Restarts != 1 || a2.Pid == a.Pid || a2.ReasonString() != "killed by SIGKILL" || a2.ExitCode != 128+9 {
		t.Errorf("after SIGKILL: %s exit code %d, want a new pid and reason \"killed by SIGKILL\"", describeChild(a2), a2.ExitCode)
	}
	after := waitFrame(t, c, "the successor publishing", func(f *engine.Frame[counterMeta, counterItem]) bool { return f.Epoch > before.Epoch })
	if after.Tick < before.Tick {
		t.Errorf("tick went back across the restart: %d → %d", before.Tick, after.Tick)
	}
	if b := h.child("b"); b.Restarts != 0 || !running(b) {
		t.Errorf("the other child: %s", describeChild(b))
	}
}

func TestSupervisorHungChildren(t *testing.T) {
	inst := instance(t)
	// counterSpec's hang timeout is far beyond any tick of a healthy
	// counter, even on a loaded machine: any restart of "healthy", and any
	// second restart of the others, is a false alarm.
	stopped, looping, healthy := counterSpec(inst, "stopped"), counterSpec(inst, "looping"), counterSpec(inst, "healthy")
	// Go's SIGQUIT handler ends a looping process with exit 2 (as it does
	// under GOTRACEBACK=single), long before this grace runs out.
	looping.QuitGrace = 10 * time.Second
	looping.Command = func() *exec.Cmd {
		cmd := quick(proctest.Command("counter", inst+".looping", "100"))
		cmd.Env = append(cmd.Env, "GOTRACEBACK=single")
		return cmd
	}
	h := startSupervisor(t, inst, Options{}, stopped, looping, healthy)
	s := h.waitChild("stopped", "running", 15*time.Second, running)
	l := h.waitChild("looping", "running", 15*time.Second, running)
	w := h.waitChild("healthy", "running", 15*time.Second, running)

	// SIGSTOP: the heartbeat stops, SIGQUIT cannot act, SIGKILL does.
	if err := syscall.Kill(int(s.Pid), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// OpHang: the loop stops ticking; Go's SIGQUIT handler ends it.
	c := connectCounter(t, inst+".looping")
	if err := c.Send(engine.Cmd(engine.OpHang)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before ChildStatus
		reason string
		code   int32
		// killedAs is the reason of its SIGKILL: "stopped" for the
		// SIGSTOPped one, at once, since SIGQUIT cannot act on it; ""
		// for the looping one, which heeds SIGQUIT and is never killed.
		killedAs string
	}{
		{s, "hung: killed by SIGKILL", 128 + 9, "stopped"},
		{l, "hung: exit 2", 2, ""},
	} {
		name, pid := tc.before.NameString(), tc.before.Pid
		st := h.waitChild(name, "restarted", 30*time.Second, restarted)
		if st.Restarts != 1 || st.ReasonString() != tc.reason || st.ExitCode != tc.code || st.Pid == pid {
			t.Errorf("after the hang: %s exit code %d, want one restart, a new pid, reason %q and exit code %d",
				describeChild(st), st.ExitCode, tc.reason, tc.code)
		}
		if !h.logged(`msg="child hung"`, "child="+name, fmt.Sprint("pid=", pid), "action=SIGQUIT") {
			t.Errorf("no \"child hung\" line for %s pid %d in the log", name, pid)
		}
		var kills []string
		for _, ev := range h.ev.find(EventKilled, name) {
			if ev.Pid == int(pid) {
				kills = append(kills, ev.Reason)
			}
		}
		if want := []string{tc.killedAs}; tc.killedAs == "" && len(kills) != 0 || tc.killedAs != "" && !slices.Equal(kills, want) {
			t.Errorf("%s pid %d killed as %q, want %q", name, pid, kills, tc.killedAs)
		}
	}
	if c := h.child("healthy"); c.Restarts != 0 || !running(c) || c.Pid != w.Pid || c.ReasonString() != "" ||
		h.logged(`msg="child hung"`, "child=healthy") {
		t.Errorf("the healthy child: %s, want it running since the start", describeChild(c))
	}
}

func TestSupervisorCrashLoopFails(t *testing.T) {
	inst := instance(t)
	bad := helperSpec("bad", "crasher")
	bad.Channel = inst + ".bad" // never created
	// The score does not decay noticeably however slow the launches are.
	o := Options{BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond, FailureThreshold: 3, FailureDecay: time.Hour}
	h := startSupervisor(t, inst, o, bad, counterSpec(inst, "good"))
	b := h.waitChild("bad", "failed", 15*time.Second, func(c ChildStatus) bool { return c.State == ChildFailed })
	// Scores 1, 2, 3 and then 4 > 3: four launches.
	if b.Restarts != 3 || b.ReasonString() != "exit 1" || b.Failures <= 3 || b.Pid != 0 {
		t.Errorf("failed child: %s", describeChild(b))
	}
	h.waitChild("good", "running", 15*time.Second, running)
	c := connectCounter(t, inst+".good")
	var f engine.Frame[counterMeta, counterItem]
	waitFrame(t, c, "good ticking", func(g *engine.Frame[counterMeta, counterItem]) bool { f = *g; return true })
	waitFrame(t, c, "good still ticking", func(g *engine.Frame[counterMeta, counterItem]) bool { return g.Tick > f.Tick+20 })
	if b := h.child("bad"); b.State != ChildFailed || b.Restarts != 3 {
		t.Errorf("failed child restarted: %s", describeChild(b))
	}
	if g := h.child("good"); g.Restarts != 0 || !running(g) {
		t.Errorf("good child: %s", describeChild(g))
	}
	select {
	case err := <-h.done:
		t.Fatalf("supervisor returned: %v", err)
	default:
	}
}

func TestSupervisorStartTimeout(t *testing.T) {
	inst := instance(t)
	slow := helperSpec("slow", "sleeper")
	slow.Channel = inst + ".slow" // the sleeper never creates it
	slow.StartTimeout, slow.QuitGrace = 300*time.Millisecond, 200*time.Millisecond
	// With a healthy child beside it: a supervisor whose permanent
	// children have all failed ends (ErrAllFailed).
	h := startSupervisor(t, inst, Options{BackoffMin: 5 * time.Millisecond, FailureThreshold: 1, FailureDecay: time.Hour},
		slow, helperSpec("healthy", "sleeper"))
	s := h.waitChild("slow", "failed", 15*time.Second, func(c ChildStatus) bool { return c.State == ChildFailed })
	if s.Restarts != 1 || !strings.HasPrefix(s.ReasonString(), "start timeout: ") {
		t.Errorf("%s, want one restart and a reason \"start timeout: ...\"", describeChild(s))
	}
}

func TestSupervisorRestartPolicies(t *testing.T) {
	inst := instance(t)
	spec := func(name string, r Restart) ChildSpec { sp := counterSpec(inst, name); sp.Restart = r; return sp }
	h := startSupervisor(t, inst, Options{},
		spec("perm", Permanent), spec("trans0", Transient), spec("trans3", Transient), spec("temp", Temporary))
	exit := map[string]float64{"perm": 0, "trans0": 0, "trans3": 3, "temp": 3}
	for name, code := range exit {
		h.waitChild(name, "running", 15*time.Second, running)
		c := connectCounter(t, inst+"."+name)
		if err := c.Send(engine.Cmd(engine.OpExit, code)); err != nil {
			t.Fatal(err)
		}
	}
	exited := func(c ChildStatus) bool { return c.State == ChildExited }
	if c := h.waitChild("perm", "restarted after exit 0", 15*time.Second, restarted); c.Restarts != 1 || c.ReasonString() != "exit 0" {
		t.Errorf("permanent after exit 0: %s", describeChild(c))
	}
	if c := h.waitChild("trans3", "restarted after exit 3", 15*time.Second, restarted); c.Restarts != 1 || c.ReasonString() != "exit 3" {
		t.Errorf("transient after exit 3: %s", describeChild(c))
	}
	if c := h.waitChild("trans0", "exited", 15*time.Second, exited); c.Restarts != 0 || c.ReasonString() != "exit 0" || c.Pid != 0 {
		t.Errorf("transient after exit 0: %s", describeChild(c))
	}
	if c := h.waitChild("temp", "exited", 15*time.Second, exited); c.Restarts != 0 || c.ReasonString() != "exit 3" {
		t.Errorf("temporary after exit 3: %s", describeChild(c))
	}
}

func TestSupervisorSignificantExit(t *testing.T) {
	inst := instance(t)
	render := counterSpec(inst, "render")
	render.Restart, render.Significant = Transient, true
	h := startSupervisor(t, inst, Options{}, render, counterSpec(inst, "sim"), helperSpec("idle", "sleeper"))
	var pids []int
	for _, name := range []string{"render", "sim", "idle"} {
		pids = append(pids, int(h.waitChild(name, "running", 15*time.Second, running).Pid))
	}
	c := connectCounter(t, inst+".render")
	if err := c.Send(engine.Cmd(engine.OpExit, 0)); err != nil {
		t.Fatal(err)
	}
	if err := h.result(15 * time.Second); err != nil {
		t.Fatalf("Run after the significant child exited 0: %v", err)
	}
	for _, pid := range pids {
		if !gone(pid, false) {
			t.Errorf("pid %d still there after Run returned", pid)
		}
	}
	if segs := segments(inst); len(segs) > 0 {
		t.Errorf("segments left: %v", segs)
	}
	want := map[string]ChildState{"render": ChildExited, "sim": ChildStopped, "idle": ChildStopped}
	for _, st := range h.s.Status() {
		if st.State != want[st.NameString()] || st.Pid != 0 {
			t.Errorf("after Run: %s", describeChild(st))
		}
	}
}

// connectStatus connects to a supervisor's status channel and waits until
// its frame satisfies cond.
func waitStatus(t *testing.T, inst, what string, cond func(f *engine.Frame[Meta, ChildStatus]) bool) engine.Frame[Meta, ChildStatus] {
	t.Helper()
	var c *engine.Client[Meta, ChildStatus]
	proctest.Eventually(t, 15*time.Second, "status channel exists", func() bool {
		var err error
		c, err = engine.Connect(StatusChannel(inst), StatusSchema)
		return err == nil
	})
	defer c.Close()
	var f engine.Frame[Meta, ChildStatus]
	proctest.Eventually(t, 15*time.Second, what, func() bool { return c.Read(&f) == nil && cond(&f) })
	return f
}

func allRunning(f *engine.Frame[Meta, ChildStatus]) bool {
	for _, c := range f.Items {
		if !running(c) {
			return false
		}
	}
	return len(f.Items) > 0
}

func TestSupervisorStatusSlice(t *testing.T) {
	inst := instance(t)
	render := counterSpec(inst, "render")
	render.Restart, render.Significant = Transient, true
	h := startSupervisor(t, inst, Options{StatusEvery: 20 * time.Millisecond}, render, helperSpec("idle", "sleeper"))
	f := waitStatus(t, inst, "children running, render ticking", func(f *engine.Frame[Meta, ChildStatus]) bool {
		return allRunning(f) && f.Items[0].Tick > 0
	})
	if f.Meta.Pid != uint32(os.Getpid()) || f.Meta.Children != 2 || f.Meta.Stopping != 0 || f.Meta.Started == 0 || f.Count != 2 {
		t.Errorf("meta %+v count %d", f.Meta, f.Count)
	}
	r, i := f.Items[0], f.Items[1]
	if r.NameString() != "render" || i.NameString() != "idle" {
		t.Fatalf("names %q %q", r.NameString(), i.NameString())
	}
	if !r.Significant() || r.Flags&FlagChannel == 0 || Restart(r.Policy) != Transient || r.Pid == 0 ||
		r.TickAge < 0 || r.TickMono == 0 || r.Uptime <= 0 || r.Started == 0 || r.ExitCode != -1 {
		t.Errorf("render: %+v", r)
	}
	if i.Significant() || i.Flags&FlagChannel != 0 || i.TickAge != -1 || i.Tick != 0 {
		t.Errorf("idle: %+v", i)
	}
	// A second supervisor of the instance is refused before it starts anything.
	s2, err := New(Options{Instance: inst}, helperSpec("idle", "sleeper"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background()); !errors.Is(err, venom.ErrBusy) {
		t.Errorf("second supervisor: %v, want ErrBusy", err)
	}
	if st := h.child("idle"); !running(st) {
		t.Errorf("first supervisor's child after the second one: %s", describeChild(st))
	}
}

// supervisorProc starts a supervisor in a helper process and waits until
// both its children run; it returns the children's pids.
func supervisorProc(t *testing.T, inst string) (*proctest.Proc, []int) {
	p := proctest.StartCmd(t, quick(proctest.Command("supervisor", inst)))
	f := waitStatus(t, inst, "both children running", allRunning)
	if f.Meta.Pid != uint32(p.Pid()) || len(f.Items) != 2 {
		t.Fatalf("status meta %+v, %d items; supervisor pid %d", f.Meta, len(f.Items), p.Pid())
	}
	var pids []int
	for _, c := range f.Items {
		pids = append(pids, int(c.Pid))
	}
	return p, pids
}

func TestSupervisorKilledTakesChildren(t *testing.T) {
	inst := instance(t)
	p, pids := supervisorProc(t, inst)
	p.Kill(t)
	// Pdeathsig: each child gets SIGKILL. Orphans are reaped by init,
	// which in a container may not: a zombie is dead enough.
	proctest.Eventually(t, 10*time.Second, fmt.Sprintf("children %v gone", pids), func() bool {
		for _, pid := range pids {
			if !gone(pid, true) {
				return false
			}
		}
		return true
	})
}

func TestSupervisorGracefulStop(t *testing.T) {
	inst := instance(t)
	p, pids := supervisorProc(t, inst)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, 15*time.Second) // fails unless it exits 0
	for _, pid := range pids {
		if !gone(pid, false) {
			t.Errorf("child pid %d still there after the supervisor exited", pid)
		}
	}
	if segs := segments(inst); len(segs) > 0 {
		t.Errorf("segments left: %v", segs)
	}
}

func TestNewSupervisorRefuses(t *testing.T) {
	ok := helperSpec("ok", "sleeper")
	for name, tc := range map[string]struct {
		o     Options
		specs []ChildSpec
	}{
		"no instance":   {Options{}, []ChildSpec{ok}},
		"bad instance":  {Options{Instance: "a/b"}, []ChildSpec{ok}},
		"no children":   {Options{Instance: "x"}, nil},
		"long name":     {Options{Instance: "x"}, []ChildSpec{{Name: "sixteen-bytes-xx", Command: ok.Command}}},
		"no command":    {Options{Instance: "x"}, []ChildSpec{{Name: "a"}}},
		"twice":         {Options{Instance: "x"}, []ChildSpec{ok, ok}},
		"bad channel":   {Options{Instance: "x"}, []ChildSpec{{Name: "a", Command: ok.Command, Channel: "a b"}}},
		"sup channel":   {Options{Instance: "x"}, []ChildSpec{{Name: "a", Command: ok.Command, Channel: "x.sup"}}},
		"bad policy":    {Options{Instance: "x"}, []ChildSpec{{Name: "a", Command: ok.Command, Restart: 7}}},
		"negative wait": {Options{Instance: "x", BackoffMin: -1}, []ChildSpec{ok}},
	} {
		if _, err := New(tc.o, tc.specs...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPeekHeader(t *testing.T) {
	buf := make([]byte, counterSchema.Size(1))
	n, err := counterSchema.Encode(buf, engine.Header{Tick: 42, Mono: 7}, &counterMeta{}, []counterItem{{Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := engine.PeekHeader(buf[:n])
	if err != nil || h.Tick != 42 || h.Mono != 7 || h.Count != 1 || h.Schema != counterSchema.Schema() {
		t.Fatalf("PeekHeader: %+v %v", h, err)
	}
	if _, err := engine.PeekHeader(buf[:engine.HeaderSize-1]); !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("short: %v, want ErrCorrupt", err)
	}
}

func TestSupervisorCommandNotFound(t *testing.T) {
	inst := instance(t)
	missing := ChildSpec{Name: "missing", Command: func() *exec.Cmd { return exec.Command("/nonexistent/venomrt-child") }}
	o := Options{BackoffMin: time.Millisecond, FailureThreshold: 2, FailureDecay: time.Hour}
	h := startSupervisor(t, inst, o, missing, helperSpec("idle", "sleeper"))
	m := h.waitChild("missing", "failed", 15*time.Second, func(c ChildStatus) bool { return c.State == ChildFailed })
	if m.Restarts != 2 || !strings.HasPrefix(m.ReasonString(), "start: ") {
		t.Errorf("%s, want two restarts and a reason \"start: ...\"", describeChild(m))
	}
	h.waitChild("idle", "running", 15*time.Second, running)
}

func TestParseChildState(t *testing.T) {
	for s := ChildStopped; s <= ChildStopping; s++ {
		if got, ok := ParseChildState(s.String()); !ok || got != s {
			t.Errorf("ParseChildState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := ParseChildState("exploded"); ok {
		t.Error("an unknown state name was parsed")
	}
}

// A child's life reaches OnEvent as typed events, in order, each with
// the pid it is about: launch, first publish, a SIGKILL's exit, the
// backoff, the restart.
func TestLifecycleEvents(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{}, counterSpec(inst, "a"))
	first := h.waitChild("a", "running", 30*time.Second, running)
	if err := syscall.Kill(int(first.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := h.waitChild("a", "restarted", 30*time.Second, restarted)
	var kinds []string
	h.ev.mu.Lock()
	evs := slices.Clone(h.ev.evs)
	h.ev.mu.Unlock()
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind.String())
	}
	want := []string{"started", "running", "exited", "backoff", "started", "running"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i, pid := range []uint32{first.Pid, first.Pid, first.Pid, 0, second.Pid, second.Pid} {
		ev := evs[i]
		if ev.Pid != int(pid) || ev.Child != "a" || ev.Time.IsZero() {
			t.Errorf("event %d %+v: want child a, pid %d, a time", i, ev, pid)
		}
	}
	if ex := evs[2]; ex.Code != 128+int32(syscall.SIGKILL) || ex.Reason != "killed by SIGKILL" || ex.Restarts != 0 {
		t.Errorf("exit event %+v: want code %d, reason \"killed by SIGKILL\", restarts 0", ex, 128+int(syscall.SIGKILL))
	}
	if b := evs[3]; b.Backoff <= 0 || b.Backoff > DefaultBackoffMax {
		t.Errorf("backoff event %+v: want a backoff in (0, %v]", b, DefaultBackoffMax)
	}
	if second.Replaced != RestartAfterBackoff || second.LastEvent != EventRunning || second.Events != 6 {
		t.Errorf("status after the restart: replaced %v, last event %v, %d events; want a restart after backoff, running, 6", second.Replaced, second.LastEvent, second.Events)
	}
	if r := evs[4]; r.Restarts != 1 {
		t.Errorf("restart event %+v: want restarts 1", r)
	}
	if !h.logged(`msg="child exited"`, "child=a", "event=exited", fmt.Sprint("pid=", first.Pid), `reason="killed by SIGKILL"`) {
		t.Errorf("no structured \"child exited\" record")
	}
}
