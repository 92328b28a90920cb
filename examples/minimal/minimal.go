// Package minimal is the least a game on venomrt needs, declared on
// engine/game: "herd", grazers walking a line (command spawn N, refused
// with the reason when the herd is full); "hunter", which follows the
// herd and catches grazers; and a headless renderer. A catch is the
// hunter's event: only the hunter counts it, numbering each. The herd
// follows the hunter's slice and removes the grazer once, keyed by the
// catch number it records in its own snapshot, so a restart of either
// neither misses a catch nor applies one twice.
package minimal

import (
	"context"
	"flag"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
)

// The world's limits and the herd's command.
const (
	Width      = 100.0         // the line the grazers walk, 0..Width
	MaxGrazers = 32            // grazers the herd holds
	Pending    = 8             // catches the hunter makes ahead of the herd at most
	OpSpawn    = engine.OpUser // spawn N grazers
)

// Grazer is an item of the herd's slice: X on the line, V per second.
type Grazer struct {
	ID, _ uint32
	X, V  float64
}

// HerdMeta is the herd's process-wide state. LastCatch, the highest
// catch number applied, is the herd's record of the hunter's events.
type HerdMeta struct {
	NextID, Caught uint32 // grazers ever spawned, grazers caught
	LastCatch      uint64
}

// Catch is an item of the hunter's slice: a catch numbered N, which the
// herd has not applied yet as far as the hunter has seen.
type Catch struct {
	N         uint64
	Grazer, _ uint32
}

// HunterMeta is the hunter's process-wide state: its ticks, and the
// catches it made (the newest catch's number).
type HunterMeta struct{ Ticks, Catches uint64 }

// The schemas of the slices: the herd's, the hunter's, the renderer's
// (its meta the grazers it saw; Header.Tick counts its frames).
var (
	HerdSchema   = engine.MustSchema[HerdMeta, Grazer]()
	HunterSchema = engine.MustSchema[HunterMeta, Catch]()
	RenderSchema = engine.MustSchema[uint64, uint64]()
)

// Herd is the herd's engine.Sim.
type Herd struct {
	N      int // grazers in a fresh herd
	hunter *engine.Follower[HunterMeta, Catch]
	m      HerdMeta
	g      []Grazer
}

// Restore starts a fresh herd (f nil) or checks and takes a snapshot.
func (h *Herd) Restore(f *engine.Frame[HerdMeta, Grazer]) error {
	if f == nil {
		h.m, h.g = HerdMeta{}, nil
		return h.spawn(h.N)
	}
	if len(f.Items) > MaxGrazers || int(f.Meta.NextID) != len(f.Items)+int(f.Meta.Caught) {
		return fmt.Errorf("minimal: herd of %d grazers, %d spawned, %d caught", len(f.Items), f.Meta.NextID, f.Meta.Caught)
	}
	h.m, h.g = f.Meta, append([]Grazer(nil), f.Items...)
	return nil
}

func (h *Herd) spawn(n int) error {
	if len(h.g)+n > MaxGrazers {
		return fmt.Errorf("%w: herd full: %d grazers, room for %d more", engine.ErrBadArg, len(h.g), MaxGrazers-len(h.g))
	}
	for range n {
		id := h.m.NextID
		h.m.NextID++
		h.g = append(h.g, Grazer{ID: id, X: float64(id*37%100) * Width / 100, V: float64(id%5) - 2})
	}
	return nil
}

// Handle applies spawn N; its error refuses the command, and a sender
// that asks receives the error's text.
func (h *Herd) Handle(c engine.Command) error {
	if c.Op != OpSpawn || c.Argc != 1 {
		return fmt.Errorf("%w: the herd takes spawn N", engine.ErrUnknownOp)
	}
	if n := c.Args[0]; n < 1 || n != math.Trunc(n) || n > MaxGrazers {
		return fmt.Errorf("%w: spawn %v: want a whole number of grazers, 1..%d", engine.ErrBadArg, n, MaxGrazers)
	}
	return h.spawn(int(c.Args[0]))
}

// Step applies the hunter's catches it has not applied yet, in order
// (a catch's grazer is removed once, by its number), then walks the
// grazers.
func (h *Herd) Step(dt time.Duration) {
	if h.hunter.Poll(); h.hunter.Have() {
		for _, c := range h.hunter.Cur.Items {
			if c.N == h.m.LastCatch+1 { // else applied already, or not the next yet
				n := len(h.g)
				h.g = slices.DeleteFunc(h.g, func(g Grazer) bool { return g.ID == c.Grazer })
				h.m.LastCatch, h.m.Caught = c.N, h.m.Caught+uint32(n-len(h.g))
			}
		}
	}
	for i := range h.g {
		h.g[i].X = math.Mod(h.g[i].X+h.g[i].V*dt.Seconds()+Width, Width) // a ring
	}
}

// Snapshot is the herd's whole state.
func (h *Herd) Snapshot(m *HerdMeta, items []Grazer) []Grazer {
	*m = h.m
	return append(items, h.g...)
}

// Hunter is the hunter's engine.Sim.
type Hunter struct {
	herd    *engine.Follower[HerdMeta, Grazer]
	m       HunterMeta
	pending []Catch
}

// Restore starts a fresh hunter (f nil) or checks and takes a snapshot.
func (u *Hunter) Restore(f *engine.Frame[HunterMeta, Catch]) error {
	if f == nil {
		u.m, u.pending = HunterMeta{}, nil
		return nil
	}
	if len(f.Items) > Pending {
		return fmt.Errorf("minimal: hunter of %d catches pending", len(f.Items))
	}
	u.m, u.pending = f.Meta, append([]Catch(nil), f.Items...)
	return nil
}

// Handle refuses every command: the hunter takes none.
func (u *Hunter) Handle(engine.Command) error {
	return fmt.Errorf("%w: the hunter takes no commands", engine.ErrUnknownOp)
}

// Step forgets the catches the herd has applied, then, once a second,
// catches the first grazer of the herd's newest snapshot not caught yet.
func (u *Hunter) Step(time.Duration) {
	if u.m.Ticks++; u.herd.Poll() == engine.FollowWaiting || u.m.Ticks%30 != 0 {
		return
	}
	herd := &u.herd.Cur
	u.pending = slices.DeleteFunc(u.pending, func(c Catch) bool { return c.N <= herd.Meta.LastCatch })
	for _, g := range herd.Items {
		if len(u.pending) < Pending && !slices.ContainsFunc(u.pending, func(c Catch) bool { return c.Grazer == g.ID }) {
			u.m.Catches++
			u.pending = append(u.pending, Catch{N: u.m.Catches, Grazer: g.ID})
			return // (a herd Pending catches behind, down perhaps, gets no more)
		}
	}
}

// Snapshot is the hunter's whole state.
func (u *Hunter) Snapshot(m *HunterMeta, items []Catch) []Catch {
	*m = u.m
	return append(items, u.pending...)
}

// Render is the headless renderer: 30 times a second it follows both
// slices and publishes a frame on its own channel (engine.Own: the
// supervisor sees its heartbeat, the engine's faults reach it); once a
// second it prints what it sees.
func Render(ctx context.Context, env game.Env) error {
	w, err := engine.Own(ctx, RenderSchema, engine.OwnOptions[uint64, uint64]{Channel: env.Channel(game.RenderName), Log: env.Log})
	if err != nil {
		return err
	}
	defer w.Close()
	herd := engine.Follow(env.Channel("herd"), HerdSchema, engine.FollowOptions{})
	hunter := engine.Follow(env.Channel("hunter"), HunterSchema, engine.FollowOptions{})
	frame := time.NewTicker(time.Second / 30)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-frame.C:
		}
		start := time.Now()
		herd.Poll()
		hunter.Poll()
		w.Poll() // commands to the renderer: the engine's faults
		w.Header().Tick++
		w.Header().StepNanos = uint64(time.Since(start)) // the frame's time: its counters' tick time
		grazers := uint64(len(herd.Cur.Items))
		if err := w.Publish(&grazers, nil); err != nil {
			return err
		}
		if n := w.Header().Tick; n%30 == 0 {
			fmt.Fprintf(env.Out, "frame %d | herd %s: %d grazers, %d caught | hunter %s: %d catches\n", n,
				herd.State(), grazers, herd.Cur.Meta.Caught, hunter.State(), hunter.Cur.Meta.Catches)
		}
	}
}

// Game declares the game: herd, hunter, the renderer, the --grazers
// flag and the chaos tool. The program's main is Game().Main(os.Args).
func Game() *game.Game {
	var grazers int
	g := game.New("minimal")
	g.Flags(func(fs *flag.FlagSet) { fs.IntVar(&grazers, "grazers", 8, "grazers in a fresh herd") })
	g.Prepare(func(string, *flag.FlagSet) error {
		if grazers < 0 || grazers > MaxGrazers {
			return fmt.Errorf("--grazers %d, want 0..%d", grazers, MaxGrazers)
		}
		return nil
	})
	herd := game.Sim("herd", func(env game.Env) (engine.Sim[HerdMeta, Grazer], error) {
		return &Herd{N: grazers, hunter: engine.Follow(env.Channel("hunter"), HunterSchema, engine.FollowOptions{})}, nil
	}, engine.Options{Rate: 30})
	herd.Ops = []game.Op{{Name: "spawn", Op: OpSpawn, Doc: "N: add N grazers (refused when the herd is full)"}} // minimal send herd spawn N
	g.Add(herd, game.Sim("hunter", func(env game.Env) (engine.Sim[HunterMeta, Catch], error) {
		return &Hunter{herd: engine.Follow(env.Channel("herd"), HerdSchema, engine.FollowOptions{})}, nil
	}, engine.Options{Rate: 30}))
	g.Render(game.Renderer{Headless: Render})
	g.Use(chaos.Tool()) // minimal chaos: the game under random faults
	return g
}
