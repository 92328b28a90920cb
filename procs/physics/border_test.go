package physics

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// Emigrate takes out, in ID order, the bodies past either bound, up to
// the caps; Adopt merges arrivals back in ID order and refuses, whole,
// a batch with a bad body or an id already there.
func TestEmigrateAndAdopt(t *testing.T) {
	w := newWorld(t, 3, 400)
	var left, right []Body
	var maxR float32
	left, right, maxR, _ = w.Emigrate(400, 800, left, right, 10, math.MaxInt)
	if len(left) != 10 {
		t.Fatalf("%d bodies left past a cap of 10", len(left))
	}
	for _, b := range right {
		if b.X <= 800 {
			t.Fatalf("body %+v taken right of 800", b)
		}
	}
	stayed := 0
	for _, b := range w.Bodies() {
		if b.X > 800 {
			t.Fatalf("body %+v stayed right of 800", b)
		}
		if b.X < 400 {
			stayed++ // beyond the cap
		}
		if b.R > maxR {
			t.Fatalf("largest radius %v, but %v stayed", maxR, b.R)
		}
	}
	if stayed == 0 || w.Len()+len(left)+len(right) != 400 {
		t.Fatalf("%d stayed beyond the cap; %d + %d + %d bodies of 400", stayed, w.Len(), len(left), len(right))
	}
	if !slices.IsSortedFunc(left, byID) || !slices.IsSortedFunc(right, byID) {
		t.Fatal("outboxes not in ID order")
	}
	// Back in, in any order: the World is in ID order again.
	slices.Reverse(right)
	if err := w.Adopt(right); err != nil {
		t.Fatal(err)
	}
	if err := w.Adopt(left[:5]); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(w.Bodies(), byID) || w.Len() != 400-5 {
		t.Fatalf("%d bodies after adopting, sorted %v", w.Len(), slices.IsSortedFunc(w.Bodies(), byID))
	}
	n := w.Len()
	bad := slices.Clone(left[5:])
	bad[2].Mass = float32(math.NaN())
	if err := w.Adopt(bad); !errors.Is(err, ErrBadValue) || w.Len() != n {
		t.Fatalf("a NaN arrival: %v, %d bodies", err, w.Len())
	}
	if err := w.Adopt([]Body{left[6], left[0]}); !errors.Is(err, ErrBadValue) || w.Len() != n {
		t.Fatalf("an id already here: %v, %d bodies", err, w.Len())
	}
	if err := w.Adopt([]Body{left[6], left[6]}); !errors.Is(err, ErrBadValue) || w.Len() != n {
		t.Fatalf("one id twice: %v, %d bodies", err, w.Len())
	}
}

// A region's ids are its residue class above the fresh world's, and its
// strips cover the world without gaps.
func TestIDSpaceAndStrips(t *testing.T) {
	w := newWorld(t, 1, 10)
	w.SetIDSpace(2, 3, 10)
	for want := uint32(11); want < 30; want += 3 {
		if err := w.Spawn(100, 100, 0, 0, 4); err != nil {
			t.Fatal(err)
		}
		if id := w.Bodies()[w.Len()-1].ID; id != want {
			t.Fatalf("id %d, want %d", id, want)
		}
	}
	for _, count := range []int{1, 2, 3, 7, 64} {
		var prev float32
		for k := range count {
			lo, hi := Strip(12800, k, count)
			if lo != prev || hi <= lo {
				t.Fatalf("strip %d of %d: [%v, %v) after %v", k, count, lo, hi, prev)
			}
			for _, x := range []float32{lo, (lo + hi) / 2, math.Nextafter32(hi, lo)} {
				if got := StripOf(x, 12800, count); got != k {
					t.Fatalf("StripOf(%v) of %d = %d, want %d", x, count, got, k)
				}
			}
			prev = hi
		}
		if prev != 12800 {
			t.Fatalf("%d strips end at %v", count, prev)
		}
	}
	if WorldWidth(2000) != 1280 || WorldWidth(100000) != 12800 || WorldWidth(1e7) != MaxWorld {
		t.Fatal("WorldWidth")
	}
}
