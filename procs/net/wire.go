package netproc

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// The wire form of protocol version 3 (docs/PROTOCOL.md is the
// reference; this file and web/client.js implement it).
//
// A server message is a kind byte, a few LEB128 varints and the world:
// two tables (bodies, agents), the players and the children. A table is
// a delta against the same table of the base snapshot: the IDs removed,
// the items added (whole), the items that moved (velocity differences,
// then position residuals after predicting the position from the mean
// of the old and new velocities) and the items whose flags or radius
// changed. The values of a table are one bit stream of adaptive Rice
// codes (Golomb codes with a power-of-two divisor): every field has its
// own context, whose parameter k follows the mean of the values coded so
// far, as in JPEG-LS; small values cost few bits, large ones escape.

// Server → client message kinds (the first byte of a binary frame).
const (
	msgWelcome  = 1 // id uvarint, then as msgSnapshot
	msgSnapshot = 2 // seq uvarint, base uvarint, world
)

// Rice coding.
const (
	riceEscape = 16      // a quotient this large escapes: 16 zeros, a 6-bit length, the bits
	riceMaxK   = 24      // the largest divisor exponent
	riceMaxLen = 40      // bits of the largest value an escape carries
	riceReset  = 16      // a context's count halves (with its sum) when it reaches this
	riceCap    = 1 << 24 // the most one value adds to a context's sum
)

// Prediction: a moved item's position is predicted as
// base + ((vBase + vNew) × P + 2^16) >> 17, P being the table's predictor
// (dt × Subpixel × 2^16 for dt in seconds between the two snapshots).
const (
	maxPredict   = 1 << 21 // dt up to 2 s
	predictShift = 17
)

// Limits on the strings of the players and children sections.
const (
	maxChildName    = 16
	maxChildState   = 16
	maxChildReason  = 48
	maxCursor       = 1 << 24 // |cursor| in 1/Subpixel px
	maxWorldPlayers = 1024
)

// rice is one adaptive Rice context: the sum and count of the values
// coded with it, and the parameter k they give.
type rice struct {
	a, n uint32
	k    uint
}

func newRice() rice { return rice{a: 1, n: 1} }

// update adds u to the context and sets k to the smallest k with
// n·2^k ≥ a, at most riceMaxK.
func (c *rice) update(u uint64) {
	c.a += uint32(min(u, riceCap))
	c.n++
	if c.n == riceReset {
		c.a >>= 1
		c.n >>= 1
	}
	if c.a <= c.n {
		c.k = 0
		return
	}
	q := (c.a - 1) / c.n
	if q >= 1<<riceMaxK {
		c.k = riceMaxK
		return
	}
	c.k = uint(bits.Len32(q))
}

// bitWriter writes bits most significant first.
type bitWriter struct {
	b   []byte
	acc uint64
	n   uint // bits in acc not yet in b (< 8 between writes)
}

// bits writes the low n bits of v, n ≤ 56.
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc = w.acc<<n | v&(1<<n-1)
	w.n += n
	if w.n >= 32 {
		w.n -= 32
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(w.acc>>w.n))
	}
	for w.n >= 8 {
		w.n -= 8
		w.b = append(w.b, byte(w.acc>>w.n))
	}
}

// flush pads the last byte with zero bits.
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.b = append(w.b, byte(w.acc<<(8-w.n)))
		w.n = 0
	}
}

// rice writes u (< 2^riceMaxLen) with context c.
func (w *bitWriter) rice(c *rice, u uint64) {
	k := c.k
	if q := u >> k; q < riceEscape {
		// q zeros, a one, the k low bits of u: one write of q+1+k ≤ 41 bits.
		w.bits(1<<k|u&(1<<k-1), uint(q)+1+k)
	} else {
		w.bits(0, riceEscape)
		l := uint(bits.Len64(u))
		w.bits(uint64(l), 6)
		w.bits(u, l-1) // below the leading one
	}
	c.update(u)
}

// bitReader reads what bitWriter wrote.
type bitReader struct {
	b   []byte
	i   int    // next byte of b to load
	acc uint64 // the next bits, most significant first; zeros past n
	n   uint   // valid bits in acc
}

func (r *bitReader) refill() {
	for r.n <= 56 && r.i < len(r.b) {
		r.acc |= uint64(r.b[r.i]) << (56 - r.n)
		r.n += 8
		r.i++
	}
}

// bits reads n ≤ 56 bits.
func (r *bitReader) bits(n uint) (uint64, bool) {
	if n == 0 {
		return 0, true
	}
	if r.n < n {
		r.refill()
		if r.n < n {
			return 0, false
		}
	}
	v := r.acc >> (64 - n)
	r.acc <<= n
	r.n -= n
	return v, true
}

var errTruncated = bad("bit stream ends inside a value")

// rice reads one value coded with context c.
func (r *bitReader) rice(c *rice) (uint64, error) {
	if r.n < 57 {
		r.refill()
	}
	k := c.k
	z := uint(bits.LeadingZeros64(r.acc))
	var u uint64
	if z < riceEscape {
		if z >= r.n {
			return 0, errTruncated
		}
		r.acc <<= z + 1
		r.n -= z + 1
		low, ok := r.bits(k)
		if !ok {
			return 0, errTruncated
		}
		u = uint64(z)<<k | low
	} else {
		if r.n < riceEscape {
			return 0, errTruncated
		}
		r.acc <<= riceEscape
		r.n -= riceEscape
		l, ok := r.bits(6)
		if !ok {
			return 0, errTruncated
		}
		if l == 0 || l > riceMaxLen {
			return 0, bad("escaped value of %d bits", l)
		}
		low, ok := r.bits(uint(l) - 1)
		if !ok {
			return 0, errTruncated
		}
		u = 1<<(l-1) | low
	}
	c.update(u)
	return u, nil
}

// end checks that the stream is used up: less than a byte left, all zeros.
func (r *bitReader) end() error {
	r.refill()
	if r.i != len(r.b) || r.n >= 8 || r.acc != 0 {
		return bad("bit stream: %d bits left over", uint(len(r.b)-r.i)*8+r.n)
	}
	return nil
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// A table's items are Bodies; an agent is a Body with its kind as the
// flags and no radius (not sent).

func agentItems(as []Agent) []Body {
	out := make([]Body, len(as))
	for i, a := range as {
		out[i] = Body{a.ID, a.Kind, a.X, a.Y, a.VX, a.VY, 0}
	}
	return out
}

// tableCtx holds a table's Rice contexts, one per field of each list.
type tableCtx struct {
	rmID                                           rice
	addID, addAttr, addX, addY, addVX, addVY, addR rice
	mvID, mvVX, mvVY, mvX, mvY                     rice
	rsID, rsAttr, rsR                              rice
}

func newTableCtx() tableCtx {
	c := newRice()
	return tableCtx{c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c}
}

// predict is the predicted change of a position between two snapshots
// for the velocities vb (base) and vc (new), with predictor p.
func predict(vb, vc int32, p uint64) int64 {
	return ((int64(vb)+int64(vc))*int64(p) + 1<<(predictShift-1)) >> predictShift
}

// predictor is P for dt ns between two snapshots (0 when dt is not a
// sensible interval: no prediction).
func predictor(dt int64) uint64 {
	if dt <= 0 || dt > 2e9 {
		return 0
	}
	return min(uint64(math.Round(float64(dt)*Subpixel*(1<<16)/1e9)), maxPredict)
}

func inFixed(v int64) bool { return v >= -maxFixed && v <= maxFixed }

// checkItems checks what the encoder is given: ascending IDs, values in
// range (net's snapshots are so by construction).
func checkItems(items []Body, what string) error {
	if len(items) > MaxItems {
		return fmt.Errorf("netproc: %d %s, limit %d", len(items), what, MaxItems)
	}
	for i, it := range items {
		if i > 0 && it.ID <= items[i-1].ID {
			return fmt.Errorf("netproc: %s: id %d out of order", what, it.ID)
		}
		for _, v := range [...]int32{it.X, it.Y, it.VX, it.VY, it.R} {
			if !inFixed(int64(v)) {
				return fmt.Errorf("netproc: %s: item %d value %d out of range", what, it.ID, v)
			}
		}
	}
	return nil
}

// appendTable appends cur as a delta against base (nil: a full table).
func appendTable(b []byte, base, cur []Body, hasR bool, p uint64, what string) ([]byte, error) {
	if err := checkItems(cur, what); err != nil {
		return nil, err
	}
	var removed, added []int32 // indexes into base, cur
	var restyled [][2]int32    // base, cur
	moved := make([][2]int32, 0, min(len(base), len(cur)))
	i, j := 0, 0
	for i < len(base) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(base) && base[i].ID < cur[j].ID):
			removed = append(removed, int32(i))
			i++
		case i == len(base) || cur[j].ID < base[i].ID:
			added = append(added, int32(j))
			j++
		default:
			a, c := &base[i], &cur[j]
			if a.Flags != c.Flags || (hasR && a.R != c.R) {
				restyled = append(restyled, [2]int32{int32(i), int32(j)})
			}
			if a.X != c.X || a.Y != c.Y || a.VX != c.VX || a.VY != c.VY {
				moved = append(moved, [2]int32{int32(i), int32(j)})
			}
			i++
			j++
		}
	}
	if len(base) == 0 {
		p = 0
	}
	b = binary.AppendUvarint(b, uint64(len(removed)))
	b = binary.AppendUvarint(b, uint64(len(added)))
	b = binary.AppendUvarint(b, uint64(len(moved)))
	b = binary.AppendUvarint(b, uint64(len(restyled)))
	b = binary.AppendUvarint(b, p)

	ctx := newTableCtx()
	w := bitWriter{b: make([]byte, 0, 16+3*len(moved)+12*len(added)+len(removed)+2*len(restyled))}
	gap := func(c *rice, prev *int64, id uint32) {
		w.rice(c, uint64(int64(id)-*prev-1))
		*prev = int64(id)
	}
	prev := int64(-1)
	for _, i := range removed {
		gap(&ctx.rmID, &prev, base[i].ID)
	}
	prev = -1
	for _, j := range added {
		c := &cur[j]
		gap(&ctx.addID, &prev, c.ID)
		w.rice(&ctx.addAttr, uint64(c.Flags))
		w.rice(&ctx.addX, zigzag(int64(c.X)))
		w.rice(&ctx.addY, zigzag(int64(c.Y)))
		w.rice(&ctx.addVX, zigzag(int64(c.VX)))
		w.rice(&ctx.addVY, zigzag(int64(c.VY)))
		if hasR {
			w.rice(&ctx.addR, zigzag(int64(c.R)))
		}
	}
	prev = -1
	for _, m := range moved {
		a, c := &base[m[0]], &cur[m[1]]
		gap(&ctx.mvID, &prev, c.ID)
		w.rice(&ctx.mvVX, zigzag(int64(c.VX)-int64(a.VX)))
		w.rice(&ctx.mvVY, zigzag(int64(c.VY)-int64(a.VY)))
		w.rice(&ctx.mvX, zigzag(int64(c.X)-int64(a.X)-predict(a.VX, c.VX, p)))
		w.rice(&ctx.mvY, zigzag(int64(c.Y)-int64(a.Y)-predict(a.VY, c.VY, p)))
	}
	prev = -1
	for _, m := range restyled {
		a, c := &base[m[0]], &cur[m[1]]
		gap(&ctx.rsID, &prev, c.ID)
		w.rice(&ctx.rsAttr, uint64(c.Flags))
		if hasR {
			w.rice(&ctx.rsR, zigzag(int64(c.R)-int64(a.R)))
		}
	}
	w.flush()
	b = binary.AppendUvarint(b, uint64(len(w.b)))
	return append(b, w.b...), nil
}

// reader reads the byte-aligned parts of a message.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = bad(format, args...)
	}
}

// uvarint reads a varint that must not exceed max.
func (r *reader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || (n > 1 && r.b[n-1] == 0) {
		r.fail("%s: truncated, overlong or too large varint", what)
		return 0
	}
	r.b = r.b[n:]
	if v > max {
		r.fail("%s %d, at most %d", what, v, max)
		return 0
	}
	return v
}

func (r *reader) u8(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail("%s: message ends", what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: message ends", what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) f32(what string) float32 {
	b := r.bytes(4, what)
	if b == nil {
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(b))
	if !finite32(v) {
		r.fail("%s %v is not finite", what, v)
		return 0
	}
	return v
}

// str reads a string of at most max bytes: a length byte, then the bytes.
func (r *reader) str(what string, max int) string {
	n := int(r.u8(what))
	if n > max {
		r.fail("%s of %d bytes, at most %d", what, n, max)
		return ""
	}
	return string(r.bytes(n, what))
}

func appendStr(b []byte, s string, max int) []byte {
	if len(s) > max {
		s = s[:max]
	}
	return append(append(b, byte(len(s))), s...)
}

// readTable reads a table written by appendTable against base.
func (r *reader) table(base []Body, hasR bool, what string) []Body {
	nRemoved := r.uvarint(what+": removed", uint64(len(base)))
	nAdded := r.uvarint(what+": added", MaxItems)
	nMoved := r.uvarint(what+": moved", uint64(len(base)))
	nRestyled := r.uvarint(what+": restyled", uint64(len(base)))
	p := r.uvarint(what+": predictor", maxPredict)
	size := r.uvarint(what+": bit stream bytes", uint64(len(r.b)))
	if r.err != nil {
		return nil
	}
	perAdded, perRestyled := uint64(6), uint64(2)
	if hasR {
		perAdded, perRestyled = 7, 3
	}
	// Every value takes at least a bit: counts the stream cannot hold are
	// refused before anything is allocated for them.
	if need := nRemoved + nAdded*perAdded + nMoved*5 + nRestyled*perRestyled; need > size*8 {
		r.fail("%s: %d values cannot fit %d bytes", what, need, size)
		return nil
	}
	if int(nAdded)+len(base)-int(nRemoved) > MaxItems {
		r.fail("%s: more than %d items", what, MaxItems)
		return nil
	}
	br := bitReader{b: r.bytes(int(size), what)}
	ctx := newTableCtx()
	var err error
	gap := func(c *rice, prev *int64) uint32 {
		if err != nil {
			return 0
		}
		var u uint64
		if u, err = br.rice(c); err != nil {
			return 0
		}
		id := *prev + 1 + int64(u)
		if id > math.MaxUint32 {
			err = bad("%s: id %d out of range", what, id)
			return 0
		}
		*prev = id
		return uint32(id)
	}
	val := func(c *rice, signed bool, limit int64) int64 {
		if err != nil {
			return 0
		}
		var u uint64
		if u, err = br.rice(c); err != nil {
			return 0
		}
		v := int64(u)
		if signed {
			v = unzigzag(u)
		}
		if v < -limit || v > limit {
			err = bad("%s: value %d out of range", what, v)
			return 0
		}
		return v
	}
	removed := make([]uint32, nRemoved)
	prev := int64(-1)
	for i := range removed {
		removed[i] = gap(&ctx.rmID, &prev)
	}
	added := make([]Body, nAdded)
	prev = -1
	for i := range added {
		a := &added[i]
		a.ID = gap(&ctx.addID, &prev)
		a.Flags = uint32(val(&ctx.addAttr, false, math.MaxUint32))
		a.X = int32(val(&ctx.addX, true, maxFixed))
		a.Y = int32(val(&ctx.addY, true, maxFixed))
		a.VX = int32(val(&ctx.addVX, true, maxFixed))
		a.VY = int32(val(&ctx.addVY, true, maxFixed))
		if hasR {
			a.R = int32(val(&ctx.addR, true, maxFixed))
		}
	}
	type move struct {
		id               uint32
		dvx, dvy, rx, ry int64
	}
	moves := make([]move, nMoved)
	prev = -1
	for i := range moves {
		m := &moves[i]
		m.id = gap(&ctx.mvID, &prev)
		m.dvx = val(&ctx.mvVX, true, 2*maxFixed)
		m.dvy = val(&ctx.mvVY, true, 2*maxFixed)
		m.rx = val(&ctx.mvX, true, 1<<(riceMaxLen-1))
		m.ry = val(&ctx.mvY, true, 1<<(riceMaxLen-1))
	}
	type restyle struct {
		id   uint32
		attr uint32
		dr   int64
	}
	restyles := make([]restyle, nRestyled)
	prev = -1
	for i := range restyles {
		s := &restyles[i]
		s.id = gap(&ctx.rsID, &prev)
		s.attr = uint32(val(&ctx.rsAttr, false, math.MaxUint32))
		if hasR {
			s.dr = val(&ctx.rsR, true, 2*maxFixed)
		}
	}
	if err == nil {
		err = br.end()
	}
	if err != nil {
		r.fail("%v", err)
		return nil
	}

	out := make([]Body, 0, len(base)-len(removed)+len(added))
	var ai, ri, mi, si int
	for _, it := range base {
		for ai < len(added) && added[ai].ID < it.ID {
			out = append(out, added[ai])
			ai++
		}
		if ai < len(added) && added[ai].ID == it.ID {
			r.fail("%s: added id %d is in the base", what, it.ID)
			return nil
		}
		if ri < len(removed) && removed[ri] == it.ID {
			ri++
			continue
		}
		if si < len(restyles) && restyles[si].id == it.ID {
			s := restyles[si]
			it.Flags = s.attr
			r2 := int64(it.R) + s.dr
			if !inFixed(r2) {
				r.fail("%s: radius of %d out of range", what, it.ID)
				return nil
			}
			it.R = int32(r2)
			si++
		}
		if mi < len(moves) && moves[mi].id == it.ID {
			m := moves[mi]
			vx, vy := int64(it.VX)+m.dvx, int64(it.VY)+m.dvy
			if !inFixed(vx) || !inFixed(vy) {
				r.fail("%s: velocity of %d out of range", what, it.ID)
				return nil
			}
			x := int64(it.X) + predict(it.VX, int32(vx), p) + m.rx
			y := int64(it.Y) + predict(it.VY, int32(vy), p) + m.ry
			if !inFixed(x) || !inFixed(y) {
				r.fail("%s: position of %d out of range", what, it.ID)
				return nil
			}
			it.X, it.Y, it.VX, it.VY = int32(x), int32(y), int32(vx), int32(vy)
			mi++
		}
		out = append(out, it)
	}
	out = append(out, added[ai:]...)
	if ri != len(removed) || mi != len(moves) || si != len(restyles) {
		r.fail("%s: %d removed, %d moved, %d restyled ids not in the base (or out of order)",
			what, len(removed)-ri, len(moves)-mi, len(restyles)-si)
		return nil
	}
	return out
}

// appendWorld appends cur as a delta against base (nil: full).
func appendWorld(b []byte, base, cur *Snapshot) ([]byte, error) {
	if !finite32(cur.Width) || !finite32(cur.Height) {
		return nil, fmt.Errorf("netproc: world size %v×%v is not finite", cur.Width, cur.Height)
	}
	full := base == nil
	if full {
		base = &Snapshot{}
	}
	b = binary.AppendUvarint(b, cur.Tick)
	b = binary.AppendUvarint(b, cur.PhysicsTick)
	b = binary.AppendUvarint(b, cur.AITick)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(cur.Width))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(cur.Height))
	var err error
	if b, err = appendTable(b, base.Bodies, cur.Bodies, true,
		predictor(cur.physicsTime-base.physicsTime), "bodies"); err != nil {
		return nil, err
	}
	if b, err = appendTable(b, agentItems(base.Agents), agentItems(cur.Agents), false,
		predictor(cur.aiTime-base.aiTime), "agents"); err != nil {
		return nil, err
	}
	if b, err = appendPlayers(b, base.Players, cur.Players); err != nil {
		return nil, err
	}
	return appendChildren(b, cur.Children)
}

// Player bits.
const (
	plStyle = 1 << 0 // name and color follow
	plRTT   = 1 << 1 // rtt follows
)

func cursorFixed(v float32) int64 {
	return int64(min(max(Fixed(v, Subpixel), -maxCursor), maxCursor))
}

func appendPlayers(b []byte, base, cur []PlayerState) ([]byte, error) {
	if len(cur) > maxWorldPlayers {
		return nil, fmt.Errorf("netproc: %d players, limit %d", len(cur), maxWorldPlayers)
	}
	b = binary.AppendUvarint(b, uint64(len(cur)))
	prev, i := int64(-1), 0
	for _, p := range cur {
		if int64(p.ID) <= prev {
			return nil, fmt.Errorf("netproc: player %d out of order", p.ID)
		}
		b = binary.AppendUvarint(b, uint64(int64(p.ID)-prev-1))
		prev = int64(p.ID)
		for i < len(base) && base[i].ID < p.ID {
			i++
		}
		var was *PlayerState
		if i < len(base) && base[i].ID == p.ID {
			was = &base[i]
		}
		var bits byte
		rtt := max(p.RTTNano, 0) / 1000
		if was == nil || cut(was.Name, MaxName) != cut(p.Name, MaxName) || was.Color != p.Color&0xffffff {
			bits |= plStyle
		}
		if was == nil && rtt != 0 || was != nil && max(was.RTTNano, 0)/1000 != rtt {
			bits |= plRTT
		}
		b = append(b, bits)
		if bits&plStyle != 0 {
			b = appendStr(b, p.Name, MaxName)
			b = append(b, byte(p.Color>>16), byte(p.Color>>8), byte(p.Color))
		}
		var bx, by int64
		if was != nil {
			bx, by = cursorFixed(was.Cursor[0]), cursorFixed(was.Cursor[1])
		}
		b = binary.AppendUvarint(b, zigzag(cursorFixed(p.Cursor[0])-bx))
		b = binary.AppendUvarint(b, zigzag(cursorFixed(p.Cursor[1])-by))
		if bits&plRTT != 0 {
			b = binary.AppendUvarint(b, uint64(rtt))
		}
	}
	return b, nil
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (r *reader) players(base []PlayerState) []PlayerState {
	n := r.uvarint("players", maxWorldPlayers)
	if r.err != nil || n > uint64(len(r.b)) { // each takes at least 4 bytes
		r.fail("players: %d cannot fit", n)
		return nil
	}
	out := make([]PlayerState, 0, n)
	prev, i := int64(-1), 0
	for range n {
		id := prev + 1 + int64(r.uvarint("player id gap", math.MaxUint32))
		if id > math.MaxUint32 {
			r.fail("player id %d out of range", id)
		}
		prev = id
		if r.err != nil {
			return nil
		}
		p := PlayerState{ID: uint32(id)}
		for i < len(base) && base[i].ID < p.ID {
			i++
		}
		var was *PlayerState
		if i < len(base) && base[i].ID == p.ID {
			was = &base[i]
			p = *was
		}
		bits := r.u8("player bits")
		if bits&^(plStyle|plRTT) != 0 {
			r.fail("player bits %#x", bits)
		}
		if was == nil && bits&plStyle == 0 {
			r.fail("player %d is new but has no name", id)
		}
		if bits&plStyle != 0 {
			p.Name = r.str("player name", MaxName)
			c := r.bytes(3, "player color")
			if c != nil {
				p.Color = uint32(c[0])<<16 | uint32(c[1])<<8 | uint32(c[2])
			}
		}
		var bx, by int64
		if was != nil {
			bx, by = cursorFixed(was.Cursor[0]), cursorFixed(was.Cursor[1])
		}
		x := bx + unzigzag(r.uvarint("cursor x", 4*maxCursor))
		y := by + unzigzag(r.uvarint("cursor y", 4*maxCursor))
		if x < -maxCursor || x > maxCursor || y < -maxCursor || y > maxCursor {
			r.fail("cursor of player %d out of range", id)
		}
		p.Cursor = [2]float32{float32(x) / Subpixel, float32(y) / Subpixel}
		if bits&plRTT != 0 {
			p.RTTNano = int64(r.uvarint("rtt", math.MaxInt64/1000)) * 1000
		}
		if r.err != nil {
			return nil
		}
		out = append(out, p)
	}
	return out
}

func appendChildren(b []byte, cs []Child) ([]byte, error) {
	if len(cs) > MaxChildren {
		return nil, fmt.Errorf("netproc: %d children, limit %d", len(cs), MaxChildren)
	}
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for _, c := range cs {
		b = appendStr(b, c.Name, maxChildName)
		b = appendStr(b, c.State, maxChildState)
		b = binary.AppendUvarint(b, uint64(c.Pid))
		b = binary.AppendUvarint(b, uint64(c.Restarts))
		b = binary.AppendUvarint(b, c.Tick)
		age := uint64(0)
		if c.Age >= 0 {
			age = uint64(c.Age/1000) + 1
		}
		b = binary.AppendUvarint(b, age)
		b = appendStr(b, c.Reason, maxChildReason)
	}
	return b, nil
}

func (r *reader) children() []Child {
	n := r.uvarint("children", MaxChildren)
	if r.err != nil {
		return nil
	}
	out := make([]Child, 0, n)
	for range n {
		c := Child{Name: r.str("child name", maxChildName), State: r.str("child state", maxChildState),
			Pid: uint32(r.uvarint("pid", math.MaxUint32)), Restarts: uint32(r.uvarint("restarts", math.MaxUint32)),
			Tick: r.uvarint("tick", math.MaxUint64), Age: -1}
		if age := r.uvarint("age", math.MaxInt64/1000); age > 0 {
			c.Age = int64(age-1) * 1000
		}
		c.Reason = r.str("child reason", maxChildReason)
		if r.err != nil {
			return nil
		}
		out = append(out, c)
	}
	return out
}

// readWorld reads a world written by appendWorld against base (nil: full).
func (r *reader) world(base *Snapshot) Snapshot {
	if base == nil {
		base = &Snapshot{}
	}
	s := Snapshot{Tick: r.uvarint("tick", math.MaxUint64), PhysicsTick: r.uvarint("physics tick", math.MaxUint64),
		AITick: r.uvarint("ai tick", math.MaxUint64), Width: r.f32("width"), Height: r.f32("height")}
	if r.err != nil {
		return Snapshot{}
	}
	s.Bodies = r.table(base.Bodies, true, "bodies")
	agents := r.table(agentItems(base.Agents), false, "agents")
	s.Players = r.players(base.Players)
	s.Children = r.children()
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the world", len(r.b))
	}
	if r.err != nil {
		return Snapshot{}
	}
	s.Agents = make([]Agent, len(agents))
	for i, it := range agents {
		s.Agents[i] = Agent{ID: it.ID, Kind: it.Flags, X: it.X, Y: it.Y, VX: it.VX, VY: it.VY}
	}
	return s
}

// AppendSnapshot appends the message for snapshot seq, cur, as a delta
// against the snapshot baseSeq, base (baseSeq 0 and base nil: full).
func AppendSnapshot(b []byte, seq, baseSeq uint64, base, cur *Snapshot) ([]byte, error) {
	if (baseSeq == 0) != (base == nil) {
		return nil, fmt.Errorf("netproc: base seq %d with base %v", baseSeq, base != nil)
	}
	b = append(b, msgSnapshot)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, baseSeq)
	return appendWorld(b, base, cur)
}

// welcomeFrom turns a full snapshot message into player id's welcome.
func welcomeFrom(full []byte, id uint32) []byte {
	b := make([]byte, 0, len(full)+5)
	b = append(b, msgWelcome)
	b = binary.AppendUvarint(b, uint64(id))
	return append(b, full[1:]...)
}

// ServerMessage is a server → client message whose header is parsed: a
// welcome (ID is the player's id) or a snapshot. World decodes the rest.
type ServerMessage struct {
	Welcome bool
	ID      uint32
	Seq     uint64 // the snapshot's number, ≥ 1
	Base    uint64 // the snapshot it is a delta against, 0 for a full one
	body    []byte
}

// ParseServerMessage parses the header of a server message.
func ParseServerMessage(b []byte) (ServerMessage, error) {
	r := reader{b: b}
	var m ServerMessage
	switch kind := r.u8("kind"); kind {
	case msgWelcome:
		m.Welcome = true
		m.ID = uint32(r.uvarint("player id", math.MaxUint32))
	case msgSnapshot:
	default:
		if r.err == nil {
			r.fail("unknown message kind %d", kind)
		}
	}
	m.Seq = r.uvarint("seq", math.MaxUint64)
	m.Base = r.uvarint("base", math.MaxUint64)
	switch {
	case r.err != nil:
	case m.Seq == 0:
		r.fail("seq 0")
	case m.Base >= m.Seq:
		r.fail("base %d is not before seq %d", m.Base, m.Seq)
	case m.Welcome && m.Base != 0:
		r.fail("a welcome must be full, not a delta against %d", m.Base)
	}
	if r.err != nil {
		return ServerMessage{}, r.err
	}
	m.body = r.b
	return m, nil
}

// World decodes the message's world; base must be the snapshot numbered
// m.Base (nil when m.Base is 0). Every value is checked: an error wraps
// ErrBadMessage and names the problem.
func (m ServerMessage) World(base *Snapshot) (Snapshot, error) {
	if (m.Base == 0) != (base == nil) {
		return Snapshot{}, bad("snapshot %d against base %d: base given %v", m.Seq, m.Base, base != nil)
	}
	r := reader{b: m.body}
	s := r.world(base)
	if r.err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %d: %w", m.Seq, r.err)
	}
	return s, nil
}
