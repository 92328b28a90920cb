package supervisor

import (
	"bytes"
	"fmt"
	"github.com/venomrt/venomrt/engine"
	"slices"
	"strings"
	"unicode/utf8"
)

// ChildState is where a supervised child is in its life.
type ChildState uint32

// The states of a child, as Supervisor.Status and the status slice report
// them.
const (
	// ChildStopped: not running, because the supervisor has not started
	// it yet or has stopped it.
	ChildStopped ChildState = iota
	// ChildStarting: launched, its first snapshot not seen yet.
	ChildStarting
	// ChildRunning: publishing (or launched, for a child without a channel).
	ChildRunning
	// ChildHung: its heartbeat stopped (or it never started publishing):
	// sent SIGQUIT, SIGKILL follows after its QuitGrace.
	ChildHung
	// ChildBackoff: exited, to be restarted when its backoff delay ends.
	ChildBackoff
	// ChildFailed: past its failure threshold, or exited with
	// ExitNoSpace (Reason says so); it is not restarted again and its
	// slice stays frozen.
	ChildFailed
	// ChildExited: exited and, by its Restart policy, not restarted.
	ChildExited
	// ChildStopping: sent SIGTERM by a supervisor that is stopping.
	ChildStopping
)

var childStateNames = [...]string{"stopped", "starting", "running", "hung", "backoff", "failed", "exited", "stopping"}

// String is the state's name, as the HUD and the protocol show it.
func (s ChildState) String() string {
	if int(s) < len(childStateNames) {
		return childStateNames[s]
	}
	return fmt.Sprintf("ChildState(%d)", uint32(s))
}

// ParseChildState is the state named name (as String gives it); ok is
// false for any other name.
func ParseChildState(name string) (s ChildState, ok bool) {
	i := slices.Index(childStateNames[:], name)
	return ChildState(max(i, 0)), i >= 0
}

// Flags of a ChildStatus.
const (
	// FlagSignificant marks a child whose exit 0 stops the supervisor.
	FlagSignificant uint32 = 1 << iota
	// FlagChannel marks a child with a channel the supervisor watches.
	FlagChannel
	// FlagStandby marks a child kept with a hot standby (ChildSpec.Standby).
	FlagStandby
	// FlagStandbyReady marks a child whose standby is ready: waiting for
	// the owner's lock, or owning the channel and waiting for go.
	FlagStandbyReady
)

// ChildStatus is one child in the supervisor's status: an item of the
// status slice, so every field is fixed-size. Times are CLOCK_MONOTONIC
// nanoseconds (venom.Monotonic), comparable across processes.
type ChildStatus struct {
	Name     [16]byte   // the spec's name, NUL-padded (NameString)
	State    ChildState // see the Child* constants (StateName)
	Pid      uint32     // the running process, 0 when none
	Restarts uint32     // launches after the first
	ExitCode int32      // the last exit: its code, 128+signal when killed, -1 before any
	Reason   [48]byte   // why it last ended, NUL-padded (ReasonString)
	Policy   uint32     // its Restart policy
	Flags    uint32     // FlagSignificant, FlagChannel, FlagStandby, FlagStandbyReady
	// StandbyPid is the child's standby process, 0 when none; it is
	// ready when Flags has FlagStandbyReady (StandbyReady).
	StandbyPid uint32
	Handovers  uint32  // restarts a standby served (of Restarts)
	Started    int64   // when the current (or last) process was launched (a standby: told to go), 0 never
	Uptime     int64   // ns the current process has been up, 0 when none
	Tick       uint64  // Header.Tick of the newest snapshot seen in its slice
	TickMono   int64   // Header.Mono of that snapshot, 0 when none seen
	TickAge    int64   // ns from TickMono to when this status was made, -1 when none
	Failures   float64 // decaying failure score, compared with the threshold
	Backoff    int64   // ns left until a scheduled restart (state ChildBackoff)
	// LastEvent is the kind of the child's newest lifecycle event, and
	// Events how many it has had: a reader that saw Events n knows it
	// missed none if the next status says n+1.
	LastEvent EventKind
	Events    uint32
	// Replaced is how the current (or last) process took the child's
	// place: its first launch, a restart after a backoff, or its hot
	// standby told go at once or after a backoff.
	Replaced Replacement
	Reserved uint32
	// Exits counts the child's ends that were not a stop, by kind
	// (ExitCrash, ExitSignal, ExitHang, ExitClean): the restarts by
	// reason, in a few bounded kinds a metric can label.
	Exits [ExitKinds]uint32
}

// The kinds of a child's end, indexes of ChildStatus.Exits.
const (
	// ExitCrash: it exited with a non-zero status (a Go panic is exit 2).
	ExitCrash = iota
	// ExitSignal: a signal from outside the supervisor ended it.
	ExitSignal
	// ExitHang: the supervisor killed it, hung or not started in time.
	ExitHang
	// ExitClean: it exited 0.
	ExitClean
	// ExitKinds is how many kinds there are.
	ExitKinds
)

// ExitKindNames name the kinds of ChildStatus.Exits, as a metric's
// reason label says them.
var ExitKindNames = [ExitKinds]string{"crash", "signal", "hang", "clean"}

// Replacement is how a child's current process took its place.
type Replacement uint32

// The ways a process takes a child's place.
const (
	// FirstLaunch: the child's first process.
	FirstLaunch Replacement = iota
	// RestartAfterBackoff: a new process, launched when the backoff after
	// its predecessor's end was over.
	RestartAfterBackoff
	// HandoverAtOnce: the hot standby, told go as soon as its predecessor
	// ended after a stable run (or a kill from outside while it worked).
	HandoverAtOnce
	// HandoverAfterBackoff: the hot standby, told go when the backoff was
	// over: its predecessor's end looked like a crash loop.
	HandoverAfterBackoff
)

var replacementNames = [...]string{"first launch", "restart after backoff", "handover at once", "handover after backoff"}

// String names the replacement, as ls and the logs say it.
func (r Replacement) String() string {
	if int(r) < len(replacementNames) {
		return replacementNames[r]
	}
	return "unknown"
}

// Meta is the supervisor-wide part of the status slice.
type Meta struct {
	Pid      uint32 // the supervisor's process id
	Children uint32 // number of children (the slice's item count)
	Stopping uint32 // 1 once the supervisor is stopping its children
	Reserved uint32
	Started  int64 // CLOCK_MONOTONIC ns when Run began
}

// StatusSchema is the shape of the status channel, StatusChannel(instance),
// which the supervisor publishes every Options.StatusEvery.
var StatusSchema = engine.MustSchema[Meta, ChildStatus]()

// StatusChannel is the name of the channel an instance's supervisor
// publishes its status on: "<instance>.sup".
func StatusChannel(instance string) string { return instance + ".sup" }

// NameString is the child's name.
func (c ChildStatus) NameString() string { return cString(c.Name[:]) }

// ReasonString is why the child last ended ("" before it has).
func (c ChildStatus) ReasonString() string { return cString(c.Reason[:]) }

// StateName is the state's name: "running", "backoff", ...
func (c ChildStatus) StateName() string { return c.State.String() }

// Significant reports whether the child's exit 0 stops the supervisor.
func (c ChildStatus) Significant() bool { return c.Flags&FlagSignificant != 0 }

// StandbyReady reports whether the child has a standby ready to take over.
func (c ChildStatus) StandbyReady() bool {
	return c.Flags&FlagStandbyReady != 0 && c.StandbyPid != 0
}

// StandbyString says how the child's standby stands: "ready", "starting",
// "none" (kept with one but none now) or "-" (kept without one).
func (c ChildStatus) StandbyString() string {
	switch {
	case c.Flags&FlagStandby == 0:
		return "-"
	case c.StandbyReady():
		return "ready"
	case c.StandbyPid != 0:
		return "starting"
	}
	return "none"
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// putString copies s into the fixed field dst, NUL-padded, cut at a rune
// boundary if it is too long.
func putString(dst []byte, s string) {
	clear(dst)
	if len(s) > len(dst) {
		n := len(dst)
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	copy(dst, s)
}
