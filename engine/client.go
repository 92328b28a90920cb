package engine

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/venomrt/venomrt/venom"
)

// Client reads a channel's typed snapshots and sends it commands. Reads
// into one frame must come from one goroutine at a time (reads into
// different frames may run in parallel). Send is safe from any goroutine.
type Client[M, T any] struct {
	sl       Schema[M, T]
	shell    *venom.Shell
	dataSize int
}

// Connect attaches to a process's channel.
func Connect[M, T any](channel string, sl Schema[M, T], opts ...venom.Option) (*Client[M, T], error) {
	s, err := venom.Connect(channel, opts...)
	if err != nil {
		return nil, err
	}
	return &Client[M, T]{sl: sl, shell: s, dataSize: s.Config().DataSize}, nil
}

// Read decodes the newest snapshot into f. It never blocks the process
// that publishes. The snapshot is copied once, out of shared memory into
// storage f keeps, and f.Items is a view of it (see Frame): the items of
// the frame's previous snapshot stay as they were until the read after
// this one. On an error f is left as it was.
func (c *Client[M, T]) Read(f *Frame[M, T]) error { return c.ReadAt(0, f) }

// ReadAt decodes an older snapshot: back = 1 is the one before the newest.
// A renderer interpolates between the two.
func (c *Client[M, T]) ReadAt(back int, f *Frame[M, T]) error {
	_, err := c.ReadSeq(back, f)
	return err
}

// ReadSeq is ReadAt that also returns the snapshot's publish sequence
// number (venom's, one per publish): a frame read at Latest is still the
// newest, and the snapshot before one read at seq was published at seq-1.
func (c *Client[M, T]) ReadSeq(back int, f *Frame[M, T]) (uint64, error) {
	// Into f.spare, which f.Items does not view: on an error f is as it was.
	seq, err := c.read(back, f, &f.spare)
	if err != nil {
		return 0, err
	}
	f.raw, f.spare = f.spare, f.raw
	return seq, nil
}

// Overwrite is ReadSeq for a frame whose snapshot the caller is done
// with (a renderer's older frame, about to hold the newest): the copy
// goes into the storage f.Items views, where ReadSeq keeps a second
// buffer so that f stays as it was on an error. One buffer per frame
// instead of two is memory the frame used the read before, likely still
// in cache, which a copy of a large snapshot feels. On an error f holds
// no snapshot: its header and meta are zero and it has no items.
func (c *Client[M, T]) Overwrite(back int, f *Frame[M, T]) (uint64, error) {
	seq, err := c.read(back, f, &f.raw)
	if err != nil {
		var zero M
		f.Header, f.Meta, f.Items = Header{}, zero, f.Items[:0:0]
	}
	return seq, err
}

// read copies snapshot back into *into (grown as needed, a storage of f)
// and makes f a view of it.
func (c *Client[M, T]) read(back int, f *Frame[M, T], into *[]uint64) (uint64, error) {
	pad := c.sl.itemsPad()
	for try := 0; ; try++ {
		buf := words(*into)
		if len(buf) < pad {
			buf = nil
		} else {
			buf = buf[pad:]
		}
		n, seq, err := c.shell.ReadAt(back, buf)
		if errors.Is(err, venom.ErrTooLarge) && n > len(buf) && n <= c.dataSize && try < 3 {
			// The storage grows to the snapshot (venom bounds n by
			// DataSize) with room for a world that grows a little.
			size := min(n+n/8, c.dataSize)
			*into = make([]uint64, (pad+size+7)/8)
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := c.sl.view(buf[:n], f); err != nil {
			return 0, fmt.Errorf("engine: read %v: %w", back, err)
		}
		return seq, nil
	}
}

// Latest is the publish sequence number of the channel's newest snapshot,
// 0 before the first (venom.Shell.Latest): one atomic load, so a reader
// that holds that snapshot can skip the read.
func (c *Client[M, T]) Latest() (uint64, error) { return c.shell.Latest() }

// words is the bytes of u.
func words(u []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(u))), 8*len(u))
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
