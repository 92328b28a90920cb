// Package worldtest publishes physics regions' snapshots on real channels
// for the tests of the readers of a world cut into regions (renderer, ai,
// net), without running the region physics: each Region is a channel's
// owner whose snapshots a test makes up, and which records the commands
// sent to it.
package worldtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// Region owns one region's channel.
type Region struct {
	w *engine.Owner[physics.Meta, physics.Body]

	mu   sync.Mutex
	cmds []engine.Command
}

// Start owns channel (removed first, and at the test's end) for snapshots
// of up to physics.MaxBodies bodies.
func Start(t testing.TB, channel string) *Region {
	t.Helper()
	venom.Remove(channel)
	r := &Region{}
	w, err := engine.Own(context.Background(), physics.Schema, engine.OwnOptions[physics.Meta, physics.Body]{
		Channel: channel, Config: venom.Config{DataSize: physics.DataSize, MaxClients: 32},
		Handle: func(c engine.Command) error {
			r.mu.Lock()
			r.cmds = append(r.cmds, c)
			r.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	t.Cleanup(func() {
		w.Close()
		venom.Remove(channel)
	})
	return r
}

// Publish takes the commands sent (Commands has them) and publishes a
// snapshot: meta and items as given, the tick one more than the last.
func (r *Region) Publish(t testing.TB, m physics.Meta, items []physics.Body) {
	t.Helper()
	if err := r.TryPublish(m, items, time.Second/60); err != nil {
		t.Fatal(err)
	}
}

// TryPublish is Publish for a goroutine other than the test's: it
// returns the error; dt is the simulated time the tick advances.
func (r *Region) TryPublish(m physics.Meta, items []physics.Body, dt time.Duration) error {
	r.w.Poll()
	h := r.w.Header()
	h.Tick++
	h.Rate = 60
	h.SimTime += int64(dt)
	return r.w.Publish(&m, items)
}

// Commands are the commands of the process's own ops taken so far.
func (r *Region) Commands() []engine.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Command(nil), r.cmds...)
}

// Meta is region i of n regions of a world width×height px (the strip
// [width·i/n, width·(i+1)/n)), with owned bodies and the outboxes' sizes;
// handover numbers are left to the caller.
func Meta(i, n int, width, height float32, owned, outLeft, outRight int) physics.Meta {
	p := physics.DefaultParams()
	p.Width, p.Height = width, height
	return physics.Meta{Params: p, Region: physics.Region{World: 7, Index: uint32(i), Count: uint32(n),
		Owned: uint32(owned), OutLeft: uint32(outLeft), OutRight: uint32(outRight),
		Lo: width * float32(i) / float32(n), Hi: width * float32(i+1) / float32(n)}}
}

// Bodies are n bodies with ids from id, spread over x in [x0, x1) at y.
func Bodies(id uint32, n int, x0, x1, y float32) []physics.Body {
	bs := make([]physics.Body, n)
	for k := range bs {
		bs[k] = physics.Body{ID: id + uint32(k), X: x0 + (x1-x0)*(float32(k)+0.5)/float32(n), Y: y, R: 4, Mass: 16}
	}
	return bs
}
