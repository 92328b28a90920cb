// Package watch reads what a running game's processes keep for watching
// — each snapshot header's engine.Counters, the supervisor's status
// slice, the segments' queues and clients, and /proc's CPU and memory —
// from the outside, without owning anything: what PROGRAM top shows and
// the /metrics tool exposes.
//
// A Watcher only reads shared memory (venom's snapshot reads never block
// the owner) and /proc; a process restarting, killed, or replaced under
// it is seen as it is, never waited for. A counters block that is not
// the engine's or does not add up is not shown: its process carries a
// note (Process.Note) instead.
package watch

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// Process is one process of a game instance as one Sample saw it.
type Process struct {
	Instance string `json:"instance"`
	Name     string `json:"process"` // the child's name ("physics", "render"), or the channel's last part
	Channel  string `json:"channel"`

	// From the supervisor's status, when one is live ("-" and zeros
	// otherwise, State then being the segment's "alive" or "dead").
	State      string  `json:"state"`
	Pid        int     `json:"pid"`
	Standby    string  `json:"standby"`
	StandbyPid int     `json:"standby_pid,omitempty"`
	Restarts   uint32  `json:"restarts"`
	Handovers  uint32  `json:"handovers"`
	Failures   float64 `json:"failure_score"`
	Reason     string  `json:"last_exit_reason,omitempty"`
	// Exits counts its ends by kind (supervisor.ExitKindNames).
	Exits [supervisor.ExitKinds]uint32 `json:"exits"`

	// From the newest snapshot's header (Have: one was read).
	Have     bool            `json:"have_snapshot"`
	Tick     uint64          `json:"tick"`
	Epoch    uint64          `json:"epoch"`
	Rate     uint32          `json:"rate"`
	Applied  uint64          `json:"inputs_applied"`
	Refused  uint64          `json:"inputs_refused"`
	Lag      uint64          `json:"ticks_skipped"`
	Counters engine.Counters `json:"-"`
	// The Counters' totals, for --json readers (0 when not Counted).
	TicksTotal    uint64 `json:"ticks_total"`
	MissesTotal   uint64 `json:"misses_total"`
	CommandsTotal uint64 `json:"commands_total"`
	// Counted says the Counters are kept and sound; Note says why they
	// are not shown when a block was refused (or the snapshot could not
	// be read).
	Counted bool   `json:"counted"`
	Note    string `json:"note,omitempty"`

	// From the segment.
	Owned   bool          `json:"owned"`
	Queued  int           `json:"queued"`
	Clients int           `json:"clients"`
	Age     time.Duration `json:"snapshot_age_ns"` // -1: nothing published

	// From /proc (0 when the process is not on this host's /proc).
	CPU        float64 `json:"cpu_percent"` // of one core, since the previous sample
	CPUSeconds float64 `json:"cpu_seconds"` // user and system time of the current process
	RSS        int64   `json:"rss_bytes"`

	// Since the previous sample of the same process (0 on the first).
	TicksPerSec float64       `json:"ticks_per_second"`
	P50         time.Duration `json:"tick_p50_ns"`
	P99         time.Duration `json:"tick_p99_ns"`
	NewMisses   uint64        `json:"misses_since"`
}

// Game is one instance: its supervisor and its processes.
type Game struct {
	Instance      string    `json:"instance"`
	Supervisor    int       `json:"supervisor_pid"` // 0: none live
	Processes     []Process `json:"processes"`
	Restarts      uint64    `json:"restarts"`
	TicksPerSec   float64   `json:"ticks_per_second"`
	CPU           float64   `json:"cpu_percent"`
	RSS           int64     `json:"rss_bytes"`
	NotRunning    int       `json:"not_running"`
	SupervisorErr string    `json:"note,omitempty"`
}

// Watcher samples one game instance, or every instance on the host
// (instance ""). It keeps a read-only client of each channel it has seen
// and the previous sample, for rates. A Watcher is used from one
// goroutine; Close lets go of its clients.
type Watcher struct {
	instance string
	chans    map[string]*reader
	at       time.Time
}

// reader is a Watcher's client of one channel.
type reader struct {
	shell *venom.Shell
	ino   uint64
	buf   []byte
	prev  prevSample
	seen  bool // sampled in the current round
}

type prevSample struct {
	at            time.Time
	counted       bool // ticks, misses and hist hold a sound block
	ticks, misses uint64
	hist          [engine.TickBuckets]uint64
	pid           int // cpuTicks are this process's (0: none read)
	cpuTicks      uint64
}

// New makes a Watcher of instance ("" for every instance on the host).
func New(instance string) *Watcher {
	return &Watcher{instance: instance, chans: map[string]*reader{}}
}

// Close lets go of every channel's client.
func (w *Watcher) Close() {
	for ch, r := range w.chans {
		r.close()
		delete(w.chans, ch)
	}
}

func (r *reader) close() {
	if r.shell != nil {
		r.shell.Close()
		r.shell = nil
	}
}

// Sample reads every watched game once: sorted by instance, each with
// its processes in the supervisor's order (the segments no supervisor
// lists after them, by name).
func (w *Watcher) Sample() ([]Game, error) {
	names, err := venom.List()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	now := time.Now()
	byInstance := map[string][]string{}
	for _, n := range names {
		i := strings.LastIndexByte(n, '.')
		if i <= 0 {
			continue
		}
		inst := n[:i]
		if w.instance != "" && inst != w.instance {
			continue
		}
		byInstance[inst] = append(byInstance[inst], n[i+1:])
	}
	for _, r := range w.chans {
		r.seen = false
	}
	var games []Game
	for _, inst := range slices.Sorted(maps.Keys(byInstance)) {
		games = append(games, w.sampleGame(inst, byInstance[inst], now))
	}
	for ch, r := range w.chans {
		if !r.seen {
			r.close()
			delete(w.chans, ch)
		}
	}
	w.at = now
	return games, nil
}

func (w *Watcher) sampleGame(inst string, parts []string, now time.Time) Game {
	g := Game{Instance: inst}
	status, supPid, statusPart, err := w.status(inst, parts)
	if err != nil {
		g.SupervisorErr = err.Error()
	}
	g.Supervisor = supPid
	listed := map[string]bool{statusPart: true}
	for _, c := range status {
		name := c.NameString()
		listed[name] = true
		p := Process{
			Instance: inst, Name: name, State: c.StateName(), Pid: int(c.Pid),
			Standby: c.StandbyString(), StandbyPid: int(c.StandbyPid),
			Restarts: c.Restarts, Handovers: c.Handovers, Failures: c.Failures, Reason: c.ReasonString(), Exits: c.Exits,
			Age: -1,
		}
		if c.Flags&supervisor.FlagChannel != 0 {
			p.Channel = inst + "." + name
			w.sampleChannel(&p, now)
		}
		g.Processes = append(g.Processes, p)
	}
	slices.Sort(parts)
	for _, part := range parts {
		if listed[part] {
			continue
		}
		p := Process{Instance: inst, Name: part, Channel: inst + "." + part, Standby: "-", Age: -1}
		w.sampleChannel(&p, now)
		if p.State == "" {
			p.State = "dead"
			if p.Owned {
				p.State = "alive"
			}
		}
		g.Processes = append(g.Processes, p)
	}
	for _, p := range g.Processes {
		g.Restarts += uint64(p.Restarts)
		g.TicksPerSec += p.TicksPerSec
		g.CPU += p.CPU
		g.RSS += p.RSS
		if p.State != "running" && p.State != "alive" {
			g.NotRunning++
		}
	}
	return g
}

// status reads the instance's status slice: nil without a live
// supervisor (a dead one's is stale: its children died with it). It is
// the one its supervisor owns (Meta.Pid is the channel's owner), and
// statusPart names its channel under the instance: "sup" in a game; on
// an edge (the bridge's), "sup" mirrors the remote game's status, whose
// pids are the game machine's, and the edge's own supervisor publishes
// on another of the instance's channels (parts), as ls finds it.
func (w *Watcher) status(inst string, parts []string) (st []supervisor.ChildStatus, supPid int, statusPart string, err error) {
	st, pid, err := w.ownStatus(supervisor.StatusChannel(inst))
	if pid != 0 || err != nil {
		return st, pid, "sup", err
	}
	for _, part := range parts {
		if part == "sup" {
			continue
		}
		// Another slice is no status: its error only says so.
		if st, pid, _ := w.ownStatus(inst + "." + part); pid != 0 {
			return st, pid, part, nil
		}
	}
	return nil, 0, "sup", nil
}

// ownStatus reads ch as a supervisor's status if the live process that
// owns ch published it (pid 0: it is not one, or nobody owns it; an
// error: it cannot be read as one).
func (w *Watcher) ownStatus(ch string) ([]supervisor.ChildStatus, int, error) {
	info, err := venom.Inspect(ch)
	if err != nil {
		if errors.Is(err, venom.ErrNotFound) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("status: %w", err)
	}
	if !info.Owned {
		return nil, 0, nil
	}
	r := w.reader(ch)
	if r.shell == nil {
		return nil, 0, fmt.Errorf("status: not readable")
	}
	n, _, err := r.shell.Read(r.buf)
	if err != nil {
		return nil, 0, fmt.Errorf("status: %w", err)
	}
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if err := supervisor.StatusSchema.Decode(r.buf[:n], &f); err != nil {
		return nil, 0, fmt.Errorf("status: %w", err)
	}
	if int(f.Meta.Pid) != info.Daemon.Pid {
		return nil, 0, nil // a mirror of another machine's status
	}
	return f.Items, int(f.Meta.Pid), nil
}

// reader is the Watcher's client of ch, connected anew when the segment
// was replaced (its inode changed) or is gone; its shell is nil when it
// cannot connect now.
func (w *Watcher) reader(ch string) *reader {
	r := w.chans[ch]
	if r == nil {
		r = &reader{}
		w.chans[ch] = r
	}
	r.seen = true
	ino := inode(ch)
	if r.shell != nil && r.ino != ino {
		r.close()
		r.prev = prevSample{} // another segment: nothing to compare with
	}
	if r.shell == nil && ino != 0 {
		s, err := venom.Connect(ch, venom.WithWait(venom.Block))
		if err == nil {
			r.shell, r.ino = s, ino
			if len(r.buf) != s.Config().DataSize {
				r.buf = make([]byte, s.Config().DataSize)
			}
		}
	}
	return r
}

func inode(ch string) uint64 {
	var st unix.Stat_t
	if unix.Stat(venom.Path(ch), &st) != nil {
		return 0
	}
	return st.Ino
}

// sampleChannel fills in what p's channel and /proc say.
func (w *Watcher) sampleChannel(p *Process, now time.Time) {
	r := w.reader(p.Channel)
	info, err := venom.Inspect(p.Channel)
	if err != nil {
		p.Note = "segment: " + err.Error()
		return
	}
	p.Owned, p.Queued, p.Clients, p.Age = info.Owned, info.Queued, info.Clients, info.Age
	if p.Pid == 0 && info.Owned {
		p.Pid = info.Daemon.Pid
	}
	if r.shell != nil {
		p.Clients = max(0, p.Clients-1) // not counting this reader
		n, _, err := r.shell.Read(r.buf)
		switch {
		case errors.Is(err, venom.ErrNoData):
		case err != nil:
			p.Note = "snapshot: " + err.Error()
		default:
			h, err := engine.PeekCounters(r.buf[:n])
			if err == nil || errors.Is(err, engine.ErrCounters) {
				p.Have, p.Tick, p.Epoch, p.Rate = true, h.Tick, h.Epoch, h.Rate
				p.Applied, p.Refused, p.Lag = h.Applied, h.Dropped, h.Lag
			}
			switch {
			case errors.Is(err, engine.ErrCounters):
				p.Note = "counters skipped: " + err.Error()
			case err != nil:
				p.Note = "snapshot skipped: " + err.Error()
			case h.Counters.Kept():
				p.Counters, p.Counted = h.Counters, true
				p.TicksTotal, p.MissesTotal, p.CommandsTotal = h.Counters.Ticks, h.Counters.Misses, h.Counters.Commands
			}
		}
	}
	cpu, rss, okProc := procStat(p.Pid)
	if okProc {
		p.RSS, p.CPUSeconds = rss, float64(cpu)/clockTicks
	}
	prev := r.prev
	dt := now.Sub(prev.at).Seconds()
	if prev.counted && p.Counted && p.Counters.Ticks >= prev.ticks && dt > 0 {
		p.TicksPerSec = float64(p.Counters.Ticks-prev.ticks) / dt
		var hist [engine.TickBuckets]uint64
		for i := range hist {
			if p.Counters.Hist[i] >= prev.hist[i] {
				hist[i] = p.Counters.Hist[i] - prev.hist[i]
			}
		}
		p.P50, p.P99 = engine.Quantile(&hist, 0.5), engine.Quantile(&hist, 0.99)
		if p.Counters.Misses >= prev.misses {
			p.NewMisses = p.Counters.Misses - prev.misses
		}
	}
	if okProc && prev.pid == p.Pid && cpu >= prev.cpuTicks && dt > 0 {
		p.CPU = 100 * float64(cpu-prev.cpuTicks) / clockTicks / dt
	}
	r.prev = prevSample{at: now, counted: p.Counted, ticks: p.Counters.Ticks, misses: p.Counters.Misses, hist: p.Counters.Hist}
	if okProc {
		r.prev.pid, r.prev.cpuTicks = p.Pid, cpu
	}
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's
// times: 100 on every Linux this builds for.
const clockTicks = 100

// procStat reads a process's CPU time (user + system, in clock ticks)
// and resident memory (bytes) from /proc.
func procStat(pid int) (cpu uint64, rss int64, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3; utime 14, stime 15, rss 24 (pages).
	if len(f) < 22 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	pages, err3 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return ut + st, pages * int64(os.Getpagesize()), true
}
