package netproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
)

// Meta is the net process's scalar state, published with the players.
type Meta struct {
	Players       uint32 // players connected now
	MaxPlayers    uint32
	NextID        uint32 // id of the next player; ids are never reused, even across restarts
	_             uint32
	Joined        uint64 // players that joined since the world began
	Refused       uint64 // connections refused: server full
	Kicked        uint64 // connections closed for a protocol violation
	InputsDropped uint64 // inputs over the rate limit or the queue
	Forwarded     uint64 // commands sent to physics
}

// Player is one connected player as the net slice publishes it.
type Player struct {
	ID       uint32
	Color    uint32 // 0xRRGGBB
	Name     [MaxName]byte
	CursorX  float32
	CursorY  float32
	RTTNanos int64 // round-trip time of the last ping
	Inputs   uint64
	Dropped  uint64 // inputs of this player dropped by the rate limit
}

// NameString is the player's name.
func (p *Player) NameString() string {
	n := 0
	for n < len(p.Name) && p.Name[n] != 0 {
		n++
	}
	return string(p.Name[:n])
}

// Slice is the shape of the net channel's snapshots.
var Slice = engine.MustSlice[Meta, Player]()

// Commands net sends to physics for a player's input.
const (
	SpawnCount       = 10  // bodies of one spawn
	ExplodeRadius    = 200 // px
	ExplodeStrength  = 600 // px/s
	inputQueue       = 1024
	joinTimeout      = 5 * time.Second
	writeTimeout     = 5 * time.Second
	pingInterval     = time.Second
	sentHistory      = 64 // snapshots a connection remembers as delta bases
	physicsStaleTick = 20 // net ticks without a new physics tick: physics is down
)

// Options configure the net process.
type Options struct {
	Channel    string // the net channel, "<instance>.net"
	Physics    string // the physics channel
	Addr       string // listen address (default 127.0.0.1:7777)
	MaxPlayers int    // default MaxPlayers
	Rate       int    // ticks, and so snapshots sent, per second (default 20)
	Fresh      bool
	Log        *slog.Logger
	OnListen   func(addr string) // called with the bound address
}

type inputEvent struct {
	player uint32
	in     Input
}

// Proc is the net process: an engine.Proc that owns the WebSocket server.
type Proc struct {
	o      Options
	inputs chan inputEvent

	mu    sync.Mutex
	meta  Meta
	conns map[uint32]*conn
	slots int // connections accepted and not yet gone, joined or not

	phys    *engine.Client[physics.Params, physics.Body]
	frame   engine.Frame[physics.Params, physics.Body]
	retry   time.Time
	lastPT  uint64
	stale   int
	tick    uint64
	bodies  []Body
	players []Player
}

// New makes the net process; Run serves it.
func New(o Options) *Proc {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:7777"
	}
	if o.MaxPlayers <= 0 {
		o.MaxPlayers = MaxPlayers
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Proc{o: o, inputs: make(chan inputEvent, inputQueue), conns: map[uint32]*conn{}}
}

// Restore keeps the counters of the last snapshot. Players are connections:
// they were lost with the previous process and reconnect by themselves.
func (p *Proc) Restore(f *engine.Frame[Meta, Player]) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.meta = Meta{MaxPlayers: uint32(p.o.MaxPlayers), NextID: 1}
	if f != nil {
		p.meta = f.Meta
		p.meta.Players, p.meta.MaxPlayers = 0, uint32(p.o.MaxPlayers)
		p.meta.NextID = max(p.meta.NextID, 1)
		p.tick = f.Tick
	}
	return nil
}

// Handle refuses every command: net has none of its own yet.
func (p *Proc) Handle(c engine.Command) error {
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step forwards the queued input to physics, reads physics and sends every
// connection the new snapshot.
func (p *Proc) Step(time.Duration) {
	p.tick++
	p.connectPhysics()
	for range inputQueue {
		var ev inputEvent
		select {
		case ev = <-p.inputs:
		default:
		}
		if ev.player == 0 {
			break
		}
		p.forward(ev)
	}
	s := &Snapshot{Tick: p.tick}
	if bodies, params, pt := p.readPhysics(); bodies != nil {
		s.PhysicsTick, s.Width, s.Height = pt, params.Width, params.Height
		p.bodies = p.bodies[:0]
		for _, b := range bodies {
			p.bodies = append(p.bodies, Body{ID: b.ID, Flags: b.Flags, X: b.X, Y: b.Y, VX: b.VX, VY: b.VY, R: b.R})
		}
		slices.SortFunc(p.bodies, func(a, b Body) int { return int(int64(a.ID) - int64(b.ID)) })
		s.Bodies = slices.Clone(p.bodies)
	}
	p.mu.Lock()
	for _, c := range p.conns {
		s.Players = append(s.Players, PlayerState{ID: c.p.ID, Name: c.p.NameString(), Color: c.p.Color,
			Cursor: [2]float32{c.p.CursorX, c.p.CursorY}, RTTNano: c.p.RTTNanos})
	}
	slices.SortFunc(s.Players, func(a, b PlayerState) int { return int(int64(a.ID) - int64(b.ID)) })
	for _, c := range p.conns {
		c.offer(s)
	}
	p.mu.Unlock()
}

func (p *Proc) connectPhysics() {
	if p.phys != nil || p.o.Physics == "" || time.Now().Before(p.retry) {
		return
	}
	c, err := engine.Connect(p.o.Physics, physics.Slice)
	if err != nil {
		p.retry = time.Now().Add(500 * time.Millisecond)
		return
	}
	p.phys = c
}

func (p *Proc) forward(ev inputEvent) {
	if p.phys == nil {
		return // physics down: the input is lost, as a dropped packet would be
	}
	x, y := float64(ev.in.Cursor[0]), float64(ev.in.Cursor[1])
	var err error
	if ev.in.Spawn {
		err = errors.Join(err, p.phys.Send(engine.Cmd(physics.OpSpawnBurst, x, y, SpawnCount)))
		p.mu.Lock()
		p.meta.Forwarded++
		p.mu.Unlock()
	}
	if ev.in.Explode {
		err = errors.Join(err, p.phys.Send(engine.Cmd(physics.OpExplode, x, y, ExplodeRadius, ExplodeStrength)))
		p.mu.Lock()
		p.meta.Forwarded++
		p.mu.Unlock()
	}
	if err != nil {
		p.o.Log.Debug("input not forwarded", "player", ev.player, "err", err)
	}
}

func (p *Proc) readPhysics() ([]physics.Body, physics.Params, uint64) {
	if p.phys == nil || p.phys.Read(&p.frame) != nil {
		return nil, physics.Params{}, 0
	}
	if p.frame.Tick == p.lastPT {
		if p.stale++; p.stale > physicsStaleTick {
			return nil, physics.Params{}, 0
		}
	} else {
		p.lastPT, p.stale = p.frame.Tick, 0
	}
	return p.frame.Items, p.frame.Meta, p.frame.Tick
}

// Snapshot publishes the counters and the players.
func (p *Proc) Snapshot(m *Meta, items []Player) []Player {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.meta.Players = uint32(len(p.conns))
	*m = p.meta
	start := len(items)
	for _, c := range p.conns {
		items = append(items, c.p)
	}
	slices.SortFunc(items[start:], func(a, b Player) int { return int(int64(a.ID) - int64(b.ID)) })
	return items
}

// Close lets go of the physics channel.
func (p *Proc) Close() {
	if p.phys != nil {
		p.phys.Close()
	}
}

// Run runs the net process until ctx ends: the WebSocket server (which
// keeps retrying while its address is taken) and the engine loop.
func Run(ctx context.Context, o Options) error {
	p := New(o)
	defer p.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.serve(ctx) })
	err := engine.Run(ctx, Slice, p, engine.Options{Channel: p.o.Channel, Rate: p.o.Rate, Fresh: p.o.Fresh,
		DataSize: max(Slice.Size(p.o.MaxPlayers), 4096), Log: p.o.Log})
	cancel()
	wg.Wait()
	return err
}

// serve listens (retrying with backoff while the address is taken) and
// serves WebSocket connections until ctx ends.
func (p *Proc) serve(ctx context.Context) {
	var ln net.Listener
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", p.o.Addr)
		if err == nil {
			break
		}
		p.o.Log.Warn("net: cannot listen, retrying", "addr", p.o.Addr, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	p.o.Log.Info("net: listening", "addr", ln.Addr().String())
	if p.o.OnListen != nil {
		p.o.OnListen(ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.accept(ctx, w, r) }),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.o.Log.Warn("net: serve", "err", err)
	}
}
