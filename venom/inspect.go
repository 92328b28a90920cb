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
	Name    string
	Size    int64
	Config  Config // the shape only
	Daemon  DaemonInfo
	Owned   bool          // a live process holds the ownership lock
	Clients int           // active client slots
	Queued  int           // commands in the lanes not yet committed
	Age     time.Duration // since the newest snapshot was published (-1: none)
}

// Inspect reads a segment's header, client table and lanes.
func Inspect(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	seg, cfg, err := openSegment(name)
	if err != nil {
		return Info{}, fmt.Errorf("venom: inspect %q: %w", name, err)
	}
	defer seg.unmap()
	l := seg.l
	info := Info{Name: name, Size: int64(l.total), Config: cfg, Daemon: seg.daemonInfo(), Age: -1}
	// A shared lock succeeds only when no daemon holds the exclusive one.
	if err := unix.Flock(int(seg.file.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		info.Owned = errors.Is(err, unix.EWOULDBLOCK)
	} else {
		unix.Flock(int(seg.file.Fd()), unix.LOCK_UN)
	}
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
