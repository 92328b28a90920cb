package engine

import (
	"fmt"
	"math/bits"

	"github.com/venomrt/venomrt/venom"
)

// Numbered inputs give exactly-once delivery and prove it: a sender
// numbers its commands 1, 2, 3, … (Command.Seq), and the process records
// in every snapshot header which numbers it has applied. Because the
// header is restored with the state on a warm restart, a number the state
// already holds that arrives again is dropped (counted, never applied):
// a sender that retries after a crash — at least once — gets exactly
// once. An input the state lost is missing from the count.

// inputWindow is how many of the newest input numbers Header.InputWindow
// remembers one by one.
const inputWindow = 64

// seen reports whether input seq has been applied already: within the
// window by its bit; older than the window always, since one sender's
// inputs reach the process in order (venom's lanes are FIFO) and only a
// redelivery brings back a number that old.
func (h *Header) seen(seq uint64) bool {
	if seq > h.LastInput {
		return false
	}
	d := h.LastInput - seq
	return d >= inputWindow || h.InputWindow&(1<<d) != 0
}

// noteInput records that input seq was applied; applied again (seen),
// it counts as doubled.
func (h *Header) noteInput(seq uint64) {
	h.Inputs++
	switch {
	case h.seen(seq):
		h.InputDoubles++
	case seq > h.LastInput:
		if shift := seq - h.LastInput; shift >= inputWindow {
			h.InputWindow = 0
		} else {
			h.InputWindow <<= shift
		}
		h.InputWindow |= 1
		h.LastInput = seq
	default:
		h.InputWindow |= 1 << (h.LastInput - seq) // late, but the first time
	}
}

// InputAccount compares the numbered inputs a process applied with the
// ones a sender sent.
type InputAccount struct {
	Sent    uint64 // numbers 1..Sent were sent
	Applied uint64 // numbered commands applied, repeats included
	Lost    uint64 // sent and never applied
	Doubled uint64 // applied again after their first time
	Unsent  uint64 // distinct numbers applied beyond the ones sent
	// Redelivered counts numbered commands that arrived again after
	// being applied and were dropped, as they must be: a retry of a
	// sender that could not know its first try landed (a bridge's).
	Redelivered uint64
}

// Exact reports whether every input sent was applied exactly once.
func (a InputAccount) Exact() bool { return a.Lost == 0 && a.Doubled == 0 && a.Unsent == 0 }

// Account compares the header's record with the inputs 1..sent sent by
// one client, in order. Numbers applied beyond sent (another sender's, or
// a sender that miscounts) are counted one by one while they are within
// the window of the newest, and as at least one beyond it.
func (h *Header) Account(sent uint64) InputAccount {
	a := InputAccount{Sent: sent, Applied: h.Inputs, Doubled: min(h.InputDoubles, h.Inputs), Redelivered: h.InputRepeats}
	distinct := h.Inputs - a.Doubled
	if beyond := h.LastInput - min(sent, h.LastInput); beyond >= inputWindow {
		a.Unsent = max(1, distinct-min(sent, distinct))
	} else if beyond > 0 {
		a.Unsent = uint64(bits.OnesCount64(h.InputWindow & (1<<beyond - 1)))
	}
	if inSent := distinct - min(a.Unsent, distinct); inSent < sent {
		a.Lost = sent - inSent
	}
	return a
}

// InputProbe numbers inputs to one process and checks them against its
// snapshots: the exactly-once check of chaos, bench and tests, for any
// process that runs on Run. Its inputs are OpInput, which change nothing
// in the world. A probe is one client, so its inputs arrive in order; use
// one probe per process and one goroutine per probe.
type InputProbe struct {
	shell *venom.Shell
	buf   []byte
	sent  uint64
}

// NewInputProbe connects to a process's channel.
func NewInputProbe(channel string, opts ...venom.Option) (*InputProbe, error) {
	s, err := venom.Connect(channel, opts...)
	if err != nil {
		return nil, fmt.Errorf("engine: input probe: %w", err)
	}
	return &InputProbe{shell: s, buf: make([]byte, s.Config().DataSize)}, nil
}

// Send queues the next numbered input. It returns venom.ErrQueueFull
// when the lane is full (the process is down or behind): the same number
// goes with the next Send, so none is skipped.
func (p *InputProbe) Send() error {
	c := Cmd(OpInput)
	c.Seq = p.sent + 1
	var b [CommandSize]byte
	if err := p.shell.Send(c.Append(b[:0])); err != nil {
		return err
	}
	p.sent++
	return nil
}

// Sent is how many inputs have been queued: numbers 1..Sent.
func (p *InputProbe) Sent() uint64 { return p.sent }

// Header reads the header of the process's newest snapshot.
func (p *InputProbe) Header() (Header, error) {
	n, _, err := p.shell.Read(p.buf)
	if err != nil {
		return Header{}, err
	}
	return PeekHeader(p.buf[:n])
}

// Account reads the newest snapshot and compares the inputs it holds with
// the ones sent.
func (p *InputProbe) Account() (InputAccount, error) {
	h, err := p.Header()
	if err != nil {
		return InputAccount{}, err
	}
	return h.Account(p.sent), nil
}

// Close detaches from the channel.
func (p *InputProbe) Close() error { return p.shell.Close() }
