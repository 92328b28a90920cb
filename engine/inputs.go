package engine

import "math/bits"

// Numbered inputs prove exactly-once delivery: a sender numbers its
// commands 1, 2, 3, … (Command.Seq) on one client, and the process records
// in every snapshot header which numbers it has applied. Because the
// header is restored with the state on a warm restart, a replayed input
// the state already holds is seen as a repeat, and an input the state lost
// is missing from the count.

// inputWindow is how many of the newest input numbers Header.InputWindow
// remembers one by one.
const inputWindow = 64

// noteInput records that input seq was applied. A number within the
// window is a repeat exactly when its bit is already set; a number older
// than the window is taken for a repeat, since one sender's inputs reach
// the process in order (venom's lanes are FIFO) and only a replay brings
// back a number that old.
func (h *Header) noteInput(seq uint64) {
	h.Inputs++
	switch {
	case seq > h.LastInput:
		if shift := seq - h.LastInput; shift >= inputWindow {
			h.InputWindow = 0
		} else {
			h.InputWindow <<= shift
		}
		h.InputWindow |= 1
		h.LastInput = seq
	case h.LastInput-seq < inputWindow && h.InputWindow&(1<<(h.LastInput-seq)) == 0:
		h.InputWindow |= 1 << (h.LastInput - seq) // late, but the first time
	default:
		h.InputRepeats++
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
}

// Exact reports whether every input sent was applied exactly once.
func (a InputAccount) Exact() bool { return a.Lost == 0 && a.Doubled == 0 && a.Unsent == 0 }

// Account compares the header's record with the inputs 1..sent sent by
// one client, in order. Numbers applied beyond sent (another sender's, or
// a sender that miscounts) are counted one by one while they are within
// the window of the newest, and as at least one beyond it.
func (h *Header) Account(sent uint64) InputAccount {
	a := InputAccount{Sent: sent, Applied: h.Inputs, Doubled: min(h.InputRepeats, h.Inputs)}
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
