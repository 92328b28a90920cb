package engine

import (
	"errors"
	"testing"
)

func TestSliceRejectsLooseLayouts(t *testing.T) {
	type ok struct {
		A uint32
		B [3]float32
		C struct{ D int64 }
	}
	if _, err := NewSchema[ok, ok](); err != nil {
		t.Fatalf("fixed layout refused: %v", err)
	}
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrLayout) {
			t.Errorf("%s: %v, want ErrLayout", name, err)
		}
	}
	_, err := NewSchema[struct{ P *int }, ok]()
	check("pointer", err)
	_, err = NewSchema[ok, struct{ S string }]()
	check("string", err)
	_, err = NewSchema[ok, struct{ S []byte }]()
	check("slice", err)
	_, err = NewSchema[ok, struct{ M map[int]int }]()
	check("map", err)
	_, err = NewSchema[ok, struct{ N int }]()
	check("int", err)
	_, err = NewSchema[ok, struct{ B bool }]()
	check("bool", err)
	_, err = NewSchema[ok, struct{ A [2]struct{ U uintptr } }]()
	check("nested uintptr", err)
}

func TestSliceRoundTripAndSchema(t *testing.T) {
	items := []counterItem{{1.5, 1}, {2.5, 2}, {-3, 3}}
	buf := make([]byte, counterSchema.Size(len(items)))
	n, err := counterSchema.Encode(buf, Header{Tick: 42, Applied: 7}, &counterMeta{Sum: 1, Steps: 9}, items)
	if err != nil || n != len(buf) {
		t.Fatalf("Encode: %d %v", n, err)
	}
	var f Frame[counterMeta, counterItem]
	if err := counterSchema.Decode(buf, &f); err != nil {
		t.Fatal(err)
	}
	if f.Tick != 42 || f.Applied != 7 || f.Meta.Steps != 9 || len(f.Items) != 3 || f.Items[2].Value != -3 {
		t.Fatalf("decoded %+v", f)
	}
	if _, err := counterSchema.Encode(buf[:n-1], Header{}, &counterMeta{}, items); err == nil {
		t.Fatal("Encode into a short buffer succeeded")
	}
	// Another layout of the same size is another schema.
	type otherItem struct {
		Tick  uint64
		Value float64
	}
	other := MustSchema[counterMeta, otherItem]()
	var g Frame[counterMeta, otherItem]
	if err := other.Decode(buf, &g); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Decode with another schema: %v, want ErrIncompatible", err)
	}
	if err := counterSchema.Decode(buf[:n-3], &f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decode truncated: %v, want ErrCorrupt", err)
	}
	if err := counterSchema.Decode(buf[:10], &f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decode of 10 bytes: %v, want ErrCorrupt", err)
	}
	// A count that claims more items than the bytes hold.
	bad := append([]byte(nil), buf...)
	bad[32] = 0xff
	if err := counterSchema.Decode(bad, &f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decode with a lying count: %v, want ErrCorrupt", err)
	}
}
