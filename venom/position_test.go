package venom

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// A command keeps its (client, position) across a daemon's death: the
// successor handed it again sees the same pair, new commands go on.
func TestPositionSurvivesAdoption(t *testing.T) {
	name := fmt.Sprintf("t%d.position", os.Getpid())
	Remove(name)
	t.Cleanup(func() { Remove(name) })
	cfg := Config{DataSize: 64, CommitOnPublish: true}
	d, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []string{"a", "b", "c"} {
		if err := s.Send([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		cmd string
		pos uint64
	}
	poll := func(d *Daemon) []seen {
		var got []seen
		d.Poll(func(_ ClientID, cmd, _ []byte) int {
			got = append(got, seen{string(cmd), d.Position()})
			return 0
		})
		return got
	}
	first := poll(d)
	d.Close() // died before publishing: nothing committed
	d2, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := s.Send([]byte("d")); err != nil {
		t.Fatal(err)
	}
	again := poll(d2)
	want := []seen{{"a", 0}, {"b", 1}, {"c", 2}}
	if !slices.Equal(first, want) || !slices.Equal(again, append(want, seen{"d", 3})) {
		t.Fatalf("first daemon %v, successor %v: want %v, then the same and d at 3", first, again, want)
	}
}
