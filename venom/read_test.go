package venom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"golang.org/x/sys/unix"
)

// Tests of the read path: Latest, the cached re-read of the newest
// snapshot, and reads racing with Close (reads take no lock).

func init() {
	helpers["reader-mixed"] = helperReaderMixed
}

// reader-mixed NAME DISTINCT: as reader, but each round also reads the
// snapshot before the newest (ReadAt 1), reads with ReadSnapshot and
// ReadHead, and reads only when Latest says a newer one exists — every
// copy checked.
func helperReaderMixed(args []string) error {
	s, err := Connect(args[0])
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	reads, torn, distinct, older := 0, 0, 0, 0
	var last uint64
	check := func(n int, seq uint64) {
		reads++
		if !checked(buf[:n]) || binary.LittleEndian.Uint64(buf) != seq {
			torn++
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); distinct < atoi(args[1]); {
		if time.Now().After(deadline) {
			return fmt.Errorf("saw %d distinct snapshots in %d reads, want %s", distinct, reads, args[1])
		}
		latest, err := s.Latest()
		if err != nil {
			return err
		}
		if latest != last {
			n, seq, err := s.Read(buf)
			if err != nil {
				return err
			}
			check(n, seq)
			if seq < latest {
				return fmt.Errorf("Read gave %d after Latest said %d", seq, latest)
			}
			distinct++
			last = seq
		}
		// Again, unchanged or not: the cached re-read.
		n, seq, err := s.Read(buf)
		if err != nil {
			return err
		}
		check(n, seq)
		switch n, seq, err := s.ReadAt(1, buf); {
		case errors.Is(err, ErrNoData): // overwritten meanwhile
		case err != nil:
			return err
		default:
			check(n, seq)
			older++
		}
		snap, err := s.ReadSnapshot(0, buf)
		if err != nil {
			return err
		}
		check(snap.Len, snap.Seq)
		// The head of a snapshot: its first 12 bytes (sequence, CRC).
		var head [12]byte
		snap, err = s.ReadHead(head[:])
		if err != nil {
			return err
		}
		reads++
		if snap.Len < 12 || binary.LittleEndian.Uint64(head[:]) != snap.Seq {
			torn++
		}
	}
	fmt.Printf("reads=%d torn=%d distinct=%d older=%d\n", reads, torn, distinct, older)
	return nil
}

// Latest, the cached re-read, ReadAt(1), ReadSnapshot and ReadHead, each
// copy checked, by two readers while another process publishes as fast as
// it can. One reader runs beside the writer (they run at once on two
// CPUs); the other shares one CPU with the writer, so the scheduler
// preempts it mid-copy again and again while the writer, in its turn,
// laps the ring many times: a read whose sequence check after the copy is
// dropped returns a torn copy within a few of those preemptions, where two
// processes on two CPUs only rarely overlap that way (a copy is a few µs,
// a publish here some tens).
//
// Measured (2 CPUs, loaded by other agents' builds; each run its own
// process: go test -c [-race] -o venom.test ./venom/, then 100 × venom.test
// -test.run '^TestNoTornReadsMixed$' -test.count=1, counting failures),
// with the check after the copy dropped (whole := true in readSnap;
// ok := true in readAgain): with one reader beside the writer, as this
// test was, 26 and 33 runs of 100 failed (no -race). As it is: with
// -race, 100 and 100 of 100, and the reader on the writer's CPU alone saw
// a torn copy in 100 and 100 runs; without -race, with that reader
// wanting 300 snapshots instead of 1000, 100 and 100 of 100 (that reader
// alone: 100 and 100; with -race it was 93 and 92, hence 1000).
// Unmutated: 0 of 100 (0 of 30 with -race).
func TestNoTornReadsMixed(t *testing.T) {
	name := chanName(t)
	cpu := firstCPU(t)
	w := startOnCPU(t, cpu, "writer", name)
	w.Expect(t, "ready", 10*time.Second)
	readers := []struct {
		where string
		p     *proc
	}{
		{"beside the writer", startProc(t, "reader-mixed", name, "1000")},
		{"on the writer's CPU", startOnCPU(t, cpu, "reader-mixed", name, "1000")},
	}
	for _, rd := range readers {
		where, r := rd.where, rd.p
		m := r.Expect(t, `reads=(\d+) torn=(\d+) distinct=(\d+) older=(\d+)`, 3*time.Minute)
		if m[2] != "0" {
			t.Errorf("reader %s: reads=%s torn=%s distinct=%s older=%s", where, m[1], m[2], m[3], m[4])
			continue
		}
		t.Logf("reader %s: reads=%s torn=%s distinct snapshots=%s older=%s", where, m[1], m[2], m[3], m[4])
		r.Wait(t, 10*time.Second)
	}
}

// firstCPU is the first CPU this process may run on.
func firstCPU(t *testing.T) int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatalf("sched_getaffinity: %v", err)
	}
	for cpu := range 1024 {
		if set.IsSet(cpu) {
			return cpu
		}
	}
	t.Fatal("sched_getaffinity: no CPU")
	return 0
}

// startOnCPU starts a helper process that runs on one CPU only. A new
// process inherits the CPU affinity of the thread that forks it, so the
// thread that starts it is pinned for the while: every thread of the
// helper's runtime is pinned from its birth (and its GOMAXPROCS is 1).
func startOnCPU(t *testing.T, cpu int, mode string, args ...string) *proc {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Fatalf("sched_getaffinity: %v", err)
	}
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatalf("sched_setaffinity to CPU %d: %v", cpu, err)
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, &was); err != nil {
			t.Errorf("sched_setaffinity back: %v", err)
		}
	}()
	return proctest.StartCmd(t, proctest.Command(mode, args...))
}

func TestLatest(t *testing.T) {
	d, s := pair(t, small())
	if seq, err := s.Latest(); err != nil || seq != 0 {
		t.Fatalf("Latest before any publish: %d, %v", seq, err)
	}
	buf := make([]byte, 1024)
	for i := 1; i <= 6; i++ {
		if _, err := d.Publish(bytes.Repeat([]byte{byte(i)}, i)); err != nil {
			t.Fatal(err)
		}
		latest, err := s.Latest()
		if err != nil || latest != uint64(i) {
			t.Fatalf("Latest after publish %d: %d, %v", i, latest, err)
		}
		// Twice: the second is the cached re-read.
		for range 2 {
			n, seq, err := s.Read(buf)
			if err != nil || n != i || seq != uint64(i) || buf[0] != byte(i) {
				t.Fatalf("Read after publish %d: n=%d seq=%d %v", i, n, seq, err)
			}
		}
		if i > 1 {
			n, seq, err := s.ReadAt(1, buf)
			if err != nil || n != i-1 || seq != uint64(i-1) || buf[0] != byte(i-1) {
				t.Fatalf("ReadAt(1) after publish %d: n=%d seq=%d %v", i, n, seq, err)
			}
		}
		// A shorter buffer after a cached read: ErrTooLarge, not a short copy.
		if n, _, err := s.Read(buf[:i-1]); !errors.Is(err, ErrTooLarge) || n != i {
			t.Fatalf("Read into %d bytes after publish %d: n=%d %v", i-1, i, n, err)
		}
		// ReadHead copies what fits and tells the whole length.
		head := make([]byte, 3)
		snap, err := s.ReadHead(head)
		if err != nil || snap.Seq != uint64(i) || snap.Len != i || head[0] != byte(i) || (i < 3 && head[i] != 0) {
			t.Fatalf("ReadHead after publish %d: %+v %v, head %v", i, snap, err, head)
		}
	}
	s.Close()
	if _, err := s.Latest(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Latest after Close: %v", err)
	}
	if _, _, err := s.Read(buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := s.ReadSnapshot(1, buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadSnapshot after Close: %v", err)
	}
	if _, err := s.ReadHead(buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadHead after Close: %v", err)
	}
}

// Reads take no lock: Close while goroutines read ends their reads with
// ErrClosed (never a fault on unmapped memory), and the segment is the
// daemon's as before.
//
// Close comes only once every reader has read (so each is in its loop),
// and the snapshots are large (4 MiB: a copy takes a few hundred µs,
// nearly all of a reader's loop), so at Close the readers that run are
// mid-copy, not between two reads: a Close that unmapped the segment
// would fault them in the first round. Measured (2 CPUs, loaded; go test
// -c [-race], then 100 × venom.test -test.run '^TestReadRacesClose$'
// -test.count=1, each its own process, counting failures), with Close
// unmapping (Shell.Close calling seg.unmap instead of seg.retire, or
// retire calling munmap instead of mapping zeros over the segment): 100
// of 100 failed, with and without -race (with -test.cpu=1: 99 and 100);
// the code as it is: 0 of 100. (The test before, with 1000-byte
// snapshots and a sleep before Close, also failed 100 of 100 against
// this code, whose cached re-read faults at once: the 1 in 12 of issue
// 20 did not show here. The large copies and the wait for every reader
// make the catch not depend on how short a read is.)
func TestReadRacesClose(t *testing.T) {
	const size = 4 << 20
	d, _ := pair(t, Config{DataSize: size, History: 4, CmdSlots: 8, CmdSize: 64, RespSize: 128, MaxClients: 4})
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	for range 2 { // two, for ReadAt(1)
		if _, err := d.Publish(p); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		s, err := Connect(d.seg.name)
		if err != nil {
			t.Fatal(err)
		}
		const readers = 4
		var wg sync.WaitGroup
		started := make(chan struct{}, readers) // one per reader, at its first read
		errs := make(chan error, readers)
		for g := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, size)
				for reads := 0; ; reads++ {
					var err error
					switch g {
					case 0:
						_, _, err = s.Read(buf)
					case 1:
						_, _, err = s.ReadAt(1, buf)
					case 2:
						_, err = s.ReadSnapshot(0, buf)
						if err == nil {
							_, err = s.ReadHead(buf[:8])
						}
					default:
						_, err = s.Latest()
					}
					if reads == 0 {
						started <- struct{}{}
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						errs <- fmt.Errorf("round %d reader %d: %v", round, g, err)
						return
					}
				}
			}()
		}
		for range readers {
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				s.Close()
				wg.Wait()
				t.Fatalf("round %d: the readers did not read within 30 s", round)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
		runtime.GC() // the retired mapping is unmapped once the shell is gone
	}
	// The daemon's segment is untouched by its clients' Close.
	s, err := Connect(d.seg.name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, size)
	if n, seq, err := s.Read(buf); err != nil || n != size || seq != 2 || !bytes.Equal(buf[:n], p) {
		t.Fatalf("Read after the clients closed: n=%d seq=%d %v", n, seq, err)
	}
}
