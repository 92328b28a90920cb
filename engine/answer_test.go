package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

func init() {
	helpers["asker"] = helperAsker
}

// asker CHANNEL VALUE: a one-shot sender — asks the counter on CHANNEL to
// add VALUE, prints "asking" before and the answer after ("applied",
// "refused: REASON" or "lost: ...").
func helperAsker(args []string) error {
	v, err := strconv.ParseFloat(args[1], 64)
	if err != nil {
		return err
	}
	a, err := NewAsker(args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fmt.Println("asking")
	switch err := a.Ask(ctx, Cmd(OpAdd, v)); {
	case err == nil:
		fmt.Println("applied")
	default:
		fmt.Println(err)
	}
	return nil
}

func newAsker(t *testing.T, ch string) *Asker {
	t.Helper()
	a, err := NewAsker(ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAnswerEncoding(t *testing.T) {
	resp := make([]byte, MaxAnswerSize)
	if err := DecodeAnswer(resp[:putAnswer(resp, nil)]); err != nil {
		t.Fatalf("applied: %v", err)
	}
	long := strings.Repeat("é", MaxReason) // two bytes each: cut at a rune
	n := putAnswer(resp, errors.New(long))
	var re *RefusedError
	if err := DecodeAnswer(resp[:n]); !errors.As(err, &re) || !errors.Is(err, ErrRefused) ||
		len(re.Reason) > MaxReason || !strings.HasSuffix(re.Reason, "…") || !strings.HasPrefix(re.Reason, "éé") {
		t.Fatalf("a long reason: %v", err)
	}
	if n := putAnswer(resp[:10], errors.New("a reason longer than six")); n != 10 {
		t.Fatalf("into 10 bytes: %d", n)
	}
	if err := DecodeAnswer(resp[:putAnswer(resp, errors.New("bad\x1b[2Jterm\xff"))]); err == nil || strings.ContainsRune(err.Error(), 0x1b) || !utf8.ValidString(err.Error()) {
		t.Fatalf("control bytes and bad UTF-8 printed: %q", err)
	}
	for _, b := range [][]byte{nil, {1, 0, 0}, {3, 0, 0, 0}, {1, 1, 0, 0}, {1, 0, 1, 0, 'x'}, {2, 0, 5, 0, 'a'}, {2, 0, 0xff, 0xff}} {
		if err := DecodeAnswer(b); !errors.Is(err, ErrBadAnswer) {
			t.Errorf("DecodeAnswer(%v): %v, want ErrBadAnswer", b, err)
		}
	}
}

// FuzzAnswer: any bytes decode to applied, a printable refusal or
// ErrBadAnswer, and never panic.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{2, 0, 3, 0, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var re *RefusedError
		if err := DecodeAnswer(b); errors.As(err, &re) && len(re.Reason) > 3*MaxReason {
			t.Fatalf("reason of %d bytes", len(re.Reason))
		}
	})
}

// TestAskRefused: a refused command's reason reaches the sender, from
// the process (Sim.Handle's error) and from the engine (an unknown op).
func TestAskRefused(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	a := newAsker(t, ch)
	ctx := proctest.Context(t, 10*time.Second)
	if err := a.Ask(ctx, Cmd(OpAdd, 2)); err != nil {
		t.Fatalf("add: %v", err)
	}
	var re *RefusedError
	if err := a.Ask(ctx, Cmd(OpAdd, 1, 2)); !errors.As(err, &re) || !strings.Contains(re.Reason, "unknown op") {
		t.Fatalf("add with two arguments: %v, want the counter's refusal", err)
	}
	if err := a.Ask(ctx, Cmd(OpUser+40)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unknown op: 104") {
		t.Fatalf("unknown op: %v", err)
	}
	f := waitFrame(t, c, "the asks handled", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied+f.Dropped == 3 })
	if f.Meta.Sum != 2 || f.Dropped != 2 {
		t.Fatalf("sum %v dropped %d, want 2 and 2", f.Meta.Sum, f.Dropped)
	}
}

// TestOneShotSenderTwice: a one-shot sender run twice has both its
// commands applied: each run is a sender of its own.
func TestOneShotSenderTwice(t *testing.T) {
	ch := channel(t)
	proctest.Start(t, "counter", ch, "100")
	c := connectCounter(t, ch)
	for range 2 {
		p := proctest.Start(t, "asker", ch, "5")
		p.Expect(t, "^applied$", 20*time.Second)
		p.Wait(t, 10*time.Second)
	}
	f := waitFrame(t, c, "both applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Applied == 2 })
	if f.Meta.Sum != 10 {
		t.Fatalf("sum %v, want 10: a run taken for a redelivery of the other", f.Meta.Sum)
	}
}

// TestAskAcrossRestart: a command asked while its process is held in a
// tick, which is then SIGKILLed, is applied once by the successor and
// the sender learns it; asked while no process runs, it is lost at the
// sender's deadline, and asked again it is applied.
func TestAskAcrossRestart(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "holder", ch, "100")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpAdd, 1))
	waitFrame(t, c, "an add applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Meta.Sum == 1 })
	c.Send(Cmd(OpHold))
	p.Expect(t, "^holding$", 10*time.Second)
	a := newAsker(t, ch)
	asked := make(chan error, 1)
	go func() { asked <- a.Ask(proctest.Context(t, 20*time.Second), Cmd(OpAdd, 10)) }()
	proctest.Eventually(t, 10*time.Second, "the ask queued", func() bool {
		q, err := c.Shell().Daemon()
		return err == nil && q.Running && queued(t, ch) >= 2 // the hold (uncommitted) and the ask
	})
	p.Kill(t)
	proctest.Start(t, "counter", ch, "100")
	if err := <-asked; err != nil {
		t.Fatalf("asked across a SIGKILL: %v", err)
	}
	// Answered as the process handles it, before its publish: wait for
	// the second ask's record too.
	f := waitFrame(t, c, "the ask and the ask again handled", func(f *Frame[counterMeta, counterItem]) bool {
		return f.Meta.Sum >= 11 && f.Account(0).Redelivered >= 1
	})
	if f.Meta.Sum != 11 {
		t.Fatalf("sum %v, %d repeats: want 11 and 1 (the second ask answered by the record of the first)", f.Meta.Sum, f.Account(0).Redelivered)
	}

	// No owner: lost at the deadline; asked again, applied once.
	stopAll(t, ch)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := a.Ask(ctx, Cmd(OpAdd, 100)); !errors.Is(err, ErrLost) {
		t.Fatalf("asked with no process: %v, want ErrLost", err)
	}
	proctest.Start(t, "counter", ch, "100")
	if err := a.AskAgain(proctest.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("asked again: %v", err)
	}
	f = waitFrame(t, c, "the add applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Meta.Sum >= 111 })
	if f.Meta.Sum != 111 {
		t.Fatalf("sum %v, want 111", f.Meta.Sum)
	}
}

// TestSenderDiesMidRequest: a sender killed while its request waits
// harms nobody: the process serves the others, the dead sender's
// command is applied once (it was queued) and its slot is taken back.
func TestSenderDiesMidRequest(t *testing.T) {
	ch := channel(t)
	p := proctest.Start(t, "holder", ch, "100")
	c := connectCounter(t, ch)
	c.Send(Cmd(OpHold))
	p.Expect(t, "^holding$", 10*time.Second)
	dying := proctest.Start(t, "asker", ch, "7")
	dying.Expect(t, "^asking$", 10*time.Second)
	proctest.Eventually(t, 10*time.Second, "the ask queued", func() bool { return queued(t, ch) >= 2 }) // the hold (uncommitted) and the ask
	dying.Kill(t)
	stopAll(t, ch) // the held tick finishes and is published
	proctest.Start(t, "counter", ch, "100")
	a := newAsker(t, ch)
	if err := a.Ask(proctest.Context(t, 10*time.Second), Cmd(OpAdd, 1)); err != nil {
		t.Fatalf("another sender after the death: %v", err)
	}
	f := waitFrame(t, c, "both applied", func(f *Frame[counterMeta, counterItem]) bool { return f.Meta.Sum >= 8 })
	if f.Meta.Sum != 8 {
		t.Fatalf("sum %v, want 8", f.Meta.Sum)
	}
}

// queued is how many commands wait in ch's lanes.
func queued(t *testing.T, ch string) int {
	info, err := venom.Inspect(ch)
	if err != nil {
		return 0
	}
	return info.Queued
}
