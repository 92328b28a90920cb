// Package engine turns venom channels into a game runtime: typed snapshot
// schemas, the fixed-timestep process loop with warm restarts and hot
// standbys, binary commands and faults. The supervisor that restarts
// crashed or hung processes is package engine/supervisor.
//
// The pieces a process is made of:
//
//   - Run: a Sim's loop — an Owner plus fixed steps. Most processes are
//     a Sim on Run.
//   - Owner (Own): the one layer that owns a channel — create, adopt or
//     replace its segment, restore, publish, serve commands, carry out
//     the engine's faults. A renderer, which draws at its own pace, uses
//     one directly: Poll and Publish once per frame.
//   - Follower (Follow): the one way to read another process's slice —
//     lazily connected, following the owner's restarts and --fresh,
//     newest-wins, with the snapshot's age and the owner's epoch.
//   - Asker: commands that are answered (applied, or refused with the
//     process's reason), each Asker a sender of its own; Follower.Send
//     and Client.Send queue commands without an answer.
package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"unsafe"

	"github.com/venomrt/venomrt/venom"
)

// Errors of this package, comparable with errors.Is. ErrIncompatible is
// venom's: a snapshot of another schema is the same kind of mismatch as a
// segment of another shape.
var (
	ErrIncompatible = venom.ErrIncompatible
	ErrCorrupt      = venom.ErrCorrupt
	// ErrLayout means a type is not fixed-layout: it holds a pointer, bool
	// (any byte but 0 and 1 would be an invalid bool),
	// string, slice, map, interface, int, uint or uintptr somewhere.
	ErrLayout = errors.New("engine: type is not fixed-layout")
)

// Header opens every snapshot.
type Header struct {
	Schema   uint64 // hash of the meta and item layouts
	Tick     uint64 // ticks since the world began; continues across restarts
	SimTime  int64  // simulated nanoseconds: Tick × the step
	Mono     int64  // CLOCK_MONOTONIC ns when the snapshot was made (venom.Monotonic)
	Count    uint32 // items that follow the meta
	ItemSize uint32
	MetaSize uint32
	Rate     uint32 // nominal ticks per second
	Applied  uint64 // commands applied since the world began
	Dropped  uint64 // commands dropped as malformed or refused
	// LastInput is the highest input number of the shared numbering
	// applied (Command.Seq of Sender 0): how far a numbered sender's
	// inputs have got.
	LastInput uint64
	// Inputs counts commands of the shared numbering applied, repeats
	// included. Which numbers were applied, lost or doubled is Account's
	// to say, from the record below.
	Inputs uint64
	// The record of the shared numbering's inputs, which only Account
	// (and the owner's check for redeliveries) interprets: bit i of
	// window set when input LastInput-i has been applied; repeats, the
	// numbered commands dropped because their number had been applied
	// (redeliveries); doubles, those applied although it had been
	// (only OpDoubleInput does that, on purpose).
	window, repeats, doubles uint64
	Epoch                    uint64 // venom epoch of the process that made it
	Lag                      uint64 // ticks skipped because catch-up was bounded
	StepNanos                uint64 // wall time of the last tick: its commands and its step (the snapshot is filled and encoded after)

	// The inputs of senders other than the shared numbering
	// (Command.Sender), newest by use: what an Asker's question asked
	// again after a restart is checked against (see SenderSlots).
	senders     [SenderSlots]senderMark
	senderClock uint64

	// Counters are what the process keeps for watching (top, /metrics);
	// its Owner keeps them.
	Counters Counters
}

// HeaderSize is the encoded size of a Header.
const HeaderSize = int(unsafe.Sizeof(Header{}))

// Frame is one decoded snapshot: the header, the process-wide meta state M
// and the items T.
//
// A frame read by a Client keeps the snapshot's bytes as they came out of
// shared memory, and Items is a view of them (one copy, no decoding
// copy). Client.Read leaves the items of the frame's snapshot before as
// they were until the read after it; a read with ReadOptions.Overwrite
// reuses them at once. Copying a Frame copies the view, not the items: read into one of
// the copies only.
type Frame[M, T any] struct {
	Header
	Meta  M
	Items []T

	raw, spare []uint64 // a Client's copies of the snapshot: Items views raw
	seq        uint64   // the publish sequence number a Client read it at
}

// Seq is the publish sequence number the frame's snapshot was read at by
// a Client (0 for none): ReadOptions.Since.
func (f *Frame[M, T]) Seq() uint64 { return f.seq }

// Slice is the typed shape of a channel's snapshots: a Header, one M
// (process-wide state, such as a world's parameters and RNG) and a run
// of T. M and T must be fixed-layout: only fixed-size numbers,
// arrays and structs of them.
type Schema[M, T any] struct {
	schema   uint64
	metaSize int
	itemSize int
}

// NewSchema checks M and T and computes their schema hash.
func NewSchema[M, T any]() (Schema[M, T], error) {
	var m M
	var t T
	mt, tt := reflect.TypeOf(&m).Elem(), reflect.TypeOf(&t).Elem()
	h := fnv.New64a()
	// The header's layout is part of the schema: a snapshot written by a
	// build with other header fields is incompatible, not corrupt.
	fmt.Fprintf(h, "%s;", describe(reflect.TypeFor[Header]()))
	for _, typ := range []reflect.Type{mt, tt} {
		if err := checkLayout(typ, typ.String()); err != nil {
			return Schema[M, T]{}, err
		}
		fmt.Fprintf(h, "%s;", describe(typ))
	}
	return Schema[M, T]{schema: h.Sum64(), metaSize: int(mt.Size()), itemSize: int(tt.Size())}, nil
}

// MustSchema is NewSchema for types known to be fixed-layout; it panics
// otherwise, as regexp.MustCompile does.
func MustSchema[M, T any]() Schema[M, T] {
	s, err := NewSchema[M, T]()
	if err != nil {
		panic(err)
	}
	return s
}

func checkLayout(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return nil
	case reflect.Array:
		return checkLayout(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if err := checkLayout(f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrLayout, path, t.Kind())
}

// describe spells out a layout: field names, kinds, offsets and sizes.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), describe(t.Elem()))
	case reflect.Struct:
		s := "struct{"
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			s += fmt.Sprintf("%s@%d:%s;", f.Name, f.Offset, describe(f.Type))
		}
		return s + fmt.Sprintf("}%d", t.Size())
	}
	return t.Kind().String()
}

// Schema is the hash a reader compares before it trusts a snapshot.
func (s Schema[M, T]) Schema() uint64 { return s.schema }

// Size is the encoded size of a snapshot of n items.
func (s Schema[M, T]) Size(n int) int { return HeaderSize + s.metaSize + n*s.itemSize }

// Capacity is how many items fit a snapshot buffer of dataSize bytes.
func (s Schema[M, T]) Capacity(dataSize int) int {
	if s.itemSize == 0 {
		return 0
	}
	return max(0, (dataSize-HeaderSize-s.metaSize)/s.itemSize)
}

func asBytes[X any](p *X, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}

// Encode writes h (with Schema, Count and sizes filled in), meta and items
// into dst and returns the bytes written. dst too short gives
// venom.ErrTooLarge. Items are copied as their in-memory bytes: the
// layout is the machine's, little-endian on every platform venom builds.
func (s Schema[M, T]) Encode(dst []byte, h Header, meta *M, items []T) (int, error) {
	n := s.Size(len(items))
	if n > len(dst) {
		return 0, fmt.Errorf("engine: encode %d items (%d bytes) into %d: %w", len(items), n, len(dst), venom.ErrTooLarge)
	}
	h.Schema, h.Count, h.ItemSize, h.MetaSize = s.schema, uint32(len(items)), uint32(s.itemSize), uint32(s.metaSize)
	copy(dst, asBytes(&h, HeaderSize))
	copy(dst[HeaderSize:], asBytes(meta, s.metaSize))
	if len(items) > 0 {
		copy(dst[HeaderSize+s.metaSize:n], asBytes(&items[0], len(items)*s.itemSize))
	}
	return n, nil
}

// DecodeHeader reads and checks the header of an encoded snapshot.
func (s Schema[M, T]) DecodeHeader(src []byte) (Header, error) {
	var h Header
	if len(src) < HeaderSize {
		return h, fmt.Errorf("%w: snapshot of %d bytes, shorter than its header", ErrCorrupt, len(src))
	}
	copy(asBytes(&h, HeaderSize), src)
	if h.Schema != s.schema || h.ItemSize != uint32(s.itemSize) || h.MetaSize != uint32(s.metaSize) {
		return h, fmt.Errorf("%w: snapshot schema %#x (item %d, meta %d bytes), want %#x (item %d, meta %d)",
			ErrIncompatible, h.Schema, h.ItemSize, h.MetaSize, s.schema, s.itemSize, s.metaSize)
	}
	if want := uint64(s.Size(0)) + uint64(h.Count)*uint64(s.itemSize); uint64(len(src)) != want {
		return h, fmt.Errorf("%w: snapshot of %d bytes for %d items, want %d", ErrCorrupt, len(src), h.Count, want)
	}
	return h, nil
}

// view makes f the snapshot src without copying its items: f.Items views
// src, which must lie in storage f keeps (a Client's read) and start so
// that the items are 8-byte aligned (itemsPad). On an error f is left as
// it was.
func (s Schema[M, T]) view(src []byte, f *Frame[M, T]) error {
	if s.itemSize == 0 {
		return s.Decode(src, f)
	}
	h, err := s.DecodeHeader(src) // Count checked against len(src)
	if err != nil {
		return err
	}
	f.Header = h
	copy(asBytes(&f.Meta, s.metaSize), src[HeaderSize:])
	if h.Count == 0 {
		f.Items = f.Items[:0:0] // no capacity in storage a later read reuses
		return nil
	}
	f.Items = unsafe.Slice((*T)(unsafe.Pointer(&src[HeaderSize+s.metaSize])), h.Count)
	return nil
}

// itemsPad is where a snapshot starts in 8-byte aligned storage so that
// its items are 8-byte aligned too (the most a fixed-layout type needs).
func (s Schema[M, T]) itemsPad() int { return -(HeaderSize + s.metaSize) & 7 }

// Decode reads an encoded snapshot into f, reusing f.Items' capacity. On
// an error f is left as it was.
func (s Schema[M, T]) Decode(src []byte, f *Frame[M, T]) error {
	h, err := s.DecodeHeader(src)
	if err != nil {
		return err
	}
	f.Header = h
	copy(asBytes(&f.Meta, s.metaSize), src[HeaderSize:])
	n := int(h.Count)
	if cap(f.Items) < n {
		f.Items = make([]T, n)
	}
	f.Items = f.Items[:n]
	if n > 0 {
		copy(asBytes(&f.Items[0], n*s.itemSize), src[HeaderSize+s.metaSize:])
	}
	return nil
}
