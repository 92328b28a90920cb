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
	// counted as input Seq (Header.LastInput, Inputs, InputWindow), so a
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

// Command is a small binary message: an op, an optional input number and
// up to MaxArgs finite float64 arguments.
//
// Encoded: op u16, argc u16, reserved u32 (zero), seq u64, argc × float64,
// all little-endian.
type Command struct {
	Op   Op
	Seq  uint64 // input number, for exactly-once accounting; 0 for none
	Argc int
	Args [MaxArgs]float64
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
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, c.Seq)
	for _, a := range c.Args[:argc] {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(a))
	}
	return dst
}

// DecodeCommand decodes and checks a command: exact length, at most
// MaxArgs arguments, reserved bits zero, every argument finite.
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
	if r := binary.LittleEndian.Uint32(b[4:]); r != 0 {
		return c, fmt.Errorf("%w: reserved bits %#x", ErrBadCommand, r)
	}
	c.Seq = binary.LittleEndian.Uint64(b[8:])
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
