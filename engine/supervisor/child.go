package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/venom"
)

// reapWait is how long a child SIGKILLed by a stopping supervisor may take
// to be reaped before the supervisor gives up on it (a process stuck in
// uninterruptible sleep).
const reapWait = 5 * time.Second

// child is a supervised child. Only the supervise loop touches it; Status
// reads the copies refresh makes.
type child struct {
	spec  ChildSpec
	log   *slog.Logger
	exits [ExitKinds]uint32 // ChildStatus.Exits

	state    ChildState
	cmd      *exec.Cmd // the running process, nil when none; exit events name it
	pid      int
	launched time.Time // the current or last launch (a standby's go)
	mono     int64     // the same, CLOCK_MONOTONIC ns
	running  time.Time // when the current process was seen running (watch)
	deadline time.Time // state ChildBackoff: restart; ChildHung, ChildStopping: SIGKILL, then give up
	// startLimit is the start timeout of the current process: the spec's,
	// or for a standby that was ready when told go, its hang timeout.
	startLimit time.Duration
	cause      string // why the supervisor signalled it: "hung", "start timeout", "stop"
	killed     bool   // SIGKILL sent to the current process

	restarts uint32
	consec   int       // consecutive failures, for the backoff
	score    float64   // failure score as of lastFail
	lastFail time.Time // zero before the first failure
	reason   string    // why it last ended
	exitCode int32

	// The hot standby (ChildSpec.Standby).
	sb        *standby    // the standby process, nil when none
	retired   []*standby  // standbys killed and not reaped yet
	sbFails   int         // standbys in a row that ended before taking over
	sbNext    time.Time   // no standby is launched before
	handovers uint32      // restarts a standby served
	lastEvent EventKind   // the newest event emitted
	events    uint32      // events emitted
	replaced  Replacement // how the current process took the child's place

	// The channel, as its watcher sees it.
	shell      *venom.Shell
	ino        uint64    // inode of the segment the shell maps
	base       uint64    // snapshot sequence before the launch: a newer one is the child's
	beats      uint64    // heartbeat count last seen
	progress   time.Time // when its heartbeat last moved (state ChildRunning)
	checked    time.Time // when watch last read the channel
	first      bool      // ChildStarting: its first snapshot has been seen, at heartbeat firstBeats
	firstBeats uint64
	seen       uint64 // snapshot sequence whose header was last read
	buf        []byte
	tick       uint64
	tickMono   int64
	// epoch is the channel's epoch under the process epochPid, as the
	// watcher last saw it owned by that process: the lifecycle records
	// about that process carry it.
	epoch    uint64
	epochPid int
}

// childView is what Status reports of a child, with what it needs to
// compute the time-dependent fields at the moment it is asked.
type childView struct {
	st       ChildStatus
	up       bool
	launched time.Time
	deadline time.Time
	score    float64
	lastFail time.Time
}

func (k *child) snapshot() childView {
	v := childView{
		up: k.cmd != nil, launched: k.launched, deadline: k.deadline,
		score: k.score, lastFail: k.lastFail,
	}
	st := &v.st
	putString(st.Name[:], k.spec.Name)
	putString(st.Reason[:], k.reason)
	st.State, st.Pid, st.Restarts, st.ExitCode = k.state, uint32(k.pid), k.restarts, k.exitCode
	st.Policy = uint32(k.spec.Restart)
	if k.spec.Significant {
		st.Flags |= FlagSignificant
	}
	if k.spec.Channel != "" {
		st.Flags |= FlagChannel
	}
	if k.spec.Standby && k.spec.Restart != Temporary {
		st.Flags |= FlagStandby
	}
	if k.sb != nil {
		st.StandbyPid = uint32(k.sb.pid)
		if k.sb.ready() {
			st.Flags |= FlagStandbyReady
		}
	}
	st.Handovers, st.Exits = k.handovers, k.exits
	st.LastEvent, st.Events, st.Replaced = k.lastEvent, k.events, k.replaced
	st.Started, st.Tick, st.TickMono = k.mono, k.tick, k.tickMono
	return v
}

func (v childView) at(now time.Time, mono int64, decay time.Duration) ChildStatus {
	st := v.st
	if v.up {
		st.Uptime = int64(now.Sub(v.launched))
	}
	st.TickAge = -1
	if st.TickMono != 0 {
		st.TickAge = mono - st.TickMono
	}
	st.Failures = decayed(v.score, v.lastFail, now, decay)
	if st.State == ChildBackoff {
		st.Backoff = int64(max(0, v.deadline.Sub(now)))
	}
	return st
}

// decayed is a failure score halved for every decay since last.
func decayed(score float64, last, now time.Time, decay time.Duration) float64 {
	if last.IsZero() {
		return 0
	}
	return score * math.Pow(0.5, float64(now.Sub(last))/float64(decay))
}

type exitEvent struct {
	k   *child
	cmd *exec.Cmd // which of the child's processes
	ps  *os.ProcessState
	err error
}

// supervise launches every child and supervises them until ctx ends or a
// significant child exits 0 (whose name it returns); then it stops them.
func (s *Supervisor) supervise(ctx context.Context) (significant string, err error) {
	// Pdeathsig fires when the thread that forked the child ends, not
	// the process: fork from a thread that no other goroutine can lock
	// and end under us.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Two live processes per child at most (the child and its standby),
	// and standbys killed but not reaped yet.
	exits := make(chan exitEvent, 4*len(s.kids))
	now := time.Now()
	for _, k := range s.kids {
		if ctx.Err() == nil {
			s.launch(k, exits, now)
		}
	}
	lastPoll := now
	timer := time.NewTimer(0) // the first round schedules the next
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", s.stopAll(exits)
		case ev := <-exits:
			if s.exitOf(ev, time.Now()) {
				return ev.k.spec.Name, s.stopAll(exits)
			}
		case <-s.wake:
		case <-timer.C:
		}
		now := time.Now()
		poll := now.Sub(lastPoll) >= s.pollEvery
		// A supervisor that was itself not scheduled for a while has not
		// watched: it must not blame the children for the gap.
		stalled := now.Sub(lastPoll) > 4*s.pollEvery
		if poll {
			lastPoll = now
		}
		next := lastPoll.Add(s.pollEvery)
		for _, k := range s.kids {
			s.step(k, exits, now, poll, stalled)
			if d, ok := k.due(); ok && d.Before(next) {
				next = d
			}
		}
		if failed := s.permanentFailed(); failed != nil {
			// Nothing is left that the game runs on: end, and say so,
			// rather than run on with a dead game.
			list := strings.Join(failed, ", ")
			s.log.Error("every permanent child failed: stopping", "failed", list)
			s.refresh()
			return "", errors.Join(fmt.Errorf("%w: %s", ErrAllFailed, list), s.stopAll(exits))
		}
		s.refresh()
		timer.Reset(max(time.Millisecond, next.Sub(now)))
	}
}

// due is when the child next needs the loop, if it does before the next
// poll might: a restart, a SIGKILL after the grace, its hang deadline (so
// a hang is found when its timeout ends, not up to a poll later), a
// standby launch.
func (k *child) due() (time.Time, bool) {
	switch {
	case k.state == ChildBackoff, k.state == ChildHung && !k.killed:
		return k.deadline, true
	case k.state == ChildRunning && k.spec.Channel != "" && k.spec.HangTimeout > 0:
		return k.progress.Add(k.spec.HangTimeout + time.Millisecond), true
	}
	return time.Time{}, false
}

// exitOf handles the exit of one of the child's processes; it reports
// whether it stops the supervisor (a significant child exited 0).
func (s *Supervisor) exitOf(ev exitEvent, now time.Time) (stop bool) {
	k := ev.k
	switch {
	case ev.cmd == k.cmd:
		return s.exited(ev, now)
	case k.sb != nil && ev.cmd == k.sb.cmd:
		s.standbyExited(ev, now)
	default:
		k.reaped(ev.cmd)
	}
	return false
}

// step carries out what is due for one child.
func (s *Supervisor) step(k *child, exits chan<- exitEvent, now time.Time, poll, stalled bool) {
	s.noteStandby(k, now)
	switch k.state {
	case ChildBackoff:
		if !now.Before(k.deadline) {
			k.restarts++
			if k.usableStandby() {
				s.promote(k, now, "backoff over")
			} else {
				s.launch(k, exits, now)
			}
		}
	case ChildHung:
		if !k.killed && !now.Before(k.deadline) {
			s.emit(k, slog.LevelWarn, "child killed", Event{Kind: EventKilled, Pid: k.pid, Reason: k.cause}, "after", k.spec.QuitGrace)
			k.kill()
		}
	case ChildStarting, ChildRunning:
		if d, ok := k.due(); poll || ok && !now.Before(d) {
			s.watch(k, now, stalled)
		}
		if k.state == ChildRunning && k.wantStandby() && k.sb == nil && !now.Before(k.sbNext) {
			s.launchStandby(k, exits, now)
		}
	}
}

// launch starts the child's process.
func (s *Supervisor) launch(k *child, exits chan<- exitEvent, now time.Time) {
	k.startLimit = k.spec.StartTimeout
	k.launched, k.mono, k.running = now, venom.Monotonic(), time.Time{}
	k.cause, k.killed = "", false
	cmd := k.spec.Command()
	if cmd == nil {
		k.log.Error("child not started", "err", "Command returned nil")
		s.ended(k, now, -1, "no command", false, false, "")
		return
	}
	prepare(cmd)
	if k.spec.Channel != "" {
		k.attach()
	}
	if err := cmd.Start(); err != nil {
		k.log.Error("child not started", "err", err)
		s.ended(k, now, -1, "start: "+err.Error(), false, false, "")
		return
	}
	k.cmd, k.pid = cmd, cmd.Process.Pid
	k.epochPid = 0 // the pid may be an earlier process's, reused
	k.state, k.first = ChildStarting, false
	k.replaced = FirstLaunch
	if k.restarts > 0 {
		k.replaced = RestartAfterBackoff
	}
	if k.spec.Channel == "" {
		k.state, k.running = ChildRunning, now
	}
	k.progress, k.checked = now, now
	s.emit(k, slog.LevelInfo, "child started", Event{Kind: EventStarted, Pid: k.pid}, "restarts", k.restarts)
	if k.state == ChildRunning {
		s.emit(k, slog.LevelInfo, "child running", Event{Kind: EventRunning, Pid: k.pid}, "channel", "none")
	}
	go func() {
		err := cmd.Wait()
		exits <- exitEvent{k: k, cmd: cmd, ps: cmd.ProcessState, err: err}
	}()
}

// prepare sets what the supervisor needs of every process it starts: a
// parent-death signal, a process group of its own.
func prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pgid = true, 0
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = time.Second // output copying must not outlive the child for long
	}
}

// attach makes sure the shell maps the channel's current segment, if it
// exists, and records its newest snapshot: a newer one is the child's.
func (k *child) attach() {
	if k.shell != nil && k.ino != inode(k.spec.Channel) {
		k.detach()
	}
	if k.shell == nil {
		k.connect()
	}
	k.base = 0
	if k.shell != nil {
		if info, err := k.shell.Daemon(); err == nil {
			k.base = info.Latest
		}
	}
}

func (k *child) connect() {
	sh, err := venom.Connect(k.spec.Channel)
	if err != nil {
		return // not created yet; tried again at the next poll
	}
	k.shell, k.ino, k.seen = sh, inode(k.spec.Channel), 0
	k.buf = make([]byte, sh.Config().DataSize)
}

func (k *child) detach() {
	if k.shell != nil {
		k.shell.Close()
		k.shell, k.buf = nil, nil
	}
}

// inode is the inode number of a channel's segment file, 0 when none.
func inode(channel string) uint64 {
	var st unix.Stat_t
	if unix.Stat(venom.Path(channel), &st) != nil {
		return 0
	}
	return st.Ino
}

// watch reads a starting or running child's channel: its first snapshot,
// its heartbeat, its newest tick.
func (s *Supervisor) watch(k *child, now time.Time, stalled bool) {
	if k.spec.Channel == "" {
		return
	}
	if k.state == ChildStarting && k.shell != nil && k.ino != inode(k.spec.Channel) {
		k.detach() // the child replaced the segment (another shape)
	}
	if k.shell == nil {
		// Created since the launch: everything in it is the child's. The
		// count of the segment it replaced, if any, means nothing here: kept,
		// it would hold the child "starting" until its new segment's count
		// passed the old one's, or until the start timeout.
		k.connect()
		k.base = 0
	}
	var info venom.DaemonInfo
	if k.shell != nil {
		info, _ = k.shell.Daemon()
		if info.Latest != k.seen {
			if n, _, err := k.shell.Read(k.buf); err == nil {
				if h, err := engine.PeekHeader(k.buf[:n]); err == nil {
					k.tick, k.tickMono = h.Tick, h.Mono
				}
			}
			k.seen = info.Latest
		}
	}
	mine := k.shell != nil && info.Pid == k.pid
	if mine && info.Epoch != 0 {
		k.epoch, k.epochPid = info.Epoch, k.pid
	}
	checked := k.checked
	k.checked = now
	switch k.state {
	case ChildStarting:
		// Running once it has published and its heartbeat has moved
		// since: a whole first cycle. A renderer publishes before it
		// draws its first frame, which can be slow (a window under
		// Xvfb): the start timeout covers it, not the hang timeout.
		if mine && info.Latest > k.base && !k.first {
			k.first, k.firstBeats = true, info.Beats
		}
		if mine && k.first && info.Beats != k.firstBeats {
			k.state, k.running, k.progress, k.beats = ChildRunning, now, now, info.Beats
			s.emit(k, slog.LevelInfo, "child running", Event{Kind: EventRunning, Pid: k.pid}, "after", now.Sub(k.launched).Round(time.Millisecond), "tick", k.tick)
			return
		}
		if t := k.startLimit; t > 0 && now.Sub(k.launched) > t {
			s.emit(k, slog.LevelWarn, "child start timeout", Event{Kind: EventHung, Pid: k.pid, Reason: "start timeout"}, "timeout", t, "action", "SIGQUIT")
			s.quit(k, now, "start timeout")
		}
	case ChildRunning:
		if stalled {
			k.beats, k.progress = info.Beats, now
			return
		}
		if mine && info.Beats != k.beats {
			k.beats, k.progress = info.Beats, beatTime(info.BeatNanos, checked, now)
			return
		}
		if t := k.spec.HangTimeout; t > 0 && now.Sub(k.progress) > t {
			s.emit(k, slog.LevelWarn, "child hung", Event{Kind: EventHung, Pid: k.pid, Reason: "hung"}, "silent", now.Sub(k.progress).Round(time.Millisecond), "tick", k.tick, "action", "SIGQUIT")
			s.quit(k, now, "hung")
		}
	}
}

// beatTime is when a heartbeat seen now, and not seen at the previous look
// (checked), was made: the time the child wrote beside it, which is
// untrusted and so held between the two looks. The hang clock then runs
// from the beat itself, not from when the supervisor happened to look.
func beatTime(beatMono int64, checked, now time.Time) time.Time {
	nowMono := venom.Monotonic()
	lo := nowMono - int64(now.Sub(checked))
	beatMono = min(max(beatMono, lo), nowMono)
	return now.Add(-time.Duration(nowMono - beatMono))
}

// quit sends SIGQUIT (a Go process prints its goroutines and exits);
// SIGKILL follows after the QuitGrace. A stopped process cannot act on
// SIGQUIT: it gets SIGKILL at once.
func (s *Supervisor) quit(k *child, now time.Time, cause string) {
	k.cause = cause
	k.state, k.deadline = ChildHung, now.Add(k.spec.QuitGrace)
	if processStopped(k.pid) {
		s.emit(k, slog.LevelWarn, "child killed", Event{Kind: EventKilled, Pid: k.pid, Reason: "stopped"}, "why", cause, "after", "0s (stopped: SIGQUIT cannot act)")
		k.kill()
		return
	}
	k.cmd.Process.Signal(syscall.SIGQUIT)
}

// processStopped reports whether pid is stopped (SIGSTOP, or a tracer's
// stop), as /proc tells it.
func processStopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st == 'T' || st == 't'
}

// kill sends SIGKILL to the child and to its process group.
func (k *child) kill() {
	k.killed = true
	k.cmd.Process.Kill() // through a pidfd: never a reused pid
	if k.cmd.SysProcAttr.Setpgid || k.cmd.SysProcAttr.Setsid {
		syscall.Kill(-k.pid, syscall.SIGKILL) // what it started, too
	}
}

// exited handles a child's exit; it reports whether it stops the
// supervisor (a significant child exited 0).
func (s *Supervisor) exited(ev exitEvent, now time.Time) (stop bool) {
	k := ev.k
	if ev.cmd != k.cmd || k.cmd == nil {
		return false
	}
	code, desc := describeExit(ev.ps, ev.err)
	clean := code == 0 && k.cause == ""
	if k.cause != "" {
		desc = k.cause + ": " + desc
	}
	pid, uptime := k.pid, now.Sub(k.launched)
	k.cmd, k.pid = nil, 0
	if k.state == ChildStopping {
		k.state, k.reason, k.exitCode = ChildStopped, desc, code
		s.emit(k, slog.LevelInfo, "child stopped", Event{Kind: EventStopped, Pid: pid, Reason: desc, Code: code}, "uptime", uptime.Round(time.Millisecond))
		return false
	}
	s.emit(k, slog.LevelInfo, "child exited", Event{Kind: EventExited, Pid: pid, Reason: desc, Code: code}, "uptime", uptime.Round(time.Millisecond), "policy", k.spec.Restart)
	switch {
	case k.cause != "":
		k.exits[ExitHang]++
	case code == 0:
		k.exits[ExitClean]++
	case code > 128 && ev.ps != nil && !ev.ps.Exited():
		k.exits[ExitSignal]++
	default:
		k.exits[ExitCrash]++
	}
	if k.spec.Significant && clean {
		k.state, k.reason, k.exitCode = ChildExited, desc, code
		return true
	}
	if code == engine.ExitNoSpace && k.cause == "" {
		// It said so itself: no restart can succeed.
		s.failNow(k, code, desc+": no space in /dev/shm")
		return false
	}
	stable := !k.running.IsZero() && now.Sub(k.running) >= StableAfter
	why := "stable run"
	if !stable && k.cause == "" && killedFromOutside(ev.ps) && k.progressed() {
		// Killed while it did its work: not a crash loop of its own.
		stable, why = true, "killed while running"
	}
	if stable {
		// It counts as recovered: the next restart is quick again.
		// Failing often still raises the failure score.
		k.consec = 0
	}
	s.ended(k, now, code, desc, clean, stable, why)
	return false
}

// killedFromOutside reports whether a process ended by a signal that a
// process does not raise on itself when it fails — SIGKILL, SIGTERM,
// SIGINT, SIGHUP, SIGQUIT — rather than by its own exit, a panic (exit 2)
// or a fault of its code (SIGSEGV, SIGABRT, SIGBUS…). The supervisor's own
// signals are told apart by the child's cause, not here.
func killedFromOutside(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	switch ws.Signal() {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
		return true
	}
	return false
}

// progressed reports whether the child's process got on with its work
// before it ended: it published at least two snapshots since its launch
// (engine.Run publishes the state it restored, then each tick), so it
// came up and stepped. Only what is in the channel counts, read now, after
// the process is gone: the supervisor's samples may be older.
func (k *child) progressed() bool {
	if k.shell == nil {
		return false
	}
	info, err := k.shell.Daemon()
	return err == nil && info.Latest >= k.base+2
}

// ended decides what follows a child's end: a restart after a backoff
// (at once by its standby after a stable run), failure, or nothing.
func (s *Supervisor) ended(k *child, now time.Time, code int32, reason string, clean, stable bool, why string) {
	k.reason, k.exitCode = reason, code
	k.cmd, k.pid = nil, 0
	if k.spec.Restart == Temporary || k.spec.Restart == Transient && clean {
		k.state = ChildExited
		k.detach()
		k.dismissStandby("exited")
		return
	}
	k.score = decayed(k.score, k.lastFail, now, s.o.FailureDecay) + 1
	k.lastFail = now
	if k.score > s.o.FailureThreshold {
		k.state = ChildFailed
		k.detach()
		k.dismissStandby("failed")
		s.emit(k, slog.LevelError, "child failed", Event{Kind: EventFailed, Reason: reason}, "failures", round2(k.score), "threshold", s.o.FailureThreshold, "restarts", k.restarts)
		return
	}
	k.consec++
	if stable && k.usableStandby() {
		// After a stable run the standby is spent at once: no backoff.
		k.restarts++
		s.promote(k, now, why)
		return
	}
	s.schedule(k, now)
}

// failNow fails a child whose exit says that restarting it cannot help
// (ExitNoSpace), whatever its policy and failure score.
func (s *Supervisor) failNow(k *child, code int32, reason string) {
	k.reason, k.exitCode = reason, code
	k.cmd, k.pid = nil, 0
	k.state = ChildFailed
	k.detach()
	k.dismissStandby("failed")
	s.emit(k, slog.LevelError, "child failed", Event{Kind: EventFailed, Reason: reason}, "why", "a restart cannot succeed: free /dev/shm or make it larger", "restarts", k.restarts)
}

// permanentFailed returns the permanent children, with why each failed,
// when every one of them has failed, and nil while one has not (or there
// is none).
func (s *Supervisor) permanentFailed() []string {
	var failed []string
	for _, k := range s.kids {
		if k.spec.Restart != Permanent {
			continue
		}
		if k.state != ChildFailed {
			return nil
		}
		failed = append(failed, k.spec.Name+" ("+k.reason+")")
	}
	return failed
}

// schedule puts the child in backoff: BackoffMin doubled per consecutive
// failure after the first, capped at BackoffMax, ±20% jitter.
func (s *Supervisor) schedule(k *child, now time.Time) {
	d := s.o.BackoffMin
	for i := 1; i < k.consec && d < s.o.BackoffMax; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	d = min(d, s.o.BackoffMax)
	k.state, k.deadline = ChildBackoff, now.Add(d)
	s.emit(k, slog.LevelWarn, "restart scheduled", Event{Kind: EventBackoff, Backoff: d}, "backoff", d.Round(time.Millisecond), "failures", round2(k.score), "consecutive", k.consec)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// describeExit returns an exit's code (128+signal for a signal) and its
// description.
func describeExit(ps *os.ProcessState, err error) (int32, string) {
	if ps == nil {
		return -1, fmt.Sprintf("wait: %v", err)
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return int32(ps.ExitCode()), ps.String()
	case ws.Signaled():
		desc := "killed by " + unix.SignalName(ws.Signal())
		if ws.CoreDump() {
			desc += " (core dumped)"
		}
		return 128 + int32(ws.Signal()), desc
	default:
		return int32(ws.ExitStatus()), fmt.Sprintf("exit %d", ws.ExitStatus())
	}
}

// stopAll stops every child: SIGTERM (and SIGCONT, for a stopped one),
// SIGKILL after its StopGrace; it waits for them to be reaped, then
// removes their channels.
func (s *Supervisor) stopAll(exits <-chan exitEvent) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	now := time.Now()
	alive := 0
	for _, k := range s.kids {
		// The standby first: it would adopt the channel of a child that
		// exits, and it holds nothing worth a graceful stop.
		k.dismissStandby("stop")
		alive += len(k.retired)
	}
	for _, k := range s.kids {
		switch {
		case k.cmd != nil:
			s.emit(k, slog.LevelInfo, "stopping child", Event{Kind: EventStopping, Pid: k.pid}, "grace", k.spec.StopGrace)
			k.state, k.cause, k.deadline = ChildStopping, "stop", now.Add(k.spec.StopGrace)
			if k.killed {
				k.deadline = now.Add(reapWait)
			}
			k.cmd.Process.Signal(syscall.SIGTERM)
			k.cmd.Process.Signal(syscall.SIGCONT)
			alive++
		case k.state == ChildBackoff:
			k.state = ChildStopped
		}
	}
	s.refresh()
	var errs []error
	timer := time.NewTimer(0)
	defer timer.Stop()
	retiredBy := now.Add(reapWait) // standbys were SIGKILLed just now
	for alive > 0 {
		next := now.Add(time.Hour)
		for _, k := range s.kids {
			if k.state == ChildStopping && k.deadline.Before(next) {
				next = k.deadline
			}
			if len(k.retired) > 0 && retiredBy.Before(next) {
				next = retiredBy
			}
		}
		timer.Reset(max(time.Millisecond, time.Until(next)))
		select {
		case ev := <-exits:
			switch {
			case ev.cmd == ev.k.cmd && ev.k.cmd != nil:
				s.exited(ev, time.Now())
				alive--
			case ev.k.reaped(ev.cmd):
				alive--
			}
		case <-timer.C:
		}
		now = time.Now()
		for _, k := range s.kids {
			if len(k.retired) > 0 && !now.Before(retiredBy) {
				for _, sb := range k.retired {
					k.log.Error("standby not reaped after SIGKILL: giving up on it", "pid", sb.pid)
					errs = append(errs, fmt.Errorf("engine: supervisor: standby of %q (pid %d) not reaped %v after SIGKILL", k.spec.Name, sb.pid, reapWait))
				}
				alive -= len(k.retired)
				k.retired = nil
			}
			if k.state != ChildStopping || now.Before(k.deadline) {
				continue
			}
			if !k.killed {
				s.emit(k, slog.LevelWarn, "child killed", Event{Kind: EventKilled, Pid: k.pid, Reason: "stop"}, "after", k.spec.StopGrace)
				k.kill()
				k.deadline = now.Add(reapWait)
				continue
			}
			k.log.Error("child not reaped after SIGKILL: giving up on it", "pid", k.pid)
			errs = append(errs, fmt.Errorf("engine: supervisor: child %q (pid %d) not reaped %v after SIGKILL", k.spec.Name, k.pid, reapWait))
			k.state, k.cmd, k.pid = ChildStopped, nil, 0
			alive--
		}
		s.refresh()
	}
	for _, k := range s.kids {
		k.detach()
		if k.spec.Channel == "" {
			continue
		}
		if err := venom.Remove(k.spec.Channel); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
