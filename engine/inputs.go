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

// inputWindow is how many of the newest input numbers Header.window
// remembers one by one.
const inputWindow = 64

// seen reports whether input seq of sender has been applied already.
// Sender 0's numbers (the shared numbering) are judged by the header's
// window; another sender's by its entry in the sender table, and a
// sender the table does not hold has applied nothing.
func (h *Header) seen(sender uint32, seq uint64) bool {
	if sender == 0 {
		return seenIn(h.LastInput, h.window, seq)
	}
	m := h.senderMark(sender, false)
	return m != nil && seenIn(m.last, m.window, seq)
}

// seenIn is seen for one numbering: within the window by its bit; older
// than the window always, since one sender's inputs reach the process
// in order (venom's lanes are FIFO) and only a redelivery brings back a
// number that old.
func seenIn(last, window, seq uint64) bool {
	if seq > last {
		return false
	}
	d := last - seq
	return d >= inputWindow || window&(1<<d) != 0
}

// noteInput records that input seq of sender was applied. The shared
// numbering's counts (Inputs, doubles: what Account checks) are
// sender 0's alone; an input of it applied again (seen) counts as
// doubled.
func (h *Header) noteInput(sender uint32, seq uint64) {
	if sender != 0 {
		// Never a repeat here: the owner drops a sender's number it has
		// seen before applying it (only the shared numbering is doubled
		// on purpose).
		m := h.senderMark(sender, true)
		noteIn(&m.last, &m.window, seq)
		return
	}
	h.Inputs++
	if h.seen(0, seq) {
		h.doubles++
		return
	}
	noteIn(&h.LastInput, &h.window, seq)
}

// noteIn records a first application of seq in one numbering.
func noteIn(last, window *uint64, seq uint64) {
	if seq > *last {
		if shift := seq - *last; shift >= inputWindow {
			*window = 0
		} else {
			*window <<= shift
		}
		*window |= 1
		*last = seq
		return
	}
	*window |= 1 << (*last - seq) // late, but the first time
}

// SenderSlots is how many senders besides the shared numbering a
// process remembers, in its snapshot header, the inputs of: the newest
// ones by use. A sender forgotten (SenderSlots newer senders since its
// last command) is a new sender to the process: an Asker that asks again
// after that long a silence could see a command applied twice. An Asker
// asks again only across its process's restart, within its deadline.
const SenderSlots = 8

// senderMark is one sender's numbering in the header's table.
type senderMark struct {
	id     uint32
	_      uint32
	last   uint64 // highest number applied
	window uint64 // bit i: number last-i applied
	used   uint64 // Header.senderClock when it was last applied: the oldest is replaced
}

// senderMark returns the table entry of sender id; with claim, an entry
// for a sender not in the table, replacing the least recently used.
func (h *Header) senderMark(id uint32, claim bool) *senderMark {
	oldest := 0
	for i := range h.senders {
		m := &h.senders[i]
		if m.id == id {
			if claim {
				h.senderClock++
				m.used = h.senderClock
			}
			return m
		}
		if m.used < h.senders[oldest].used {
			oldest = i
		}
	}
	if !claim {
		return nil
	}
	h.senderClock++
	h.senders[oldest] = senderMark{id: id, used: h.senderClock}
	return &h.senders[oldest]
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
	a := InputAccount{Sent: sent, Applied: h.Inputs, Doubled: min(h.doubles, h.Inputs), Redelivered: h.repeats}
	distinct := h.Inputs - a.Doubled
	if beyond := h.LastInput - min(sent, h.LastInput); beyond >= inputWindow {
		a.Unsent = max(1, distinct-min(sent, distinct))
	} else if beyond > 0 {
		a.Unsent = uint64(bits.OnesCount64(h.window & (1<<beyond - 1)))
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
