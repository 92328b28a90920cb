package venom

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// segment is a mapped segment file and its validated layout.
type segment struct {
	name string
	file *os.File
	mem  []byte
	l    layout
}

func (s *segment) u64(off uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&s.mem[off]))
}

func (s *segment) u32(off uint64) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&s.mem[off]))
}

func (s *segment) unmap() error {
	var err error
	if s.mem != nil {
		err = unix.Munmap(s.mem)
		s.mem = nil
	}
	if s.file != nil {
		if e := s.file.Close(); err == nil {
			err = e
		}
		s.file = nil
	}
	return err
}

// retire lets go of a client's segment while reads, which take no lock,
// may still be copying from it. The segment's pages are replaced at once
// by a private read-only mapping of zeros at the same addresses (one
// mmap with MAP_FIXED: at no instant is the range unmapped), and the file
// is closed, so the segment's memory is the kernel's again as soon as no
// one else maps it. A read caught mid-way sees its sequence word change
// (or no snapshot at all) and fails; the zeros are unmapped once the
// segment is unreachable, when no read can be running: a read keeps its
// segment alive until its last load (runtime.KeepAlive).
func (s *segment) retire() error {
	if s.mem == nil {
		return nil
	}
	mem := s.mem
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem)),
		unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		// The kernel refused a mapping (out of map areas): keep the
		// segment mapped rather than unmap what a read may be copying.
		err = fmt.Errorf("venom: retire the mapping of %q: %w", s.name, err)
	}
	runtime.AddCleanup(s, func(m []byte) { unix.Munmap(m) }, mem)
	if s.file != nil {
		if e := s.file.Close(); err == nil {
			err = e
		}
		s.file = nil
	}
	return err
}

// mapFile maps the whole of f, whose size must be size.
func mapFile(f *os.File, size uint64) ([]byte, error) {
	if size > maxSegment {
		return nil, fmt.Errorf("%w: size %d", ErrIncompatible, size)
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// readConfig reads and checks the fixed part of a header. Everything it
// returns has been range-checked and the offsets recomputed.
func readConfig(hdr []byte) (Config, layout, error) {
	if len(hdr) < headerSize {
		return Config{}, layout{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrIncompatible, len(hdr))
	}
	le := func(off int) uint64 {
		return uint64(hdr[off]) | uint64(hdr[off+1])<<8 | uint64(hdr[off+2])<<16 | uint64(hdr[off+3])<<24 |
			uint64(hdr[off+4])<<32 | uint64(hdr[off+5])<<40 | uint64(hdr[off+6])<<48 | uint64(hdr[off+7])<<56
	}
	le32 := func(off int) uint64 { return le(off) & 0xffffffff }
	if m := le(hMagic); m != magic {
		return Config{}, layout{}, fmt.Errorf("%w: magic %#x", ErrIncompatible, m)
	}
	if v := le32(hVersion); v != layoutVersion {
		return Config{}, layout{}, fmt.Errorf("%w: layout version %d, want %d", ErrIncompatible, v, layoutVersion)
	}
	bound := func(v, hi uint64) int {
		if v > hi {
			return -1 // validate names the field
		}
		return int(v)
	}
	c := Config{
		DataSize:   bound(le(hDataSize), MaxDataSize),
		History:    bound(le32(hHistory), MaxHistory),
		CmdSlots:   bound(le32(hCmdSlots), MaxCmdSlots),
		CmdSize:    bound(le32(hCmdSize), MaxCmdSize),
		RespSize:   bound(le32(hRespSize), MaxRespSize),
		MaxClients: bound(le32(hMaxClients), MaxClientsMax),
		LaneQuota:  1,
	}
	if err := c.validate(); err != nil {
		return Config{}, layout{}, fmt.Errorf("%w: %v", ErrIncompatible, err)
	}
	l := newLayout(c)
	if le(hRingOff) != l.ringOff || le(hClientsOff) != l.clientsOff || le(hLanesOff) != l.lanesOff || le(hTotalSize) != l.total {
		return Config{}, layout{}, fmt.Errorf("%w: region offsets disagree with the config", ErrIncompatible)
	}
	return c, l, nil
}

func sameShape(a, b Config) bool {
	return a.DataSize == b.DataSize && a.History == b.History && a.CmdSlots == b.CmdSlots &&
		a.CmdSize == b.CmdSize && a.RespSize == b.RespSize && a.MaxClients == b.MaxClients
}

// writeConfig writes the fixed part of a fresh header (all but the magic,
// which is written last, once everything else is in place).
func (s *segment) writeConfig() {
	l := s.l
	s.u32(hVersion).Store(layoutVersion)
	s.u64(hDataSize).Store(l.dataSize)
	s.u32(hHistory).Store(uint32(l.history))
	s.u32(hCmdSlots).Store(uint32(l.cmdSlots))
	s.u32(hCmdSize).Store(uint32(l.cmdSize))
	s.u32(hRespSize).Store(uint32(l.respSize))
	s.u32(hMaxClients).Store(uint32(l.maxClients))
	s.u64(hRingOff).Store(l.ringOff)
	s.u64(hClientsOff).Store(l.clientsOff)
	s.u64(hLanesOff).Store(l.lanesOff)
	s.u64(hTotalSize).Store(l.total)
}

// openSegment opens and maps an existing segment read-write, checking its
// header and size. With reserve, the parts of it /dev/shm does not back
// yet are reserved first (a *SpaceError when they cannot be); without, a
// segment not wholly backed gives errSparse and is not mapped. Either way
// no access to the mapping it returns can fault for want of memory.
func openSegment(name string, reserve bool) (*segment, Config, error) {
	f, err := os.OpenFile(Path(name), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Config{}, ErrNotFound
	}
	if err != nil {
		return nil, Config{}, err
	}
	seg, cfg, err := mapExisting(name, f, reserve, nil)
	if err != nil {
		f.Close()
		return nil, Config{}, err
	}
	return seg, cfg, nil
}

// mapExisting checks the header and size of the segment file f and maps
// it. check, when not nil, may refuse the segment's config before
// anything is reserved. reserve is as for openSegment.
func mapExisting(name string, f *os.File, reserve bool, check func(Config) error) (*segment, Config, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, Config{}, err
	}
	if st.Size() < headerSize {
		return nil, Config{}, fmt.Errorf("%w: file is %d bytes", errNotReady, st.Size())
	}
	hdr := make([]byte, headerSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, Config{}, err
	}
	if bytes.Count(hdr[:8], []byte{0}) == 8 {
		return nil, Config{}, errNotReady
	}
	cfg, l, err := readConfig(hdr)
	if err != nil {
		return nil, Config{}, err
	}
	if uint64(st.Size()) != l.total {
		return nil, Config{}, fmt.Errorf("%w: file is %d bytes, layout needs %d", ErrIncompatible, st.Size(), l.total)
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, Config{}, err
		}
	}
	// A page of a tmpfs file is allocated when it is first touched, and
	// a touch the filesystem cannot back is SIGBUS: map only what is
	// backed. A segment made by Create is (reserveFresh); one made
	// otherwise, or whose creator was killed mid-way, may not be.
	if reserve {
		if err := ensureBacked(name, f, int64(l.total)); err != nil {
			return nil, Config{}, err
		}
	} else if have, err := reserved(f); err != nil || have < int64(l.total) {
		return nil, Config{}, errSparse
	}
	mem, err := mapFile(f, l.total)
	if err != nil {
		return nil, Config{}, fmt.Errorf("mmap: %w", err)
	}
	return &segment{name: name, file: f, mem: mem, l: l}, cfg, nil
}

// errNotReady means a segment is being created: its header is not whole yet.
var errNotReady = fmt.Errorf("%w: segment not initialized yet", ErrNotFound)

// procStart returns the start time of a process (field 22 of
// /proc/PID/stat, in clock ticks since boot), and whether the process is
// alive and not a zombie. Together with the pid it names one process for
// its whole life, so a reused pid is not taken for its predecessor.
func procStart(pid int) (start uint64, alive bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 {
		return 0, false
	}
	if st := fields[0]; len(st) == 1 && (st[0] == 'Z' || st[0] == 'X') {
		return 0, false
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, false
	}
	return start, true
}

// processAlive reports whether pid is alive and is the process that
// started at start.
func processAlive(pid, start uint64) bool {
	if pid == 0 || pid > 1<<22 {
		return false
	}
	s, ok := procStart(int(pid))
	return ok && s == start
}

func selfStart() uint64 { s, _ := procStart(os.Getpid()); return s }
