package netproc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/procs/physics"
)

// conn is one player's connection. p and view are guarded by Proc.mu.
type conn struct {
	ws    *websocket.Conn
	p     Player
	view  View           // the player's view (area of interest); zero: the whole world
	out   chan *outgoing // the newest snapshot not yet sent (capacity 1)
	sent  atomic.Uint64  // highest seq sent (or being sent)
	acked atomic.Uint64  // highest seq the client acknowledged

	// viewAt is the view each snapshot was sent with, by seq modulo
	// sentHistory: a delta's base is the snapshot as the player saw it.
	// Only the writer touches it.
	viewAt [sentHistory]struct {
		seq  uint64
		view View
	}
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

// maxClosing bounds the refused connections net waits on for a close
// handshake; beyond it they are dropped without one.
const maxClosing = 64

// Close reasons a client can act on.
const (
	reasonFull    = "server full"
	reasonVersion = "protocol version 3 required: join at /ws?v=3&name=NAME (docs/PROTOCOL.md)"
)

// joinRequest checks the join carried by a WebSocket handshake's URL:
// /ws?v=3&name=NAME. Without v the client speaks another version (a
// version 2 client joined at /); with v=3 at another path it is told
// the path. It returns the name made fit to broadcast (playerName).
func joinRequest(r *http.Request) (string, error) {
	q := r.URL.Query()
	v := q.Get("v")
	switch {
	case v == "":
		return "", kick("%s", reasonVersion)
	case v != strconv.Itoa(Version):
		return "", kick("protocol version %.8q is not served; this server speaks version %d: join at /ws?v=%d&name=NAME", v, Version, Version)
	case r.URL.Path != Path:
		return "", kick("no game at path %.32q: join at /ws?v=%d&name=NAME (docs/PROTOCOL.md)", r.URL.Path, Version)
	}
	return playerName(q.Get("name")), nil
}

// playerName is the name a join asks for, made fit to send to every
// client: invalid UTF-8 and control characters (NUL among them, which
// would end the name where the net slice keeps it) are dropped, and it is
// cut to at most MaxName bytes between two characters, never inside one.
func playerName(s string) string {
	var b strings.Builder
	for _, r := range s { // an invalid byte comes as RuneError
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxName {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// play serves one WebSocket handshake: a join, for its whole life.
func (p *Proc) play(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	// The default options refuse a handshake whose Origin is not the host
	// it was sent to: a page on another site cannot play in this game.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		p.o.Log.Debug("net: handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	defer ws.CloseNow()
	name, err := joinRequest(r)
	if err != nil {
		p.closeFor(ws, err)
		return
	}
	c, ok := p.join(ws, name)
	if !ok {
		p.count(func(m *Meta) { m.Refused++ })
		p.closeWith(ws, websocket.StatusTryAgainLater, reasonFull)
		return
	}
	ws.SetReadLimit(MaxFrame)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
	go func() {
		defer cancel()
		p.ping(ctx, c)
	}()
	err = p.read(ctx, c)
	p.closeFor(ws, err)
}

// closeFor closes ws for err: a violation with its reason, anything else
// (the peer gone, net ending) as it is.
func (p *Proc) closeFor(ws *websocket.Conn, err error) {
	var k errKick
	if errors.As(err, &k) {
		p.count(func(m *Meta) { m.Kicked++ })
		p.o.Log.Info("net: connection refused", "reason", k.reason)
		p.closeWith(ws, websocket.StatusPolicyViolation, k.reason)
	}
}

// closeWith closes ws with a status and a reason (cut to what a close
// frame holds), waiting for the peer's close (at most a few seconds) only
// while fewer than maxClosing others are waiting.
func (p *Proc) closeWith(ws *websocket.Conn, code websocket.StatusCode, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	select {
	case p.closing <- struct{}{}:
		ws.Close(code, reason)
		<-p.closing
	default:
		ws.CloseNow()
	}
}

// join takes a player's place, if there is one.
func (p *Proc) join(ws *websocket.Conn, name string) (*conn, bool) {
	c := &conn{ws: ws, out: make(chan *outgoing, 1)}
	copy(c.p.Name[:], name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) >= p.o.MaxPlayers {
		return nil, false
	}
	c.p.ID = p.meta.NextID
	p.meta.NextID++
	p.meta.Joined++
	c.p.Color = palette[int(c.p.ID)%len(palette)]
	p.conns[c.p.ID] = c
	return c, true
}

// count updates the counters under the lock.
func (p *Proc) count(f func(*Meta)) {
	p.mu.Lock()
	f(&p.meta)
	p.mu.Unlock()
}

// read handles the player's messages until the connection ends.
func (p *Proc) read(ctx context.Context, c *conn) error {
	tokens, last := float64(InputBurst), time.Now()
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary {
			return kick("text frame: protocol version %d sends binary frames", Version)
		}
		m, err := ParseClientMessage(b)
		if err != nil {
			return kick("%v", err)
		}
		if m.Ack {
			if m.Seq > c.sent.Load() {
				return kick("ack of snapshot %d, which was not sent", m.Seq)
			}
			if m.Seq > c.acked.Load() {
				c.acked.Store(m.Seq)
			}
			continue
		}
		if m.HasView { // checked by ParseClientMessage: a view it refuses closed the connection
			p.mu.Lock()
			c.view = m.View
			p.mu.Unlock()
			continue
		}
		now := time.Now()
		tokens = min(float64(InputBurst), tokens+now.Sub(last).Seconds()*InputRate)
		last = now
		if tokens < 1 {
			p.dropInput(c)
			continue
		}
		tokens--
		in := m.Input
		p.mu.Lock()
		c.p.Inputs++
		if in.HasCursor {
			c.p.CursorX = min(max(in.Cursor[0], -physics.MaxWorld), physics.MaxWorld)
			c.p.CursorY = min(max(in.Cursor[1], -physics.MaxWorld), physics.MaxWorld)
		}
		// A click without a cursor acts where the cursor last was.
		x, y := float64(c.p.CursorX), float64(c.p.CursorY)
		p.mu.Unlock()
		if in.Spawn {
			p.queue(c, engine.Cmd(physics.OpSpawnBurst, x, y, SpawnCount))
		}
		if in.Explode {
			p.queue(c, engine.Cmd(physics.OpExplode, x, y, ExplodeRadius, ExplodeStrength))
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
// is no longer remembered), each as the player's view sees it (its
// bodies in view only). A write that cannot finish within
// writeTimeout (a peer that stopped reading) ends the connection.
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
		p.mu.Lock()
		view := c.view
		p.mu.Unlock()
		if first {
			b, err = o.welcome(c.p.ID, view)
			first = false
		} else {
			acked := c.acked.Load()
			base, baseView := p.lookup(acked), View{}
			if at := c.viewAt[acked%sentHistory]; base != nil && at.seq == acked {
				baseView = at.view
			} else {
				base = nil // not remembered how the player saw it: a full snapshot
			}
			b, err = o.message(base, baseView, view)
		}
		if err != nil {
			return err
		}
		c.viewAt[o.seq%sentHistory].seq, c.viewAt[o.seq%sentHistory].view = o.seq, view
		c.sent.Store(o.seq)
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = c.ws.Write(wctx, websocket.MessageBinary, b)
		cancel()
		if err != nil {
			return err
		}
		p.sent.Add(uint64(len(b)))
	}
}

// ping measures the round-trip time once a second. A peer that answers
// no ping for maxMissedPings seconds in a row (it stopped reading) is
// dropped, however little net has been sending it.
func (p *Proc) ping(ctx context.Context, c *conn) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	missed := 0
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
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if missed++; missed >= maxMissedPings {
				p.o.Log.Info("net: player answers no ping: dropped", "id", c.p.ID)
				return
			}
			continue
		}
		missed = 0
		p.mu.Lock()
		c.p.RTTNanos = int64(time.Since(start))
		p.mu.Unlock()
	}
}
