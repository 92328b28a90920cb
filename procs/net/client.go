package netproc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Client is a player's connection to net. It applies the deltas, acks each
// snapshot, and when the connection drops (net restarted, say) it
// reconnects by itself with backoff and joins again.
type Client struct {
	url, name string
	ctx       context.Context
	cancel    context.CancelFunc
	snaps     chan Snapshot // the newest snapshot not yet taken by Next (capacity 1)
	inputs    chan Input    // input not yet written (capacity InputQueue)
	done      chan struct{}

	mu         sync.Mutex
	view       *View         // the player's view, sent on every connection (nil: none, the default)
	views      chan struct{} // the view changed (capacity 1)
	ws         *websocket.Conn
	id         uint32
	err        error // why the client stopped, once done is closed
	reconnects int
}

// ErrRefused wraps a refusal from the server (a close status).
var ErrRefused = errors.New("netproc: refused")

// ErrInputQueueFull is returned by Client.Input when InputQueue inputs are
// already waiting to be written.
var ErrInputQueueFull = errors.New("netproc: input queue full")

// InputQueue is how many inputs a Client holds while it cannot write them
// (slow network, reconnecting).
const InputQueue = 64

// JoinURL is the URL a client joins at: server (ws://HOST:PORT, or a URL
// with a path of its own) with the protocol version and the name in its
// query.
func JoinURL(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("netproc: server URL %q: %w", server, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return "", fmt.Errorf("netproc: server URL %q: want ws:// or wss://", server)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = Path
	}
	q := u.Query()
	q.Set("v", fmt.Sprint(Version))
	q.Set("name", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Dial connects to server (ws://HOST:PORT) and joins as name. A refusal
// (server full, wrong version) is returned as an error wrapping
// ErrRefused and the close status.
func Dial(ctx context.Context, server, name string) (*Client, error) {
	u, err := JoinURL(server, name)
	if err != nil {
		return nil, err
	}
	c := &Client{url: u, name: name, snaps: make(chan Snapshot, 1), inputs: make(chan Input, InputQueue),
		done: make(chan struct{}), views: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ws, first, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.run(ws, first)
	return c, nil
}

// MaxServerMessage bounds a message from the server (a full snapshot
// of MaxItems bodies and agents is well under it).
const MaxServerMessage = 16 << 20

// connect dials, joins (the handshake is the join) and waits for the
// welcome.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, *ServerMessage, error) {
	ws, _, err := websocket.Dial(ctx, c.url, nil)
	if err != nil {
		return nil, nil, err
	}
	ws.SetReadLimit(MaxServerMessage)
	m, err := readServer(ctx, ws)
	if err != nil {
		ws.CloseNow()
		return nil, nil, refusal(err)
	}
	if !m.Welcome {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("netproc: first message is a snapshot, want a welcome")
	}
	c.mu.Lock()
	c.ws, c.id = ws, m.ID
	c.mu.Unlock()
	return ws, m, nil
}

func refusal(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %v %q", ErrRefused, ce.Code, ce.Reason)
	}
	return err
}

// errBadServer is a message from the server that does not decode: the
// client closes the connection with StatusPolicyViolation and
// reconnects.
type errBadServer struct{ err error }

func (e errBadServer) Error() string { return fmt.Sprintf("netproc: from the server: %v", e.err) }
func (e errBadServer) Unwrap() error { return e.err }

func readServer(ctx context.Context, ws *websocket.Conn) (*ServerMessage, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, errBadServer{bad("text frame: protocol version %d sends binary frames", Version)}
	}
	m, err := ParseServerMessage(b)
	if err != nil {
		return nil, errBadServer{err}
	}
	return &m, nil
}

// run receives until Close, reconnecting whenever the connection ends.
func (c *Client) run(ws *websocket.Conn, first *ServerMessage) {
	defer close(c.done)
	var held *Input // an input whose write failed, sent first on the next connection
	for {
		ctx, cancel := context.WithCancel(c.ctx)
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			held = c.send(ctx, ws, held)
		}()
		err := c.receive(ws, first)
		cancel()
		var bs errBadServer
		if errors.As(err, &bs) {
			ws.Close(websocket.StatusPolicyViolation, cut(bs.Error(), 120))
		}
		ws.CloseNow()
		<-wrote
		c.mu.Lock()
		c.ws = nil
		c.mu.Unlock()
		if c.ctx.Err() != nil {
			c.setErr(closedErr(c.ctx.Err()))
			return
		}
		if st := websocket.CloseStatus(err); st == websocket.StatusPolicyViolation {
			c.setErr(refusal(err)) // the server will not have us back
			return
		}
		ws, first = c.reconnect()
		if ws == nil {
			c.setErr(closedErr(c.ctx.Err()))
			return
		}
	}
}

func closedErr(err error) error { return fmt.Errorf("netproc: client closed: %w", err) }

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// reconnect dials with backoff (50 ms doubling to 2 s) until it gets in
// or the client is closed.
func (c *Client) reconnect() (*websocket.Conn, *ServerMessage) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		select {
		case <-c.ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ws, first, err := c.connect(ctx)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.reconnects++
			c.mu.Unlock()
			return ws, first
		}
	}
}

// receive applies snapshots from one connection until it ends. A message
// that does not decode, or a delta against a snapshot the client does
// not hold, ends the connection (the client reconnects).
func (c *Client) receive(ws *websocket.Conn, m *ServerMessage) error {
	got := map[uint64]*Snapshot{}
	var ack []byte
	for {
		var base *Snapshot
		if m.Base != 0 {
			var ok bool
			if base, ok = got[m.Base]; !ok {
				return errBadServer{bad("delta against snapshot %d, which the client does not hold", m.Base)}
			}
		}
		s, err := m.World(base)
		if err != nil {
			return errBadServer{err}
		}
		got[m.Seq] = &s
		for k := range got {
			if k < m.Base || k+sentHistory <= m.Seq {
				delete(got, k) // the server never goes back behind a base it used
			}
		}
		select { // keep only the newest for Next
		case <-c.snaps:
		default:
		}
		c.snaps <- s
		ack = AppendAck(ack[:0], m.Seq)
		wctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err = ws.Write(wctx, websocket.MessageBinary, ack)
		cancel()
		if err != nil {
			return err
		}
		if m, err = readServer(c.ctx, ws); err != nil {
			return err
		}
	}
}

// Next returns the newest snapshot not yet returned, waiting for one.
func (c *Client) Next(ctx context.Context) (Snapshot, error) {
	select {
	case s := <-c.snaps:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	case <-c.done:
		select {
		case s := <-c.snaps:
			return s, nil
		default:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return Snapshot{}, c.err
	}
}

// Input queues one input message without waiting; it is written as soon
// as the client is connected, across a reconnection too. When InputQueue
// inputs are already waiting it returns ErrInputQueueFull.
func (c *Client) Input(in Input) error {
	select {
	case <-c.done:
		return closedErr(context.Canceled)
	default:
	}
	select {
	case c.inputs <- in:
		return nil
	default:
		return ErrInputQueueFull
	}
}

// View sets the player's view (area of interest, world px): net sends
// only the bodies in it (View's doc). It is sent at once, and again on
// every reconnection. A view View.Check refuses is an error, not sent.
func (c *Client) View(v View) error {
	if err := v.Check(); err != nil {
		return fmt.Errorf("netproc: %w", err)
	}
	c.mu.Lock()
	c.view = &v
	c.mu.Unlock()
	select {
	case c.views <- struct{}{}:
	default:
	}
	return nil
}

// writeView writes the player's view, if it has one.
func (c *Client) writeView(ctx context.Context, ws *websocket.Conn) error {
	c.mu.Lock()
	v := c.view
	c.mu.Unlock()
	if v == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return ws.Write(wctx, websocket.MessageBinary, AppendView(nil, *v))
}

// send writes the view, held input (if any), then queued input and views,
// to ws until ctx ends or a write fails; it returns the input whose write
// failed, if any.
func (c *Client) send(ctx context.Context, ws *websocket.Conn, held *Input) *Input {
	if c.writeView(ctx, ws) != nil {
		return held
	}
	for {
		if held == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-c.views:
				if c.writeView(ctx, ws) != nil {
					return nil
				}
				continue
			case in := <-c.inputs:
				held = &in
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ws.Write(wctx, websocket.MessageBinary, AppendInput(nil, *held))
		cancel()
		if err != nil {
			return held
		}
		held = nil
	}
}

// Latest returns the newest snapshot not yet returned, without waiting.
func (c *Client) Latest() (Snapshot, bool) {
	select {
	case s := <-c.snaps:
		return s, true
	default:
		return Snapshot{}, false
	}
}

// Connected reports whether the client has a connection now (and not a
// reconnection in progress).
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws != nil
}

// ID is the player id of the current connection.
func (c *Client) ID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Reconnects counts the reconnections so far.
func (c *Client) Reconnects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnects
}

// Close leaves the game.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close(websocket.StatusNormalClosure, "bye")
	}
	<-c.done
	return nil
}
