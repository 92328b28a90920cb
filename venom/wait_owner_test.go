package venom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// flockWaiters counts the processes blocked in flock on the file at path,
// as /proc/locks lists them ("-> FLOCK ..."): how a test knows that a
// CreateWait is waiting, without sleeping.
func flockWaiters(t testing.TB, path string) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Skipf("no /proc/locks: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[1] != "->" || f[2] != "FLOCK" {
			continue
		}
		if strings.HasSuffix(f[6], fmt.Sprintf(":%d", st.Ino)) {
			n++
		}
	}
	return n
}

type waitResult struct {
	d   *Daemon
	err error
}

func startWait(ctx context.Context, name string, cfg Config) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		d, err := CreateWait(ctx, name, cfg)
		ch <- waitResult{d, err}
	}()
	return ch
}

func result(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("CreateWait did not return")
	}
	return waitResult{}
}

func TestCreateWaitFresh(t *testing.T) {
	name := chanName(t)
	d, err := CreateWait(ctxFor(t, 10*time.Second), name, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Adopted() || d.Epoch() != 1 {
		t.Errorf("adopted=%v epoch=%d, want a fresh segment", d.Adopted(), d.Epoch())
	}
}

// TestCreateWaitAfterClose: a waiter blocked on a live owner adopts the
// segment when the owner lets go, with its snapshot and the commands it
// was handed but never published (commit on publish).
func TestCreateWaitAfterClose(t *testing.T) {
	name := chanName(t)
	cfg := Config{DataSize: 1024, CommitOnPublish: true}
	d1, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d1.Publish([]byte("snap-1"))
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Send([]byte("a"))
	s.Send([]byte("b"))
	if n := d1.Poll(func(ClientID, []byte, []byte) int { return 0 }); n != 2 {
		t.Fatalf("polled %d, want 2", n)
	}
	ch := startWait(ctxFor(t, 30*time.Second), name, cfg)
	eventually(t, 10*time.Second, "the waiter blocked in flock", func() bool { return flockWaiters(t, Path(name)) == 1 })
	select {
	case r := <-ch:
		t.Fatalf("CreateWait returned while the owner lives: %v", r.err)
	default:
	}
	d1.Close()
	r := result(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	d2 := r.d
	defer d2.Close()
	if !d2.Adopted() || d2.Epoch() != 2 {
		t.Errorf("adopted=%v epoch=%d, want adopted at epoch 2", d2.Adopted(), d2.Epoch())
	}
	buf := make([]byte, 1024)
	if n, _, err := d2.Read(buf); err != nil || string(buf[:n]) != "snap-1" {
		t.Errorf("snapshot %q %v, want snap-1", buf[:n], err)
	}
	var got []string
	d2.Poll(func(_ ClientID, cmd, _ []byte) int { got = append(got, string(cmd)); return 0 })
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("handed %q, want the unpublished a,b again", got)
	}
}

// TestCreateWaitOwnerKilled: the kernel hands the lock over when the owner
// process is SIGKILLed.
func TestCreateWaitOwnerKilled(t *testing.T) {
	name := chanName(t)
	owner := startProc(t, "crashy-daemon", name)
	owner.Expect(t, `ready epoch=1 adopted=false`, 10*time.Second)
	s, err := Connect(name, WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []string{"a", "publish"} {
		s.Send([]byte(c))
	}
	owner.Expect(t, "published", 10*time.Second)
	s.Send([]byte("c"))
	owner.Expect(t, "got c", 10*time.Second) // handed out, not published
	cfg := Config{CommitOnPublish: true, DataSize: 1024}
	ch := startWait(ctxFor(t, 30*time.Second), name, cfg)
	eventually(t, 10*time.Second, "the waiter blocked in flock", func() bool { return flockWaiters(t, Path(name)) == 1 })
	owner.Kill(t)
	r := result(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.d.Close()
	if !r.d.Adopted() || r.d.Epoch() != 2 {
		t.Errorf("adopted=%v epoch=%d", r.d.Adopted(), r.d.Epoch())
	}
	var got []string
	r.d.Poll(func(_ ClientID, cmd, _ []byte) int { got = append(got, string(cmd)); return 0 })
	if strings.Join(got, ",") != "c" {
		t.Errorf("handed %q, want c again", got)
	}
	buf := make([]byte, 1024)
	if n, _, err := r.d.Read(buf); err != nil || !bytes.Equal(buf[:n], []byte("snap:a,publish")) {
		t.Errorf("snapshot %q %v", buf[:n], err)
	}
}

// TestCreateWaitCancelled: ctx ends the wait at once; the lock the
// abandoned wait is granted later is released, so a Create after the
// owner is gone succeeds.
func TestCreateWaitCancelled(t *testing.T) {
	name := chanName(t)
	d1, err := Create(name, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := startWait(ctx, name, Config{})
	eventually(t, 10*time.Second, "the waiter blocked in flock", func() bool { return flockWaiters(t, Path(name)) == 1 })
	cancel()
	r := result(t, ch)
	if !errors.Is(r.err, context.Canceled) || r.d != nil {
		t.Fatalf("cancelled CreateWait: %v, want context.Canceled", r.err)
	}
	d1.Close()
	var d2 *Daemon
	eventually(t, 10*time.Second, "Create after the owner closed", func() bool {
		d2, err = Create(name, Config{})
		if err != nil && !errors.Is(err, ErrBusy) {
			t.Fatal(err)
		}
		return err == nil
	})
	d2.Close()
}

// TestCreateWaitReplaced: the segment the waiter waits on is unlinked and
// another made in its place; it waits on that one and adopts it.
func TestCreateWaitReplaced(t *testing.T) {
	name := chanName(t)
	d1, err := Create(name, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ch := startWait(ctxFor(t, 30*time.Second), name, Config{})
	eventually(t, 10*time.Second, "the waiter blocked in flock", func() bool { return flockWaiters(t, Path(name)) == 1 })
	if err := Remove(name); err != nil {
		t.Fatal(err)
	}
	d3, err := Create(name, Config{})
	if err != nil {
		t.Fatal(err)
	}
	d3.Publish([]byte("new"))
	d1.Close() // the old file's lock goes to the waiter, which lets it go
	eventually(t, 10*time.Second, "the waiter blocked on the new segment", func() bool { return flockWaiters(t, Path(name)) == 1 })
	d3.Close()
	r := result(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.d.Close()
	buf := make([]byte, 64)
	if n, _, err := r.d.Read(buf); err != nil || string(buf[:n]) != "new" || r.d.Epoch() != 2 {
		t.Errorf("adopted %q epoch %d (%v), want the new segment's snapshot at epoch 2", buf[:n], r.d.Epoch(), err)
	}
}

func TestCreateWaitRefuses(t *testing.T) {
	ctx := ctxFor(t, 10*time.Second)
	if _, err := CreateWait(ctx, "a/b", Config{}); !errors.Is(err, ErrName) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := CreateWait(ctx, chanName(t), Config{History: 1}); err == nil {
		t.Error("bad config accepted")
	}
	name := chanName(t)
	d, err := Create(name, Config{DataSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := CreateWait(ctx, name, Config{DataSize: 2048}); !errors.Is(err, ErrIncompatible) {
		t.Errorf("other shape: %v, want ErrIncompatible", err)
	}
}
