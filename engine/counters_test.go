package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/venomrt/venomrt/venom"
)

// ownCounter owns ch in this process, as a Run would, for tests that
// drive ticks by hand.
func ownCounter(t testing.TB, ch string) *Owner[counterMeta, counterItem] {
	t.Helper()
	w, err := Own(context.Background(), counterSchema, OwnOptions[counterMeta, counterItem]{
		Channel: ch, Config: venom.Config{DataSize: 32 << 10, History: 2, CmdSlots: 64, MaxClients: 4},
		Handle: func(Command) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readHeader reads ch's newest snapshot's header as a tool would
// (PeekCounters: any schema, the counters checked).
func readHeader(t *testing.T, s *venom.Shell) (Header, error) {
	t.Helper()
	buf := make([]byte, s.Config().DataSize)
	n, _, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return PeekCounters(buf[:n])
}

// TestCountersExact: the counters a reader sees are exactly the ticks,
// their times by bucket, the misses and the commands the owner went
// through, and they carry on across a warm restart.
func TestCountersExact(t *testing.T) {
	ch := channel(t)
	w := ownCounter(t, ch)
	s, err := venom.Connect(ch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A tick's time, cycled: one in the first bucket, one on a bound
	// (inclusive), one a miss at 100 Hz (over 10ms), one past every bound.
	times := []time.Duration{10 * time.Microsecond, time.Millisecond, 20 * time.Millisecond, 2 * time.Second}
	wantBucket := []int{0, 5, 9, TickBuckets - 1}
	const ticks, sent = 41, 7
	for i := range sent {
		var b [CommandSize]byte
		if err := s.Send(Cmd(OpAdd, float64(i)).Append(b[:0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Publish(&counterMeta{}, nil); err != nil { // the restored state: no tick
		t.Fatal(err)
	}
	var want Counters
	var nanos uint64
	for i := range ticks {
		w.Poll()
		h := w.Header()
		h.Tick++
		h.Rate = 100
		h.StepNanos = uint64(times[i%len(times)])
		nanos += h.StepNanos
		want.Hist[wantBucket[i%len(times)]]++
		if err := w.Publish(&counterMeta{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := readHeader(t, s)
	if err != nil {
		t.Fatal(err)
	}
	c := h.Counters
	misses := uint64(ticks/len(times)*2 + min(ticks%len(times), 4) - min(ticks%len(times), 2))
	if c.Ticks != ticks || c.Hist != want.Hist || c.Misses != misses || c.TickNanos != nanos ||
		c.Commands != sent || c.Publishes != ticks+1 || h.Applied != sent {
		t.Fatalf("counters %+v (applied %d), want %d ticks, hist %v, %d misses, %d ns, %d commands, %d publishes",
			c, h.Applied, ticks, want.Hist, misses, nanos, sent, ticks+1)
	}

	// A warm restart carries them on; its first publish is no tick.
	w.Close()
	w = ownCounter(t, ch)
	defer w.Close()
	if err := w.Publish(&counterMeta{}, nil); err != nil {
		t.Fatal(err)
	}
	w.Header().Tick++
	if err := w.Publish(&counterMeta{}, nil); err != nil {
		t.Fatal(err)
	}
	if h, err = readHeader(t, s); err != nil {
		t.Fatal(err)
	}
	if h.Counters.Ticks != ticks+1 || h.Counters.Commands != sent {
		t.Fatalf("after a warm restart: %d ticks, %d commands; want %d, %d", h.Counters.Ticks, h.Counters.Commands, ticks+1, sent)
	}
}

// TestCountersRefused: a block that is not this engine's, or does not
// add up, is refused by a reader with ErrCounters (never shown), and an
// owner adopting a snapshot with one counts afresh.
func TestCountersRefused(t *testing.T) {
	good := Counters{Magic: CountersMagic, Buckets: TickBuckets, Ticks: 3, Misses: 1}
	good.Hist[2], good.Hist[TickBuckets-1] = 2, 1
	if err := good.Check(); err != nil {
		t.Fatalf("a sound block refused: %v", err)
	}
	if err := (&Counters{}).Check(); err != nil {
		t.Fatalf("a block nobody keeps refused: %v", err)
	}
	bad := map[string]func(c *Counters){
		"foreign magic":     func(c *Counters) { c.Magic = 0x12345678 },
		"zero magic":        func(c *Counters) { c.Magic = 0 },
		"other buckets":     func(c *Counters) { c.Buckets = 12 },
		"histogram short":   func(c *Counters) { c.Ticks++ },
		"histogram long":    func(c *Counters) { c.Hist[0]++ },
		"histogram wraps":   func(c *Counters) { c.Hist[0], c.Hist[1], c.Ticks = 1<<63, 1<<63, 0 },
		"misses over ticks": func(c *Counters) { c.Misses = 4 },
	}
	for name, corrupt := range bad {
		c := good
		corrupt(&c)
		if err := c.Check(); !errors.Is(err, ErrCounters) {
			t.Errorf("%s: Check = %v, want ErrCounters", name, err)
		}
	}

	// In a segment: a snapshot whose block is corrupt, written by other
	// code owning the channel.
	ch := channel(t)
	d, err := venom.Create(ch, venom.Config{DataSize: 32 << 10, History: 2, CmdSlots: 64, CmdSize: CommandSize, MaxClients: 4, CommitOnPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	h := Header{Tick: 9, Counters: good}
	h.Counters.Hist[0] = 1000
	buf, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	n, err := counterSchema.Encode(buf, h, &counterMeta{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(n); err != nil {
		t.Fatal(err)
	}
	s, err := venom.Connect(ch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := readHeader(t, s); !errors.Is(err, ErrCounters) {
		t.Fatalf("a reader took a corrupt block: %v", err)
	}
	d.Close()
	w := ownCounter(t, ch)
	defer w.Close()
	if got := w.Header(); got.Tick != 9 || got.Counters != (Counters{lastTick: 9}) {
		t.Fatalf("adopted: tick %d, counters %+v; want tick 9 and counters from zero", got.Tick, got.Counters)
	}
	w.Header().Tick++
	if err := w.Publish(&counterMeta{}, nil); err != nil {
		t.Fatal(err)
	}
	if h, err := readHeader(t, s); err != nil || h.Counters.Ticks != 1 {
		t.Fatalf("after adoption: %+v, %v; want 1 tick counted", h.Counters, err)
	}
}

func TestQuantile(t *testing.T) {
	var h [TickBuckets]uint64
	if q := Quantile(&h, 0.5); q != 0 {
		t.Fatalf("no ticks: %v", q)
	}
	h[5] = 100 // (500µs, 1ms]
	if q := Quantile(&h, 0.5); q != 750*time.Microsecond {
		t.Fatalf("p50 = %v, want 750µs", q)
	}
	h[TickBuckets-1] = 100
	if q := Quantile(&h, 0.99); q != time.Second {
		t.Fatalf("p99 in the open bucket = %v, want its lower bound 1s", q)
	}
}

// BenchmarkCounters is what the counters cost a tick: the owner's poll
// and publish of a 1000-item snapshot with them ("counted") beside the
// same without them ("uncounted", the same-run baseline), in rounds
// that alternate the two (other load on a shared machine then falls on
// both alike; the summary takes each side's best round), and the
// bookkeeping alone ("count"). The header carries the block either
// way: its bytes are part of both.
func BenchmarkCounters(b *testing.B) {
	ch := fmt.Sprintf("bench-counters-%d", time.Now().UnixNano())
	venom.Remove(ch)
	defer venom.Remove(ch)
	w := ownCounter(b, ch)
	defer w.Close()
	items := make([]counterItem, 1000)
	best := [2]float64{math.Inf(1), math.Inf(1)}
	for round := range 5 {
		for i, side := range []string{"uncounted", "counted"} {
			b.Run(fmt.Sprintf("%s/round=%d", side, round), func(b *testing.B) {
				w.uncounted = side == "uncounted"
				for b.Loop() {
					w.Poll()
					h := w.Header()
					h.Tick++
					h.StepNanos = uint64(h.Tick % 20_000_000)
					if err := w.Publish(&counterMeta{}, items); err != nil {
						b.Fatal(err)
					}
				}
				best[i] = min(best[i], float64(b.Elapsed().Nanoseconds())/float64(b.N))
			})
		}
	}
	w.uncounted = false
	count := math.Inf(1)
	b.Run("count", func(b *testing.B) {
		var h Header
		h.Rate = 60
		for b.Loop() {
			h.Tick++
			h.StepNanos = h.Tick % 20_000_000
			h.Counters.count(&h)
		}
		count = min(count, float64(b.Elapsed().Nanoseconds())/float64(b.N))
	})
	fmt.Printf("--- SUMMARY: %s: tick (poll + publish of 1000 items) uncounted %.0f ns, counted %.0f ns: ratio %.3f; the bookkeeping alone %.1f ns, %.2f%% of the uncounted tick\n",
		b.Name(), best[0], best[1], best[1]/best[0], count, 100*count/best[0])
}
