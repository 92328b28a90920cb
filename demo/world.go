package demo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bench"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// cutTries bounds the reads of one consistent cut: a member that
// publishes between the first and the last look at its sequence spoils
// the try. At 60 Hz and a read of a few hundred µs nearly every try
// holds; twenty in a row spoiled means the reader is starved.
const cutTries = 20

// Cut reads every member of the physics group — every region of the
// world — as one consistent cut of the published world: each member's
// newest snapshot, all of which were the newest at one same instant.
// It notes each member's venom sequence (Latest), reads every snapshot,
// looks at the sequences again, and tries again (at most cutTries
// times) while any moved. A Cut is used from one goroutine.
type Cut struct {
	channels []string
	clients  []*engine.Client[physics.Meta, physics.Body]
	// Frames are the members' snapshots of the last cut read, member i
	// region i.
	Frames []engine.Frame[physics.Meta, physics.Body]
	// Skipped counts the tries given up because a member published
	// while the cut was read.
	Skipped uint64
	before  []uint64
	inodes  []uint64 // of the segment each client maps
}

// NewCut makes a Cut of the physics members' channels, in region order
// (game.Env.Members("physics")). It connects on its first Read.
func NewCut(channels []string) *Cut {
	n := len(channels)
	return &Cut{channels: channels, clients: make([]*engine.Client[physics.Meta, physics.Body], n),
		Frames: make([]engine.Frame[physics.Meta, physics.Body], n), before: make([]uint64, n), inodes: make([]uint64, n)}
}

// errMoved is a cut whose every try saw a member publish.
var errMoved = errors.New("the world moved under every try")

// Read reads one consistent cut into Frames. An error means there is
// none this time: a member's channel missing or not yet published to,
// or every try spoiled (counted in Skipped); a client that failed, or
// whose segment was removed or made anew (--fresh, a region that lost
// its own), is connected again on the next Read.
func (c *Cut) Read() error {
	for i, ch := range c.channels {
		ino := inode(venom.Path(ch))
		if c.clients[i] != nil && ino == c.inodes[i] {
			continue
		}
		if c.clients[i] != nil {
			c.clients[i].Close()
			c.clients[i] = nil
		}
		cl, err := engine.Connect(ch, physics.Schema)
		if err != nil {
			return fmt.Errorf("cut: %w", err)
		}
		c.clients[i], c.inodes[i] = cl, ino
	}
	for range cutTries {
		for i, cl := range c.clients {
			seq, err := cl.Shell().Latest()
			if err != nil {
				return c.fail(i, err)
			}
			if seq == 0 {
				return fmt.Errorf("cut: %s: %w", c.channels[i], venom.ErrNoData)
			}
			c.before[i] = seq
		}
		for i, cl := range c.clients {
			if err := cl.Read(&c.Frames[i]); err != nil {
				return c.fail(i, err)
			}
		}
		moved := false
		for i, cl := range c.clients {
			seq, err := cl.Shell().Latest()
			if err != nil {
				return c.fail(i, err)
			}
			moved = moved || seq != c.before[i] || c.Frames[i].Seq() != seq
		}
		if !moved {
			return nil
		}
		c.Skipped++
	}
	return fmt.Errorf("cut of %d members: %w (%d tries)", len(c.channels), errMoved, cutTries)
}

// inode is the inode number of a segment's file, 0 when there is none.
func inode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// fail drops member i's client after an error, to connect again.
func (c *Cut) fail(i int, err error) error {
	c.clients[i].Close()
	c.clients[i] = nil
	return fmt.Errorf("cut: %s: %w", c.channels[i], err)
}

// Close lets go of every member's channel.
func (c *Cut) Close() {
	for i, cl := range c.clients {
		if cl != nil {
			cl.Close()
			c.clients[i] = nil
		}
	}
}

// Census is the census of a world's bodies over one consistent cut of
// its regions (physics.CountWorld: every id in exactly one place — a
// region's own bodies, or an outbox entry its receiver has not adopted
// yet, in flight), judged against the fresh world's ids 1..want: chaos
// sends no spawn, so the world must hold exactly those.
type Census struct {
	physics.Census
	// Lost are the fresh world's ids found nowhere; Unknown the ids
	// above want, which no fresh world has (Doubled, the ids found more
	// than once, is physics.Census's).
	Lost, Unknown []uint32
	// Err is the cut's snapshots not being one world's (another world
	// id or region count, a region missing, counts that do not add up):
	// physics.ErrCensus.
	Err error
}

// censusIDs bounds the ids a violation lists of each kind.
const censusIDs = 10

// TakeCensus counts the bodies of a cut's frames (one per region) of a
// world whose fresh bodies are ids 1..want.
func TakeCensus(frames []engine.Frame[physics.Meta, physics.Body], want int) Census {
	snaps := make([]physics.Snap, len(frames))
	for i := range frames {
		snaps[i] = physics.Snap{Meta: frames[i].Meta, Items: frames[i].Items}
	}
	var c Census
	if c.Census, c.Err = physics.CountWorld(snaps); c.Err != nil {
		return c
	}
	wantIDs := make([]uint32, want)
	for i := range wantIDs {
		wantIDs[i] = uint32(i + 1)
	}
	c.Lost = c.Census.Lost(wantIDs)
	if i, _ := slices.BinarySearch(c.IDs, uint32(want)+1); i < len(c.IDs) && want >= 0 {
		c.Unknown = c.IDs[i:]
	}
	return c
}

// Violations say what of the invariant the census breaks: a body lost,
// one doubled, one that no fresh world holds, snapshots that are not one
// world's.
func (c *Census) Violations() []string {
	var v []string
	ids := func(ids []uint32) string {
		s := make([]string, 0, censusIDs+1)
		for _, id := range ids[:min(len(ids), censusIDs)] {
			s = append(s, fmt.Sprint(id))
		}
		if len(ids) > censusIDs {
			s = append(s, "…")
		}
		return strings.Join(s, ", ")
	}
	bodies := func(n int) string {
		if n == 1 {
			return "1 body"
		}
		return fmt.Sprintf("%d bodies", n)
	}
	if c.Err != nil {
		v = append(v, c.Err.Error())
	}
	if len(c.Lost) > 0 {
		v = append(v, fmt.Sprintf("%s lost (ids %s)", bodies(len(c.Lost)), ids(c.Lost)))
	}
	if len(c.Doubled) > 0 {
		v = append(v, fmt.Sprintf("%s doubled (ids %s)", bodies(len(c.Doubled)), ids(c.Doubled)))
	}
	if len(c.Unknown) > 0 {
		v = append(v, fmt.Sprintf("%s of ids no fresh world has (%s)", bodies(len(c.Unknown)), ids(c.Unknown)))
	}
	return v
}

// worldChecker is the demo's world invariant under chaos: every body of
// the fresh world exactly once across the physics regions (owned or in
// flight), the total conserved — chaos sends no spawn.
type worldChecker struct {
	cut  *Cut
	want int
}

// worldInvariant is the demo's chaos.Invariant: bodies is the fresh
// world's size (--bodies), read when chaos starts checking.
func worldInvariant(bodies *int) func(ctx context.Context, env game.Env) (chaos.Checker, error) {
	return func(ctx context.Context, env game.Env) (chaos.Checker, error) {
		return &worldChecker{cut: NewCut(env.Members("physics")), want: *bodies}, nil
	}
}

// Check reads a consistent cut of every region and takes its census.
func (w *worldChecker) Check(context.Context) (chaos.Reading, error) {
	if err := w.cut.Read(); err != nil {
		return chaos.Reading{}, err
	}
	c := TakeCensus(w.cut.Frames, w.want)
	return chaos.Reading{
		Figures: map[string]float64{"bodies lost": float64(len(c.Lost)), "bodies doubled": float64(len(c.Doubled)),
			"bodies in flight": float64(c.InFlight), "bodies total": float64(c.Total), "cut retries": float64(w.cut.Skipped)},
		Violations: c.Violations(),
	}, nil
}

// Close lets go of the regions' channels.
func (w *worldChecker) Close() error {
	w.cut.Close()
	return nil
}

// worldMeter is the demo's bench.World: every physics region's header
// and meta (never its bodies), read about every millisecond and taken
// once per new tick — the world's throughput (body-steps per second: the
// sum over regions of their own bodies × their ticks), the border
// exchange per tick (Region.ExchangeBytes, ExchangeNanos), hand-overs
// per second (Region.Handed's growth).
//
// Physics ticks at a fixed 60 Hz, so a world that keeps up steps its
// bodies 60 times a second however many regions share it: the paced
// throughput only shows what is lost when a region falls behind. What
// the regions could do is their capacity: each region's bodies over
// its tick's own time (Header.StepNanos, the wall time of its commands
// and step, the border exchange included), the median over its ticks,
// summed over the regions — what N regions on N cores step flat out.
// That is the figure compared with N × one region's. The median, not
// the mean: a tick preempted by another program on a shared machine
// costs the mean what the world did not cost, while a region slowed on
// every tick (regions sharing a core, the exchange) moves the median.
type worldMeter struct {
	regions []*meteredRegion
	first   time.Time
	last    time.Time
}

// meteredRegion is one region as the meter reads it.
type meteredRegion struct {
	channel string
	shell   *venom.Shell
	head    []byte
	tick    uint64 // the last tick taken (0: none)
	handed0 uint64 // Handed at the first tick taken
	handed  uint64
	// rates are owned bodies ÷ StepNanos of each tick taken, in
	// body-steps per second.
	rates []float64
	steps float64 // body-steps since the first tick taken
	ticks uint64
	owned uint64 // bodies owned, summed over the ticks taken (for the mean load)
	bytes uint64
	nanos []time.Duration
}

// metaSize is the encoded size of physics.Meta: the meter decodes it
// with encoding/binary, which lays a struct out without padding, as the
// engine's fixed-layout check makes sure Meta has none.
var metaSize = binary.Size(physics.Meta{})

// newWorldMeter is the demo's bench.World: it reads every member of
// physics as env names them.
func newWorldMeter(env game.Env) (bench.Meter, error) {
	m := &worldMeter{}
	for _, ch := range env.Members("physics") {
		s, err := venom.Connect(ch)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("world meter: %w", err)
		}
		m.regions = append(m.regions, &meteredRegion{channel: ch, shell: s, head: make([]byte, engine.HeaderSize+metaSize)})
	}
	return m, nil
}

// Sample reads each region's newest header and meta, and takes a tick
// each time a region has a new one.
func (m *worldMeter) Sample(now time.Time) {
	if m.first.IsZero() {
		m.first = now
	}
	m.last = now
	for _, r := range m.regions {
		r.sample()
	}
}

func (r *meteredRegion) sample() {
	snap, err := r.shell.ReadHead(r.head)
	if err != nil || snap.Len < len(r.head) {
		return
	}
	h, err := engine.PeekHeader(r.head)
	if err != nil || h.Tick == r.tick || h.Schema != physics.Schema.Schema() || int(h.MetaSize) != metaSize {
		return
	}
	var meta physics.Meta
	if _, err := binary.Decode(r.head[engine.HeaderSize:], binary.LittleEndian, &meta); err != nil {
		return
	}
	rg := &meta.Region
	if r.tick == 0 || h.Tick < r.tick { // the first, or a restart's world: start from it
		if r.tick == 0 {
			r.handed0 = rg.Handed
		}
		r.tick, r.handed = h.Tick, rg.Handed
		return
	}
	n := h.Tick - r.tick
	owned := uint64(rg.Owned)
	if rg.Count == 0 {
		owned = uint64(h.Count)
	}
	r.steps += float64(owned) * float64(n)
	r.ticks += n
	r.owned += owned * n
	r.bytes += uint64(rg.ExchangeBytes)
	r.nanos = append(r.nanos, time.Duration(rg.ExchangeNanos))
	if h.StepNanos > 0 {
		r.rates = append(r.rates, float64(owned)/(float64(h.StepNanos)/1e9))
	}
	r.tick, r.handed = h.Tick, rg.Handed
}

// Figures are the world's: its body-steps per second as paced (60 Hz)
// and its capacity (it Scales: see worldMeter), the mean load of the
// busiest region over the mean (1.0: even), the border exchange's bytes
// per tick and its p50 and p99 per tick in µs (over every region's
// ticks), hand-overs per second.
func (m *worldMeter) Figures() []bench.Figure {
	secs := m.last.Sub(m.first).Seconds()
	if secs <= 0 {
		return nil
	}
	var steps, handed, capacity float64
	var ticks, bytes uint64
	var nanos []time.Duration
	var loads []float64
	for _, r := range m.regions {
		steps += r.steps
		handed += float64(r.handed - min(r.handed0, r.handed))
		ticks += r.ticks
		bytes += r.bytes
		nanos = append(nanos, r.nanos...)
		if r.ticks > 0 {
			loads = append(loads, float64(r.owned)/float64(r.ticks))
		}
		if len(r.rates) > 0 {
			slices.Sort(r.rates)
			capacity += r.rates[len(r.rates)/2]
		}
	}
	var sum, most float64
	for _, l := range loads {
		sum, most = sum+l, max(most, l)
	}
	imbalance := 0.0
	if sum > 0 {
		imbalance = most / (sum / float64(len(loads)))
	}
	ex := game.PercentilesOf(nanos)
	perTick := 0.0
	if ticks > 0 {
		perTick = float64(bytes) / float64(ticks)
	}
	return []bench.Figure{
		{Name: "body-steps/s", Value: steps / secs},
		{Name: "capacity-steps/s", Value: capacity, Scales: true},
		{Name: "busiest/mean", Value: imbalance},
		{Name: "exchange-B/tick", Value: perTick},
		{Name: "exchange-us-p50", Value: ex.P50 * 1000},
		{Name: "exchange-us-p99", Value: ex.P99 * 1000},
		{Name: "handovers/s", Value: handed / secs},
	}
}

// Close lets go of the regions' channels.
func (m *worldMeter) Close() error {
	for _, r := range m.regions {
		r.shell.Close()
	}
	return nil
}
