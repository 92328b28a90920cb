package venom

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/internal/proctest"
)

// These tests run in a mount namespace of their own, with a small tmpfs
// over /dev/shm, as a container started with a small --shm-size has it.

// fill takes all that is free of /dev/shm with a file of its own, and
// returns the file's path.
func fill(t *testing.T) string {
	t.Helper()
	path := Dir + "/filler"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp, err := FreeSpace()
	if err != nil {
		t.Fatal(err)
	}
	if sp.Free > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, sp.Free); err != nil {
			t.Fatalf("fill %d bytes: %v", sp.Free, err)
		}
	}
	if sp, _ := FreeSpace(); sp.Free != 0 {
		t.Fatalf("/dev/shm not full after the filler: %+v", sp)
	}
	return path
}

// touchAll writes every byte of a daemon's segment through the mapping:
// were a page not backed with /dev/shm full, this would be SIGBUS.
// (An atomic add of 0 is a write that keeps what is there.)
func touchAll(d *Daemon) {
	for off := uint64(0); off < d.seg.l.total; off += 4 {
		d.seg.u32(off).Add(0)
	}
}

// A segment larger than the free space: ErrNoSpace naming the bytes, and
// no file left behind. One that fits is reserved whole when it is made:
// with /dev/shm then filled to the last byte, writing all of it, every
// snapshot buffer, lane and response buffer, cannot fault.
func TestCreateNoSpace(t *testing.T) {
	const size = 256 << 10
	if !proctest.SmallShm(t, size) {
		return
	}
	big := Config{DataSize: 128 << 10, History: 2, MaxClients: 2}
	need, err := SegmentSize(big)
	if err != nil || need <= size {
		t.Fatalf("SegmentSize = %d, %v: want more than %d", need, err, size)
	}
	_, err = Create("big", big)
	var se *SpaceError
	if !errors.Is(err, ErrNoSpace) || !errors.As(err, &se) {
		t.Fatalf("Create of %d bytes in %d: %v, want ErrNoSpace", need, size, err)
	}
	if se.Need != PageAligned(need) || se.Free != size || se.Name != "big" {
		t.Fatalf("SpaceError %+v: want Need %d, Free %d", *se, PageAligned(need), size)
	}
	for _, want := range []string{`"big"`, strconv.FormatInt(se.Need, 10) + " bytes", strconv.Itoa(size) + " bytes", "free"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	t.Logf("Create: %v", err)
	if _, err := os.Stat(Path("big")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file left behind: %v", err)
	}
	if sp, _ := FreeSpace(); sp.Free != size {
		t.Fatalf("free after the refusal: %d, want all %d back", sp.Free, size)
	}

	small := Config{DataSize: 16 << 10, History: 2, CmdSlots: 16, RespSize: 1024, MaxClients: 4}
	d, err := Create("small", small)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := Inspect("small")
	if n, _ := SegmentSize(small); err != nil || info.Size != n || info.Reserved < n {
		t.Fatalf("Inspect: %+v %v: want Size %d wholly reserved", info, err, n)
	}
	fill(t)
	touchAll(d)
	s, err := Connect("small")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2*small.History; i++ {
		if _, err := d.Publish(bytes.Repeat([]byte{byte(i)}, small.DataSize)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < small.CmdSlots; i++ {
		if err := s.Send(bytes.Repeat([]byte{1}, DefaultCmdSize)); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Poll(func(ClientID, []byte, []byte) int { return 0 }); n != small.CmdSlots {
		t.Fatalf("Poll handled %d, want %d", n, small.CmdSlots)
	}
	buf := make([]byte, small.DataSize)
	if n, _, err := s.Read(buf); err != nil || n != small.DataSize {
		t.Fatalf("Read: %d %v", n, err)
	}
}

// A segment left not wholly backed (by code that made it with ftruncate,
// or a hole punched in it) is neither adopted nor connected to while
// /dev/shm cannot back it: ErrNoSpace, and its contents untouched; Inspect
// still reads its header without touching a page. With room again, Create
// reserves the rest and adopts it, snapshots kept.
func TestAdoptNotBacked(t *testing.T) {
	const size = 256 << 10
	if !proctest.SmallShm(t, size) {
		return
	}
	cfg := Config{DataSize: 32 << 10, History: 3, CmdSlots: 16, RespSize: 1024, MaxClients: 2}
	d, err := Create("sparse", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("snap"), 1000)
	if _, err := d.Publish(want); err != nil {
		t.Fatal(err)
	}
	total := int64(d.seg.l.total)
	epoch := d.Epoch()
	d.Close()
	// Punch out everything after the first two snapshot buffers (the
	// newest snapshot is in buffer 1).
	from := PageAligned(int64(d.seg.l.buf(2)))
	f, err := os.OpenFile(Path("sparse"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, total-from); err != nil {
		t.Fatalf("punch a hole: %v", err)
	}
	f.Close()
	filler := fill(t)

	info, err := Inspect("sparse")
	if err != nil || info.Reserved >= total || info.Size != total || info.Owned || info.Daemon.Epoch != epoch {
		t.Fatalf("Inspect of the sparse segment: %+v %v", info, err)
	}
	if _, err := Create("sparse", cfg); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Create (adopt) with /dev/shm full: %v, want ErrNoSpace", err)
	}
	if _, err := Connect("sparse"); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Connect with /dev/shm full: %v, want ErrNoSpace", err)
	}
	if info2, err := Inspect("sparse"); err != nil || info2.Reserved != info.Reserved {
		t.Fatalf("after the refusals: %+v %v, want %d bytes reserved as before", info2, err, info.Reserved)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d, err = Create("sparse", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Adopted() || d.Epoch() != epoch+1 {
		t.Fatalf("adopted %v epoch %d, want an adoption at epoch %d", d.Adopted(), d.Epoch(), epoch+1)
	}
	if info, err := Inspect("sparse"); err != nil || info.Reserved < total {
		t.Fatalf("after the adoption: %+v %v, want all %d bytes reserved", info, err, total)
	}
	fill(t)
	touchAll(d)
	got := make([]byte, cfg.DataSize)
	n, _, err := d.Read(got)
	if err != nil || !bytes.Equal(got[:n], want) {
		t.Fatalf("snapshot after the adoption: %d bytes, %v", n, err)
	}
}

// Connect reserves a segment that is not wholly backed when it can.
func TestConnectReserves(t *testing.T) {
	if !proctest.SmallShm(t, 256<<10) {
		return
	}
	cfg := Config{DataSize: 32 << 10, History: 2, CmdSlots: 16, RespSize: 1024, MaxClients: 2}
	d, err := Create("c", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	total := int64(d.seg.l.total)
	f, err := os.OpenFile(Path("c"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	from := PageAligned(int64(d.seg.l.clientsOff))
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, total-from); err != nil {
		t.Fatal(err)
	}
	if have, _ := reserved(f); have >= total {
		t.Fatalf("hole not punched: %d of %d reserved", have, total)
	}
	s, err := Connect("c")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if have, _ := reserved(f); have < total {
		t.Fatalf("after Connect %d of %d bytes reserved", have, total)
	}
}

// SegmentSize is the size of the file Create makes, and refuses what
// Create refuses.
func TestSegmentSize(t *testing.T) {
	for _, cfg := range []Config{{}, {DataSize: 1, History: 2, CmdSlots: 2, CmdSize: 1, RespSize: 1, MaxClients: 1}, {DataSize: 100_000, MaxClients: 3}} {
		name := chanName(t)
		d, err := Create(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n, err := SegmentSize(cfg)
		info, _ := Inspect(name)
		d.Close()
		if err != nil || n != info.Size || info.Reserved < n {
			t.Fatalf("%+v: SegmentSize %d %v, file %d bytes, %d reserved", cfg, n, err, info.Size, info.Reserved)
		}
	}
	if _, err := SegmentSize(Config{History: 1}); err == nil {
		t.Fatal("SegmentSize of History 1: no error")
	}
}
