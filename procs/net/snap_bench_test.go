package netproc

import (
	"context"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
)

// BenchmarkSnapshot100k: net's read of a world of 100,000 bodies in 8
// regions into one snapshot (every region's bodies merged in ID order),
// and a 1280×720 view's filter of it.
func BenchmarkSnapshot100k(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chans := aoiWorld(b, ctx, proctest.Name(b), 12800, 8, 100000)
	p := New(Options{Regions: chans})
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			p.snapshot()
		}
	})
	s := p.snapshot()
	b.Run("view", func(b *testing.B) {
		for b.Loop() {
			o := newOutgoing(1, s)
			o.view(View{X: 6000, W: 1280, H: 720})
		}
	})
}
