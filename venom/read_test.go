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

// Latest, the cached re-read, ReadAt(1) and ReadSnapshot, each copy
// checked, while another process publishes as fast as it can.
func TestNoTornReadsMixed(t *testing.T) {
	name := chanName(t)
	w := startProc(t, "writer", name)
	w.Expect(t, "ready", 10*time.Second)
	r := startProc(t, "reader-mixed", name, "1000")
	m := r.Expect(t, `reads=(\d+) torn=(\d+) distinct=(\d+) older=(\d+)`, 3*time.Minute)
	if m[2] != "0" || atoi(m[3]) < 1000 {
		t.Fatalf("reader: reads=%s torn=%s distinct=%s older=%s", m[1], m[2], m[3], m[4])
	}
	t.Logf("reads=%s torn=%s distinct snapshots=%s older=%s", m[1], m[2], m[3], m[4])
	r.Wait(t, 10*time.Second)
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
func TestReadRacesClose(t *testing.T) {
	d, _ := pair(t, small())
	p := bytes.Repeat([]byte{7}, 1000)
	if _, err := d.Publish(p); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		s, err := Connect(d.seg.name)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1024)
				<-start
				for {
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
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil && !errors.Is(err, ErrNoData) {
						errs <- fmt.Errorf("round %d reader %d: %v", round, g, err)
						return
					}
				}
			}()
		}
		close(start)
		runtime.Gosched()
		time.Sleep(time.Duration(round%4) * 100 * time.Microsecond)
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
	buf := make([]byte, 1024)
	if n, seq, err := s.Read(buf); err != nil || n != 1000 || seq != 1 || !bytes.Equal(buf[:n], p) {
		t.Fatalf("Read after the clients closed: n=%d seq=%d %v", n, seq, err)
	}
}
