// Package demo is the game people see, without the drawing: the
// renderer's reads, started by the supervisor as the child "render". Each
// frame it reads the newest snapshot of every slice without blocking,
// interpolates physics between the two newest by time, and publishes the
// renderer's own slice; Run is the headless renderer, which runs that loop
// without drawing and prints a status line per second.
//
// The window that draws the world and a HUD and turns mouse and keys into
// commands is package demo/window, on Ebiten. This package imports no
// Ebiten and no cgo: Ebiten opens the display in a package init, and a
// program that links it panics without one, so only the window binary
// (cmd/venomrt-window) imports demo/window.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world"
	"github.com/venomrt/venomrt/venom"
)

// Options configure Run.
type Options struct {
	// Instance is the game's instance name: the renderer reads
	// "<instance>.physics", "<instance>.ai", "<instance>.sup" and
	// publishes "<instance>.render".
	Instance string
	// Physics are the channels of physics's regions, region i's at i
	// (game.Env.Members("physics")); none: "<instance>.physics", a world
	// of one region.
	Physics []string
	// Headless asks window.Run for the read loop without a window (it
	// also runs it when there is no display). Run always runs headless.
	Headless bool
	// Screenshot, with Frames, writes a PNG of the screen after Frames
	// frames and returns. It needs the window and a display: Run returns
	// ErrNoDisplay.
	Screenshot string
	// Frames > 0 ends Run after that many frames (headless too).
	Frames int
	// Borders starts the window with the borders between physics's
	// regions drawn; its debug key B toggles them.
	Borders bool
	// Connect, a ws:// URL of a net process, draws the game from the
	// network stream instead of shared memory, on any machine: the same
	// HUD, and input sent as the protocol's input messages. Nothing is
	// published then.
	Connect string
	// Player is the name the renderer joins as with Connect (default
	// "render").
	Player string
	// ConnectTimeout bounds the first connection with Connect (default
	// DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// Log receives lifecycle lines (default slog.Default()).
	Log *slog.Logger
	// Out receives the headless status lines (default os.Stdout).
	Out io.Writer
}

func (o *Options) defaults() error {
	if o.Instance == "" {
		o.Instance = "venomrt"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Player == "" {
		o.Player = "render"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Frames < 0 {
		return fmt.Errorf("demo: frames %d, want >= 0", o.Frames)
	}
	if o.Screenshot != "" && o.Frames == 0 {
		o.Frames = 60
	}
	return nil
}

// ErrNoDisplay is returned for a screenshot asked of a renderer that
// cannot draw: the headless Run, or the window without a display.
var ErrNoDisplay = errors.New("demo: a screenshot needs the window (venomrt-window, package demo/window) and a display (DISPLAY set, e.g. under xvfb-run)")

// Source is one channel the renderer reads: an engine.Follower (for
// physics with the snapshot before the newest, for interpolation) and
// the slice's measured tick rate.
type Source[M, T any] struct {
	*engine.Follower[M, T]
	Name string // the child that owns it: "physics"

	rate rateMeter
}

func newSource[M, T any](instance, name string, sl engine.Schema[M, T], prev bool) *Source[M, T] {
	return &Source[M, T]{Name: name, Follower: engine.Follow(instance+"."+name, sl, engine.FollowOptions{Prev: prev})}
}

// childName is the child that owns channel of instance: the channel's
// name after "<instance>." ("physics-1").
func childName(instance, channel string) string {
	if name, ok := strings.CutPrefix(channel, instance+"."); ok {
		return name
	}
	return channel
}

// Rate is the measured ticks per second of the slice (0 before a second
// of samples).
func (s *Source[M, T]) Rate() float64 { return s.rate.rate }

// read takes the newest snapshot (engine.Follower.Poll: a copy only
// when there is a new one) and measures the tick rate.
func (s *Source[M, T]) read() {
	s.Poll()
	s.took()
}

// take makes a snapshot from the network the newest.
func (s *Source[M, T]) take(fill func(f *engine.Frame[M, T])) {
	s.Take(fill)
	s.took()
}

func (s *Source[M, T]) took() {
	if s.Have() {
		s.rate.add(s.Cur.Tick, s.Cur.Mono)
	}
}

// rateMeter measures ticks per second from (tick, mono) samples at least
// a second apart.
type rateMeter struct {
	lastTick       uint64
	baseTick       uint64
	baseMono, last int64
	rate           float64
}

func (m *rateMeter) add(tick uint64, mono int64) {
	m.lastTick = tick
	if mono == m.last {
		return
	}
	m.last = mono
	if m.baseMono == 0 || tick < m.baseTick {
		m.baseTick, m.baseMono = tick, mono
		return
	}
	if dt := mono - m.baseMono; dt >= int64(time.Second) {
		m.rate = float64(tick-m.baseTick) / (float64(dt) / 1e9)
		m.baseTick, m.baseMono = tick, mono
	}
}

// Reader reads every slice of a game instance, once per frame, without
// blocking. It is used from one goroutine.
//
// Physics may be cut into regions, each a process with its own channel
// (a process group): the Reader follows every region and draws one
// world, every region's bodies merged (Bodies).
type Reader struct {
	Instance string
	// Regions follow physics's regions, region i at i: one for a world
	// that is not cut.
	Regions []*Source[physics.Meta, physics.Body]
	// Physics is Regions[0]: the world's only region when it is not cut.
	Physics *Source[physics.Meta, physics.Body]
	AI      *Source[ai.Params, ai.Agent]
	Sup     *Source[supervisor.Meta, supervisor.ChildStatus]
	Net     *Source[netproc.Meta, netproc.Player] // the players

	// ReadNanos is the time the last Frame spent reading every slice.
	ReadNanos int64
	// Frames counts Frame calls.
	Frames uint64

	// Spans end each region's bodies in the last Bodies: region i's are
	// Bodies[Spans[i-1]:Spans[i]] (from 0 for region 0).
	Spans []int

	bodies []physics.Body
	world  *world.Follower       // the regions' followers, for routing commands
	rates  map[string]*rateMeter // tick rates of children read through the status
	remote *remote               // the network stream, with Options.Connect
}

// NewReader makes a Reader for instance; it connects lazily. regions are
// the channels of physics's regions, region i's at i
// (game.Env.Members("physics")); none: "<instance>.physics".
func NewReader(instance string, regions ...string) *Reader {
	if len(regions) == 0 {
		regions = []string{instance + ".physics"}
	}
	r := &Reader{
		Instance: instance,
		AI:       newSource(instance, "ai", ai.Schema, false),
		Sup:      newSource(instance, "sup", supervisor.StatusSchema, false),
		Net:      newSource(instance, "net", netproc.Schema, false),
		rates:    map[string]*rateMeter{},
		world:    &world.Follower{},
	}
	for _, ch := range regions {
		s := &Source[physics.Meta, physics.Body]{Name: childName(instance, ch),
			Follower: engine.Follow(ch, physics.Schema, engine.FollowOptions{Prev: true})}
		r.Regions = append(r.Regions, s)
		r.world.Members = append(r.world.Members, s.Follower)
	}
	r.Physics = r.Regions[0]
	r.Spans = make([]int, len(r.Regions))
	return r
}

// Frame reads the newest snapshot of every slice and measures how long
// that took.
func (r *Reader) Frame() {
	start := venom.Monotonic()
	if r.remote != nil {
		r.remote.frame(r, start)
	} else {
		for _, s := range r.Regions {
			s.read()
		}
		r.AI.read()
		r.Sup.read()
		r.Net.read()
	}
	end := venom.Monotonic()
	r.ReadNanos = end - start
	r.Frames++
	if r.Sup.Have() {
		for _, c := range r.Sup.Cur.Items {
			name := c.NameString()
			m := r.rates[name]
			if m == nil {
				m = &rateMeter{}
				r.rates[name] = m
			}
			if c.TickMono != 0 {
				m.add(c.Tick, c.TickMono)
			}
		}
	}
}

// Bodies returns the physics bodies, every region's merged into one
// world (each region's own, then those in flight between regions that
// their receiver has not adopted yet: world.AppendRegion), with their
// positions interpolated between the two newest snapshots of their
// region for the time now (venom.Monotonic): the world is drawn one tick
// behind, so motion is smooth whatever the frame rate. Bodies in flight
// are frozen in their outbox: they are drawn where they are. Spans tells
// which region each came from. The slice is reused by the next call.
func (r *Reader) Bodies(now int64) []physics.Body {
	r.bodies = r.bodies[:0]
	for i, p := range r.Regions {
		if p.Have() {
			start := len(r.bodies)
			owned, _, _ := world.Split(&p.Cur.Meta, p.Cur.Items)
			r.bodies = append(r.bodies, owned...)
			interpolate(r.bodies[start:], p, now)
			cur, left, right := r.world.Frames(i)
			r.bodies = world.AppendInFlight(r.bodies, cur, left, right)
		}
		r.Spans[i] = len(r.bodies)
	}
	return r.bodies
}

// interpolate moves bodies, a region's own in its newest snapshot,
// between their positions in the snapshot before and now.
func interpolate(bodies []physics.Body, p *Source[physics.Meta, physics.Body], now int64) {
	if !p.HavePrev() {
		return
	}
	span := p.Cur.Mono - p.Prev.Mono
	if span <= 0 {
		return
	}
	alpha := float32(float64(now-p.Cur.Mono) / float64(span))
	if alpha >= 1 {
		return
	}
	alpha = max(alpha, 0)
	prev, _, _ := world.Split(&p.Prev.Meta, p.Prev.Items)
	// Both runs are in ascending ID order: match them by a merge walk.
	j := 0
	for i := range bodies {
		b := &bodies[i]
		for j < len(prev) && prev[j].ID < b.ID {
			j++
		}
		if j < len(prev) && prev[j].ID == b.ID {
			a := prev[j]
			b.X = a.X + (b.X-a.X)*alpha
			b.Y = a.Y + (b.Y-a.Y)*alpha
		}
	}
}

// BodyCount is the number of bodies in the world, as Bodies draws them:
// every region's own and those in flight not yet adopted (counted, not
// copied).
func (r *Reader) BodyCount() int {
	n := 0
	for i, p := range r.Regions {
		if p.Have() {
			cur, left, right := r.world.Frames(i)
			owned, outL, outR := world.Split(&cur.Meta, cur.Items)
			n += len(owned)
			if left != nil {
				n += len(physics.InFlight(outL, cur.Meta.Region.SentLeft, left.Meta.Region.GotRight))
			} else {
				n += len(outL)
			}
			if right != nil {
				n += len(physics.InFlight(outR, cur.Meta.Region.SentRight, right.Meta.Region.GotLeft))
			} else {
				n += len(outR)
			}
		}
	}
	return n
}

// WorldSize is the physics world's size in px, from any region's newest
// snapshot (all regions share it), and whether one is there.
func (r *Reader) WorldSize() (w, h float32, ok bool) {
	p, ok := r.world.Params()
	return p.Width, p.Height, ok && p.Width > 0 && p.Height > 0
}

// RegionDown is Down for region i of physics.
func (r *Reader) RegionDown(i int) string {
	p := r.Regions[i]
	return r.Down(p.Name, p.State())
}

// Child returns the supervisor's status of a child, if there is one.
func (r *Reader) Child(name string) (supervisor.ChildStatus, bool) {
	if !r.Sup.Have() {
		return supervisor.ChildStatus{}, false
	}
	for _, c := range r.Sup.Cur.Items {
		if c.NameString() == name {
			return c, true
		}
	}
	return supervisor.ChildStatus{}, false
}

// Down says why a child's slice should be drawn dimmed: "" when its owner
// is running, else "restarting", "failed", "exited" or "stale" (no
// supervisor status, and the slice is older than engine.DefaultStale).
func (r *Reader) Down(name string, st engine.FollowState) string {
	if c, ok := r.Child(name); ok {
		switch c.State {
		case supervisor.ChildRunning:
			return ""
		case supervisor.ChildFailed:
			return "failed"
		case supervisor.ChildExited, supervisor.ChildStopped, supervisor.ChildStopping:
			return c.StateName()
		}
		return "restarting"
	}
	if st == engine.FollowStale {
		return "stale"
	}
	return ""
}

// PhysicsDown is Down for the physics slice: of the first region that is
// down, if any.
func (r *Reader) PhysicsDown() string {
	for i := range r.Regions {
		if d := r.RegionDown(i); d != "" {
			return d
		}
	}
	return ""
}

// region is the source of physics's region whose child is name, or nil.
func (r *Reader) region(name string) *Source[physics.Meta, physics.Body] {
	for _, p := range r.Regions {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// AIDown is Down for the ai slice.
func (r *Reader) AIDown() string { return r.Down("ai", r.AI.State()) }

// Rate is the measured tick rate of a child.
func (r *Reader) Rate(name string) float64 {
	if p := r.region(name); p != nil && p.Have() {
		return p.Rate()
	}
	switch name {
	case "ai":
		if r.AI.Have() {
			return r.AI.Rate()
		}
	}
	if m := r.rates[name]; m != nil {
		return m.rate
	}
	return 0
}

// Send queues a command for a child: "physics", "ai", "net", or one
// region of physics by its name ("physics-1"). A physics
// command goes to the region(s) it touches (world.Targets: a spawn to the
// region whose strip holds its x, an impulse to the region holding the
// body, anything else to every region). Over the network only what the
// protocol carries goes: a physics spawn burst or explosion becomes an
// input message; anything else is ErrRemoteOnly.
func (r *Reader) Send(child string, cmd engine.Command) error {
	if r.remote != nil {
		return r.remote.send(child, cmd)
	}
	if p := r.region(child); p != nil && len(r.Regions) > 1 {
		return p.Send(cmd) // one region by its child's name: "physics-1"
	}
	switch child {
	case "physics":
		return r.world.Send(cmd)
	case "ai":
		return r.AI.Send(cmd)
	case "net":
		return r.Net.Send(cmd)
	}
	return fmt.Errorf("demo: no child %q", child)
}

// Cursor tells the players where this renderer's cursor is (world px).
// Only a renderer connected over the network is a player.
func (r *Reader) Cursor(x, y float64) {
	if r.remote != nil {
		r.remote.cursor(x, y)
	}
}

// Players are the connected players, from the net slice or the stream.
func (r *Reader) Players() []netproc.Player {
	if !r.Net.Have() {
		return nil
	}
	return r.Net.Cur.Items
}

// Close lets go of every channel, or of the network connection.
func (r *Reader) Close() {
	for _, p := range r.Regions {
		p.Close()
	}
	r.AI.Close()
	r.Sup.Close()
	r.Net.Close()
	if r.remote != nil {
		r.remote.c.Close()
	}
}

// HUDLines are the lines of the HUD and of the headless status: per child
// its state, pid, restarts, tick rate, snapshot age and, for a child kept
// with a hot standby, whether one is ready. The age of a slice the
// renderer draws (physics, ai, net) is the age of the snapshot it holds,
// what is on the screen; of any other child (the renderer itself, a
// bridge), the age of the newest tick the supervisor saw, which its
// status refreshes ten times a second.
func (r *Reader) HUDLines(now int64) []string {
	var lines []string
	if r.remote != nil {
		lines = append(lines, r.remote.status())
	}
	if r.Sup.Have() {
		for _, c := range r.Sup.Cur.Items {
			name := c.NameString()
			age := "-"
			if mono, drawn := r.drawnMono(name); drawn {
				age = time.Duration(now - mono).Round(time.Millisecond).String()
			} else if c.TickMono != 0 {
				age = time.Duration(now - c.TickMono).Round(time.Millisecond).String()
			}
			line := fmt.Sprintf("%-8s %-9s pid=%-7d restarts=%-3d %5.1f t/s  age=%s",
				name, c.StateName(), c.Pid, c.Restarts, r.Rate(name), age)
			if sb := c.StandbyString(); sb != "-" {
				line += "  standby=" + sb
			}
			lines = append(lines, line)
		}
		return lines
	}
	lines = append(lines, "supervisor status: not available")
	type slice struct {
		name string
		have bool
		mono int64
		st   engine.FollowState
	}
	var slices []slice
	for _, p := range r.Regions {
		slices = append(slices, slice{p.Name, p.Have(), p.Cur.Mono, p.State()})
	}
	for _, s := range append(slices, slice{"ai", r.AI.Have(), r.AI.Cur.Mono, r.AI.State()}) {
		if !s.have {
			lines = append(lines, fmt.Sprintf("%-8s no data", s.name))
			continue
		}
		state := "running"
		if d := r.Down(s.name, s.st); d != "" {
			state = d
		}
		lines = append(lines, fmt.Sprintf("%-8s %-9s %5.1f t/s  age=%s", s.name, state, r.Rate(s.name),
			time.Duration(now-s.mono).Round(time.Millisecond)))
	}
	return lines
}

// drawnMono is when the snapshot the renderer holds of a child's slice
// was made, for the slices it draws; drawn is false for any other child
// and before a snapshot.
func (r *Reader) drawnMono(name string) (mono int64, drawn bool) {
	if p := r.region(name); p != nil {
		return p.Cur.Mono, p.Have()
	}
	switch name {
	case "ai":
		return r.AI.Cur.Mono, r.AI.Have()
	case "net":
		return r.Net.Cur.Mono, r.Net.Have()
	}
	return 0, false
}

// Counts is a one-line summary of the reads: "reads physics=N ai=N sup=N
// net=N bodies=N agents=N players=N read=1.2µs".
// Physics's reads are every region's.
func (r *Reader) Counts() string {
	var reads uint64
	for _, p := range r.Regions {
		reads += p.Stats().Reads
	}
	return fmt.Sprintf("reads physics=%d ai=%d sup=%d net=%d bodies=%d agents=%d players=%d read=%s",
		reads, r.AI.Stats().Reads, r.Sup.Stats().Reads, r.Net.Stats().Reads, r.BodyCount(), len(r.AI.Cur.Items),
		len(r.Players()), time.Duration(r.ReadNanos))
}

// RenderMeta is the renderer's own state, published on "<instance>.render"
// every frame: the supervisor sees its heartbeat, tests see its frames.
type RenderMeta struct {
	Frames    uint64  // frames drawn (headless: loop iterations)
	Updates   uint64  // game updates (ticks)
	FPS       float64 // measured frames per second
	TPS       float64 // measured updates per second
	ReadNanos int64   // time the last frame spent reading every slice
	Bodies    uint32  // bodies in the newest physics snapshot
	Agents    uint32  // agents in the newest ai snapshot
	Pid       uint32
	Headless  uint32 // 1 when not drawing
}

// SliceStat is one slice the renderer reads, an item of its slice.
type SliceStat struct {
	Name   [16]byte // the owning child, NUL-padded
	Reads  uint64
	Errors uint64
	Tick   uint64 // newest tick seen
	Mono   int64  // its Header.Mono
}

// RenderSchema is the shape of the renderer's channel.
var RenderSchema = engine.MustSchema[RenderMeta, SliceStat]()

// RenderChannel is the renderer's channel of an instance.
func RenderChannel(instance string) string { return instance + ".render" }

// renderDataSize fits the meta and the slice stats of ai, sup, net and
// up to 64 physics regions (game.MaxGroup).
const renderDataSize = 4096

// publisher owns the renderer's channel (an engine.Owner: the frame
// counter carried on by adoption in its Header.Tick, and the engine's
// faults, which the renderer takes like any process).
type publisher struct {
	w     *engine.Owner[RenderMeta, SliceStat]
	stats []SliceStat
	frame uint64 // ns of the newest frame (Session.FrameTime), 0: only its read
}

func newPublisher(instance string, log *slog.Logger) (*publisher, error) {
	w, err := engine.Own(context.Background(), RenderSchema, engine.OwnOptions[RenderMeta, SliceStat]{
		Channel: RenderChannel(instance), Config: renderConfig, Log: log,
	})
	if errors.Is(err, venom.ErrBusy) {
		return nil, fmt.Errorf("demo: another renderer is running on instance %q: %w", instance, err)
	}
	if err != nil {
		return nil, err
	}
	return &publisher{w: w}, nil
}

// publish takes the commands sent to the renderer and writes its
// snapshot; a fault taken is carried out after it (engine.Owner).
func (p *publisher) publish(r *Reader, m RenderMeta) {
	if p == nil {
		return // a remote renderer publishes nothing
	}
	h := p.w.Header()
	h.Tick++
	h.Rate = 60
	// The frame's time is the renderer's tick time: its counters'
	// histogram (top's p50/p99, /metrics' tick_duration_seconds) is
	// then the frame time, and a frame over 1/60 s a deadline miss.
	h.StepNanos = uint64(r.ReadNanos)
	if p.frame != 0 {
		h.StepNanos, p.frame = p.frame, 0
	}
	m.Frames = h.Tick
	m.Pid = uint32(os.Getpid())
	m.ReadNanos = r.ReadNanos
	m.Bodies, m.Agents = uint32(r.BodyCount()), uint32(len(r.AI.Cur.Items))
	p.stats = p.stats[:0]
	for _, s := range r.Regions {
		p.stats = appendStat(p.stats, s)
	}
	p.stats = appendStat(p.stats, r.AI)
	p.stats = appendStat(p.stats, r.Sup)
	p.stats = appendStat(p.stats, r.Net)
	p.w.Poll()
	p.w.Publish(&m, p.stats)
}

func appendStat[M, T any](stats []SliceStat, s *Source[M, T]) []SliceStat {
	var st SliceStat
	copy(st.Name[:15], s.Name)
	c := s.Stats()
	st.Reads, st.Errors, st.Tick, st.Mono = c.Reads, c.Errors, s.Cur.Tick, s.Cur.Mono
	return append(stats, st)
}

func (p *publisher) close() {
	if p != nil {
		p.w.Close()
	}
}

// Session is an open renderer: the Reader of every slice and, when it
// reads shared memory, the renderer's own channel, on which it publishes
// a snapshot per frame. Run loops over one without drawing; package
// demo/window draws from one. It is used from one goroutine.
type Session struct {
	// Options are the options it was opened with, defaults filled in.
	Options Options
	// Reader reads every slice, once per Frame.
	Reader *Reader

	pub *publisher // nil over the network
}

// Open fills in o's defaults and connects: with o.Connect to the net
// process (trying until o.ConnectTimeout), else to the instance's shared
// memory, creating the renderer's channel "<instance>.render" (an error
// if another renderer owns it).
func Open(ctx context.Context, o Options) (*Session, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &Session{Options: o}
	if o.Connect != "" {
		ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
		defer cancel()
		r, err := DialReader(ctx, o.Connect, o.Player)
		if err != nil {
			return nil, err
		}
		s.Reader = r
		return s, nil
	}
	pub, err := newPublisher(o.Instance, o.Log)
	if err != nil {
		return nil, err
	}
	s.pub, s.Reader = pub, NewReader(o.Instance, o.Physics...)
	return s, nil
}

// Publish writes the renderer's snapshot m, with the Reader's counts, on
// its channel (over the network it publishes nothing), then acts on a
// fault sent to the renderer ("supervisor fault render ..."): like any
// process it panics, exits, hangs or slows down. m.Frames is the
// renderer's frame counter, carried on from the renderer before it.
func (s *Session) Publish(m RenderMeta) {
	s.pub.publish(s.Reader, m)
}

// FrameTime tells how long the newest frame took — reading the slices
// and drawing them, as far as the renderer can time it (a window: its
// Draw) — for the next Publish to count as the renderer's tick time.
// Without it a frame's time is its read of the slices (Reader.ReadNanos),
// all a headless frame does.
func (s *Session) FrameTime(d time.Duration) {
	if s.pub != nil && d > 0 {
		s.pub.frame = uint64(d)
	}
}

// Close lets go of every slice and of the renderer's channel; its
// segment stays for a successor.
func (s *Session) Close() {
	s.pub.close()
	s.Reader.Close()
}
