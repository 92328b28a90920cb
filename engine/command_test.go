package engine

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	c := Cmd(OpUser+3, 1, -2.5, 1e9)
	c.Sender, c.Seq = 0xdeadbeef, 77
	b := c.Append(nil)
	if len(b) != 16+3*8 {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, err := DecodeCommand(b)
	if err != nil || got != c {
		t.Fatalf("DecodeCommand: %+v %v, want %+v", got, err, c)
	}
	if got.Arg(1, 0) != -2.5 || got.Arg(5, 9) != 9 {
		t.Fatalf("Arg: %v %v", got.Arg(1, 0), got.Arg(5, 9))
	}
}

func TestCommandDecodeErrors(t *testing.T) {
	good := Cmd(OpUser, 1, 2).Append(nil)
	nan := Cmd(OpUser, math.NaN()).Append(nil)
	inf := Cmd(OpUser, math.Inf(-1)).Append(nil)
	many := append([]byte(nil), good...)
	many[2] = 9
	unnumbered := append([]byte(nil), good...)
	unnumbered[5] = 1 // a sender, and seq 0
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShortCommand},
		{"header only part", good[:10], ErrShortCommand},
		{"missing arg", good[:len(good)-8], ErrShortCommand},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrBadCommand},
		{"too many args", many, ErrBadCommand},
		{"sender without seq", unnumbered, ErrBadCommand},
		{"NaN", nan, ErrBadArg},
		{"Inf", inf, ErrBadArg},
		{"op 0", Cmd(OpNone).Append(nil), ErrUnknownOp},
	} {
		if _, err := DecodeCommand(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzCommand: decoding any bytes returns a command or an error, and a
// decoded command encodes back to the same bytes.
func FuzzCommand(f *testing.F) {
	f.Add(Cmd(OpUser, 1, 2).Append(nil))
	f.Add(Cmd(OpPanic).Append(nil))
	f.Add(Cmd(OpSlow, 100, 3).Append(nil))
	f.Add([]byte{1, 0, 8, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0xff}, 80))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if c.Argc > MaxArgs {
			t.Fatalf("argc %d", c.Argc)
		}
		if again := c.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, was %x", again, b)
		}
	})
}
