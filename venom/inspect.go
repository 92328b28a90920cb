package venom

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Info describes a segment from the outside, without claiming a client
// slot: what `supervisor ls` prints.
type Info struct {
	Name     string
	Size     int64
	Reserved int64  // bytes of /dev/shm the file holds (less than Size: not wholly backed)
	Config   Config // the shape only
	Daemon   DaemonInfo
	Owned    bool          // a live process holds the ownership lock
	Clients  int           // active client slots
	Queued   int           // commands in the lanes not yet committed
	Age      time.Duration // since the newest snapshot was published (-1: none)
}

// Inspect reads a segment's header, client table and lanes. It reserves
// nothing: of a segment that /dev/shm does not wholly back (made by other
// code), whose pages it must not touch, it reads only the header, with
// plain reads, and reports no clients, queue or age.
func Inspect(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	seg, cfg, err := openSegment(name, false)
	if errors.Is(err, errSparse) {
		return inspectSparse(name)
	}
	if err != nil {
		return Info{}, fmt.Errorf("venom: inspect %q: %w", name, err)
	}
	defer seg.unmap()
	l := seg.l
	info := Info{Name: name, Size: int64(l.total), Config: cfg, Daemon: seg.daemonInfo(), Age: -1}
	info.Reserved, _ = reserved(seg.file)
	info.Owned = ownerLocked(seg.file)
	for i := uint64(0); i < l.maxClients; i++ {
		if seg.u64(l.client(i)+cState).Load()&slotMask == slotActive {
			info.Clients++
		}
		if q := seg.u64(l.lane(i)+lTail).Load() - seg.u64(l.lane(i)+lHead).Load(); q <= l.cmdSlots {
			info.Queued += int(q)
		}
	}
	if latest := info.Daemon.Latest; latest > 0 {
		b := l.buf(latest % l.history)
		if seg.u64(b+bPub).Load() == latest {
			info.Age = time.Duration(nanotime() - int64(seg.u64(b+bMono).Load()))
		}
	}
	return info, nil
}

// ownerLocked reports whether a live process holds the segment's
// ownership lock: a shared lock succeeds only when no daemon holds the
// exclusive one.
func ownerLocked(f *os.File) bool {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// inspectSparse is Inspect of a segment not wholly backed: the header
// read with pread (which reads a hole as zeros, allocating nothing) and
// the ownership lock.
func inspectSparse(name string) (Info, error) {
	fail := func(err error) (Info, error) { return Info{}, fmt.Errorf("venom: inspect %q: %w", name, err) }
	f, err := os.Open(Path(name))
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	hdr := make([]byte, headerSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return fail(err)
	}
	cfg, l, err := readConfig(hdr)
	if err != nil {
		return fail(err)
	}
	// The header's words, read from a private copy.
	g := &segment{name: name, mem: hdr, l: l}
	info := Info{Name: name, Size: int64(l.total), Config: cfg, Daemon: g.daemonInfo(), Age: -1}
	info.Reserved, _ = reserved(f)
	info.Owned = ownerLocked(f)
	return info, nil
}

// List returns the names of every venom segment in /dev/shm, sorted.
func List() ([]string, error) {
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		return nil, fmt.Errorf("venom: list: %w", err)
	}
	var names []string
	for _, e := range ents {
		if name, ok := strings.CutPrefix(e.Name(), "venom."); ok && checkName(name) == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}
