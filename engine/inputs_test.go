package engine

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func TestAccountTellsLostFromDoubled(t *testing.T) {
	seq := func(from, to uint64) []uint64 {
		var s []uint64
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	cat := func(parts ...[]uint64) []uint64 {
		var s []uint64
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		applied []uint64
		sent    uint64
		want    InputAccount
	}{
		{"exact", seq(1, 10), 10, InputAccount{}},
		{"none sent", nil, 0, InputAccount{}},
		{"one lost mid-stream", cat(seq(1, 4), seq(6, 10)), 10, InputAccount{Lost: 1}},
		{"one lost, one doubled", cat(seq(1, 4), seq(6, 7), []uint64{7}, seq(8, 10)), 10, InputAccount{Lost: 1, Doubled: 1}},
		{"the tail lost", seq(1, 8), 10, InputAccount{Lost: 2}},
		{"a replay of the last tick", cat(seq(1, 10), seq(8, 10)), 10, InputAccount{Doubled: 3}},
		{"doubled far back", cat(seq(1, 200), []uint64{3}), 200, InputAccount{Doubled: 1}},
		{"late within the window", []uint64{1, 2, 4, 3, 5}, 5, InputAccount{}},
		{"a gap wider than the window", cat(seq(1, 10), seq(100, 110)), 110, InputAccount{Lost: 89}},
		{"applied beyond what was sent", seq(1, 12), 10, InputAccount{Unsent: 2}},
		{"lost and beyond", cat(seq(1, 4), seq(6, 11)), 10, InputAccount{Lost: 1, Unsent: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			for _, s := range tc.applied {
				h.noteInput(0, s)
			}
			got := h.Account(tc.sent)
			tc.want.Sent, tc.want.Applied = tc.sent, uint64(len(tc.applied))
			if got != tc.want {
				t.Fatalf("Account(%d) = %+v, want %+v", tc.sent, got, tc.want)
			}
			if got.Exact() != (tc.want.Lost == 0 && tc.want.Doubled == 0 && tc.want.Unsent == 0) {
				t.Fatalf("Exact() = %v for %+v", got.Exact(), got)
			}
		})
	}
}

// sendInputs sends numbered OpAdd(1) commands next+1 … to, retrying one
// that finds the lane full, and returns the last number sent.
func sendInputs(t *testing.T, c *Client[counterMeta, counterItem], next, to uint64) uint64 {
	t.Helper()
	for next < to {
		cmd := Cmd(OpAdd, 1)
		cmd.Seq = next + 1
		err := c.Send(cmd)
		switch {
		case err == nil:
			next++
		case errors.Is(err, venom.ErrQueueFull):
			time.Sleep(time.Millisecond) // the process drains a tick's worth at a time
		default:
			t.Fatalf("send input %d: %v", next+1, err)
		}
	}
	return next
}

// TestInputsExactlyOnceAcrossMidPublishDeaths kills the process, again and
// again, after it was handed numbered inputs and before it published them
// (OpMidPublish), and SIGKILLs it at random points of a flood: every input
// lands in the state once, counted by the header and by the state itself.
func TestInputsExactlyOnceAcrossMidPublishDeaths(t *testing.T) {
	ch := channel(t)
	// 20 Hz: 50 ms between the publish that commits the fault and the
	// tick that dies, so the inputs sent right after it are handed first.
	p := proctest.Start(t, "counter", ch, "20", "verbose")
	c := connectCounter(t, ch)
	var sent uint64
	inFlight := 0 // deaths with inputs handed but not published
	for round := range 3 {
		before := settle(t, c, sent)
		if err := c.Send(Cmd(OpMidPublish)); err != nil {
			t.Fatal(err)
		}
		waitFrame(t, c, "the fault committed", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied > before.Applied })
		sent = sendInputs(t, c, sent, sent+5)
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: the process did not die mid-publish", round)
		}
		var last Frame[counterMeta, counterItem]
		if err := c.Read(&last); err != nil {
			t.Fatal(err)
		}
		if handled := lastHandled(p); handled > last.LastInput {
			inFlight++
			t.Logf("round %d: died with inputs up to %d handed, %d published", round, handled, last.LastInput)
		}
		p = proctest.Start(t, "counter", ch, "20", "verbose")
	}
	// A flood through SIGKILLs at whatever point they land.
	for range 3 {
		sent = sendInputs(t, c, sent, sent+200)
		p.Kill(t)
		p = proctest.Start(t, "counter", ch, "200")
	}
	settle(t, c, sent)
	if inFlight == 0 {
		t.Fatal("no death happened with inputs handed and unpublished: the path under test was not reached")
	}
}

// settle waits until the newest snapshot holds input sent, and fails
// naming what was lost or doubled unless every input 1..sent is in the
// state exactly once.
func settle(t *testing.T, c *Client[counterMeta, counterItem], sent uint64) Frame[counterMeta, counterItem] {
	t.Helper()
	var f Frame[counterMeta, counterItem]
	deadline := time.Now().Add(10 * time.Second)
	for c.Read(&f) != nil || f.LastInput < sent {
		if time.Now().After(deadline) {
			t.Fatalf("input %d never applied: %+v, state sum %v", sent, f.Account(sent), f.Meta.Sum)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Redelivered too: venom's commit on publish hands a successor only
	// what the state lacks, so the engine never has a repeat to drop.
	if a := f.Account(sent); !a.Exact() || a.Redelivered != 0 || f.Meta.Sum != float64(sent) {
		t.Fatalf("inputs not applied exactly once: %+v, state sum %v, want %d", a, f.Meta.Sum, sent)
	}
	return f
}

// lastHandled is the highest input number a verbose counter printed.
func lastHandled(p *proctest.Proc) uint64 {
	var n uint64
	for _, l := range p.Lines() {
		if s, ok := strings.CutPrefix(l, "handled "); ok {
			if v, err := strconv.ParseUint(s, 10, 64); err == nil {
				n = max(n, v)
			}
		}
	}
	return n
}

// TestInputFaultsAreCaught breaks exactly-once on purpose: the header's
// account must name one lost and one doubled input.
func TestInputFaultsAreCaught(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	sent := sendInputs(t, c, 0, 5)
	if err := c.Send(Cmd(OpDropInput)); err != nil {
		t.Fatal(err)
	}
	sent = sendInputs(t, c, sent, 10)
	if err := c.Send(Cmd(OpDoubleInput)); err != nil {
		t.Fatal(err)
	}
	sent = sendInputs(t, c, sent, 15)
	f := waitFrame(t, c, "inputs handled", func(f *Frame[counterMeta, counterItem]) bool { return f.LastInput == sent })
	if a := f.Account(sent); a.Lost != 1 || a.Doubled != 1 || a.Exact() {
		t.Fatalf("account %+v, want 1 lost and 1 doubled", a)
	}
	if f.Meta.Sum != float64(sent) {
		t.Fatalf("state sum %v: one dropped and one doubled should cancel to %d", f.Meta.Sum, sent)
	}
	// A numbered no-op changes nothing but is counted.
	before := f.Meta.Sum
	in := Cmd(OpInput)
	in.Seq = sent + 1
	if err := c.Send(in); err != nil {
		t.Fatal(err)
	}
	f = waitFrame(t, c, "the no-op counted", func(f *Frame[counterMeta, counterItem]) bool { return f.LastInput == sent+1 })
	if f.Meta.Sum != before || f.Account(sent+1).Lost != 1 {
		t.Fatalf("after OpInput: sum %v (was %v), account %+v", f.Meta.Sum, before, f.Account(sent+1))
	}
}

// TestRedeliveredInputDropped: a numbered command that arrives again after
// it was applied — a sender's retry — is dropped and counted, not applied
// twice; one never applied before is applied, however late.
func TestRedeliveredInputDropped(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	sent := sendInputs(t, c, 0, 10)
	settle(t, c, sent)
	for _, seq := range []uint64{10, 3, 10} { // retries of applied inputs
		cmd := Cmd(OpAdd, 1)
		cmd.Seq = seq
		if err := c.Send(cmd); err != nil {
			t.Fatal(err)
		}
	}
	sent = sendInputs(t, c, sent, 12)
	f := waitFrame(t, c, "the retries handled", func(f *Frame[counterMeta, counterItem]) bool {
		return f.LastInput == sent && f.Account(sent).Redelivered == 3
	})
	if a := f.Account(sent); !a.Exact() || a.Redelivered != 3 || f.Meta.Sum != float64(sent) {
		t.Fatalf("account %+v, sum %v: want every input once and 3 redeliveries dropped", a, f.Meta.Sum)
	}
}

// TestRedeliveredAfterSIGKILLDropped: a process SIGKILLed between the
// first copy of its inputs and a redelivered one (a bridge's successor
// queuing again what physics had applied) drops the second copies: the
// window of applied numbers comes back with the snapshot, so the sum
// holds each input once and Account counts the copies as redelivered.
// With the window lost, the copies within it were taken as late first
// deliveries: applied twice while Account still said Exact.
func TestRedeliveredAfterSIGKILLDropped(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	sent := sendInputs(t, c, 0, 10)
	settle(t, c, sent)
	p.Kill(t)
	proctest.Start(t, "counter", ch, "100")
	for seq := uint64(5); seq <= 10; seq++ { // the redelivered copies
		cmd := Cmd(OpAdd, 1)
		cmd.Seq = seq
		if err := c.Send(cmd); err != nil {
			t.Fatal(err)
		}
	}
	sent = sendInputs(t, c, sent, 12)
	f := waitFrame(t, c, "the copies and the new inputs handled", func(f *Frame[counterMeta, counterItem]) bool {
		return f.LastInput == sent && f.Inputs+f.Account(sent).Redelivered >= sent+6
	})
	if a := f.Account(sent); !a.Exact() || a.Redelivered != 6 || f.Meta.Sum != float64(sent) {
		t.Fatalf("account %+v, sum %v: want each of %d inputs once and the 6 copies dropped as redelivered", a, f.Meta.Sum, sent)
	}
}
