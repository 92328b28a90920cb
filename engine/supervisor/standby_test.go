package supervisor

import (
	"context"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["crashcounter"] = helperCrashCounter
	helpers["stoppedcounter"] = func(args []string) error {
		// Once its channel exists (a predecessor made it and published),
		// stopped before it publishes anything: whoever kills it kills a
		// process that has not stepped, on a channel with snapshots.
		if _, err := os.Stat(venom.Path(args[0])); err == nil {
			syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		}
		return helperCounter(args)
	}
}

// crashcounter CHANNEL RATE N: the counter, exiting 1 after N ticks of
// its own (a standby's counted from its go).
func helperCrashCounter(args []string) error {
	rate, _ := strconv.Atoi(args[1])
	n, _ := strconv.Atoi(args[2])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ticks := 0
	return engine.Run(ctx, counterSchema, &counter{}, engine.Options{Channel: args[0], Rate: rate, DataSize: 8 << 10,
		OnTick: func(*engine.Header) {
			if ticks++; ticks >= n {
				os.Exit(1)
			}
		}})
}

// standbySpec is counterSpec kept with a hot standby.
func standbySpec(inst, name string) ChildSpec {
	sp := counterSpec(inst, name)
	sp.Standby = true
	return sp
}

// readyStable: running for long enough that its failure is one after a
// stable run, with a standby ready.
func readyStable(c ChildStatus) bool {
	return running(c) && c.StandbyReady() && c.Uptime > int64(2*StableAfter)
}

// lockWaiter reports whether pid is blocked in flock on some file, as
// /proc/locks lists it ("-> FLOCK ... PID ...").
func lockWaiter(pid uint32) bool {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "->" && f[2] == "FLOCK" && f[5] == strconv.Itoa(int(pid)) {
			return true
		}
	}
	return false
}

// settleProbe waits until every input the probe sent is applied, or 15s pass,
// and returns the account as it then stands: lost inputs never come.
func settleProbe(t *testing.T, probe *engine.InputProbe) engine.InputAccount {
	t.Helper()
	var a engine.InputAccount
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if a, err = probe.Account(); err == nil && a.Lost == 0 {
			break
		}
	}
	return a
}

// TestStandbyTakesOverOnKill: SIGKILL of a child that ran stably is
// served by its standby at once, three times over, while numbered inputs
// flow: none is lost or doubled, ticks go on, and a new standby is
// started after each handover.
func TestStandbyTakesOverOnKill(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{}, standbySpec(inst, "a"))
	h.waitChild("a", "running", 15*time.Second, running)
	ch := inst + ".a"
	probe, err := engine.NewInputProbe(ch, venom.WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	send := func(n int) {
		for range n {
			if err := probe.Send(); err != nil {
				t.Fatalf("input %d: %v", probe.Sent()+1, err)
			}
		}
	}
	frames := connectCounter(t, ch)
	var last engine.Frame[counterMeta, counterItem]
	for round := uint32(1); round <= 3; round++ {
		c := h.waitChild("a", "running stably with a standby ready", 30*time.Second, readyStable)
		if !lockWaiter(c.StandbyPid) {
			t.Errorf("round %d: standby %d ready but not blocked in flock (/proc/locks)", round, c.StandbyPid)
		}
		before := waitFrame(t, frames, "a frame", func(*engine.Frame[counterMeta, counterItem]) bool { return true })
		if before.Tick < last.Tick {
			t.Errorf("round %d: tick went back: %d → %d", round, last.Tick, before.Tick)
		}
		send(20) // applied before the kill
		proctest.Eventually(t, 10*time.Second, "inputs applied", func() bool {
			a, err := probe.Account()
			return err == nil && a.Lost == 0
		})
		send(20) // in flight at the kill: queued, or handed out and not published
		if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		send(40) // queued while it is down
		c2 := h.waitChild("a", "taken over by its standby", 15*time.Second, func(x ChildStatus) bool {
			return x.Handovers >= round && running(x)
		})
		if c2.Handovers != round || c2.Restarts != round || c2.Pid != c.StandbyPid || c2.ReasonString() != "killed by SIGKILL" || c2.Replaced != HandoverAtOnce {
			t.Errorf("round %d: %s handovers %d, want the standby pid %d after %d handovers", round, describeChild(c2), c2.Handovers, c.StandbyPid, round)
		}
		if !h.logged(`msg="standby took over"`, "child=a", fmt.Sprint("pid=", c.StandbyPid), `reason="stable run"`) {
			t.Errorf("round %d: no \"standby took over\" line with reason=\"stable run\" for pid %d", round, c.StandbyPid)
		}
		last = waitFrame(t, frames, "the successor publishing", func(f *engine.Frame[counterMeta, counterItem]) bool { return f.Epoch > before.Epoch })
		if last.Tick < before.Tick {
			t.Errorf("round %d: tick went back across the handover: %d → %d", round, before.Tick, last.Tick)
		}
	}
	a := settleProbe(t, probe)
	if !a.Exact() || a.Sent != 240 {
		t.Errorf("inputs across three handovers: %+v, want 240 sent, each applied exactly once", a)
	}
	t.Logf("inputs: %+v", a)
}

// TestStandbyAfterHang: a stopped child (SIGSTOP) and a looping one
// (OpHang) are found hung, killed, and served by their standbys.
func TestStandbyAfterHang(t *testing.T) {
	inst := instance(t)
	stopped, looping := standbySpec(inst, "stopped"), standbySpec(inst, "looping")
	looping.QuitGrace = 10 * time.Second // Go's SIGQUIT handler ends it long before
	looping.Command = func() *exec.Cmd {
		cmd := quick(proctest.Command("counter", inst+".looping", "100"))
		cmd.Env = append(cmd.Env, "GOTRACEBACK=single")
		return cmd
	}
	h := startSupervisor(t, inst, Options{}, stopped, looping)
	s := h.waitChild("stopped", "running stably with a standby ready", 30*time.Second, readyStable)
	l := h.waitChild("looping", "running stably with a standby ready", 30*time.Second, readyStable)
	probe, err := engine.NewInputProbe(inst+".stopped", venom.WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := syscall.Kill(int(s.Pid), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for range 30 { // queued behind a hung process
		if err := probe.Send(); err != nil {
			t.Fatal(err)
		}
	}
	c := connectCounter(t, inst+".looping")
	if err := c.Send(engine.Cmd(engine.OpHang)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		before ChildStatus
		reason string
	}{{s, "hung: killed by SIGKILL"}, {l, "hung: exit 2"}} {
		name := tc.before.NameString()
		st := h.waitChild(name, "taken over by its standby", 30*time.Second, func(x ChildStatus) bool { return x.Handovers >= 1 && running(x) })
		if st.Handovers != 1 || st.Restarts != 1 || st.Pid != tc.before.StandbyPid || st.ReasonString() != tc.reason {
			t.Errorf("%s, handovers %d: want the standby pid %d, one handover, reason %q", describeChild(st), st.Handovers, tc.before.StandbyPid, tc.reason)
		}
		if !h.logged(`msg="child hung"`, "child="+name, fmt.Sprint("pid=", tc.before.Pid)) {
			t.Errorf("no \"child hung\" line for %s pid %d", name, tc.before.Pid)
		}
	}
	// The stopped one is killed at once, SIGQUIT cannot act on it: the
	// path taken is in the event, not in how long it took.
	if kills := h.ev.find(EventKilled, "stopped"); len(kills) != 1 || kills[0].Pid != int(s.Pid) || kills[0].Reason != "stopped" {
		t.Errorf("kills of the stopped child: %+v, want one of pid %d with reason \"stopped\" (SIGKILL at once, no SIGQUIT grace)", kills, s.Pid)
	}
	if !h.logged(`msg="child killed"`, "child=stopped", fmt.Sprint("pid=", s.Pid), "event=killed", "reason=stopped", "why=hung") {
		t.Errorf("no \"child killed\" record for the stopped child")
	}
	// The looping one heeds SIGQUIT: it is not killed as a stopped one.
	for _, ev := range h.ev.find(EventKilled, "looping") {
		if ev.Reason == "stopped" {
			t.Errorf("looping child killed as stopped: %+v", ev)
		}
	}
	if a := settleProbe(t, probe); !a.Exact() {
		t.Errorf("inputs across the hang: %+v", a)
	}
}

// sample is one look at a channel and the supervisor's view of its child.
type sample struct {
	mono       int64  // when it was taken
	epoch      uint64 // of the newest snapshot (its header)
	snapMono   int64  // when that snapshot was made
	owner      int    // the channel's owner pid (header)
	ownerEpoch uint64 // the channel's epoch (header)
	st         ChildStatus
}

// TestStandbyCrashLoopBacksOff: a child that crashes soon after it starts
// does not burn its standbys: each is told go only when the backoff ends,
// and never publishes before it is (the first snapshot of its epoch is
// younger than its go), although it owns the channel as soon as its
// predecessor is dead.
func TestStandbyCrashLoopBacksOff(t *testing.T) {
	inst := instance(t)
	ch := inst + ".loop"
	sp := ChildSpec{Name: "loop", Channel: ch, Standby: true, HangTimeout: 3 * time.Second,
		Command: func() *exec.Cmd { return quick(proctest.Command("crashcounter", ch, "100", "40")) }}
	o := Options{BackoffMin: 300 * time.Millisecond, BackoffMax: 1200 * time.Millisecond,
		FailureThreshold: 1e6, FailureDecay: time.Hour}
	h := startSupervisor(t, inst, o, sp)
	var (
		shell   *venom.Shell
		samples []sample
		buf     = make([]byte, 8<<10)
	)
	proctest.Eventually(t, 15*time.Second, "channel", func() bool {
		var err error
		shell, err = venom.Connect(ch, venom.WithDaemonTimeout(time.Hour))
		return err == nil
	})
	defer shell.Close()
	proctest.Eventually(t, 90*time.Second, "three handovers at the end of a backoff", func() bool {
		for range 20 {
			var sm sample
			info, err := shell.Daemon()
			if err != nil {
				t.Fatal(err)
			}
			if n, _, err := shell.Read(buf); err == nil {
				if hd, err := engine.PeekHeader(buf[:n]); err == nil {
					sm.epoch, sm.snapMono = hd.Epoch, hd.Mono
				}
			}
			sm.mono, sm.owner, sm.ownerEpoch, sm.st = venom.Monotonic(), info.Pid, info.Epoch, h.child("loop")
			samples = append(samples, sm)
			// The status is updated before go is said: a child still in
			// its backoff after this read has not told its standby go.
			if st := sm.st; st.State == ChildBackoff && st.StandbyPid != 0 && sm.owner == int(st.StandbyPid) && sm.epoch == sm.ownerEpoch {
				t.Fatalf("the standby (pid %d, epoch %d) published during the backoff, before it was told go", sm.owner, sm.epoch)
			}
			time.Sleep(time.Millisecond)
		}
		return samples[len(samples)-1].st.Handovers >= 3
	})
	// When each process was told go: its Started, once it is the child.
	goAt := map[int]int64{}
	for _, sm := range samples {
		if sm.st.Pid != 0 && sm.st.State != ChildBackoff {
			goAt[int(sm.st.Pid)] = sm.st.Started
		}
	}
	// Which epoch each owner took: a standby owns before its go.
	epochOf := map[uint64]int{}
	for _, sm := range samples {
		epochOf[sm.ownerEpoch] = sm.owner
	}
	owned := 0
	for _, sm := range samples {
		pid := epochOf[sm.epoch]
		at, ok := goAt[pid]
		if !ok || sm.epoch == 0 {
			continue // a first launch, not a standby's
		}
		if sm.snapMono < at {
			t.Fatalf("pid %d published (epoch %d, snapshot at %d) %v before it was told go (%d)",
				pid, sm.epoch, sm.snapMono, time.Duration(at-sm.snapMono), at)
		}
	}
	for _, sm := range samples {
		if sm.st.State == ChildBackoff && sm.owner == int(sm.st.StandbyPid) && sm.owner != 0 {
			owned++ // the standby owned the channel while the backoff ran
		}
	}
	t.Logf("%d samples, %d in a backoff with the standby owning the channel", len(samples), owned)

	// Each handover came when its backoff was over.
	timeRE := regexp.MustCompile(`time=(\S+)`)
	backoffRE := regexp.MustCompile(`backoff=(\S+)`)
	var scheduled time.Time
	var backoff time.Duration
	handovers := 0
	for _, line := range h.log.lines() {
		if !strings.Contains(line, "child=loop") {
			continue
		}
		m := timeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log time %q: %v", m[1], err)
		}
		switch {
		case strings.Contains(line, `msg="restart scheduled"`):
			scheduled = at
			backoff, err = time.ParseDuration(backoffRE.FindStringSubmatch(line)[1])
			if err != nil {
				t.Fatal(err)
			}
		case strings.Contains(line, `msg="standby took over"`):
			handovers++
			if !strings.Contains(line, `reason="backoff over"`) {
				t.Errorf("a crash loop's standby took over for another reason: %s", line)
			}
			// The log's times are in milliseconds, as the backoff it gives.
			if early := scheduled.Add(backoff - 2*time.Millisecond).Sub(at); scheduled.IsZero() || early > 0 {
				t.Errorf("standby told go %v before its backoff (%v from %s) ended: %s", early, backoff, scheduled.Format(time.StampMilli), line)
			}
		}
	}
	if handovers < 3 {
		t.Errorf("%d handovers in the log, want 3", handovers)
	}
	if c := h.child("loop"); c.Handovers > c.Restarts {
		t.Errorf("%s: %d handovers", describeChild(c), c.Handovers)
	}
}

// TestStandbyStatusAndIsolation: the status slice shows the standby and
// whether it is ready; it waits in flock and never owns or publishes
// while the child lives; killing it costs the child nothing and another
// is started; stopping the supervisor ends both.
func TestStandbyStatusAndIsolation(t *testing.T) {
	inst := instance(t)
	ch := inst + ".a"
	h := startSupervisor(t, inst, Options{StatusEvery: 20 * time.Millisecond}, standbySpec(inst, "a"), counterSpec(inst, "plain"))
	f := waitStatus(t, inst, "a standby ready in the status slice", func(f *engine.Frame[Meta, ChildStatus]) bool {
		return len(f.Items) == 2 && f.Items[0].StandbyReady()
	})
	a, plain := f.Items[0], f.Items[1]
	if a.Flags&FlagStandby == 0 || a.StandbyPid == 0 || a.StandbyPid == a.Pid || a.StandbyString() != "ready" {
		t.Errorf("a: flags %b standby pid %d (%s), pid %d", a.Flags, a.StandbyPid, a.StandbyString(), a.Pid)
	}
	if plain.Flags&(FlagStandby|FlagStandbyReady) != 0 || plain.StandbyPid != 0 || plain.StandbyString() != "-" {
		t.Errorf("plain: flags %b standby pid %d", plain.Flags, plain.StandbyPid)
	}
	proctest.Eventually(t, 10*time.Second, "the standby blocked in flock", func() bool { return lockWaiter(a.StandbyPid) })

	// While the child lives, every snapshot is its own and it owns the
	// channel, however long the standby waits.
	c := connectCounter(t, ch)
	var first engine.Frame[counterMeta, counterItem]
	waitFrame(t, c, "a frame", func(fr *engine.Frame[counterMeta, counterItem]) bool { first = *fr; return true })
	waitFrame(t, c, "100 ticks, every one the child's", func(fr *engine.Frame[counterMeta, counterItem]) bool {
		info, err := venom.Inspect(ch)
		if err != nil || info.Daemon.Pid != int(a.Pid) || info.Daemon.Epoch != first.Epoch || fr.Epoch != first.Epoch {
			t.Fatalf("owner pid %d epoch %d, snapshot epoch %d (%v): want the child's, %d at epoch %d",
				info.Daemon.Pid, info.Daemon.Epoch, fr.Epoch, err, a.Pid, first.Epoch)
		}
		return fr.Tick > first.Tick+100
	})

	// A standby killed is replaced; the child does not notice.
	if err := syscall.Kill(int(a.StandbyPid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a2 := h.waitChild("a", "a new standby ready", 15*time.Second, func(x ChildStatus) bool {
		return x.StandbyReady() && x.StandbyPid != a.StandbyPid
	})
	if a2.Pid != a.Pid || a2.Restarts != 0 || a2.Handovers != 0 || !running(a2) {
		t.Errorf("after its standby was killed: %s", describeChild(a2))
	}
	if !h.logged(`msg="standby exited"`, "child=a", fmt.Sprint("pid=", a.StandbyPid)) {
		t.Error("no \"standby exited\" line")
	}
	if info, err := venom.Inspect(ch); err != nil || info.Daemon.Pid != int(a.Pid) || info.Daemon.Epoch != first.Epoch {
		t.Errorf("channel after the standby's death: %+v %v", info.Daemon, err)
	}

	// Stopping the supervisor ends the standby too.
	h.stop()
	if err := h.result(20 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !gone(int(a2.StandbyPid), false) {
		t.Errorf("standby pid %d still there after Run returned", a2.StandbyPid)
	}
	if !h.logged(`msg="standby dismissed"`, "child=a", fmt.Sprint("pid=", a2.StandbyPid), "why=stop") {
		t.Error("no \"standby dismissed\" line")
	}
}

// TestStoppedStandbyNotUsed: a standby someone stopped (SIGSTOP) is not
// told go — it would not publish until its start timeout — but dismissed,
// and the child restarts as without one.
func TestStoppedStandbyNotUsed(t *testing.T) {
	inst := instance(t)
	h := startSupervisor(t, inst, Options{}, standbySpec(inst, "a"))
	c := h.waitChild("a", "running stably with a standby ready", 30*time.Second, readyStable)
	if err := syscall.Kill(int(c.StandbyPid), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "the standby stopped", func() bool { return processStopped(int(c.StandbyPid)) })
	if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c2 := h.waitChild("a", "restarted", 30*time.Second, restarted)
	if c2.Handovers != 0 || c2.Restarts != 1 || c2.Pid == c.StandbyPid {
		t.Errorf("%s handovers %d: want a restart by a new process, not the stopped standby %d", describeChild(c2), c2.Handovers, c.StandbyPid)
	}
	if !h.logged(`msg="standby dismissed"`, "child=a", fmt.Sprint("pid=", c.StandbyPid), "why=stopped") {
		t.Error("no \"standby dismissed\" line for the stopped standby")
	}
	proctest.Eventually(t, 10*time.Second, "the stopped standby gone", func() bool { return gone(int(c.StandbyPid), true) })
}

// TestKillStormReplacedAtOnce: a process killed from outside again and
// again, each time after it has published ticks of its own, is not a
// crash loop: every successor comes at once (its standby, or a restart
// after BackoffMin), and the backoff never grows. The path is asserted
// from the events, not from how long anything took. With the rule
// removed (a short run always consecutive), the backoffs double and the
// handovers wait for them.
func TestKillStormReplacedAtOnce(t *testing.T) {
	inst := instance(t)
	o := Options{BackoffMin: 100 * time.Millisecond, BackoffMax: 3 * time.Second, FailureThreshold: 1e6, FailureDecay: time.Hour}
	h := startSupervisor(t, inst, o, standbySpec(inst, "a"))
	c := h.waitChild("a", "running", 30*time.Second, running)
	const kills = 8
	for round := 1; round <= kills; round++ {
		// Wait for ticks of its own, so that it has got on with its work.
		tick := c.Tick
		c = h.waitChild("a", "ticking", 30*time.Second, func(x ChildStatus) bool { return running(x) && x.Pid == c.Pid && x.Tick >= tick+3 })
		if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		prev := c.Pid
		c = h.waitChild("a", "replaced", 30*time.Second, func(x ChildStatus) bool { return running(x) && x.Pid != prev && x.Pid != 0 })
	}
	for _, ev := range h.ev.find(EventBackoff, "a") {
		if ev.Backoff > o.BackoffMin*6/5 {
			t.Errorf("backoff %v after restart %d: a kill storm is not a crash loop, want at most BackoffMin %v (+20%% jitter)", ev.Backoff, ev.Restarts, o.BackoffMin)
		}
	}
	for _, ev := range h.ev.find(EventHandover, "a") {
		if ev.Reason != "killed while running" && ev.Reason != "stable run" {
			t.Errorf("handover %+v: want it at once (killed while running), not after a backoff", ev)
		}
	}
	exits := h.ev.find(EventExited, "a")
	if len(exits) < kills {
		t.Errorf("%d exits, want %d", len(exits), kills)
	}
	t.Logf("%d kills: %d handovers, %d restarts after a backoff", kills, len(h.ev.find(EventHandover, "a")), len(h.ev.find(EventBackoff, "a")))
}

// TestKillBeforeProgressBacksOff: a process killed from outside before
// it has published anything is a crash loop all the same — it never got
// on with its work — and its backoff grows, although its channel holds
// its predecessor's snapshots.
func TestKillBeforeProgressBacksOff(t *testing.T) {
	inst := instance(t)
	sp := counterSpec(inst, "a")
	sp.Command = func() *exec.Cmd { return quick(proctest.Command("stoppedcounter", inst+".a", "100")) }
	o := Options{BackoffMin: 50 * time.Millisecond, BackoffMax: 3 * time.Second, FailureThreshold: 1e6, FailureDecay: time.Hour}
	h := startSupervisor(t, inst, o, sp)
	first := h.waitChild("a", "running", 30*time.Second, running)
	tick := first.Tick
	first = h.waitChild("a", "ticking", 30*time.Second, func(x ChildStatus) bool { return x.Tick >= tick+3 })
	if err := syscall.Kill(int(first.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	prev := first.Pid
	for range 3 {
		c := h.waitChild("a", "launched and stopped", 30*time.Second, func(x ChildStatus) bool {
			return x.Pid != 0 && x.Pid != prev && processStopped(int(x.Pid))
		})
		if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		prev = c.Pid
	}
	proctest.Eventually(t, 30*time.Second, "four backoffs", func() bool { return len(h.ev.find(EventBackoff, "a")) >= 4 })
	b := h.ev.find(EventBackoff, "a")
	if b[0].Backoff > o.BackoffMin*6/5 {
		t.Errorf("first backoff %v, after a kill of a process that stepped: want BackoffMin %v (±20%%)", b[0].Backoff, o.BackoffMin)
	}
	if b[3].Backoff < 3*o.BackoffMin {
		t.Errorf("fourth backoff %v: want it grown to 4×BackoffMin %v (±20%%), a process killed before it stepped is a crash loop", b[3].Backoff, o.BackoffMin)
	}
}
