package engine

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// A meta of 4 bytes puts the items 4 bytes off an 8-byte boundary in the
// snapshot: the client's storage must realign them.
type oddMeta struct{ N uint32 }

type wideItem struct {
	X  float64
	ID uint32
	_  uint32
}

var oddSchema = MustSchema[oddMeta, wideItem]()

func publishOdd(t *testing.T, d *venom.Daemon, tick uint64, n int) {
	t.Helper()
	items := make([]wideItem, n)
	for i := range items {
		items[i] = wideItem{X: float64(tick)*1000 + float64(i), ID: uint32(i)}
	}
	buf := make([]byte, oddSchema.Size(n))
	if _, err := oddSchema.Encode(buf, Header{Tick: tick}, &oddMeta{N: uint32(n)}, items); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Publish(buf); err != nil {
		t.Fatal(err)
	}
}

func checkOdd(t *testing.T, what string, f *Frame[oddMeta, wideItem], tick uint64, n int) {
	t.Helper()
	if f.Tick != tick || f.Meta.N != uint32(n) || len(f.Items) != n {
		t.Fatalf("%s: tick %d meta %d items %d, want %d, %d, %d", what, f.Tick, f.Meta.N, len(f.Items), tick, n, n)
	}
	for i, it := range f.Items {
		if it.X != float64(tick)*1000+float64(i) || it.ID != uint32(i) {
			t.Fatalf("%s: item %d = %+v", what, i, it)
		}
	}
	if n > 0 && uintptr(unsafe.Pointer(&f.Items[0]))%8 != 0 {
		t.Fatalf("%s: items at %p, not 8-byte aligned", what, &f.Items[0])
	}
}

// A client's read copies a snapshot once and views its items in place:
// values, alignment, the storage growing with the world, the previous
// snapshot's items intact after one more read, and a refused snapshot
// leaving the frame as it was.
func TestClientReadsInPlace(t *testing.T) {
	ch := proctest.Name(t)
	venom.Remove(ch)
	t.Cleanup(func() { venom.Remove(ch) })
	d, err := venom.Create(ch, venom.Config{DataSize: oddSchema.Size(1000)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := Connect(ch, oddSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	var f Frame[oddMeta, wideItem]
	if err := c.Read(&f); !errors.Is(err, venom.ErrNoData) {
		t.Fatalf("Read before any publish: %v", err)
	}
	if err := c.Read(&f, ReadOptions{Since: 1}); !errors.Is(err, venom.ErrNoData) {
		t.Fatalf("Read since 1 before any publish: %v", err)
	}
	sizes := []int{0, 3, 10, 500, 1000, 7, 1000}
	var before []wideItem
	for i, n := range sizes {
		tick := uint64(i + 1)
		publishOdd(t, d, tick, n)
		if err := c.Read(&f, ReadOptions{Since: f.Seq()}); err != nil || f.Seq() != tick {
			t.Fatalf("Read after publish %d: seq %d, %v", tick, f.Seq(), err)
		}
		if err := c.Read(&f, ReadOptions{Since: f.Seq()}); !errors.Is(err, ErrUnchanged) || f.Seq() != tick {
			t.Fatalf("Read since the newest after publish %d: seq %d, %v, want ErrUnchanged", tick, f.Seq(), err)
		}
		checkOdd(t, "newest", &f, tick, n)
		if i > 0 {
			// The items of the read before are as they were.
			checkOdd(t, "items of the read before", &Frame[oddMeta, wideItem]{Header: Header{Tick: tick - 1},
				Meta: oddMeta{N: uint32(sizes[i-1])}, Items: before}, tick-1, sizes[i-1])
			var prev Frame[oddMeta, wideItem]
			if err := c.Read(&prev, ReadOptions{Back: 1}); err != nil || prev.Seq() != tick-1 {
				t.Fatalf("Read one back after publish %d: %d, %v", tick, prev.Seq(), err)
			}
			checkOdd(t, "one back", &prev, tick-1, sizes[i-1])
		}
		before = f.Items
	}

	// Another schema on the channel: an error, and f as it was.
	other := MustSchema[oddMeta, struct{ X, Y float64 }]()
	buf := make([]byte, other.Size(2))
	n, _ := other.Encode(buf, Header{Tick: 99}, &oddMeta{N: 2}, []struct{ X, Y float64 }{{1, 2}, {3, 4}})
	if _, err := d.Publish(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if err := c.Read(&f); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Read of another schema: %v, want ErrIncompatible", err)
	}
	checkOdd(t, "after a refused snapshot", &f, uint64(len(sizes)), sizes[len(sizes)-1])

	// A count that claims more items than the snapshot holds.
	good := make([]byte, oddSchema.Size(5))
	n, _ = oddSchema.Encode(good, Header{Tick: 100}, &oddMeta{N: 5}, make([]wideItem, 5))
	*(*uint32)(unsafe.Pointer(&good[unsafe.Offsetof(Header{}.Count)])) = 1 << 30
	if _, err := d.Publish(good[:n]); err != nil {
		t.Fatal(err)
	}
	if err := c.Read(&f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read with a lying count: %v, want ErrCorrupt", err)
	}
	checkOdd(t, "after a corrupt snapshot", &f, uint64(len(sizes)), sizes[len(sizes)-1])

	// Decode still copies into the frame's items, as documented.
	publishOdd(t, d, 200, 4)
	raw := make([]byte, oddSchema.Size(4))
	if n, _, err := c.Shell().Read(raw); err != nil || n != len(raw) {
		t.Fatalf("Shell.Read: %d, %v", n, err)
	}
	var g Frame[oddMeta, wideItem]
	if err := oddSchema.Decode(raw, &g); err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0xff
	checkOdd(t, "Decode", &g, 200, 4)
}
