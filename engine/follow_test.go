package engine

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["other"] = helperOther
}

// otherItem is a slice of another schema on a counter's channel name.
type otherItem struct{ A, B, C uint32 }

var otherSchema = MustSchema[counterMeta, otherItem]()

// other CHANNEL: a process of another schema, until SIGTERM.
func helperOther(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return Run(ctx, otherSchema, &otherSim{}, Options{Channel: args[0], Rate: 100, DataSize: 8 << 10})
}

type otherSim struct{ n uint32 }

func (o *otherSim) Restore(*Frame[counterMeta, otherItem]) error { return nil }
func (o *otherSim) Handle(Command) error                         { return nil }
func (o *otherSim) Step(time.Duration)                           { o.n++ }
func (o *otherSim) Snapshot(m *counterMeta, items []otherItem) []otherItem {
	m.Sum = -1 // no counter has a negative sum: a foreign snapshot shows
	return append(items, otherItem{o.n, o.n, o.n})
}

// followed polls f until cond holds, checking every snapshot it hands
// out on the way: whole (the counter's sum is the sum of its items, each
// add one item) and the counter's (no foreign sum).
func followed(t *testing.T, f *Follower[counterMeta, counterItem], what string, cond func(FollowState) bool) {
	t.Helper()
	proctest.Eventually(t, 10*time.Second, what, func() bool {
		st := f.Poll()
		if f.Have() {
			checkWhole(t, &f.Cur)
		}
		if st == FollowIncompatible && f.Have() {
			t.Fatalf("incompatible, and a snapshot handed out: %+v", f.Cur.Header)
		}
		return cond(st)
	})
}

func checkWhole(t *testing.T, fr *Frame[counterMeta, counterItem]) {
	t.Helper()
	var sum float64
	for _, it := range fr.Items {
		sum += it.Value
	}
	if sum != fr.Meta.Sum || int(fr.Count) != len(fr.Items) {
		t.Fatalf("torn or foreign snapshot: sum %v, items sum to %v (%d items, count %d)", fr.Meta.Sum, sum, len(fr.Items), fr.Count)
	}
}

// TestFollower follows a counter through everything that happens to a
// process: not there yet, SIGKILLed and restarted (adopted), killed
// mid-publish, replaced by a hot standby, removed and created anew
// (--fresh), and replaced by a process of another schema.
func TestFollower(t *testing.T) {
	ch := channel(t)
	f := Follow(ch, counterSchema, FollowOptions{Stale: 300 * time.Millisecond, Retry: 20 * time.Millisecond, Prev: true})
	defer f.Close()
	if st := f.Poll(); st != FollowWaiting || f.Have() || f.Err() == nil {
		t.Fatalf("before the owner: %v have %v err %v", st, f.Have(), f.Err())
	}
	if err := f.Send(Cmd(OpAdd, 1)); err == nil {
		t.Fatal("Send before a connection: no error")
	}

	p := proctest.Start(t, "counter", ch, "200")
	followed(t, f, "live", func(st FollowState) bool { return st == FollowLive })
	epoch := f.Epoch()
	for i := 1; i <= 5; i++ {
		if err := f.Send(Cmd(OpAdd, float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	followed(t, f, "adds applied", func(FollowState) bool { return f.Cur.Meta.Sum == 15 && f.HavePrev() })
	if f.Prev.Tick >= f.Cur.Tick || f.Age(venom.Monotonic()) < 0 {
		t.Fatalf("prev tick %d cur %d age %v", f.Prev.Tick, f.Cur.Tick, f.Age(venom.Monotonic()))
	}

	// SIGKILL: stale, the last snapshot kept; the successor adopts the
	// segment and its epoch shows.
	p.Kill(t)
	followed(t, f, "stale after SIGKILL", func(st FollowState) bool { return st == FollowStale })
	if f.Cur.Meta.Sum != 15 || !f.Connected() {
		t.Fatalf("stale: sum %v connected %v, want the last snapshot and the connection kept", f.Cur.Meta.Sum, f.Connected())
	}
	p = proctest.Start(t, "counter", ch, "200")
	followed(t, f, "the successor live", func(st FollowState) bool { return st == FollowLive && f.Epoch() == epoch+1 })
	if s := f.Stats(); s.Restarts != 1 || s.Replaced != 0 {
		t.Fatalf("after a restart: %+v, want one restart, no replacement", s)
	}

	// Killed halfway through a publish: never the half snapshot.
	f.Send(Cmd(OpAdd, 6))
	followed(t, f, "add applied", func(FollowState) bool { return f.Cur.Meta.Sum == 21 })
	f.Send(Cmd(OpMidPublish))
	<-p.Done()
	followed(t, f, "stale after the mid-publish death", func(st FollowState) bool { return st == FollowStale })

	// A hot standby, waiting for the channel, takes over.
	sb := startStandby(t, ch)
	sb.goAhead(t)
	followed(t, f, "the standby live", func(st FollowState) bool { return st == FollowLive && f.Epoch() == epoch+2 })
	if f.Cur.Meta.Sum != 21 {
		t.Fatalf("standby: sum %v, want 21 (restored)", f.Cur.Meta.Sum)
	}

	// --fresh: the segment removed and created anew.
	sb.p.Cmd.Process.Signal(syscall.SIGTERM)
	sb.p.Wait(t, 10*time.Second)
	venom.Remove(ch)
	proctest.Start(t, "counter", ch, "200")
	followed(t, f, "the fresh world live", func(st FollowState) bool {
		return st == FollowLive && f.Stats().Replaced == 1 && f.Cur.Meta.Sum == 0
	})

	// Another schema on the channel: seen as such, nothing handed out.
	stopAll(t, ch)
	venom.Remove(ch)
	proctest.Start(t, "other", ch)
	followed(t, f, "incompatible", func(st FollowState) bool { return st == FollowIncompatible })
	if f.Have() || f.Err() == nil {
		t.Fatalf("incompatible: have %v err %v", f.Have(), f.Err())
	}
	for range 20 { // it stays so, and hands nothing out
		if st := f.Poll(); st != FollowIncompatible && st != FollowWaiting || f.Have() {
			t.Fatalf("incompatible channel: %v have %v", st, f.Have())
		}
	}
}

// stopAll ends the owner of ch with SIGTERM and waits until it is gone.
func stopAll(t *testing.T, ch string) {
	t.Helper()
	info, err := venom.Inspect(ch)
	if err != nil || !info.Owned {
		return
	}
	syscall.Kill(info.Daemon.Pid, syscall.SIGTERM)
	proctest.Eventually(t, 10*time.Second, "the owner gone", func() bool {
		info, err := venom.Inspect(ch)
		return err != nil || !info.Owned
	})
}

// standby is a counter started as a hot standby, with its line.
type standby struct {
	p     *proctest.Proc
	goW   *os.File
	ready *os.File
}

// startStandby starts a counter on ch as a hot standby and waits until
// it owns the channel (its predecessor must be gone or go).
func startStandby(t *testing.T, ch string) *standby {
	t.Helper()
	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := proctest.Command("counter", ch, "200")
	cmd.ExtraFiles = []*os.File{goR, readyW} // fds 3 and 4
	cmd.Env = append(cmd.Env, StandbyEnv+"=3,4")
	p := proctest.StartCmd(t, cmd)
	goR.Close()
	readyW.Close()
	t.Cleanup(func() { goW.Close(); readyR.Close() })
	s := &standby{p: p, goW: goW, ready: readyR}
	s.expect(t, StandbyWaiting)
	s.expect(t, StandbyOwner)
	return s
}

func (s *standby) expect(t *testing.T, want byte) {
	t.Helper()
	s.ready.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := s.ready.Read(b[:]); err != nil || b[0] != want {
		t.Fatalf("standby said %q (%v), want %q", b[0], err, want)
	}
}

func (s *standby) goAhead(t *testing.T) {
	t.Helper()
	if _, err := s.goW.Write([]byte{StandbyGo}); err != nil {
		t.Fatal(err)
	}
}

// TestFollowerNoAllocs: a Follower polling a live channel allocates
// nothing, whether a new snapshot is there or not.
func TestFollowerNoAllocs(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "1000")
	f := Follow(ch, counterSchema, FollowOptions{Prev: true})
	defer f.Close()
	followed(t, f, "live", func(st FollowState) bool { return st == FollowLive && f.HavePrev() })
	before := f.Stats().Copies
	if n := testing.AllocsPerRun(50, func() {
		// Poll until a new snapshot came (one a millisecond), bounded.
		for c, i := f.Stats().Copies, 0; f.Stats().Copies == c && i < 1_000_000; i++ {
			f.Poll()
		}
	}); n != 0 {
		t.Fatalf("%v allocations per Poll", n)
	}
	if f.Stats().Copies == before {
		t.Fatal("no new snapshot read while measuring")
	}
}
