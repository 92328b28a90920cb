package bridge

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// The bridge's lag of a slice (SliceStats.Lag) is its newest snapshot's
// way from its publish on the local channel to NATS: for the very
// snapshot the stats name (Seq), no more than what a subscriber saw from
// that snapshot's Header.Mono to its arrival, and more than nothing;
// LagTotal sums it over the snapshots sent.
func TestBridgeLag(t *testing.T) {
	w := newWorld(t)
	nc, err := Connect(w.url, "lagtest")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	type seen struct{ made, arrived int64 }
	var mu sync.Mutex
	got := map[uint64]seen{}
	sub, err := nc.Subscribe(SliceSubject(w.game, "sim"), func(m *nats.Msg) {
		arrived := venom.Monotonic()
		seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
		h, herr := engine.PeekHeader(m.Data)
		if err != nil || herr != nil || m.Header.Get(hdrEncoding) != "" {
			return
		}
		mu.Lock()
		got[seq] = seen{h.Mono, arrived}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	w.start()
	matched := map[uint64]bool{}
	proctest.Eventually(t, 30*time.Second, "three stats naming a snapshot the subscriber saw", func() bool {
		st := w.bridge().Items[0]
		mu.Lock()
		s, ok := got[st.Seq]
		mu.Unlock()
		if !ok {
			return false
		}
		if st.Lag == 0 || int64(st.Lag) > s.arrived-s.made || st.LagTotal < st.Lag || st.Published > 1 && st.LagTotal == st.Lag {
			t.Fatalf("snapshot %d: lag %v, total %v over %d sent; the subscriber saw it %v after it was made",
				st.Seq, time.Duration(st.Lag), time.Duration(st.LagTotal), st.Published, time.Duration(s.arrived-s.made))
		}
		matched[st.Seq] = true // three snapshots, not one read three times
		return len(matched) == 3
	})
}
