package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Op is a command's operation. Ops below 64 are the engine's own (faults
// and control); each process defines its ops from OpUser on.
type Op uint16

// The engine's ops, handled by Run for every process.
const (
	OpNone Op = iota
	// OpPanic panics in the process loop.
	OpPanic
	// OpExit exits with code Args[0].
	OpExit
	// OpHang stops ticking (and so the heartbeat) for good.
	OpHang
	// OpMidPublish dies by SIGKILL halfway through writing the next snapshot.
	OpMidPublish
	// OpSlow makes each of the next Args[1] ticks take Args[0] ms longer.
	OpSlow
	// OpInput is a numbered no-op: it changes nothing in the world and is
	// counted as input Seq (Header.LastInput, Inputs, Account), so a
	// tool can number inputs to any process without touching its state.
	OpInput
	// OpDropInput makes the process drop the next numbered input unapplied
	// and uncounted: exactly-once broken on purpose, so that a checker of
	// it (chaos, a test) can be seen to fail.
	OpDropInput
	// OpDoubleInput makes the process apply and count the next numbered
	// input twice, for the same reason.
	OpDoubleInput
	// OpUser is the first op a process may define.
	OpUser Op = 64
)

// MaxArgs is how many arguments a command carries at most.
const MaxArgs = 8

// CommandSize is the encoded size of a command with MaxArgs arguments, and
// so the CmdSize a process's channel needs.
const CommandSize = cmdHeader + 8*MaxArgs

const cmdHeader = 16

// Command is a small binary message: an op, an optional input number
// (Seq) in its sender's numbering (Sender), and up to MaxArgs finite
// float64 arguments.
//
// Every sender has its own numbering identity. Sender 0 is the process's
// shared numbering: the inputs a probe (InputProbe), chaos, bench or a
// bridge numbers 1, 2, 3, … and Header.Account checks. Any other Sender
// is one sender's own (an Asker picks one at random per run), so a
// one-shot tool run twice sends (s1, 1) and then (s2, 1) and is never
// taken for a redelivery; the process remembers the newest senders'
// numbers in its snapshot header (see Asker).
//
// Encoded: op u16, argc u16, sender u32, seq u64, argc × float64, all
// little-endian. A sender without a seq is malformed.
type Command struct {
	Op     Op
	Sender uint32 // numbering identity of Seq: 0 the shared one
	Seq    uint64 // input number, for exactly-once accounting; 0 for none
	Argc   int
	Args   [MaxArgs]float64
}

// Cmd builds a command.
func Cmd(op Op, args ...float64) Command {
	c := Command{Op: op, Argc: min(len(args), MaxArgs)}
	copy(c.Args[:], args)
	return c
}

// Arg returns argument i, or def when the command has fewer arguments.
func (c Command) Arg(i int, def float64) float64 {
	if i < c.Argc {
		return c.Args[i]
	}
	return def
}

// Errors from DecodeCommand and a process's handling, comparable with
// errors.Is.
var (
	ErrShortCommand = errors.New("engine: short command")
	ErrBadCommand   = errors.New("engine: malformed command")
	ErrUnknownOp    = errors.New("engine: unknown op")
	ErrBadArg       = errors.New("engine: bad argument")
)

// Append appends the encoding of c to dst.
func (c Command) Append(dst []byte) []byte {
	argc := max(0, min(c.Argc, MaxArgs))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(c.Op))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(argc))
	dst = binary.LittleEndian.AppendUint32(dst, c.Sender)
	dst = binary.LittleEndian.AppendUint64(dst, c.Seq)
	for _, a := range c.Args[:argc] {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(a))
	}
	return dst
}

// DecodeCommand decodes and checks a command: exact length, at most
// MaxArgs arguments, a sender only with a seq, every argument finite.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) < cmdHeader {
		return c, fmt.Errorf("%w: %d bytes, want at least %d", ErrShortCommand, len(b), cmdHeader)
	}
	c.Op = Op(binary.LittleEndian.Uint16(b))
	argc := int(binary.LittleEndian.Uint16(b[2:]))
	if argc > MaxArgs {
		return c, fmt.Errorf("%w: %d arguments, at most %d", ErrBadCommand, argc, MaxArgs)
	}
	if len(b) < cmdHeader+8*argc {
		return c, fmt.Errorf("%w: %d bytes for %d arguments", ErrShortCommand, len(b), argc)
	}
	if len(b) != cmdHeader+8*argc {
		return c, fmt.Errorf("%w: %d bytes for %d arguments", ErrBadCommand, len(b), argc)
	}
	c.Sender = binary.LittleEndian.Uint32(b[4:])
	c.Seq = binary.LittleEndian.Uint64(b[8:])
	if c.Sender != 0 && c.Seq == 0 {
		return c, fmt.Errorf("%w: sender %#x without an input number", ErrBadCommand, c.Sender)
	}
	c.Argc = argc
	for i := range argc {
		a := math.Float64frombits(binary.LittleEndian.Uint64(b[cmdHeader+8*i:]))
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return c, fmt.Errorf("%w: argument %d of op %d is %v", ErrBadArg, i, c.Op, a)
		}
		c.Args[i] = a
	}
	if c.Op == OpNone {
		return c, fmt.Errorf("%w: op 0", ErrUnknownOp)
	}
	return c, nil
}
