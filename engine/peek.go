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
