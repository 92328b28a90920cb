package venom

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Dir is the directory that holds every segment: a tmpfs on Linux.
const Dir = "/dev/shm"

// SpaceError is the error of a segment /dev/shm cannot back: creating it,
// or adopting or connecting to one that is not wholly reserved, would
// need more than is free. It wraps ErrNoSpace.
type SpaceError struct {
	Name string // the channel
	Need int64  // bytes the segment needs that are not reserved yet
	Free int64  // bytes free in /dev/shm, as statfs tells it (-1: unknown)
	Err  error  // what the kernel said (ENOSPC, ENOMEM under a memory limit)
}

func (e *SpaceError) Error() string {
	free := "unknown"
	if e.Free >= 0 {
		free = fmt.Sprintf("%s (%d bytes)", humanBytes(e.Free), e.Free)
	}
	return fmt.Sprintf("%v: the segment needs %s (%d bytes), %s free: %v",
		ErrNoSpace, humanBytes(e.Need), e.Need, free, e.Err)
}

// Unwrap makes errors.Is(err, ErrNoSpace) hold.
func (e *SpaceError) Unwrap() []error { return []error{ErrNoSpace, e.Err} }

// humanBytes writes n as B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// SegmentSize is the size in bytes of the segment Create makes for cfg
// (its zero fields meaning their defaults): what the channel holds of
// /dev/shm, rounded up to whole pages there (PageAligned). A Config
// Create would refuse gives its error.
func SegmentSize(cfg Config) (int64, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return 0, err
	}
	l := newLayout(cfg)
	if l.total > maxSegment {
		return 0, fmt.Errorf("venom: config makes a segment of %d bytes, more than %d", l.total, uint64(maxSegment))
	}
	return int64(l.total), nil
}

// PageAligned is n rounded up to whole pages: what a file of n bytes
// holds of a tmpfs.
func PageAligned(n int64) int64 {
	p := int64(os.Getpagesize())
	return (n + p - 1) / p * p
}

// Space is the room of the filesystem behind the segments.
type Space struct {
	Size int64 // bytes it can hold; 0 when it has no limit (a tmpfs of size=0)
	Free int64 // bytes free for new segments (meaningless when Size is 0)
}

// FreeSpace tells how much /dev/shm holds and how much of it is free.
func FreeSpace() (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(Dir, &st); err != nil {
		return Space{}, fmt.Errorf("venom: statfs %s: %w", Dir, err)
	}
	if st.Blocks == 0 {
		return Space{}, nil // no limit
	}
	bs := int64(st.Bsize)
	return Space{Size: int64(st.Blocks) * bs, Free: int64(st.Bavail) * bs}, nil
}

// reserved is how many bytes of the file the filesystem backs: its
// allocated blocks.
func reserved(f *os.File) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// noSpace reports whether err is the kernel refusing memory: ENOSPC
// (the tmpfs is full), ENOMEM (a memory cgroup's limit) or EDQUOT.
func noSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EDQUOT)
}

// spaceError is the error of a reservation of need bytes that failed
// with err; free is measured now, after the failure was undone.
func spaceError(name string, need int64, err error) error {
	if !noSpace(err) {
		return err
	}
	free := int64(-1)
	if sp, e := FreeSpace(); e == nil && sp.Size > 0 {
		free = sp.Free
	}
	return &SpaceError{Name: name, Need: need, Free: free, Err: err}
}

// reserveFresh gives a new, empty segment file its size with every byte
// of it backed, so no access to the mapping can fault with SIGBUS for
// want of memory. On tmpfs fallocate does it in one call and, when it
// fails, frees what it had allocated and leaves the size at 0. A
// filesystem without fallocate gets the size, then zeros written over it
// (writing allocates, and a write that cannot says so with ENOSPC).
func reserveFresh(name string, f *os.File, size int64) error {
	err := fallocate(f, size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		if err = f.Truncate(size); err == nil {
			err = writeZeros(f, size)
		}
	}
	if err != nil {
		if err = spaceError(name, PageAligned(size), err); !errors.Is(err, ErrNoSpace) {
			err = fmt.Errorf("reserve %d bytes: %w", size, err)
		}
		return err
	}
	return nil
}

// ensureBacked reserves what /dev/shm does not back yet of an existing
// segment file of size bytes (one a predecessor made with ftruncate, or a
// hole someone punched), leaving its contents as they are. A file that
// cannot be wholly backed gives a SpaceError, and nothing is kept of the
// attempt (tmpfs undoes a failed fallocate).
func ensureBacked(name string, f *os.File, size int64) error {
	have, err := reserved(f)
	if err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if have >= size {
		return nil
	}
	if err := fallocate(f, size); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("segment of %d bytes holds %d: the filesystem cannot reserve the rest (no fallocate): %w", size, have, err)
		}
		if err = spaceError(name, PageAligned(size)-have, err); !errors.Is(err, ErrNoSpace) {
			err = fmt.Errorf("reserve the %d bytes not backed: %w", size-have, err)
		}
		return err
	}
	return nil
}

// errSparse means a segment is not wholly backed and the caller asked
// not to reserve it.
var errSparse = errors.New("venom: segment not wholly backed by /dev/shm")

// fallocate allocates bytes [0, size) of f, extending it to size.
func fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if err != unix.EINTR {
			if err != nil {
				return os.NewSyscallError("fallocate", err)
			}
			return nil
		}
	}
}

func writeZeros(f *os.File, size int64) error {
	zeros := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
