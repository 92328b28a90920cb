package netproc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/procs/ai"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world"
	"github.com/venomrt/venomrt/venom"
)

// Meta is the net process's scalar state, published with the players.
type Meta struct {
	Players       uint32 // players connected now
	MaxPlayers    uint32
	NextID        uint32 // id of the next player; ids are never reused, even across restarts
	Pending       uint32 // connections now open that are not players (their request not yet whole, or page fetches)
	Joined        uint64 // players that joined since the world began
	Refused       uint64 // joins refused: server full
	Kicked        uint64 // connections closed for a protocol violation (bad join, bad message)
	InputsDropped uint64 // inputs over the rate limit or the queue
	Forwarded     uint64 // commands sent to physics (one to N regions counts N)
	Limited       uint64 // connections refused by the per-address limits
	Evicted       uint64 // pending connections closed to make room for newer ones
	BytesSent     uint64 // payload bytes of the messages written to players (welcomes, snapshots), since the world began
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

// Schema is the shape of the net channel's snapshots.
var Schema = engine.MustSchema[Meta, Player]()

// Commands net sends to physics for a player's input.
const (
	SpawnCount      = 10  // bodies of one spawn
	ExplodeRadius   = 200 // px
	ExplodeStrength = 600 // px/s
)

const (
	inputQueue     = 1024 // commands waiting for physics; older ones are dropped beyond it
	writeTimeout   = 5 * time.Second
	pingInterval   = time.Second
	maxMissedPings = 4  // pings in a row (each waits 2 s) a player may leave unanswered
	sentHistory    = 64 // snapshots kept as delta bases
)

// Options configure the net process.
type Options struct {
	Channel string // the net channel, "<instance>.net"
	Physics string // the physics channel: bodies, and where input goes
	// Regions, when set, are the channels of physics's regions, region
	// i's at i (game.Env.Members("physics")), read as one world (package
	// world) instead of Physics; a player's input goes to the region(s)
	// it touches.
	Regions    []string
	AI         string     // the ai channel: agents ("" for none)
	Status     string     // the supervisor's status channel: children ("" for none)
	Addr       string     // listen address (default 127.0.0.1:7777)
	MaxPlayers int        // default MaxPlayers
	MaxPending int        // connections that are not players yet (default DefaultMaxPending)
	AddrLimits AddrLimits // per remote address, beyond loopback (zero: the defaults)
	Rate       int        // net's ticks per second: input is forwarded every tick (default 60)
	SendRate   int        // snapshots sent per second (default 20; at most Rate)
	Fresh      bool
	Log        *slog.Logger
	OnListen   func(addr string) // called with the bound address
}

// outgoing is one snapshot as sent, numbered for every connection alike:
// the whole world, of which each player is sent what its view holds
// (area of interest). Its views and encodings are cached: the connections
// with the same view that acknowledged the same snapshot (with the same
// view) share one delta and one encoding.
type outgoing struct {
	seq uint64
	s   *Snapshot
	mu  sync.Mutex
	enc map[encKey][]byte  // message by base and views
	in  map[View]*Snapshot // the world as a view sees it
	idx *columns           // s's bodies by column, made for the first view that needs it
}

// encKey names an encoding: a delta against snapshot base as a player
// with baseView saw it (base 0: full), for a player with view.
type encKey struct {
	base           uint64
	baseView, view View
}

func newOutgoing(seq uint64, s *Snapshot) *outgoing {
	return &outgoing{seq: seq, s: s, enc: map[encKey][]byte{}, in: map[View]*Snapshot{}}
}

// message is o as a player with view sees it, as a snapshot message: a
// delta against base as the player saw it with baseView (nil: full).
func (o *outgoing) message(base *outgoing, baseView, view View) ([]byte, error) {
	key := encKey{view: view}
	var bs *Snapshot
	if base != nil {
		key.base, key.baseView = base.seq, baseView
		bs = base.view(baseView) // base is older: its lock is never held while o's is taken
	}
	cur := o.view(view)
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.enc[key]; ok {
		return b, nil
	}
	b, err := AppendSnapshot(make([]byte, 0, 1024), o.seq, key.base, bs, cur)
	if err != nil {
		return nil, err
	}
	o.enc[key] = b
	return b, nil
}

// welcome is o as the first message of player id with view: always full
// (the shared full encoding with the player's id in front).
func (o *outgoing) welcome(id uint32, view View) ([]byte, error) {
	full, err := o.message(nil, View{}, view)
	if err != nil {
		return nil, err
	}
	return welcomeFrom(full, id), nil
}

// view is the world of o as a player with view v sees it: o itself when
// the view covers the whole world and it is within MaxWholeBodies, else a
// copy with only the bodies in view (inView), made once per view.
func (o *outgoing) view(v View) *Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.s.Bodies) <= MaxWholeBodies && v.covers(o.s.Width, o.s.Height) {
		return o.s
	}
	if s, ok := o.in[v]; ok {
		return s
	}
	if o.idx == nil {
		o.idx = indexColumns(o.s.Bodies, o.s.Width)
	}
	s := *o.s
	s.Bodies = inView(o.s.Bodies, o.idx, v, o.s.Width, o.s.Height)
	o.in[v] = &s
	return &s
}

// Proc is the net process: an engine.Sim that owns the WebSocket server.
type Proc struct {
	o      Options
	inputs chan engine.Command // from the connections, for physics

	mu      sync.Mutex
	meta    Meta
	sent    atomic.Uint64 // Meta.BytesSent: added to by each connection's writer without the lock
	conns   map[uint32]*conn
	guard   *guard        // set once listening
	closing chan struct{} // refused connections waiting for a close handshake
	hist    [sentHistory]*outgoing
	seq     uint64

	physics *world.Follower // every region of physics (nil: no channel)
	bodies  []physics.Body  // one region's bodies, reused every send
	wire    []Body          // every region's, quantized, each region's run in ID order
	runs    [][]Body        // the runs in wire
	merge   []Body          // mergeRuns' scratch
	ai      *engine.Follower[ai.Params, ai.Agent]
	sup     *engine.Follower[supervisor.Meta, supervisor.ChildStatus]
	// pending is the input each region of physics has not taken yet,
	// oldest first, a queue per region (one when there is no physics):
	// a command to several regions waits for each on its own, so a
	// region that is down gets it when it is back, and one that took it
	// never twice.
	pending [][]engine.Command
	tick    uint64
	sendAcc int
}

// New makes the net process; Run serves it.
func New(o Options) *Proc {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:7777"
	}
	if o.MaxPlayers <= 0 {
		o.MaxPlayers = MaxPlayers
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Rate <= 0 {
		o.Rate = 60
	}
	if o.SendRate <= 0 {
		o.SendRate = 20
	}
	o.SendRate = min(o.SendRate, o.Rate)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Proc{o: o, inputs: make(chan engine.Command, inputQueue), conns: map[uint32]*conn{},
		closing: make(chan struct{}, maxClosing),
		physics: followWorld(o),
		ai:      follow(o.AI, ai.Schema),
		sup:     follow(o.Status, supervisor.StatusSchema),
	}
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
	p.sent.Store(p.meta.BytesSent)
	return nil
}

// Handle refuses every command: net has none of its own yet.
func (p *Proc) Handle(c engine.Command) error {
	return fmt.Errorf("%w: %d", engine.ErrUnknownOp, c.Op)
}

// Step forwards the players' input to physics every tick and, at the send
// rate, reads every slice and offers the snapshot to every connection.
func (p *Proc) Step(time.Duration) {
	p.tick++
	p.forward()
	if p.sendAcc += p.o.SendRate; p.sendAcc < p.o.Rate {
		return
	}
	p.sendAcc -= p.o.Rate
	s := p.snapshot()
	p.mu.Lock()
	for _, c := range p.conns {
		s.Players = append(s.Players, PlayerState{ID: c.p.ID, Name: c.p.NameString(), Color: c.p.Color,
			Cursor: [2]float32{c.p.CursorX, c.p.CursorY}, RTTNano: c.p.RTTNanos})
	}
	slices.SortFunc(s.Players, func(a, b PlayerState) int { return cmp.Compare(a.ID, b.ID) })
	p.seq++
	o := newOutgoing(p.seq, s)
	p.hist[o.seq%sentHistory] = o
	for _, c := range p.conns {
		c.offer(o)
	}
	p.mu.Unlock()
}

// lookup returns the remembered snapshot of seq, or nil.
func (p *Proc) lookup(seq uint64) *outgoing {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.hist[seq%sentHistory]; o != nil && o.seq == seq && seq != 0 {
		return o
	}
	return nil
}

// forward takes the players' input and sends it to physics: each
// command is queued for the region(s) it touches (world.Targets, with the
// regions' newest snapshots), and each region's queue is sent in order
// until that region cannot take more (not connected, its queue full);
// the rest waits for the next tick, up to inputQueue commands a region,
// beyond which the oldest is dropped.
func (p *Proc) forward() {
	if p.pending == nil {
		n := 1
		if p.physics != nil {
			n = max(len(p.physics.Members), 1)
		}
		p.pending = make([][]engine.Command, n)
	}
take: // at most a queue's worth: the players keep sending meanwhile
	for range inputQueue {
		select {
		case c := <-p.inputs:
			p.queueInput(c)
		default:
			break take
		}
	}
	dropped := 0
	for i, q := range p.pending {
		if over := len(q) - inputQueue; over > 0 {
			p.pending[i] = slices.Delete(q, 0, over)
			dropped += over
		}
	}
	sent := 0
	if p.physics != nil {
		for i, m := range p.physics.Members {
			k := 0
			for _, c := range p.pending[i] {
				if err := m.Send(c); err != nil {
					if !errors.Is(err, venom.ErrQueueFull) && !errors.Is(err, engine.ErrNotConnected) {
						p.o.Log.Debug("net: forward to physics", "channel", m.Channel(), "err", err)
					}
					break // behind, restarting or not there yet: the rest waits
				}
				k++
			}
			p.pending[i] = slices.Delete(p.pending[i], 0, k)
			sent += k
		}
	}
	p.mu.Lock()
	p.meta.Forwarded += uint64(sent)
	p.meta.InputsDropped += uint64(dropped)
	p.mu.Unlock()
}

// queueInput puts c in the queue of each region it touches.
func (p *Proc) queueInput(c engine.Command) {
	first, last := 0, 0
	if w := p.physics; w != nil {
		var width float32
		if params, ok := w.Params(); ok {
			width = params.Width
		}
		first, last = world.Targets(c, len(p.pending), width, w.Holder)
	}
	for i := first; i <= last; i++ {
		p.pending[i] = append(p.pending[i], c)
	}
}

// snapshot reads every slice into a new Snapshot. The values come from
// shared memory: they are quantized and put in ID order here, so that a
// bad writer cannot make a delta that does not apply.
func (p *Proc) snapshot() *Snapshot {
	s := &Snapshot{Tick: p.tick}
	if p.physics != nil {
		p.physics.Poll()
	}
	if p.physics != nil && p.physics.Have() {
		// Every region's bodies, one world: the last good snapshot of a
		// region that is down stays (the players see it stand still).
		first := true
		for _, m := range p.physics.Members {
			if m.Have() {
				if first {
					first = false
					s.Width, s.Height = finite(m.Cur.Meta.Width), finite(m.Cur.Meta.Height)
					s.physicsTime = m.Cur.SimTime
				}
				s.PhysicsTick = max(s.PhysicsTick, m.Cur.Tick)
			}
		}
		// Each region's run (its own bodies, then those in flight) is
		// put in ID order by itself — a region's own are already, the
		// rest are few — and the runs merged: the regions' ids
		// interleave, and a merge is cheaper than sorting the world. A
		// body at a handover instant may be in two runs: kept once.
		p.wire, p.runs = p.wire[:0], p.runs[:0]
		for i, m := range p.physics.Members {
			if !m.Have() {
				continue
			}
			cur, left, right := p.physics.Frames(i)
			p.bodies = world.AppendRegion(p.bodies[:0], cur, left, right)
			start := len(p.wire)
			for _, b := range p.bodies {
				p.wire = append(p.wire, Body{ID: b.ID, Flags: b.Flags, X: Fixed(b.X, Subpixel), Y: Fixed(b.Y, Subpixel),
					VX: Fixed(b.VX, 1), VY: Fixed(b.VY, 1), R: Fixed(b.R, Subpixel)})
			}
			p.runs = append(p.runs, inIDOrder(p.wire[start:], func(b Body) uint32 { return b.ID }))
		}
		// Each snapshot owns its bodies: it is kept as a delta base.
		s.Bodies = mergeRuns(p.runs, &p.merge)
	}
	if read(p.ai) {
		f := &p.ai.Cur
		s.AITick, s.aiTime = f.Tick, f.SimTime
		s.Agents = make([]Agent, 0, len(f.Items))
		for _, a := range f.Items {
			s.Agents = append(s.Agents, Agent{ID: a.ID, Kind: uint32(a.Kind), X: Fixed(a.X, Subpixel), Y: Fixed(a.Y, Subpixel),
				VX: Fixed(a.VX, 1), VY: Fixed(a.VY, 1)})
		}
		s.Agents = inIDOrder(s.Agents, func(a Agent) uint32 { return a.ID })
	}
	if read(p.sup) {
		mono := venom.Monotonic()
		for _, c := range p.sup.Cur.Items[:min(len(p.sup.Cur.Items), MaxChildren)] {
			age := int64(-1)
			if c.TickMono != 0 {
				age = mono - c.TickMono
			}
			s.Children = append(s.Children, Child{Name: c.NameString(), State: c.StateName(), Pid: c.Pid,
				Restarts: c.Restarts, Tick: c.Tick, Age: age, Reason: c.ReasonString()})
		}
	}
	return s
}

// mergeRuns merges runs, each in ascending ID order, into a new slice in
// ascending ID order without repeated ids, by pairwise merges (log₂ of
// the runs passes over the bodies); scratch is kept for the next call.
func mergeRuns(runs [][]Body, scratch *[]Body) []Body {
	n := 0
	for _, r := range runs {
		n += len(r)
	}
	out := make([]Body, 0, n)
	switch len(runs) {
	case 0:
		return out
	case 1:
		return append(out, runs[0]...)
	}
	// Merge neighbours pairwise until two runs are left, between the
	// scratch buffer and a second one; the last merge goes to out.
	if cap(*scratch) < 2*n {
		*scratch = make([]Body, 2*n)
	}
	bufs := [2][]Body{(*scratch)[:n], (*scratch)[n : 2*n]}
	for k := 0; len(runs) > 2; k ^= 1 {
		dst := bufs[k][:0]
		next := runs[:0:0]
		for i := 0; i < len(runs); i += 2 {
			start := len(dst)
			if i+1 == len(runs) {
				dst = append(dst, runs[i]...)
			} else {
				dst = mergeTwo(dst, runs[i], runs[i+1])
			}
			next = append(next, dst[start:])
		}
		runs = next
	}
	return mergeTwo(out, runs[0], runs[1])
}

// mergeTwo appends to dst the merge of a and b, each in ascending ID
// order, an id in both once.
func mergeTwo(dst, a, b []Body) []Body {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].ID < b[j].ID:
			dst = append(dst, a[i])
			i++
		case b[j].ID < a[i].ID:
			dst = append(dst, b[j])
			j++
		default:
			dst = append(dst, a[i])
			i, j = i+1, j+1
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}

// inIDOrder sorts items by id and drops repeated ids.
func inIDOrder[T any](items []T, id func(T) uint32) []T {
	by := func(a, b T) int { return cmp.Compare(id(a), id(b)) }
	if !slices.IsSortedFunc(items, by) {
		slices.SortFunc(items, by)
	}
	return slices.CompactFunc(items, func(a, b T) bool { return id(a) == id(b) })
}

func finite(v float32) float32 {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return v
}

// Snapshot publishes the counters and the players.
func (p *Proc) Snapshot(m *Meta, items []Player) []Player {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.meta.Players = uint32(len(p.conns))
	p.meta.BytesSent = p.sent.Load()
	if p.guard != nil {
		p.meta.Pending = uint32(p.guard.pendingNow())
	}
	*m = p.meta
	start := len(items)
	for _, c := range p.conns {
		items = append(items, c.p)
	}
	slices.SortFunc(items[start:], func(a, b Player) int { return cmp.Compare(a.ID, b.ID) })
	return items
}

// followWorld follows physics: every region of o.Regions, else the one
// channel o.Physics; nil for none.
func followWorld(o Options) *world.Follower {
	chs := o.Regions
	if len(chs) == 0 && o.Physics != "" {
		chs = []string{o.Physics}
	}
	if len(chs) == 0 {
		return nil
	}
	return world.Follow(chs, engine.FollowOptions{})
}

// follow follows a slice net reads; nil for no channel.
func follow[M, T any](channel string, sl engine.Schema[M, T]) *engine.Follower[M, T] {
	if channel == "" {
		return nil
	}
	return engine.Follow(channel, sl, engine.FollowOptions{})
}

// read takes the newest snapshot of a slice net reads and reports
// whether it has one: the last good one is kept while its owner is down
// (the players see the world stand still, and the children's states say
// why).
func read[M, T any](f *engine.Follower[M, T]) bool {
	if f == nil {
		return false
	}
	f.Poll()
	return f.Have()
}

// Close lets go of the channels net reads.
func (p *Proc) Close() {
	if p.physics != nil {
		p.physics.Close()
	}
	if p.ai != nil {
		p.ai.Close()
	}
	if p.sup != nil {
		p.sup.Close()
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
	err := engine.Run(ctx, Schema, p, engine.Options{Channel: p.o.Channel, Rate: p.o.Rate, Fresh: p.o.Fresh,
		DataSize: max(Schema.Size(p.o.MaxPlayers), 4096), Log: p.o.Log})
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
	g := newGuard(ln, p)
	p.mu.Lock()
	p.guard = g
	p.mu.Unlock()
	p.o.Log.Info("net: listening", "addr", ln.Addr().String(), "per-address limits", g.perAddr)
	if p.o.OnListen != nil {
		p.o.OnListen(ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.route(ctx, w, r) }),
		ReadHeaderTimeout: RequestTimeout,
		ReadTimeout:       RequestTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ConnState:         g.connState,
		ErrorLog:          slog.NewLogLogger(p.o.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(g); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.o.Log.Warn("net: serve", "err", err)
	}
}
