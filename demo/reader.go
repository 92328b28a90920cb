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
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// Options configure Run.
type Options struct {
	// Instance is the game's instance name: the renderer reads
	// "<instance>.physics", "<instance>.ai", "<instance>.sup" and
	// publishes "<instance>.render".
	Instance string
	// Headless asks window.Run for the read loop without a window (it
	// also runs it when there is no display). Run always runs headless.
	Headless bool
	// Screenshot, with Frames, writes a PNG of the screen after Frames
	// frames and returns. It needs the window and a display: Run returns
	// ErrNoDisplay.
	Screenshot string
	// Frames > 0 ends Run after that many frames (headless too).
	Frames int
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

// RetryEvery is how often a missing channel is looked for again.
const RetryEvery = 500 * time.Millisecond

// staleAfter: a slice that has not moved for this long, with no
// supervisor status to say better, is drawn as down.
const staleAfter = time.Second

// Source is one channel the renderer reads: its newest snapshot and, for
// physics, the one before it.
type Source[M, T any] struct {
	Name    string // the child that owns it: "physics"
	Channel string // "<instance>.physics"

	Cur, Prev     engine.Frame[M, T]
	Have          bool   // Cur holds a snapshot
	HavePrev      bool   // Prev holds the snapshot just before Cur
	Reads, Errors uint64 // frames that took the newest snapshot; failed reads and connects
	Copies        uint64 // snapshots copied out of shared memory (none while Cur is the newest)
	Changed       int64  // venom.Monotonic when Cur's tick last moved

	sl       engine.Schema[M, T]
	c        *engine.Client[M, T]
	seq      uint64 // Cur's publish sequence number on c (0: none read from c)
	wantPrev bool
	retry    int64 // Monotonic before which no connect is tried
	rate     rateMeter
}

func newSource[M, T any](instance, name string, sl engine.Schema[M, T], prev bool) *Source[M, T] {
	return &Source[M, T]{Name: name, Channel: instance + "." + name, sl: sl, wantPrev: prev}
}

// Connected reports whether the source has a client on its channel.
func (s *Source[M, T]) Connected() bool { return s.c != nil }

// Rate is the measured ticks per second of the slice (0 before a second
// of samples).
func (s *Source[M, T]) Rate() float64 { return s.rate.rate }

// read takes the newest snapshot (and the one before it) without
// blocking, copying only what is new: nothing while Cur is still the
// newest (one atomic load tells); when the newest is the one after Cur,
// Cur becomes Prev (a swap) and only the newest is copied, once, into
// storage the frame keeps (engine.Client.Read). A missing channel is
// looked for at most every RetryEvery.
func (s *Source[M, T]) read(now int64) {
	if s.c == nil {
		if now < s.retry {
			return
		}
		c, err := engine.Connect(s.Channel, s.sl)
		if err != nil {
			s.retry = now + int64(RetryEvery)
			if !errors.Is(err, venom.ErrNotFound) {
				s.Errors++
			}
			return
		}
		s.c, s.Changed, s.seq = c, now, 0
	}
	latest, err := s.c.Latest()
	switch {
	case err != nil:
		s.Errors++
		s.drop(now)
		return
	case latest == 0:
		return // nothing published yet
	case latest == s.seq:
		s.took(now) // Cur is still the newest
	default:
		if !s.readNew(now) {
			return
		}
	}
	// A slice that stopped moving may have been replaced by a new segment
	// of the same name (removed and created again): look again.
	if now-s.Changed > int64(2*staleAfter) && now >= s.retry {
		s.drop(now)
	}
}

// readNew copies the newest snapshot into Cur. For physics Prev becomes
// the one before it: the Cur it had, when that was it (a swap), and the
// newest is copied over the frame it drops, into memory the frame used
// (and Bodies read) a frame ago rather than a buffer of its own.
func (s *Source[M, T]) readNew(now int64) bool {
	prevSeq := s.seq
	var (
		seq uint64
		err error
	)
	if s.wantPrev {
		s.Prev, s.Cur = s.Cur, s.Prev
		seq, err = s.c.Overwrite(0, &s.Cur)
		if err != nil {
			s.Prev, s.Cur = s.Cur, s.Prev // Cur as it was; Prev, overwritten, holds nothing
			s.HavePrev = false
		}
	} else {
		seq, err = s.c.ReadSeq(0, &s.Cur) // a failed read leaves Cur as it was
	}
	if err != nil {
		if errors.Is(err, venom.ErrNoData) {
			return false
		}
		// Another shape, a corrupt segment or a closed client: connect
		// again later.
		s.Errors++
		s.drop(now)
		return false
	}
	s.Copies++
	s.seq = seq
	s.took(now)
	if s.wantPrev {
		s.HavePrev = prevSeq != 0 && prevSeq == seq-1 && s.Prev.Tick < s.Cur.Tick
		if !s.HavePrev { // the first read, or snapshots missed: read the one before
			ps, err := s.c.Overwrite(1, &s.Prev)
			s.HavePrev = err == nil && ps == seq-1 && s.Prev.Tick < s.Cur.Tick
			if err == nil {
				s.Copies++
			}
		}
	}
	return true
}

// take makes a snapshot from elsewhere (the network) the newest: fill
// writes it into the frame given.
func (s *Source[M, T]) take(now int64, fill func(f *engine.Frame[M, T])) {
	had := s.Have
	if s.wantPrev {
		s.Prev, s.Cur = s.Cur, s.Prev
	}
	fill(&s.Cur)
	s.took(now)
	s.HavePrev = s.wantPrev && had && s.Prev.Tick < s.Cur.Tick
}

// took counts a new Cur: when its tick last moved, and the tick rate.
func (s *Source[M, T]) took(now int64) {
	s.Reads++
	if !s.Have || s.Cur.Tick != s.rate.lastTick {
		s.Changed = now
	}
	s.Have = true
	s.rate.add(s.Cur.Tick, s.Cur.Mono)
}

func (s *Source[M, T]) drop(now int64) {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
	s.seq = 0
	s.retry = now + int64(RetryEvery)
}

// Send queues a command on the source's channel.
func (s *Source[M, T]) Send(cmd engine.Command) error {
	if s.c == nil {
		return fmt.Errorf("demo: %s: not connected", s.Channel)
	}
	return s.c.Send(cmd)
}

func (s *Source[M, T]) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
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
type Reader struct {
	Instance string
	Physics  *Source[physics.Params, physics.Body]
	AI       *Source[ai.Params, ai.Agent]
	Sup      *Source[supervisor.Meta, supervisor.ChildStatus]
	Net      *Source[netproc.Meta, netproc.Player] // the players

	// ReadNanos is the time the last Frame spent reading every slice.
	ReadNanos int64
	// Frames counts Frame calls.
	Frames uint64

	bodies []physics.Body
	rates  map[string]*rateMeter // tick rates of children read through the status
	remote *remote               // the network stream, with Options.Connect
}

// NewReader makes a Reader for instance; it connects lazily.
func NewReader(instance string) *Reader {
	return &Reader{
		Instance: instance,
		Physics:  newSource(instance, "physics", physics.Schema, true),
		AI:       newSource(instance, "ai", ai.Schema, false),
		Sup:      newSource(instance, "sup", supervisor.StatusSchema, false),
		Net:      newSource(instance, "net", netproc.Schema, false),
		rates:    map[string]*rateMeter{},
	}
}

// Frame reads the newest snapshot of every slice and measures how long
// that took.
func (r *Reader) Frame() {
	start := venom.Monotonic()
	if r.remote != nil {
		r.remote.frame(r, start)
	} else {
		r.Physics.read(start)
		r.AI.read(start)
		r.Sup.read(start)
		r.Net.read(start)
	}
	end := venom.Monotonic()
	r.ReadNanos = end - start
	r.Frames++
	if r.Sup.Have {
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

// Bodies returns the physics bodies with their positions interpolated
// between the two newest snapshots for the time now (venom.Monotonic): the
// world is drawn one tick behind, so motion is smooth whatever the frame
// rate. The slice is reused by the next call.
func (r *Reader) Bodies(now int64) []physics.Body {
	p := r.Physics
	if !p.Have {
		return nil
	}
	cur := p.Cur.Items
	r.bodies = append(r.bodies[:0], cur...)
	if !p.HavePrev {
		return r.bodies
	}
	span := p.Cur.Mono - p.Prev.Mono
	if span <= 0 {
		return r.bodies
	}
	alpha := float32(float64(now-p.Cur.Mono) / float64(span))
	if alpha >= 1 {
		return r.bodies
	}
	alpha = max(alpha, 0)
	prev := p.Prev.Items
	// Both runs are in ascending ID order: match them by a merge walk.
	j := 0
	for i := range r.bodies {
		b := &r.bodies[i]
		for j < len(prev) && prev[j].ID < b.ID {
			j++
		}
		if j < len(prev) && prev[j].ID == b.ID {
			a := prev[j]
			b.X = a.X + (b.X-a.X)*alpha
			b.Y = a.Y + (b.Y-a.Y)*alpha
		}
	}
	return r.bodies
}

// Child returns the supervisor's status of a child, if there is one.
func (r *Reader) Child(name string) (supervisor.ChildStatus, bool) {
	if !r.Sup.Have {
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
// supervisor status, and the slice has not moved for a second).
func (r *Reader) Down(name string, changed int64, have bool, now int64) string {
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
	if have && now-changed > int64(staleAfter) {
		return "stale"
	}
	return ""
}

// PhysicsDown is Down for the physics slice.
func (r *Reader) PhysicsDown(now int64) string {
	return r.Down("physics", r.Physics.Changed, r.Physics.Have, now)
}

// AIDown is Down for the ai slice.
func (r *Reader) AIDown(now int64) string { return r.Down("ai", r.AI.Changed, r.AI.Have, now) }

// Rate is the measured tick rate of a child.
func (r *Reader) Rate(name string) float64 {
	switch name {
	case "physics":
		if r.Physics.Have {
			return r.Physics.Rate()
		}
	case "ai":
		if r.AI.Have {
			return r.AI.Rate()
		}
	}
	if m := r.rates[name]; m != nil {
		return m.rate
	}
	return 0
}

// Send queues a command for a child: "physics", "ai", "net". Over the
// network only what the protocol carries goes: a physics spawn burst or
// explosion becomes an input message; anything else is ErrRemoteOnly.
func (r *Reader) Send(child string, cmd engine.Command) error {
	if r.remote != nil {
		return r.remote.send(child, cmd)
	}
	switch child {
	case "physics":
		return r.Physics.Send(cmd)
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
	if !r.Net.Have {
		return nil
	}
	return r.Net.Cur.Items
}

// Close lets go of every channel, or of the network connection.
func (r *Reader) Close() {
	r.Physics.close()
	r.AI.close()
	r.Sup.close()
	r.Net.close()
	if r.remote != nil {
		r.remote.c.Close()
	}
}

// HUDLines are the lines of the HUD and of the headless status: per child
// its state, pid, restarts, tick rate, snapshot age and, for a child kept
// with a hot standby, whether one is ready.
func (r *Reader) HUDLines(now int64) []string {
	var lines []string
	if r.remote != nil {
		lines = append(lines, r.remote.status())
	}
	if r.Sup.Have {
		for _, c := range r.Sup.Cur.Items {
			name := c.NameString()
			age := "-"
			if c.TickMono != 0 {
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
	for _, s := range []struct {
		name    string
		have    bool
		mono    int64
		changed int64
	}{{"physics", r.Physics.Have, r.Physics.Cur.Mono, r.Physics.Changed}, {"ai", r.AI.Have, r.AI.Cur.Mono, r.AI.Changed}} {
		if !s.have {
			lines = append(lines, fmt.Sprintf("%-8s no data", s.name))
			continue
		}
		state := "running"
		if d := r.Down(s.name, s.changed, s.have, now); d != "" {
			state = d
		}
		lines = append(lines, fmt.Sprintf("%-8s %-9s %5.1f t/s  age=%s", s.name, state, r.Rate(s.name),
			time.Duration(now-s.mono).Round(time.Millisecond)))
	}
	return lines
}

// Counts is a one-line summary of the reads: "reads physics=N ai=N sup=N
// net=N bodies=N agents=N players=N read=1.2µs".
func (r *Reader) Counts() string {
	return fmt.Sprintf("reads physics=%d ai=%d sup=%d net=%d bodies=%d agents=%d players=%d read=%s",
		r.Physics.Reads, r.AI.Reads, r.Sup.Reads, r.Net.Reads, len(r.Physics.Cur.Items), len(r.AI.Cur.Items),
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

// renderDataSize fits the meta and a few slice stats.
const renderDataSize = 1024

// publisher owns the renderer's channel.
type publisher struct {
	d     *venom.Daemon
	buf   []byte
	stats []SliceStat
	start uint64 // frames before this process (carried over by adoption)
	fault engine.Command
}

func newPublisher(instance string, log *slog.Logger) (*publisher, error) {
	ch := RenderChannel(instance)
	cfg := venom.Config{DataSize: renderDataSize, History: 2, CmdSlots: 16, CmdSize: engine.CommandSize, RespSize: 64, MaxClients: 8}
	d, err := venom.Create(ch, cfg)
	if errors.Is(err, venom.ErrIncompatible) {
		// Ours, from another version: replace it.
		log.Warn("render channel of another shape: replacing it", "channel", ch)
		venom.Remove(ch)
		d, err = venom.Create(ch, cfg)
	}
	if errors.Is(err, venom.ErrBusy) {
		return nil, fmt.Errorf("demo: another renderer is running on instance %q: %w", instance, err)
	}
	if err != nil {
		return nil, err
	}
	p := &publisher{d: d, buf: make([]byte, renderDataSize)}
	if d.Adopted() {
		// Carry the frame counter on from the previous renderer.
		if n, _, err := d.Read(p.buf); err == nil {
			var f engine.Frame[RenderMeta, SliceStat]
			if RenderSchema.Decode(p.buf[:n], &f) == nil {
				p.start = f.Meta.Frames
			}
		}
	}
	return p, nil
}

// publish writes the renderer's snapshot and takes any fault sent to it.
func (p *publisher) publish(r *Reader, m RenderMeta) {
	if p == nil {
		return // a remote renderer publishes nothing
	}
	m.Frames += p.start
	m.Pid = uint32(os.Getpid())
	m.ReadNanos = r.ReadNanos
	m.Bodies, m.Agents = uint32(len(r.Physics.Cur.Items)), uint32(len(r.AI.Cur.Items))
	p.stats = p.stats[:0]
	add := func(name string, reads, errs, tick uint64, mono int64) {
		var s SliceStat
		copy(s.Name[:15], name)
		s.Reads, s.Errors, s.Tick, s.Mono = reads, errs, tick, mono
		p.stats = append(p.stats, s)
	}
	add("physics", r.Physics.Reads, r.Physics.Errors, r.Physics.Cur.Tick, r.Physics.Cur.Mono)
	add("ai", r.AI.Reads, r.AI.Errors, r.AI.Cur.Tick, r.AI.Cur.Mono)
	add("sup", r.Sup.Reads, r.Sup.Errors, r.Sup.Cur.Tick, r.Sup.Cur.Mono)
	add("net", r.Net.Reads, r.Net.Errors, r.Net.Cur.Tick, r.Net.Cur.Mono)
	h := engine.Header{Tick: m.Frames, Mono: venom.Monotonic(), Rate: 60, Epoch: p.d.Epoch()}
	n, err := RenderSchema.Encode(p.buf, h, &m, p.stats)
	if err == nil {
		p.d.Publish(p.buf[:n])
	}
	p.d.Poll(func(_ venom.ClientID, cmd, _ []byte) int {
		if c, err := engine.DecodeCommand(cmd); err == nil && c.Op < engine.OpUser {
			p.fault = c
		}
		return 0
	})
}

// takeFault acts on a fault sent to the renderer (supervisor fault
// render ...): the renderer crashes or hangs like any process.
func (p *publisher) takeFault() {
	if p == nil {
		return
	}
	c := p.fault
	p.fault = engine.Command{}
	switch c.Op {
	case engine.OpPanic:
		panic("demo: panic fault")
	case engine.OpExit:
		os.Exit(int(c.Arg(0, 1)))
	case engine.OpHang, engine.OpMidPublish:
		select {} // no more frames, no more heartbeats
	case engine.OpSlow:
		time.Sleep(time.Duration(c.Arg(0, 100)) * time.Millisecond)
	}
}

func (p *publisher) close() {
	if p != nil {
		p.d.Close()
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
	s.pub, s.Reader = pub, NewReader(o.Instance)
	return s, nil
}

// Publish writes the renderer's snapshot m, with the Reader's counts, on
// its channel (over the network it publishes nothing), then acts on a
// fault sent to the renderer ("supervisor fault render ..."): like any
// process it panics, exits, hangs or slows down.
func (s *Session) Publish(m RenderMeta) {
	s.pub.publish(s.Reader, m)
	s.pub.takeFault()
}

// Close lets go of every slice and of the renderer's channel; its
// segment stays for a successor.
func (s *Session) Close() {
	s.pub.close()
	s.Reader.Close()
}
