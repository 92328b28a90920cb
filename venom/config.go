package venom

import (
	"fmt"
	"os"
	"time"
)

// WaitPolicy says how a side waits for the other.
type WaitPolicy uint32

const (
	// Hybrid spins for Config.SpinFor with a pause hint, then sleeps on a
	// shared futex. The waker makes a system call only when the sleeper
	// has raised its "sleeping" flag, so the hot path makes none.
	Hybrid WaitPolicy = iota
	// Spin never sleeps: lowest latency, and a whole core burnt while
	// waiting. Meant for benchmarks and dedicated cores.
	Spin
	// Block sleeps on the futex at once.
	Block
)

// String is the policy's name.
func (w WaitPolicy) String() string {
	switch w {
	case Hybrid:
		return "hybrid"
	case Spin:
		return "spin"
	case Block:
		return "block"
	}
	return fmt.Sprintf("WaitPolicy(%d)", uint32(w))
}

// Defaults for a zero Config field.
const (
	DefaultDataSize   = 64 << 10
	DefaultHistory    = 4
	DefaultCmdSlots   = 128
	DefaultCmdSize    = 256
	DefaultRespSize   = 4 << 10
	DefaultMaxClients = 16
	DefaultPerm       = 0o600
	DefaultSpinFor    = 50 * time.Microsecond
)

// Limits on a Config; a value outside them is refused by Create, and a
// header that claims one is refused by Connect.
const (
	MaxDataSize   = 1 << 30
	MaxHistory    = 256
	MaxCmdSlots   = 1 << 16
	MaxCmdSize    = 64 << 10
	MaxRespSize   = 16 << 20
	MaxClientsMax = 1024
	maxSegment    = 8 << 30
)

// Config is the shape of a segment and how its daemon behaves. The zero
// value of each field means its default.
type Config struct {
	DataSize   int         // bytes of one snapshot (default 64 KiB)
	History    int         // snapshot buffers kept, >= 2 (default 4)
	CmdSlots   int         // cells per client lane, power of two (default 128)
	CmdSize    int         // bytes of one command (default 256)
	RespSize   int         // bytes of one response (default 4 KiB)
	MaxClients int         // default 16
	Perm       os.FileMode // default 0600
	Wait       WaitPolicy  // Hybrid by default
	// SpinFor is how long Hybrid spins before it sleeps (default 50µs:
	// longer than a futex wake-up takes on a busy 2-core VM).
	SpinFor time.Duration
	// CommitOnPublish makes the lanes' positions in shared memory advance
	// only at the next Publish: a daemon that dies after Poll handed it
	// commands and before it published is handed them again by its
	// successor, which restores from the last published snapshot.
	CommitOnPublish bool
	// LaneQuota is how many commands Poll takes from one lane before it
	// moves to the next (default 32), so a flooding client cannot starve
	// the rest.
	LaneQuota int
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.DataSize, DefaultDataSize)
	def(&c.History, DefaultHistory)
	def(&c.CmdSlots, DefaultCmdSlots)
	def(&c.CmdSize, DefaultCmdSize)
	def(&c.RespSize, DefaultRespSize)
	def(&c.MaxClients, DefaultMaxClients)
	def(&c.LaneQuota, 32)
	if c.Perm == 0 {
		c.Perm = DefaultPerm
	}
	if c.SpinFor == 0 {
		c.SpinFor = DefaultSpinFor
	}
	return c
}

func (c Config) validate() error {
	check := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("venom: config %s = %d, want %d..%d", name, v, lo, hi)
		}
		return nil
	}
	for _, e := range []error{
		check("DataSize", c.DataSize, 1, MaxDataSize),
		check("History", c.History, 2, MaxHistory),
		check("CmdSlots", c.CmdSlots, 2, MaxCmdSlots),
		check("CmdSize", c.CmdSize, 1, MaxCmdSize),
		check("RespSize", c.RespSize, 1, MaxRespSize),
		check("MaxClients", c.MaxClients, 1, MaxClientsMax),
		check("LaneQuota", c.LaneQuota, 1, MaxCmdSlots),
	} {
		if e != nil {
			return e
		}
	}
	if c.CmdSlots&(c.CmdSlots-1) != 0 {
		return fmt.Errorf("venom: config CmdSlots = %d, want a power of two", c.CmdSlots)
	}
	if c.Wait > Block {
		return fmt.Errorf("venom: config Wait = %v, want Hybrid, Spin or Block", c.Wait)
	}
	if c.SpinFor < 0 {
		return fmt.Errorf("venom: config SpinFor = %v, want >= 0", c.SpinFor)
	}
	return nil
}

// Option configures a Shell.
type Option func(*shellOptions)

type shellOptions struct {
	wait          WaitPolicy
	spinFor       time.Duration
	daemonTimeout time.Duration
}

// WithWait sets how the shell waits for responses (default Hybrid).
func WithWait(w WaitPolicy) Option { return func(o *shellOptions) { o.wait = w } }

// WithSpin sets how long a Hybrid wait spins before it sleeps.
func WithSpin(d time.Duration) Option { return func(o *shellOptions) { o.spinFor = d } }

// WithDaemonTimeout sets how old the daemon's heartbeat may grow before a
// Request gives up with ErrDaemonGone (default 1s). A dead daemon process
// is noticed sooner, within a few milliseconds.
func WithDaemonTimeout(d time.Duration) Option {
	return func(o *shellOptions) { o.daemonTimeout = d }
}
