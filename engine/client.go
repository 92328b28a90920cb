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

// ReadOptions are Read's options; the zero value reads the newest
// snapshot into a second buffer of the frame, so that an error leaves
// the frame as it was.
type ReadOptions struct {
	// Back reads an older snapshot: 1 is the one before the newest (a
	// renderer interpolates between the two), up to History-2.
	Back int
	// Since is a publish sequence number the caller holds (Frame.Seq):
	// when the newest snapshot is still it, nothing is copied and Read
	// returns ErrUnchanged, leaving f as it was. One atomic load tells.
	// Zero reads whatever is there; with Back it is not looked at.
	Since uint64
	// Overwrite reads into the storage f.Items views, for a frame whose
	// snapshot the caller is done with (a renderer's older frame, about
	// to hold the newest), instead of a second buffer: one buffer per
	// frame instead of two, memory the frame used the read before and
	// likely still in cache, which a copy of a large snapshot feels. On
	// an error (but ErrUnchanged) f then holds no snapshot: its header
	// and meta are zero and it has no items.
	Overwrite bool
}

// ErrUnchanged is Read's answer when the newest snapshot is still the
// one ReadOptions.Since names: nothing new to copy.
var ErrUnchanged = errors.New("engine: no newer snapshot")

// Read decodes a snapshot — the newest, unless opts say otherwise (at
// most one ReadOptions) — into f. It never blocks the process that
// publishes. The snapshot is copied once, out of shared memory into
// storage f keeps, and f.Items is a view of it (see Frame); f.Seq is its
// publish sequence number (venom's, one per publish: the snapshot
// before one read at seq was published at seq-1). Without Overwrite the
// items of the frame's previous snapshot stay as they were until the
// read after this one, and on an error f is left as it was.
func (c *Client[M, T]) Read(f *Frame[M, T], opts ...ReadOptions) error {
	var o ReadOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Since != 0 && o.Back == 0 {
		latest, err := c.shell.Latest()
		if err != nil {
			return err
		}
		if latest == o.Since {
			return ErrUnchanged
		}
	}
	if o.Overwrite {
		seq, err := c.read(o.Back, f, &f.raw)
		if err != nil {
			var zero M
			f.Header, f.Meta, f.Items, f.seq = Header{}, zero, f.Items[:0:0], 0
			return err
		}
		f.seq = seq
		return nil
	}
	// Into f.spare, which f.Items does not view: on an error f is as it was.
	seq, err := c.read(o.Back, f, &f.spare)
	if err != nil {
		return err
	}
	f.raw, f.spare, f.seq = f.spare, f.raw, seq
	return nil
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
