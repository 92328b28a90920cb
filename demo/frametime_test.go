package demo_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// The renderer's counters count frames with their time: a frame timed by
// the window (Session.FrameTime) is that long, one not timed (headless)
// is its read of the slices; a frame over 1/60 s is a deadline miss. So
// the renderer's tick-time histogram in top and /metrics is its frame
// time, not a row of zeros.
func TestRendererFrameTime(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	s, err := demo.Open(context.Background(), demo.Options{Instance: inst, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh, err := venom.Connect(demo.RenderChannel(inst))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	buf := make([]byte, sh.Config().DataSize)
	counters := func() engine.Counters {
		t.Helper()
		n, _, err := sh.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		h, err := engine.PeekCounters(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return h.Counters
	}
	// Timed frames: 3 ms each (the 2.5-5 ms bucket), and one of 20 ms, a miss.
	for _, d := range []time.Duration{3 * time.Millisecond, 3 * time.Millisecond, 20 * time.Millisecond} {
		s.Reader.Frame()
		s.FrameTime(d)
		s.Publish(demo.RenderMeta{})
	}
	c := counters()
	if c.Ticks != 3 || c.TickNanos != uint64(26*time.Millisecond) || c.Hist[7] != 2 || c.Misses != 1 {
		t.Fatalf("after frames of 3, 3 and 20 ms: %d frames, %v in all, hist %v, %d misses", c.Ticks, time.Duration(c.TickNanos), c.Hist, c.Misses)
	}
	// An untimed frame is its read.
	s.Reader.Frame()
	s.Publish(demo.RenderMeta{})
	if c2 := counters(); c2.Ticks != 4 || c2.TickNanos-c.TickNanos != uint64(s.Reader.ReadNanos) || s.Reader.ReadNanos <= 0 {
		t.Fatalf("an untimed frame counted %v, its read took %v", time.Duration(c2.TickNanos-c.TickNanos), time.Duration(s.Reader.ReadNanos))
	}
}
