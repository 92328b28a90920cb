package engine

import (
	"fmt"

	"github.com/venomrt/venomrt/venom"
)

// Client reads a channel's typed snapshots and sends it commands. Read
// and ReadAt share one buffer: call them from one goroutine at a time.
// Send is safe from any goroutine.
type Client[M, T any] struct {
	sl    Slice[M, T]
	shell *venom.Shell
	buf   []byte
}

// Connect attaches to a process's channel.
func Connect[M, T any](channel string, sl Slice[M, T], opts ...venom.Option) (*Client[M, T], error) {
	s, err := venom.Connect(channel, opts...)
	if err != nil {
		return nil, err
	}
	return &Client[M, T]{sl: sl, shell: s, buf: make([]byte, s.Config().DataSize)}, nil
}

// Read decodes the newest snapshot into f, reusing f's item storage. It
// never blocks the process that publishes.
func (c *Client[M, T]) Read(f *Frame[M, T]) error { return c.ReadAt(0, f) }

// ReadAt decodes an older snapshot: back = 1 is the one before the newest.
// A renderer interpolates between the two.
func (c *Client[M, T]) ReadAt(back int, f *Frame[M, T]) error {
	n, _, err := c.shell.ReadAt(back, c.buf)
	if err != nil {
		return err
	}
	if err := c.sl.Decode(c.buf[:n], f); err != nil {
		return fmt.Errorf("engine: read %v: %w", back, err)
	}
	return nil
}

// Send queues a command (venom.ErrQueueFull when the lane is full; it
// waits in shared memory while the process is down).
func (c *Client[M, T]) Send(cmd Command) error {
	var b [CommandSize]byte
	return c.shell.Send(cmd.Append(b[:0]))
}

// Shell is the underlying venom client.
func (c *Client[M, T]) Shell() *venom.Shell { return c.shell }

// Close detaches from the channel.
func (c *Client[M, T]) Close() error { return c.shell.Close() }
