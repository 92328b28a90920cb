package netproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Dial connects and joins as name. A refusal (server full, wrong version)
// is returned as an error wrapping ErrRefused and the close status.
func Dial(ctx context.Context, url, name string) (*Client, error) {
	c := &Client{url: url, name: name, snaps: make(chan Snapshot, 1), inputs: make(chan Input, InputQueue),
		done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ws, first, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.run(ws, first)
	return c, nil
}

// connect dials, joins and waits for the welcome.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, *serverMsg, error) {
	ws, _, err := websocket.Dial(ctx, c.url, nil)
	if err != nil {
		return nil, nil, err
	}
	ws.SetReadLimit(64 << 20)
	b, _ := json.Marshal(clientMsg{Type: "join", Name: c.name, Version: Version})
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		ws.CloseNow()
		return nil, nil, refusal(err)
	}
	m, err := readServer(ctx, ws)
	if err != nil {
		ws.CloseNow()
		return nil, nil, refusal(err)
	}
	if m.Type != "welcome" {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("netproc: first message %q, want welcome", m.Type)
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

func readServer(ctx context.Context, ws *websocket.Conn) (*serverMsg, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m serverMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("netproc: malformed server message: %w", err)
	}
	return &m, nil
}

// run receives until Close, reconnecting whenever the connection ends.
func (c *Client) run(ws *websocket.Conn, first *serverMsg) {
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
func (c *Client) reconnect() (*websocket.Conn, *serverMsg) {
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

// receive applies snapshots from one connection until it ends.
func (c *Client) receive(ws *websocket.Conn, m *serverMsg) error {
	got := map[uint64]*Snapshot{}
	for {
		var s Snapshot
		switch {
		case m.Base == 0 && m.Snapshot != nil:
			s = *m.Snapshot
		case m.Delta != nil:
			base, ok := got[m.Base]
			if !ok {
				return fmt.Errorf("netproc: delta against unknown snapshot %d", m.Base)
			}
			var err error
			if s, err = Apply(base, m.Delta); err != nil {
				return err
			}
		default:
			return fmt.Errorf("netproc: %s message without a snapshot", m.Type)
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
		b, _ := json.Marshal(clientMsg{Type: "ack", Seq: m.Seq})
		wctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err := ws.Write(wctx, websocket.MessageText, b)
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

// send writes held (if any), then queued input, to ws until ctx ends or
// a write fails; it returns the input whose write failed, if any.
func (c *Client) send(ctx context.Context, ws *websocket.Conn, held *Input) *Input {
	for {
		if held == nil {
			select {
			case <-ctx.Done():
				return nil
			case in := <-c.inputs:
				held = &in
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ws.Write(wctx, websocket.MessageText, held.marshal())
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
