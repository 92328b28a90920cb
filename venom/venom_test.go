package venom

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func small() Config {
	return Config{DataSize: 1024, History: 4, CmdSlots: 8, CmdSize: 64, RespSize: 128, MaxClients: 4}
}

// pair creates a daemon and connects a shell to it, both closed when the
// test ends.
func pair(t *testing.T, cfg Config) (*Daemon, *Shell) {
	t.Helper()
	name := chanName(t)
	d, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return d, s
}

func TestPublishRead(t *testing.T) {
	d, s := pair(t, small())
	buf := make([]byte, 1024)
	if _, _, err := s.Read(buf); !errors.Is(err, ErrNoData) {
		t.Fatalf("Read before any publish: %v, want ErrNoData", err)
	}
	for i := 1; i <= 10; i++ {
		seq, err := d.Publish(bytes.Repeat([]byte{byte(i)}, i))
		if err != nil || seq != uint64(i) {
			t.Fatalf("Publish %d: seq %d, %v", i, seq, err)
		}
	}
	n, seq, err := s.Read(buf)
	if err != nil || n != 10 || seq != 10 || buf[0] != 10 {
		t.Fatalf("Read: n=%d seq=%d err=%v", n, seq, err)
	}
	n, seq, err = s.ReadAt(1, buf)
	if err != nil || n != 9 || seq != 9 || buf[0] != 9 {
		t.Fatalf("ReadAt(1): n=%d seq=%d err=%v", n, seq, err)
	}
	if _, _, err := s.ReadAt(3, buf); !errors.Is(err, ErrNoData) {
		t.Fatalf("ReadAt(3) with History 4: %v, want ErrNoData", err)
	}
	if n, _, err := s.Read(buf[:5]); !errors.Is(err, ErrTooLarge) || n != 10 {
		t.Fatalf("Read into a short buffer: n=%d %v, want 10 and ErrTooLarge", n, err)
	}
	if _, err := d.Publish(make([]byte, 1025)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Publish too large: %v", err)
	}
	// A refused publish leaves the newest snapshot readable.
	if n, seq, err := s.Read(buf); err != nil || n != 10 || seq != 10 {
		t.Fatalf("Read after refused publish: n=%d seq=%d %v", n, seq, err)
	}
}

func TestNameErrors(t *testing.T) {
	for _, bad := range []string{"", "a/b", "..", strings.Repeat("x", 65), "sp ace", "é"} {
		if _, err := Create(bad, Config{}); !errors.Is(err, ErrName) {
			t.Errorf("Create(%q): %v, want ErrName", bad, err)
		}
		if _, err := Connect(bad); !errors.Is(err, ErrName) {
			t.Errorf("Connect(%q): %v, want ErrName", bad, err)
		}
	}
	if _, err := Connect("no-such-channel-" + t.Name()); !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Connect missing: %v, want ErrNotFound", err)
	}
}

func TestConfigErrors(t *testing.T) {
	name := chanName(t)
	for _, c := range []Config{{CmdSlots: 3}, {History: 1}, {DataSize: -1}, {MaxClients: 5000}, {Wait: 7}} {
		if _, err := Create(name, c); err == nil || !strings.Contains(err.Error(), "config") {
			t.Errorf("Create(%+v): %v, want a config error", c, err)
		}
	}
}

func TestBusyAndIncompatible(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(name, small()); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Create while the owner lives: %v, want ErrBusy", err)
	}
	d.Close()
	other := small()
	other.DataSize *= 2
	if _, err := Create(name, other); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Create with another shape: %v, want ErrIncompatible", err)
	}
	// Not a venom segment at all.
	Remove(name)
	if err := os.WriteFile(Path(name), bytes.Repeat([]byte("junk"), 200), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(name); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Connect to junk: %v, want ErrIncompatible", err)
	}
	if _, err := Create(name, small()); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Create over junk: %v, want ErrIncompatible", err)
	}
}

func TestFullAndQueueFull(t *testing.T) {
	name := chanName(t)
	cfg := small()
	cfg.MaxClients = 2
	d, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(name); !errors.Is(err, ErrFull) {
		t.Fatalf("third Connect with MaxClients 2: %v, want ErrFull", err)
	}
	b.Close()
	c, err := Connect(name)
	if err != nil {
		t.Fatalf("Connect after a Close frees a slot: %v", err)
	}
	defer c.Close()
	for i := 0; i < cfg.CmdSlots; i++ {
		if err := a.Send([]byte{byte(i)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := a.Send([]byte{9}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send into a full lane: %v, want ErrQueueFull", err)
	}
	if err := a.Send(make([]byte, cfg.CmdSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send too large: %v, want ErrTooLarge", err)
	}
	var got []byte
	d.Poll(func(_ ClientID, cmd, _ []byte) int { got = append(got, cmd...); return 0 })
	if !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("drained %v", got)
	}
	if err := a.Send([]byte{9}); err != nil {
		t.Fatalf("Send after drain: %v", err)
	}
	a.Close()
	if err := a.Send([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}

func TestRequestInProcess(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- d.Serve(ctx, func(c ClientID, cmd, resp []byte) int {
			if resp == nil {
				return 0
			}
			return copy(resp, append([]byte("re:"), cmd...))
		})
	}()
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := make([]byte, 128)
			for i := 0; i < 200; i++ {
				msg := []byte{byte(g), byte(i)}
				n, err := s.Request(ctxFor(t, 5*time.Second), msg, resp)
				if err != nil || !bytes.Equal(resp[:n], append([]byte("re:"), msg...)) {
					t.Errorf("Request %v: %q %v", msg, resp[:n], err)
					return
				}
			}
		}()
	}
	wg.Wait()
	short := make([]byte, 2)
	if n, err := s.Request(ctxFor(t, 5*time.Second), []byte("xyz"), short); !errors.Is(err, ErrTooLarge) || n != 6 {
		t.Fatalf("Request with a short buffer: %d %v", n, err)
	}
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve returned %v, want context.Canceled", err)
	}
	d.Close()
	_, err = s.Request(ctxFor(t, 5*time.Second), []byte("x"), short)
	if !errors.Is(err, ErrDaemonGone) {
		t.Fatalf("Request after daemon Close: %v, want ErrDaemonGone", err)
	}
}

func TestRequestHonoursContext(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The daemon lives but never polls, and with a daemon timeout of an
	// hour its silent heartbeat cannot end the request first: only the
	// context can.
	s, err := Connect(name, WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Request(ctx, []byte("x"), make([]byte, 8))
		done <- err
	}()
	eventually(t, 10*time.Second, "Request asleep on its response word", func() bool {
		return s.seg.u32(s.co+cSleeping).Load() == 1
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Request: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second): // a hang, not a slow answer
		t.Fatal("Request still waiting 30s after its context was canceled")
	}
}

// TestSilentDaemonIsGone: a daemon whose process lives on but whose
// heartbeat is older than the client's daemon timeout is gone for Request.
func TestSilentDaemonIsGone(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close() // never polls nor beats after Create
	s, err := Connect(name, WithDaemonTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Request(ctxFor(t, 30*time.Second), []byte("x"), make([]byte, 8))
	if !errors.Is(err, ErrDaemonGone) || !strings.Contains(err.Error(), "no heartbeat") {
		t.Fatalf("Request to a silent daemon: %v, want ErrDaemonGone for its heartbeat", err)
	}
}

func TestAdoptInProcess(t *testing.T) {
	name := chanName(t)
	cfg := small()
	cfg.CommitOnPublish = true
	d, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Publish([]byte("state-1"))
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []string{"a", "b", "c"} {
		if err := s.Send([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	var first []string
	d.Poll(func(_ ClientID, cmd, _ []byte) int { first = append(first, string(cmd)); return 0 })
	if len(first) != 3 {
		t.Fatalf("first daemon got %v", first)
	}
	epoch := d.Epoch()
	d.Close() // no Publish after Poll: the commands are not committed

	d2, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !d2.Adopted() || d2.Epoch() != epoch+1 || d2.Latest() != 1 {
		t.Fatalf("adopted=%v epoch=%d (was %d) latest=%d", d2.Adopted(), d2.Epoch(), epoch, d2.Latest())
	}
	var again []string
	d2.Poll(func(_ ClientID, cmd, _ []byte) int { again = append(again, string(cmd)); return 0 })
	if strings.Join(again, "") != "abc" {
		t.Fatalf("successor got %v, want a b c again", again)
	}
	d2.Publish([]byte("state-2"))
	d2.Close()
	d3, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if n := d3.Poll(func(ClientID, []byte, []byte) int { return 0 }); n != 0 {
		t.Fatalf("after a publish committed them, a successor got %d commands again", n)
	}
	buf := make([]byte, 64)
	n, seq, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "state-2" || seq != 2 {
		t.Fatalf("Read: %q seq %d %v", buf[:n], seq, err)
	}
}

func TestBeginCommitAndRepair(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	d.Publish([]byte("whole"))
	buf, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "half-wri")
	if _, err := d.Begin(); err == nil {
		t.Fatal("a second Begin before Commit succeeded")
	}
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([]byte, 64)
	if n, _, err := s.Read(out); err != nil || string(out[:n]) != "whole" {
		t.Fatalf("Read during a publish: %q %v", out[:n], err)
	}
	// Give up the segment mid-publish, as a crash would.
	d.seg.u32(hState).Store(stateClosed)
	d.seg.unmap()
	d2, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if n, seq, err := s.Read(out); err != nil || string(out[:n]) != "whole" || seq != 1 {
		t.Fatalf("Read after adoption: %q seq %d %v", out[:n], seq, err)
	}
	if seq, err := d2.Publish([]byte("next")); err != nil || seq != 2 {
		t.Fatalf("Publish after repair: %d %v", seq, err)
	}
}

func TestInspectAndList(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, small())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Send([]byte("q"))
	d.Publish([]byte("x"))
	info, err := Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Owned || !info.Daemon.Alive || info.Daemon.Pid != os.Getpid() || info.Clients != 1 || info.Queued != 1 || info.Age < 0 {
		t.Fatalf("Inspect: %+v", info)
	}
	d.Close()
	if info, _ = Inspect(name); info.Owned || info.Daemon.Alive {
		t.Fatalf("Inspect after Close: %+v", info)
	}
	names, err := List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == name
	}
	if !found {
		t.Fatalf("List %v lacks %q", names, name)
	}
}

func TestMalformedCellDroppedAndReleased(t *testing.T) {
	d, s := pair(t, small())
	if err := s.Send([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("bad")); err != nil {
		t.Fatal(err)
	}
	// Corrupt the second cell's length, as a hostile client could.
	l := d.seg.l
	d.seg.u32(l.cell(uint64(s.ID()), s.tail-1)).Store(uint32(l.cmdSize + 1))
	var got []string
	if n := d.Poll(func(_ ClientID, cmd, _ []byte) int { got = append(got, string(cmd)); return 0 }); n != 2 {
		t.Fatalf("Poll took %d cells, want 2", n)
	}
	if len(got) != 1 || got[0] != "ok" || d.Stats().Dropped != 1 {
		t.Fatalf("handled %q, dropped %d", got, d.Stats().Dropped)
	}
	if q := d.seg.u64(l.lane(uint64(s.ID())) + lHead).Load(); q != s.tail {
		t.Fatalf("lane head %d after the drop, want %d: the dropped cell is not released", q, s.tail)
	}
}
