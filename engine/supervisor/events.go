package supervisor

import (
	"context"
	"log/slog"
	"time"
)

// EventKind is what happened in a child's life.
type EventKind uint32

// The lifecycle events a Supervisor emits, to Options.OnEvent and to its
// log (the record's "event" key is the kind's name).
const (
	EventNone EventKind = iota
	// EventStarted: a process was launched for the child (Pid).
	EventStarted
	// EventRunning: the child publishes: its first snapshot and a
	// heartbeat after it were seen (a child without a channel: at once).
	EventRunning
	// EventHung: its heartbeat stopped, or its first snapshot did not
	// come within the start timeout (Reason says which): SIGQUIT sent.
	EventHung
	// EventKilled: SIGKILL sent to the child (Reason says why: "hung"
	// after the QuitGrace, "stopped" for a SIGSTOPped process, which
	// cannot act on SIGQUIT and so gets SIGKILL at once, "stop" after the
	// StopGrace).
	EventKilled
	// EventExited: the child's process ended (Code, Reason).
	EventExited
	// EventBackoff: a restart is scheduled after Backoff.
	EventBackoff
	// EventHandover: the child's hot standby was told to go and is the
	// child now (Pid); Reason says why at once ("stable run") or after
	// the backoff ("backoff over").
	EventHandover
	// EventRestarted is not emitted: a restart is EventStarted with
	// Restarts > 0, or EventHandover.
	_
	// EventFailed: the child is past its failure threshold, or exited
	// with engine.ExitNoSpace: it is not restarted again.
	EventFailed
	// EventStandbyStarted: a standby process was launched (Pid).
	EventStandbyStarted
	// EventStandbyReady: the standby waits for the owner's lock.
	EventStandbyReady
	// EventStandbyExited: a standby ended before it took over (Reason).
	EventStandbyExited
	// EventStopping: the supervisor is stopping: SIGTERM sent (Pid).
	EventStopping
	// EventStopped: the child's process ended after a stop (Code).
	EventStopped
)

var eventNames = [...]string{"none", "started", "running", "hung", "killed", "exited", "backoff", "handover", "",
	"failed", "standby-started", "standby-ready", "standby-exited", "stopping", "stopped"}

// String is the kind's name, as the log's "event" key gives it.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one lifecycle event of a child.
type Event struct {
	Kind     EventKind
	Child    string        // the child's name
	Pid      int           // the process it is about (a standby's for the standby events)
	Reason   string        // why, where the kind has a why
	Code     int32         // EventExited, EventStopped: the exit code, 128+signal when killed
	Restarts uint32        // the child's launches after the first, as of the event
	Backoff  time.Duration // EventBackoff: the delay before the restart
	// Epoch is the channel's epoch owned by the process Pid, where the
	// supervisor has seen it (0: not known — a launch not yet running, a
	// standby, a child without a channel).
	Epoch uint64
	Time  time.Time
}

// emit logs ev as one structured record — msg, then the stable keys
// event, process, pid, reason when there is one and epoch when known,
// then attrs — and hands it to the hook.
func (s *Supervisor) emit(k *child, level slog.Level, msg string, ev Event, attrs ...any) {
	ev.Child, ev.Restarts = k.spec.Name, k.restarts
	if ev.Pid != 0 && ev.Pid == k.epochPid {
		ev.Epoch = k.epoch
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if k.log.Enabled(context.Background(), level) {
		// "process" repeats the logger's "child": the key a log pipeline
		// shares with the metrics' process label.
		args := append(make([]any, 0, 8+len(attrs)), "event", ev.Kind.String(), "process", ev.Child, "pid", ev.Pid)
		if ev.Reason != "" {
			args = append(args, "reason", ev.Reason)
		}
		if ev.Epoch != 0 {
			args = append(args, "epoch", ev.Epoch)
		}
		k.log.Log(context.Background(), level, msg, append(args, attrs...)...)
	}
	k.lastEvent = ev.Kind
	k.events++
	if s.o.OnEvent != nil {
		s.o.OnEvent(ev)
	}
}
