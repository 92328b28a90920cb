package watch_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/watch"
	"github.com/venomrt/venomrt/venom"
)

type meta struct{ N uint64 }
type item struct{ V uint64 }

var schema = engine.MustSchema[meta, item]()

// publishRaw owns ch as other code would and publishes b as its
// snapshot.
func publishRaw(t *testing.T, ch string, b []byte) {
	t.Helper()
	venom.Remove(ch)
	t.Cleanup(func() { venom.Remove(ch) })
	d, err := venom.Create(ch, venom.Config{DataSize: 4096, History: 2, CmdSlots: 16, MaxClients: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	buf, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(copy(buf, b)); err != nil {
		t.Fatal(err)
	}
}

// TestBadBlocksSkipped: a process whose counters block is corrupt, one
// whose snapshot is too short to hold a header (foreign) and one with
// nothing published are shown with a note, their counters not trusted;
// a sound one beside them is counted.
func TestBadBlocksSkipped(t *testing.T) {
	inst := fmt.Sprintf("watch%d", os.Getpid())
	buf := make([]byte, 4096)

	var h engine.Header
	h.Tick = 5
	h.Counters = engine.Counters{Magic: engine.CountersMagic, Buckets: engine.TickBuckets, Ticks: 3}
	h.Counters.Hist[1] = 2 // one short of Ticks
	n, err := schema.Encode(buf, h, &meta{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publishRaw(t, inst+".corrupt", buf[:n])
	publishRaw(t, inst+".foreign", []byte("not an engine snapshot"))

	venom.Remove(inst + ".empty")
	t.Cleanup(func() { venom.Remove(inst + ".empty") })
	e, err := venom.Create(inst+".empty", venom.Config{DataSize: 4096, History: 2, CmdSlots: 16, MaxClients: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	venom.Remove(inst + ".sound")
	t.Cleanup(func() { venom.Remove(inst + ".sound") })
	w, err := engine.Own(context.Background(), schema, engine.OwnOptions[meta, item]{Channel: inst + ".sound", Config: venom.Config{DataSize: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 3 {
		w.Header().Tick++
		if err := w.Publish(&meta{}, nil); err != nil {
			t.Fatal(err)
		}
	}

	wt := watch.New(inst)
	defer wt.Close()
	games, err := wt.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(games) != 1 || len(games[0].Processes) != 4 {
		t.Fatalf("sample: %+v, want one game of four processes", games)
	}
	got := map[string]watch.Process{}
	for _, p := range games[0].Processes {
		got[p.Name] = p
	}
	if p := got["corrupt"]; p.Counted || !p.Have || p.Tick != 5 || !strings.Contains(p.Note, "counters skipped") {
		t.Errorf("corrupt block: %+v, want its header shown, its counters skipped with a note", p)
	}
	if p := got["foreign"]; p.Counted || p.Have || !strings.Contains(p.Note, "snapshot") {
		t.Errorf("foreign snapshot: %+v, want a note, nothing trusted", p)
	}
	if p := got["empty"]; p.Counted || p.Have || p.Note != "" || p.Age >= 0 {
		t.Errorf("nothing published: %+v", p)
	}
	if p := got["sound"]; !p.Counted || p.TicksTotal != 3 || p.Note != "" || p.State != "alive" || p.Pid != os.Getpid() {
		t.Errorf("sound block: %+v, want 3 ticks counted", p)
	}
}
