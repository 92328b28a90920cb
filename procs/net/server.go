package netproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
)

// conn is one player's connection. p is guarded by Proc.mu.
type conn struct {
	ws    *websocket.Conn
	p     Player
	out   chan *outgoing // the newest snapshot not yet sent (capacity 1)
	acked atomic.Uint64  // highest seq the client acknowledged
}

// offer hands c the newest snapshot, replacing one it has not sent yet: a
// slow client skips snapshots, it never holds up the others.
func (c *conn) offer(s *outgoing) {
	select {
	case <-c.out:
	default:
	}
	select {
	case c.out <- s:
	default:
	}
}

// errKick is a protocol violation: the connection is closed with
// StatusPolicyViolation and the error as the reason.
type errKick struct{ reason string }

func (e errKick) Error() string { return e.reason }

func kick(format string, args ...any) error { return errKick{fmt.Sprintf(format, args...)} }

var palette = []uint32{0xe6194b, 0x3cb44b, 0xffe119, 0x4363d8, 0xf58231, 0x911eb4, 0x46f0f0, 0xf032e6}

// accept serves one WebSocket connection for its whole life.
func (p *Proc) accept(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	p.mu.Lock()
	if p.slots >= p.o.MaxPlayers {
		p.meta.Refused++
		p.mu.Unlock()
		ws.Close(websocket.StatusTryAgainLater, "server full")
		return
	}
	p.slots++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.slots--
		p.mu.Unlock()
	}()
	ws.SetReadLimit(MaxFrame)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	c, err := p.join(ctx, ws)
	if err != nil {
		p.closeFor(ws, err)
		return
	}
	p.o.Log.Info("net: player joined", "id", c.p.ID, "name", c.p.NameString(), "remote", r.RemoteAddr)
	defer func() {
		p.mu.Lock()
		delete(p.conns, c.p.ID)
		p.mu.Unlock()
		p.o.Log.Info("net: player left", "id", c.p.ID)
	}()
	go func() {
		defer cancel()
		if err := p.write(ctx, c); err != nil && ctx.Err() == nil {
			p.o.Log.Debug("net: write", "id", c.p.ID, "err", err)
		}
	}()
	go p.ping(ctx, c)
	err = p.read(ctx, c)
	p.closeFor(ws, err)
}

// closeFor closes ws for err: a violation with its reason, anything else
// (the peer gone, net ending) as it is.
func (p *Proc) closeFor(ws *websocket.Conn, err error) {
	var k errKick
	if errors.As(err, &k) {
		p.mu.Lock()
		p.meta.Kicked++
		p.mu.Unlock()
		p.o.Log.Info("net: connection refused", "reason", k.reason)
		ws.Close(websocket.StatusPolicyViolation, k.reason)
	}
}

// readMsg reads and parses one client message.
func readMsg(ctx context.Context, ws *websocket.Conn) (clientMsg, error) {
	var m clientMsg
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return m, err
	}
	if typ != websocket.MessageText {
		return m, kick("binary frames are not part of the protocol")
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, kick("malformed message")
	}
	return m, nil
}

func (p *Proc) join(ctx context.Context, ws *websocket.Conn) (*conn, error) {
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	m, err := readMsg(jctx, ws)
	if err != nil {
		if jctx.Err() != nil && ctx.Err() == nil {
			return nil, kick("no join within %v", joinTimeout)
		}
		return nil, err
	}
	if m.Type != "join" {
		return nil, kick("first message must be join, not %q", m.Type)
	}
	if m.Version != Version {
		return nil, kick("protocol version %d, want %d", m.Version, Version)
	}
	c := &conn{ws: ws, out: make(chan *outgoing, 1)}
	copy(c.p.Name[:], m.Name) // cut to MaxName bytes
	p.mu.Lock()
	c.p.ID = p.meta.NextID
	p.meta.NextID++
	p.meta.Joined++
	c.p.Color = palette[int(c.p.ID)%len(palette)]
	p.conns[c.p.ID] = c
	p.mu.Unlock()
	return c, nil
}

// read handles the player's messages until the connection ends.
func (p *Proc) read(ctx context.Context, c *conn) error {
	tokens, last := float64(InputBurst), time.Now()
	for {
		m, err := readMsg(ctx, c.ws)
		if err != nil {
			return err
		}
		switch m.Type {
		case "ack":
			if m.Seq > c.acked.Load() {
				c.acked.Store(m.Seq)
			}
		case "input":
			now := time.Now()
			tokens = min(float64(InputBurst), tokens+now.Sub(last).Seconds()*InputRate)
			last = now
			if tokens < 1 {
				p.dropInput(c)
				continue
			}
			tokens--
			p.mu.Lock()
			c.p.Inputs++
			if m.Cursor != nil {
				c.p.CursorX = min(max(m.Cursor[0], -physics.MaxWorld), physics.MaxWorld)
				c.p.CursorY = min(max(m.Cursor[1], -physics.MaxWorld), physics.MaxWorld)
			}
			// A click without a cursor acts where the cursor last was.
			x, y := float64(c.p.CursorX), float64(c.p.CursorY)
			p.mu.Unlock()
			if m.Spawn {
				p.queue(c, engine.Cmd(physics.OpSpawnBurst, x, y, SpawnCount))
			}
			if m.Explode {
				p.queue(c, engine.Cmd(physics.OpExplode, x, y, ExplodeRadius, ExplodeStrength))
			}
		case "join":
			return kick("already joined")
		default:
			return kick("unknown message type %q", m.Type)
		}
	}
}

// queue hands a player's command to the engine loop, which forwards it
// to physics; when even that queue is full the command is dropped and
// counted.
func (p *Proc) queue(c *conn, cmd engine.Command) {
	select {
	case p.inputs <- cmd:
	default:
		p.dropInput(c)
	}
}

// dropInput counts an input of c's that was dropped.
func (p *Proc) dropInput(c *conn) {
	p.mu.Lock()
	c.p.Dropped++
	p.meta.InputsDropped++
	p.mu.Unlock()
}

// write sends the welcome (a full snapshot), then each snapshot as a
// delta against the newest one the client acknowledged (full when that one
// is no longer remembered).
func (p *Proc) write(ctx context.Context, c *conn) error {
	first := true
	for {
		var o *outgoing
		select {
		case <-ctx.Done():
			return ctx.Err()
		case o = <-c.out:
		}
		var b []byte
		var err error
		if first {
			b, err = o.welcome(c.p.ID)
			first = false
		} else {
			b, err = o.message(p.lookup(c.acked.Load()))
		}
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = c.ws.Write(wctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			return err
		}
	}
}

// ping measures the round-trip time once a second.
func (p *Proc) ping(ctx context.Context, c *conn) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*pingInterval)
		start := time.Now()
		err := c.ws.Ping(pctx)
		cancel()
		if err == nil {
			p.mu.Lock()
			c.p.RTTNanos = int64(time.Since(start))
			p.mu.Unlock()
		}
	}
}
