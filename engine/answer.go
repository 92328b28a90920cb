package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/venomrt/venomrt/venom"
)

// A command sent as a venom request (Asker.Ask) is answered by the
// process that takes it: applied, or refused with the reason (the error
// of Sim.Handle, or the engine's own: a malformed command, an unknown
// op). The answer is encoded in the client's response buffer:
//
//	outcome u8 (1 applied, 2 refused), reserved u8 (zero),
//	reason length u16 (little-endian, at most MaxReason; zero when applied),
//	reason (UTF-8, that many bytes, nothing after it)
//
// An answer comes from shared memory: DecodeAnswer checks every byte of
// it, and a reason is made printable before anyone prints it.

// MaxReason is the longest refusal reason an answer carries, in bytes;
// a longer one is cut (at a rune boundary) and ends in "…".
const MaxReason = 200

// MaxAnswerSize is the longest encoded answer: a channel whose RespSize
// is smaller cuts its reasons to fit.
const MaxAnswerSize = answerHeader + MaxReason

const answerHeader = 4

// Outcomes of an answer.
const (
	answerApplied = 1
	answerRefused = 2
)

// Errors of an Asker, comparable with errors.Is. A refusal is a
// *RefusedError, which is ErrRefused.
var (
	// ErrRefused is a command the process refused: it changed nothing.
	ErrRefused = errors.New("engine: command refused")
	// ErrLost is a command no owner of the channel answered before the
	// Asker's deadline: the process was down the whole time (or hung),
	// or the channel is gone. If it reached the channel it waits there,
	// and an owner that comes later applies it once; asking again with
	// the same Asker (AskAgain) tells.
	ErrLost = errors.New("engine: command lost: no answer")
	// ErrBadAnswer is an answer that does not decode: not an engine
	// process, or a corrupt segment.
	ErrBadAnswer = errors.New("engine: malformed answer")
)

// RefusedError is a refusal: the reason the process gave.
type RefusedError struct {
	Reason string // printable, at most MaxReason bytes
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Is makes a RefusedError ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// putAnswer encodes the answer to a request into resp (nil for a Send:
// nothing to answer) and returns its length: applied for a nil err, else
// refused with err's text.
func putAnswer(resp []byte, err error) int {
	if len(resp) < answerHeader {
		return 0
	}
	if err == nil {
		resp[0], resp[1], resp[2], resp[3] = answerApplied, 0, 0, 0
		return answerHeader
	}
	reason := cutReason(err.Error(), min(MaxReason, len(resp)-answerHeader))
	resp[0], resp[1] = answerRefused, 0
	binary.LittleEndian.PutUint16(resp[2:], uint16(len(reason)))
	return answerHeader + copy(resp[answerHeader:], reason)
}

// cutReason cuts s to at most n bytes at a rune boundary, marking a cut.
func cutReason(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	if n < len(mark) {
		return ""
	}
	i := n - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + mark
}

// DecodeAnswer decodes an answer: nil for applied, a *RefusedError for
// refused, ErrBadAnswer for anything else (wrong length, an unknown
// outcome, reserved bits set, a reason too long or on an applied).
func DecodeAnswer(b []byte) error {
	if len(b) < answerHeader {
		return fmt.Errorf("%w: %d bytes", ErrBadAnswer, len(b))
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	switch {
	case b[1] != 0:
		return fmt.Errorf("%w: reserved byte %#x", ErrBadAnswer, b[1])
	case n > MaxReason || len(b) != answerHeader+n:
		return fmt.Errorf("%w: reason of %d bytes in %d", ErrBadAnswer, n, len(b))
	case b[0] == answerApplied && n == 0:
		return nil
	case b[0] == answerRefused:
		return &RefusedError{Reason: printable(b[answerHeader:])}
	}
	return fmt.Errorf("%w: outcome %d with %d bytes of reason", ErrBadAnswer, b[0], n)
}

// printable is b as text safe to print: invalid UTF-8 and control
// characters become U+FFFD.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			return utf8.RuneError
		}
		return r
	}, string(b))
}

// Asker sends commands that are answered: it waits for the process to
// apply or refuse each, and returns nil, a *RefusedError (with the
// process's reason) or ErrLost. Each Asker is a sender of its own
// (Command.Sender, drawn at random), numbering its commands 1, 2, 3, …:
// a one-shot tool that runs twice is two senders, and neither's command
// is taken for a redelivery of the other's.
//
// Across a restart of the process the answer is exact too. The process
// answers when it applies a command, before the publish that commits it;
// if it dies before that publish, its successor restores the last
// snapshot and is handed the command again (commit on publish) and
// applies it then — the answer already given stands, the successor's is
// dropped. If the process dies before answering, the Asker's request
// ends with venom.ErrDaemonRestarted or ErrDaemonGone; the Asker then
// waits for an owner and asks again with the same number. The lanes are
// FIFO, so the successor has taken the first copy (if it was queued)
// before the second: the second is answered applied when the first was
// (by the process's record of the sender's numbers, kept in its
// snapshot header), and is otherwise handled as a first try. A command
// is thus applied once or not at all, and the Asker says which.
//
// An Asker is used from one goroutine.
type Asker struct {
	shell  *venom.Shell
	sender uint32
	seq    uint64
	cmd    []byte
	resp   [MaxAnswerSize]byte
}

// NewAsker connects to a process's channel as a new sender.
func NewAsker(channel string, opts ...venom.Option) (*Asker, error) {
	s, err := venom.Connect(channel, opts...)
	if err != nil {
		return nil, fmt.Errorf("engine: ask %q: %w", channel, err)
	}
	return &Asker{shell: s, sender: newSender(), cmd: make([]byte, 0, CommandSize)}, nil
}

// newSender draws a sender identity: random, never 0 (the shared
// numbering's).
func newSender() uint32 {
	for {
		if id := rand.Uint32(); id != 0 {
			return id
		}
	}
}

// Sender is the Asker's numbering identity (Command.Sender).
func (a *Asker) Sender() uint32 { return a.sender }

// Ask sends c (its Sender and Seq set to the Asker's next number) and
// waits until the process answers it or ctx ends: nil when applied, a
// *RefusedError when refused, an error wrapping ErrLost when no owner
// answered before ctx ended (see Asker).
func (a *Asker) Ask(ctx context.Context, c Command) error {
	a.seq++
	c.Sender, c.Seq = a.sender, a.seq
	a.cmd = c.Append(a.cmd[:0])
	return a.ask(ctx)
}

// AskAgain asks the last command again, with its number: applied if it
// was, otherwise handled as a first try. After ErrLost it tells what
// became of the command, once an owner runs.
func (a *Asker) AskAgain(ctx context.Context) error {
	if a.seq == 0 {
		return fmt.Errorf("engine: ask again: nothing asked yet")
	}
	return a.ask(ctx)
}

// askRetry is how often an Asker looks again for an owner to ask.
const askRetry = 20 * time.Millisecond

func (a *Asker) ask(ctx context.Context) error {
	for {
		n, err := a.shell.Request(ctx, a.cmd, a.resp[:])
		if err == nil {
			return DecodeAnswer(a.resp[:n])
		}
		if !errors.Is(err, venom.ErrDaemonRestarted) && !errors.Is(err, venom.ErrDaemonGone) {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %w", ErrLost, err)
			}
			return fmt.Errorf("engine: ask: %w", err)
		}
		// The owner died or was replaced while the request waited, or
		// none runs: ask again once one does (see Asker), not before,
		// which would queue copies for nobody.
		if err := a.awaitOwner(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrLost, err)
		}
	}
}

// awaitOwner waits until the channel has a live owner with a fresh
// heartbeat, or ctx ends (its error, with what was last seen).
func (a *Asker) awaitOwner(ctx context.Context) error {
	t := time.NewTicker(askRetry)
	defer t.Stop()
	for {
		info, err := a.shell.Daemon()
		if err != nil {
			return err
		}
		if info.Running && info.Alive && time.Duration(venom.Monotonic()-info.BeatNanos) < time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (owner pid %d, running %v, alive %v)", ctx.Err(), info.Pid, info.Running, info.Alive)
		case <-t.C:
		}
	}
}

// Close detaches from the channel. A command asked and not answered
// stays queued: an owner applies it.
func (a *Asker) Close() error { return a.shell.Close() }
