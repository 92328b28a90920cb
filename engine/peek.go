package engine

import "fmt"

// PeekHeader reads the Header at the start of an encoded snapshot of any
// slice, checking only that src is long enough: it is for tools (the
// supervisor, `supervisor ls`) that need a channel's tick and time without
// knowing its types. Use Slice.DecodeHeader to trust the rest.
func PeekHeader(src []byte) (Header, error) {
	var h Header
	if len(src) < HeaderSize {
		return h, fmt.Errorf("%w: snapshot of %d bytes, shorter than its header", ErrCorrupt, len(src))
	}
	copy(asBytes(&h, HeaderSize), src)
	return h, nil
}

// PeekCounters is PeekHeader for a tool that shows the header's
// Counters (PROGRAM top, /metrics): a block that is not this engine's or
// does not add up (Counters.Check) gives an error wrapping ErrCounters,
// with the rest of the header, which the tool may still show.
func PeekCounters(src []byte) (Header, error) {
	h, err := PeekHeader(src)
	if err != nil {
		return h, err
	}
	if err := h.Counters.Check(); err != nil {
		return h, err
	}
	return h, nil
}
