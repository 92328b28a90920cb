package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
)

// ErrRemoteOnly is returned for a command a renderer connected over the
// network cannot send: faults and resets go to local processes only, the
// protocol carries a player's spawns and explosions.
var ErrRemoteOnly = errors.New("demo: not available over the network (faults and resets are local)")

// cursorEvery spaces cursor updates: 20 a second stays well inside the
// server's input rate limit, with room for clicks.
const cursorEvery = 50 * time.Millisecond

// remote feeds a Reader from a net process's stream: each snapshot that
// arrives becomes the newest frame of the physics, ai, supervisor and net
// sources, timed by its arrival, so drawing interpolates between the two
// newest exactly as it does reading shared memory.
type remote struct {
	url        string
	c          *netproc.Client
	snapshots  uint64
	cx, cy     float64 // the cursor last sent
	cursorSent time.Time
	view       netproc.View // the view last told the server
}

// DefaultConnectTimeout is how long a renderer started with
// Options.Connect keeps trying to reach its server (which may be starting
// too) before it gives up, unless Options.ConnectTimeout says otherwise.
const DefaultConnectTimeout = 10 * time.Second

// DialReader connects to the net process at url (ws://HOST:PORT) and
// joins as player; the Reader then draws from the stream. It tries again
// (backoff 50 ms to 1 s) until ctx ends, except after a refusal (server
// full, wrong version). Once in, the client reconnects by itself when the
// connection drops.
func DialReader(ctx context.Context, url, player string) (*Reader, error) {
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var c *netproc.Client
		if c, err = netproc.Dial(ctx, url, player); err == nil {
			r := NewReader("remote")
			r.remote = &remote{url: url, c: c}
			return r, nil
		}
		if errors.Is(err, netproc.ErrRefused) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil, fmt.Errorf("demo: connect %q: %w", url, err)
}

func (m *remote) frame(r *Reader, now int64) {
	s, ok := m.c.Latest()
	if !ok {
		return
	}
	m.snapshots++
	// The window draws the whole world, scaled to fit: that is the
	// player's view (net sends the bodies in it, within its cap).
	if v := (netproc.View{W: s.Width, H: s.Height}); v != m.view && v.Check() == nil && m.c.View(v) == nil {
		m.view = v
	}
	r.Physics.take(func(f *engine.Frame[physics.Meta, physics.Body]) {
		f.Header = engine.Header{Tick: s.PhysicsTick, Mono: now}
		f.Meta = physics.Meta{Params: physics.Params{Width: s.Width, Height: s.Height}}
		f.Items = f.Items[:0]
		for _, b := range s.Bodies {
			f.Items = append(f.Items, physics.Body{ID: b.ID, Flags: b.Flags, X: px(b.X), Y: px(b.Y),
				VX: float32(b.VX), VY: float32(b.VY), R: px(b.R)})
		}
	})
	if s.AITick > 0 || len(s.Agents) > 0 {
		r.AI.take(func(f *engine.Frame[ai.Params, ai.Agent]) {
			f.Header = engine.Header{Tick: s.AITick, Mono: now}
			f.Meta = ai.Params{Width: s.Width, Height: s.Height}
			f.Items = f.Items[:0]
			for _, a := range s.Agents {
				f.Items = append(f.Items, ai.Agent{ID: a.ID, Kind: ai.Kind(a.Kind), X: px(a.X), Y: px(a.Y),
					VX: float32(a.VX), VY: float32(a.VY)})
			}
		})
	}
	if len(s.Children) > 0 {
		r.Sup.take(func(f *engine.Frame[supervisor.Meta, supervisor.ChildStatus]) {
			f.Header = engine.Header{Tick: s.Tick, Mono: now}
			f.Meta = supervisor.Meta{Children: uint32(len(s.Children))}
			f.Items = f.Items[:0]
			for _, c := range s.Children {
				f.Items = append(f.Items, childStatus(c, now))
			}
		})
	}
	r.Net.take(func(f *engine.Frame[netproc.Meta, netproc.Player]) {
		f.Header = engine.Header{Tick: s.Tick, Mono: now}
		f.Meta = netproc.Meta{Players: uint32(len(s.Players))}
		f.Items = f.Items[:0]
		for _, p := range s.Players {
			q := netproc.Player{ID: p.ID, Color: p.Color, CursorX: p.Cursor[0], CursorY: p.Cursor[1], RTTNanos: p.RTTNano}
			copy(q.Name[:], p.Name)
			f.Items = append(f.Items, q)
		}
	})
}

// px is a wire fixed-point value in px.
func px(v int32) float32 { return float32(v) / netproc.Subpixel }

// childStatus is a child of the stream as the supervisor's status slice
// has it. Its snapshot age was measured on the server; it is taken as of
// now.
func childStatus(c netproc.Child, now int64) supervisor.ChildStatus {
	st := supervisor.ChildStatus{Pid: c.Pid, Restarts: c.Restarts, Tick: c.Tick}
	st.State, _ = supervisor.ParseChildState(c.State) // an unknown name: stopped
	copy(st.Name[:], c.Name)
	copy(st.Reason[:], c.Reason)
	if c.Age >= 0 {
		st.TickMono, st.TickAge = now-c.Age, c.Age
	} else {
		st.TickAge = -1
	}
	return st
}

// send turns a physics spawn burst or explosion into an input message at
// its position.
func (m *remote) send(child string, cmd engine.Command) error {
	if child != "physics" || (cmd.Op != physics.OpSpawnBurst && cmd.Op != physics.OpExplode) || cmd.Argc < 2 {
		return ErrRemoteOnly
	}
	in := netproc.Input{Cursor: [2]float32{float32(cmd.Args[0]), float32(cmd.Args[1])}, HasCursor: true,
		Spawn: cmd.Op == physics.OpSpawnBurst, Explode: cmd.Op == physics.OpExplode}
	if err := m.c.Input(in); err != nil {
		return err
	}
	m.cx, m.cy, m.cursorSent = cmd.Args[0], cmd.Args[1], time.Now()
	return nil
}

func (m *remote) cursor(x, y float64) {
	if (x == m.cx && y == m.cy) || time.Since(m.cursorSent) < cursorEvery {
		return
	}
	in := netproc.Input{Cursor: [2]float32{float32(x), float32(y)}, HasCursor: true}
	if m.c.Input(in) == nil {
		m.cx, m.cy, m.cursorSent = x, y, time.Now()
	}
}

// status is the HUD's line about the connection.
func (m *remote) status() string {
	state := "connected"
	if !m.c.Connected() {
		state = "reconnecting"
	}
	return fmt.Sprintf("net      %-9s %s  player=%d  snapshots=%d  reconnects=%d", state, m.url, m.c.ID(),
		m.snapshots, m.c.Reconnects())
}
