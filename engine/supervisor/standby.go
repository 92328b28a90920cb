package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// standby is a child's hot standby process (ChildSpec.Standby): started
// with StandbyEnv naming two pipes, blocked on the channel's ownership
// lock until the child dies, still until the supervisor writes go.
type standby struct {
	cmd      *exec.Cmd
	pid      int
	goW      *os.File  // the supervisor's end of the go pipe
	launched time.Time // when it was started
	said     atomic.Uint32
	noted    uint32 // of said, what the supervise loop has logged
}

// Bits of standby.said, set by the goroutine that reads its ready pipe.
const (
	saidWaiting uint32 = 1 << iota
	saidOwner
)

// ready reports whether the standby has said it waits (or owns).
func (sb *standby) ready() bool { return sb.said.Load() != 0 }

// wantStandby reports whether the child is kept with a standby.
func (k *child) wantStandby() bool { return k.spec.Standby && k.spec.Restart != Temporary }

// launchStandby starts a standby of a running child. Called from the
// supervise loop (its locked thread: the parent-death signal).
func (s *Supervisor) launchStandby(k *child, exits chan<- exitEvent, now time.Time) {
	fail := func(err error) {
		d := k.standbyBackoff(s)
		k.sbNext = now.Add(d)
		k.log.Error("standby not started", "err", err, "retry", d.Round(time.Millisecond))
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		fail(fmt.Errorf("go pipe: %w", err))
		return
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		fail(fmt.Errorf("ready pipe: %w", err))
		return
	}
	cmd := k.spec.Command()
	if cmd == nil {
		for _, f := range []*os.File{goR, goW, readyR, readyW} {
			f.Close()
		}
		fail(fmt.Errorf("Command returned nil"))
		return
	}
	prepare(cmd)
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, goR, readyW)
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("%s=%d,%d", engine.StandbyEnv, fd, fd+1))
	err = cmd.Start()
	goR.Close() // the child's ends: theirs alone now
	readyW.Close()
	if err != nil {
		goW.Close()
		readyR.Close()
		k.sbFails++
		fail(err)
		return
	}
	sb := &standby{cmd: cmd, pid: cmd.Process.Pid, goW: goW, launched: now}
	k.sb = sb
	s.emit(k, slog.LevelInfo, "standby started", Event{Kind: EventStandbyStarted, Pid: sb.pid}, "primary", k.pid)
	go func() {
		defer readyR.Close()
		var b [1]byte
		for {
			if _, err := readyR.Read(b[:]); err != nil {
				return // EOF: it exited
			}
			switch b[0] { // anything else is not the protocol: ignored
			case engine.StandbyWaiting:
				sb.said.Or(saidWaiting)
			case engine.StandbyOwner:
				sb.said.Or(saidOwner)
			default:
				continue
			}
			select {
			case s.wake <- struct{}{}:
			default: // a wake is pending: the loop will look
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		exits <- exitEvent{k: k, cmd: cmd, ps: cmd.ProcessState, err: err}
	}()
}

// standbyBackoff is how long after a standby that ended before taking
// over (or could not be started) the next one is started: BackoffMin
// doubled per such standby in a row, capped at BackoffMax.
func (k *child) standbyBackoff(s *Supervisor) time.Duration {
	d := s.o.BackoffMin
	for i := 1; i < k.sbFails && d < s.o.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.o.BackoffMax)
}

// noteStandby logs what the child's standby has said since last time.
func (s *Supervisor) noteStandby(k *child, now time.Time) {
	sb := k.sb
	if sb == nil {
		return
	}
	said := sb.said.Load()
	if said == sb.noted {
		return
	}
	if said&saidWaiting != 0 && sb.noted&saidWaiting == 0 {
		k.sbFails = 0
		s.emit(k, slog.LevelInfo, "standby ready", Event{Kind: EventStandbyReady, Pid: sb.pid}, "after", now.Sub(sb.launched).Round(time.Millisecond))
	}
	if said&saidOwner != 0 && sb.noted&saidOwner == 0 {
		k.log.Info("standby owns the channel", "pid", sb.pid, "state", k.state)
	}
	sb.noted = said
}

// usableStandby reports whether the child has a standby that can take
// over: one that is there and not stopped (a stopped one, SIGSTOPped by
// someone, would not publish until its start timeout; it is dismissed).
func (k *child) usableStandby() bool {
	if k.sb == nil {
		return false
	}
	if processStopped(k.sb.pid) {
		k.dismissStandby("stopped")
		return false
	}
	return true
}

// promote makes the standby the child's process: it says go, and the
// standby, which owns the channel once its predecessor is gone, publishes
// on its next tick. The child is starting again, as after a launch; a
// standby that was ready has started already, so it is given its hang
// timeout to publish, if shorter than the start timeout.
func (s *Supervisor) promote(k *child, now time.Time, why string) {
	sb := k.sb
	k.sb = nil
	k.startLimit = k.spec.StartTimeout
	if h := k.spec.HangTimeout; sb.ready() && h > 0 && k.startLimit > h {
		k.startLimit = h
	}
	k.launched, k.mono, k.running = now, venom.Monotonic(), time.Time{}
	k.cause, k.killed = "", false
	k.attach() // before go: any newer snapshot is the standby's
	k.cmd, k.pid = sb.cmd, sb.pid
	k.state, k.first = ChildStarting, false
	k.progress, k.checked = now, now
	k.handovers++
	k.replaced = HandoverAtOnce
	if why == "backoff over" {
		k.replaced = HandoverAfterBackoff
	}
	s.refresh() // the status shows the handover before it happens, never after
	_, err := sb.goW.Write([]byte{engine.StandbyGo})
	sb.goW.Close()
	if err != nil {
		// It is gone too: its exit, now the child's, restarts it.
		k.log.Warn("standby did not take go", "pid", sb.pid, "err", err)
		return
	}
	s.emit(k, slog.LevelInfo, "standby took over", Event{Kind: EventHandover, Pid: k.pid, Reason: why}, "ready", sb.ready(), "restarts", k.restarts, "handovers", k.handovers)
}

// standbyExited handles the exit of a standby that had not taken over:
// another is started after standbyBackoff.
func (s *Supervisor) standbyExited(ev exitEvent, now time.Time) {
	k := ev.k
	sb := k.sb
	k.sb = nil
	sb.goW.Close()
	_, desc := describeExit(ev.ps, ev.err)
	k.sbFails++
	d := k.standbyBackoff(s)
	k.sbNext = now.Add(d)
	s.emit(k, slog.LevelWarn, "standby exited", Event{Kind: EventStandbyExited, Pid: sb.pid, Reason: desc}, "retry", d.Round(time.Millisecond))
}

// dismissStandby kills the child's standby: the child is not coming back
// (exited by its policy, failed), or the supervisor stops. Its exit is
// awaited like a child's (retired).
func (k *child) dismissStandby(why string) {
	sb := k.sb
	if sb == nil {
		return
	}
	k.sb = nil
	sb.goW.Close()
	sb.cmd.Process.Kill()
	syscall.Kill(-sb.pid, syscall.SIGKILL)
	k.retired = append(k.retired, sb)
	k.log.Info("standby dismissed", "pid", sb.pid, "why", why)
}

// reaped forgets a retired standby whose exit was seen.
func (k *child) reaped(cmd *exec.Cmd) bool {
	i := slices.IndexFunc(k.retired, func(sb *standby) bool { return sb.cmd == cmd })
	if i < 0 {
		return false
	}
	k.retired = slices.Delete(k.retired, i, i+1)
	return true
}
