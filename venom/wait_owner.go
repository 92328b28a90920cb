package venom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// CreateWait is Create for a successor that waits its turn (a hot
// standby): when a live process owns the segment, it blocks until that
// owner is gone and then adopts the segment exactly as Create does — the
// snapshots, the queued commands (handed over again under
// CommitOnPublish) and the client slots kept, the epoch moved. It waits
// in flock(LOCK_EX) on the segment file, the owner's lock, which the
// kernel grants the instant the owner dies, however it dies (SIGKILL
// included): no polling, no pid read from shared memory. Without a
// segment it creates one, as Create does.
//
// When ctx ends first, CreateWait returns at once with an error wrapping
// ctx.Err(). A blocked flock cannot be interrupted cleanly from Go: the
// runtime installs its signal handlers with SA_RESTART, so the kernel
// restarts the call after any signal, and polling with LOCK_NB would add
// its interval to every handover. The wait is therefore made on a thread
// of its own, and a cancelled CreateWait leaves it behind: the process
// keeps one thread blocked in flock until the owner dies (or the process
// ends, the usual way a standby is stood down), and a lock granted to it
// then is released at once, unused. Only in that instant does the
// segment look owned by this process to a Create elsewhere (ErrBusy).
func CreateWait(ctx context.Context, name string, cfg Config) (*Daemon, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("venom: create %q: %w", name, err)
	}
	d, err := createWait(ctx, name, cfg)
	if err != nil {
		return nil, fmt.Errorf("venom: create %q: %w", name, err)
	}
	return d, nil
}

func createWait(ctx context.Context, name string, cfg Config) (*Daemon, error) {
	path := Path(name)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := create(name, cfg)
		if !errors.Is(err, ErrBusy) {
			return d, err
		}
		// A live owner holds the lock: wait for it on a file description
		// of our own (flock locks belong to one).
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile: create it
		}
		if err != nil {
			return nil, err
		}
		if err := waitLock(ctx, f); err != nil {
			return nil, err // f is closed, or left to the abandoned wait
		}
		// Ours now. The file may have been unlinked (and another made in
		// its place) while we waited: then it is not the channel.
		if !samePath(f, path) {
			f.Close()
			continue
		}
		d, err = adopt(name, f, cfg) // takes the lock it already holds again: a no-op
		if errors.Is(err, errNotReady) {
			// Its creator died before writing the header (we hold its
			// lock): nothing in it is worth keeping.
			os.Remove(path)
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return d, nil
	}
}

// waitLock blocks in flock(LOCK_EX) on f until the lock is granted (nil)
// or ctx ends (its error). On error f is closed, or it belongs to the
// abandoned wait, which closes it (releasing the lock) when the kernel
// grants it.
func waitLock(ctx context.Context, f *os.File) error {
	fd := int(f.Fd())
	var (
		mu        sync.Mutex
		abandoned bool
	)
	done := make(chan error, 1)
	go func() {
		var err error
		for {
			if err = unix.Flock(fd, unix.LOCK_EX); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			f.Close() // releases a lock nobody waits for any more
			return
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return fmt.Errorf("flock: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case err := <-done: // granted (or failed) just as ctx ended
		f.Close()
		if err != nil {
			return fmt.Errorf("flock: %w", err)
		}
	default:
		abandoned = true
	}
	return ctx.Err()
}

// samePath reports whether the open file f is the file at path now.
func samePath(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
