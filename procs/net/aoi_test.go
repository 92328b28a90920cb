package netproc

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world/worldtest"
)

// startRegions publishes a world of two regions, 2000×720 px: region 0
// owns ids 1..100 over x in [0, 1000), region 1 ids 101..200 over
// [1000, 2000), all at y 360; and runs net reading both.
func startRegions(t *testing.T) *game {
	t.Helper()
	g := &game{name: proctest.Name(t)}
	for i := range 2 {
		r := worldtest.Start(t, fmt.Sprintf("%s.physics-%d", g.name, i))
		r.Publish(t, worldtest.Meta(i, 2, 2000, 720, 100, 0, 0),
			worldtest.Bodies(uint32(1+100*i), 100, 1000*float32(i), 1000*float32(i+1), 360))
	}
	g.startNet(t, "127.0.0.1:0", "regions=2")
	return g
}

// bodiesWithin waits for a snapshot from c whose bodies are exactly those
// with x in [x0, x1).
func bodiesWithin(t *testing.T, ctx context.Context, c *Client, x0, x1 float32) {
	t.Helper()
	var want []uint32
	for k := range 200 {
		if x := 10*float32(k) + 5; x >= x0 && x < x1 {
			want = append(want, uint32(k+1))
		}
	}
	var got []uint32
	proctest.Eventually(t, 20*time.Second, fmt.Sprintf("the bodies with x in [%v, %v)", x0, x1), func() bool {
		s, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Width != 2000 || s.Height != 720 {
			t.Fatalf("world %v×%v, want 2000×720", s.Width, s.Height)
		}
		got = got[:0]
		for _, b := range s.Bodies {
			got = append(got, b.ID)
		}
		return slices.Equal(got, want)
	})
}

// A player that never says its view gets the whole world of both regions
// (within MaxWholeBodies); a player with a small view gets only the bodies
// in it, widened by ViewMargin, and another set when it moves its view.
func TestViewAreaOfInterest(t *testing.T) {
	g := startRegions(t)
	ctx := proctest.Context(t, 60*time.Second)
	whole := dial(t, ctx, g.url, "whole")
	bodiesWithin(t, ctx, whole, 0, 2000)

	small := dial(t, ctx, g.url, "small")
	if err := small.View(View{X: 900, Y: 0, W: 200, H: 720}); err != nil {
		t.Fatal(err)
	}
	bodiesWithin(t, ctx, small, 900-ViewMargin, 1100+ViewMargin) // across the border: both regions
	if err := small.View(View{X: 1500, Y: 300, W: 100, H: 100}); err != nil {
		t.Fatal(err)
	}
	bodiesWithin(t, ctx, small, 1500-ViewMargin, 1600+ViewMargin)
	if err := small.View(View{X: 0, Y: 0, W: 300, H: 100}); err != nil { // y 360 is beyond 100+margin
		t.Fatal(err)
	}
	bodiesWithin(t, ctx, small, 0, 0)
	bodiesWithin(t, ctx, whole, 0, 2000)
}

// A view message that is not a view closes that connection with a reason
// naming what is wrong; a player beside it plays on.
func TestHostileViews(t *testing.T) {
	g := startRegions(t)
	ctx := proctest.Context(t, 60*time.Second)
	good := dial(t, ctx, g.url, "good")
	receiving(t, ctx, good)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"nan", AppendView(nil, View{X: nan, W: 10, H: 10}), "not finite"},
		{"inf size", AppendView(nil, View{W: inf, H: 10}), "not finite"},
		{"negative size", AppendView(nil, View{X: 10, W: -5, H: 10}), "want both > 0"},
		{"zero width", AppendView(nil, View{X: 10, W: 0, H: 10}), "want both > 0"},
		{"huge", AppendView(nil, View{W: 1e9, H: 10}), "at most"},
		{"far away", AppendView(nil, View{X: -1e7, W: 10, H: 10}), "within ±"},
		{"short", AppendView(nil, View{W: 10, H: 10})[:9], "view: 9 bytes, want 17"},
		{"long", append(AppendView(nil, View{W: 10, H: 10}), 0), "view: 18 bytes, want 17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := rawJoin(t, ctx, g.url)
			if err := ws.Write(ctx, websocket.MessageBinary, tc.frame); err != nil {
				t.Fatal(err)
			}
			reason := closedWith(t, ctx, ws, websocket.StatusPolicyViolation)
			if !strings.Contains(reason, tc.reason) {
				t.Fatalf("closed with %q, want %q in it", reason, tc.reason)
			}
			receiving(t, ctx, good)
		})
	}
	// The Go client refuses to send them.
	if err := good.View(View{X: nan, W: 1, H: 1}); err == nil {
		t.Fatal("Client.View took a NaN view")
	}
}

// A world within MaxWholeBodies that a view covers is sent whole, as
// before views; one a view does not cover, or with more bodies, is cut.
func TestViewCovers(t *testing.T) {
	s := &Snapshot{Width: 1280, Height: 720}
	for i := range MaxWholeBodies {
		s.Bodies = append(s.Bodies, Body{ID: uint32(i + 1), X: Fixed(float32(i%1280), Subpixel), Y: Fixed(float32(i%720), Subpixel)})
	}
	for _, tc := range []struct {
		v     View
		whole bool
	}{
		{View{}, true},
		{View{X: 0, Y: 0, W: 1280, H: 720}, true},
		{View{X: -30, Y: 10, W: 1300, H: 700}, true}, // within the margin
		{View{X: 100, Y: 0, W: 1280, H: 720}, false},
	} {
		got := newOutgoing(1, s).view(tc.v)
		if (got == s) != tc.whole {
			t.Errorf("view %+v: whole %v, want %v", tc.v, got == s, tc.whole)
		}
		if !tc.whole && len(got.Bodies) > MaxViewBodies {
			t.Errorf("view %+v: %d bodies, over MaxViewBodies", tc.v, len(got.Bodies))
		}
	}
	s.Bodies = append(s.Bodies, Body{ID: MaxWholeBodies + 1})
	if got := newOutgoing(1, s).view(View{}); len(got.Bodies) != MaxViewBodies {
		t.Errorf("a world of %d: %d bodies sent, want MaxViewBodies", len(s.Bodies), len(got.Bodies))
	}
}

// ParseClientMessage's view: the values back as sent, every byte checked.
func TestParseView(t *testing.T) {
	v := View{X: -20, Y: 5.5, W: 1280, H: 720}
	m, err := ParseClientMessage(AppendView(nil, v))
	if err != nil || !m.HasView || m.View != v {
		t.Fatalf("parse %+v: %+v %v", v, m, err)
	}
	if err := (View{}).Check(); err != nil {
		t.Fatalf("the zero view (the whole world): %v", err)
	}
}

// inView on a large world: only bodies in the view and its margin, in ID
// order, at most MaxViewBodies, the nearest the view's centre.
func TestInViewCap(t *testing.T) {
	const n = 100000
	bodies := make([]Body, n)
	for i := range bodies { // a 12,800 × 720 world, ids in a scattered x order
		x := float32((i*7919)%12800) + 0.5
		y := float32((i*104729)%720) + 0.5
		bodies[i] = Body{ID: uint32(i + 1), X: Fixed(x, Subpixel), Y: Fixed(y, Subpixel), R: Fixed(4, Subpixel)}
	}
	idx := indexColumns(bodies, 12800)
	small := View{X: 6000, Y: 100, W: 100, H: 100}
	got := inView(bodies, idx, small, 12800, 720)
	want := 0
	for _, b := range bodies {
		if x, y := px(b.X), px(b.Y); x >= 6000-ViewMargin && x < 6100+ViewMargin && y >= 100-ViewMargin && y < 200+ViewMargin {
			want++
		}
	}
	if len(got) != want || want == 0 {
		t.Fatalf("%d bodies in a small view, want %d", len(got), want)
	}
	big := inView(bodies, idx, View{X: 0, Y: 0, W: 12800, H: 720}, 12800, 720)
	if len(big) != MaxViewBodies {
		t.Fatalf("%d bodies in the whole world's view, want the cap %d", len(big), MaxViewBodies)
	}
	var far float32
	for i, b := range big {
		if i > 0 && b.ID <= big[i-1].ID {
			t.Fatal("not in ID order")
		}
		far = max(far, float32(math.Abs(float64(px(b.X)-6400))))
	}
	if far > 2000 {
		t.Errorf("a body %v px from the centre of the view among the %d nearest", far, MaxViewBodies)
	}
}

// nearest picks the k nearest, as a sort by distance (then index) would.
func TestNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n := 1 + rng.IntN(300)
		bs := make([]nearBody, n)
		for i := range bs {
			bs[i] = nearBody{float32(rng.IntN(50)), int32(i)} // many ties
		}
		if round%3 == 0 {
			slices.SortFunc(bs, func(a, b nearBody) int { return cmp.Compare(a.d2, b.d2) }) // sorted input
		}
		k := 1 + rng.IntN(n)
		want := slices.Clone(bs)
		slices.SortFunc(want, func(a, b nearBody) int {
			if a.less(b) {
				return -1
			}
			return 1
		})
		nearest(bs, k)
		got := slices.Clone(bs[:k])
		slices.SortFunc(got, func(a, b nearBody) int { return cmp.Compare(a.i, b.i) })
		w := slices.Clone(want[:k])
		slices.SortFunc(w, func(a, b nearBody) int { return cmp.Compare(a.i, b.i) })
		if !slices.Equal(got, w) {
			t.Fatalf("round %d: n %d k %d: got %v, want %v", round, n, k, got, w)
		}
	}
}

// mergeRuns merges regions' runs whose ids interleave into one run in ID
// order, a body in two runs (a handover instant) once.
func TestMergeRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var scratch []Body
	for round := range 100 {
		var runs [][]Body
		var all []uint32
		for range rng.IntN(10) {
			var run []Body
			for range rng.IntN(200) {
				id := uint32(1 + rng.IntN(1000))
				run = append(run, Body{ID: id, X: int32(id)})
			}
			run = inIDOrder(run, func(b Body) uint32 { return b.ID })
			for _, b := range run {
				all = append(all, b.ID)
			}
			runs = append(runs, run)
		}
		slices.Sort(all)
		all = slices.Compact(all)
		got := mergeRuns(runs, &scratch)
		var ids []uint32
		for _, b := range got {
			ids = append(ids, b.ID)
			if b.X != int32(b.ID) {
				t.Fatalf("round %d: body %d carries another's values", round, b.ID)
			}
		}
		if !slices.Equal(ids, all) {
			t.Fatalf("round %d: %d runs merged to %d ids, want %d", round, len(runs), len(ids), len(all))
		}
	}
}

// A player's explosion reaches every region, each on its own: a region
// that is not there yet gets it when it comes, once, and the region that
// took it at once never gets it twice.
func TestInputWaitsForEachRegion(t *testing.T) {
	g := &game{name: proctest.Name(t)}
	r0 := worldtest.Start(t, g.name+".physics-0")
	r0.Publish(t, worldtest.Meta(0, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(1, 100, 0, 1000, 360))
	g.startNet(t, "127.0.0.1:0", "regions=2")
	ctx := proctest.Context(t, 60*time.Second)
	p := dial(t, ctx, g.url, "bomber")
	receiving(t, ctx, p)
	if err := p.Input(Input{HasCursor: true, Cursor: [2]float32{500, 360}, Explode: true}); err != nil {
		t.Fatal(err)
	}
	explosions := func(r *worldtest.Region) int {
		n := 0
		for _, c := range r.Commands() {
			if c.Op == physics.OpExplode {
				n++
			}
		}
		return n
	}
	proctest.Eventually(t, 20*time.Second, "region 0 exploded", func() bool {
		r0.Publish(t, worldtest.Meta(0, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(1, 100, 0, 1000, 360))
		return explosions(r0) > 0
	})
	r1 := worldtest.Start(t, g.name+".physics-1")
	proctest.Eventually(t, 20*time.Second, "region 1, back, exploded", func() bool {
		r0.Publish(t, worldtest.Meta(0, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(1, 100, 0, 1000, 360))
		r1.Publish(t, worldtest.Meta(1, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(101, 100, 1000, 2000, 360))
		return explosions(r1) > 0
	})
	// Net counts every command it sent a region: one explosion to each
	// is two, and nothing more is ever sent (a region that took it is
	// not sent it again).
	nc, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	proctest.Eventually(t, 20*time.Second, "net's count of commands sent", func() bool {
		return nc.Read(&f) == nil && f.Meta.Forwarded >= 2
	})
	r0.Publish(t, worldtest.Meta(0, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(1, 100, 0, 1000, 360))
	r1.Publish(t, worldtest.Meta(1, 2, 2000, 720, 100, 0, 0), worldtest.Bodies(101, 100, 1000, 2000, 360))
	if n0, n1, sent := explosions(r0), explosions(r1), f.Meta.Forwarded; n0 != 1 || n1 != 1 || sent != 2 {
		t.Fatalf("explosions taken: region 0 %d, region 1 %d, net sent %d; want 1 each, 2 sent", n0, n1, sent)
	}
}
