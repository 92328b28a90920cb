package demo_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world/worldtest"
	"github.com/venomrt/venomrt/venom"
)

// The census of two regions over real channels, at each moment of a
// hand-over of body 4 from region 0 to region 1: in flight (in the
// sender's outbox, not adopted), delivered (adopted, still in the outbox:
// the receiver's), and two broken ones — dropped by the sender before the
// receiver adopted it (lost), adopted while the receiver's Got says it
// was not (doubled).
func TestCensusAtAHandover(t *testing.T) {
	inst := proctest.Name(t)
	chs := []string{inst + ".physics-0", inst + ".physics-1"}
	r0, r1 := worldtest.Start(t, chs[0]), worldtest.Start(t, chs[1])
	cut := demo.NewCut(chs)
	defer cut.Close()
	own0 := worldtest.Bodies(1, 3, 10, 90, 50)   // ids 1..3
	own1 := worldtest.Bodies(5, 2, 110, 190, 50) // ids 5, 6
	body4 := worldtest.Bodies(4, 1, 101, 102, 50)
	for _, tc := range []struct {
		name                   string
		out0, own1             []physics.Body // region 0's outbox to the right; region 1's own
		got1                   uint64         // region 1's GotLeft
		inFlight               int
		lost, doubled, unknown int
	}{
		{"in flight", body4, own1, 0, 1, 0, 0, 0},
		{"delivered, not yet dropped", body4, sorted(own1, body4), 1, 0, 0, 0, 0},
		{"delivered and dropped", nil, sorted(own1, body4), 1, 0, 0, 0, 0},
		{"dropped before adopted", nil, own1, 0, 0, 1, 0, 0},
		{"adopted, Got not moved", body4, sorted(own1, body4), 0, 1, 0, 1, 0},
		{"a body no fresh world has", nil, sorted(own1, body4, worldtest.Bodies(9, 1, 150, 151, 50)), 1, 0, 0, 0, 1},
	} {
		m0 := worldtest.Meta(0, 2, 200, 100, len(own0), 0, len(tc.out0))
		m0.Region.SentRight = 1
		m1 := worldtest.Meta(1, 2, 200, 100, len(tc.own1), 0, 0)
		m1.Region.GotLeft = tc.got1
		r0.Publish(t, m0, append(slices.Clone(own0), tc.out0...))
		r1.Publish(t, m1, tc.own1)
		if err := cut.Read(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := demo.TakeCensus(cut.Frames, 6)
		if c.Err != nil || c.InFlight != tc.inFlight || len(c.Lost) != tc.lost || len(c.Doubled) != tc.doubled || len(c.Unknown) != tc.unknown {
			t.Errorf("%s: census %+v, want in flight %d, lost %d, doubled %d, unknown %d", tc.name, c, tc.inFlight, tc.lost, tc.doubled, tc.unknown)
		}
		v := strings.Join(c.Violations(), "; ")
		if (tc.lost > 0) != strings.Contains(v, "1 bodies lost (ids 4)") || (tc.doubled > 0) != strings.Contains(v, "1 bodies doubled (ids 4)") ||
			(tc.unknown > 0) != strings.Contains(v, "no fresh world has (9)") {
			t.Errorf("%s: violations %q", tc.name, v)
		}
		if want := 6 - tc.lost + tc.doubled + tc.unknown; c.Total != want {
			t.Errorf("%s: total %d, want %d", tc.name, c.Total, want)
		}
	}
	// A snapshot whose counts do not add up, or of another region, is a
	// violation of its own.
	m1 := worldtest.Meta(0, 2, 200, 100, len(own1)+1, 0, 0)
	r1.Publish(t, m1, own1)
	if err := cut.Read(); err != nil {
		t.Fatal(err)
	}
	c := demo.TakeCensus(cut.Frames, 6)
	if !errors.Is(c.Err, physics.ErrCensus) || !strings.Contains(strings.Join(c.Violations(), ";"), "region 0 missing or twice") {
		t.Errorf("a bad snapshot: %q", c.Violations())
	}
}

func sorted(parts ...[]physics.Body) []physics.Body {
	all := slices.Concat(parts...)
	slices.SortFunc(all, func(a, b physics.Body) int { return int(a.ID) - int(b.ID) })
	return all
}

// A cut is consistent while the regions publish: a writer publishes tick
// k on region 0, then on region 1, again and again; a reader that read
// region 0 before region 1 without looking again could see region 0 at
// k and region 1 at k+1 — a state that never was (when region 1 held
// k+1, region 0 already held k+1). A Cut never returns one; missing
// channels and unpublished ones are errors, not cuts.
func TestCutIsConsistent(t *testing.T) {
	inst := proctest.Name(t)
	chs := []string{inst + ".physics-0", inst + ".physics-1"}
	cut := demo.NewCut(chs)
	defer cut.Close()
	if err := cut.Read(); err == nil {
		t.Fatal("a cut of missing channels")
	}
	var owners []*engine.Owner[physics.Meta, physics.Body]
	for _, ch := range chs {
		venom.Remove(ch)
		w, err := engine.Own(context.Background(), physics.Schema, engine.OwnOptions[physics.Meta, physics.Body]{
			Channel: ch, Config: venom.Config{DataSize: physics.Schema.Size(64)}})
		if err != nil {
			t.Fatal(err)
		}
		owners = append(owners, w)
		t.Cleanup(func() { w.Close(); venom.Remove(ch) })
	}
	if err := cut.Read(); err == nil {
		t.Fatal("a cut of channels nothing was published to")
	}
	bodies := worldtest.Bodies(1, 32, 0, 100, 50)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := uint64(1); ; k++ {
			for i, w := range owners {
				m := worldtest.Meta(i, 2, 200, 100, len(bodies), 0, 0)
				m.Steps = k
				if err := w.Publish(&m, bodies); err != nil {
					panic(err)
				}
			}
			select {
			case <-done:
				return
			default:
			}
			if k%64 == 0 {
				time.Sleep(50 * time.Microsecond) // let the reader's tries hold now and then
			}
		}
	}()
	cuts, errs := 0, 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && cuts < 2000; {
		if err := cut.Read(); err != nil {
			errs++
			continue
		}
		cuts++
		if s0, s1 := cut.Frames[0].Meta.Steps, cut.Frames[1].Meta.Steps; s0 < s1 || s0 > s1+1 {
			t.Fatalf("cut %d: region 0 at %d, region 1 at %d: never both newest at once", cuts, s0, s1)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d cuts, %d tries spoiled (%d cuts given up)", cuts, cut.Skipped, errs)
	if cuts == 0 {
		t.Fatal("no cut in 2 s")
	}
	if cut.Skipped == 0 {
		t.Log("no try was spoiled: the writer never published during a read")
	}
}

// Example figures of a census as chaos reports them.
func ExampleTakeCensus() {
	fr := make([]engine.Frame[physics.Meta, physics.Body], 1)
	fr[0].Meta = worldtest.Meta(0, 1, 100, 100, 3, 0, 0)
	fr[0].Items = worldtest.Bodies(1, 3, 0, 100, 50)
	c := demo.TakeCensus(fr, 4)
	fmt.Println(c.Total, len(c.Lost), c.Violations())
	// Output: 3 1 [1 bodies lost (ids 4)]
}

// The bench meter decodes a physics snapshot's meta with encoding/binary,
// which lays a struct out without padding: physics.Meta must have none,
// or the meter would read its figures from the wrong bytes.
func TestMetaHasNoPadding(t *testing.T) {
	if got, want := binary.Size(physics.Meta{}), physics.Schema.Size(0)-engine.HeaderSize; got != want {
		t.Fatalf("binary.Size(physics.Meta{}) = %d, the schema's meta %d bytes", got, want)
	}
}
