package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// Commands that answer, over NATS. A command sent as a NATS request on
// a slice's ask subject (AskSubject) is stored by the bridge in the
// slice's command stream, like any other, and answered when the process
// has applied or refused it: the reply's data is the engine's answer
// (engine.DecodeAnswer: applied, or refused with the process's reason).
// A request the bridge could not take to a verdict is answered with no
// data and the reason in the hdrAskError header (DecodeAnswer:
// ErrNoVerdict). Ask does it all.
//
// The bridge takes the command stream in order, one venom lane per slice
// (the order of the stream is the order the process applies), queueing
// the commands nobody waits for (plain publishes) without waiting, and
// an asked command as a venom request: its verdict comes back on the
// same lane, in order, so only asked commands wait for the process —
// at most one of its ticks each.

// AskSubject is the subject a command is asked on (a NATS request) for
// a game's slice: its reply is the process's verdict.
func AskSubject(game, slice string) string {
	return "venomrt." + token(game) + ".ask." + token(slice)
}

// hdrAskError carries, in a reply with no data, why a request got no
// verdict.
const hdrAskError = "Venomrt-Ask-Error"

// maxAskID is the longest message id (Nats-Msg-Id) an asked command may
// carry: the bridge keeps it while the command waits.
const maxAskID = 128

// Bounds of what a bridge holds for asked commands, per slice: requests
// being stored at once, commands awaiting their verdict, verdicts kept
// for a request sent again with the same id.
const (
	maxStoring  = 64
	maxWaiting  = 4096
	keptAnswers = 1024
	maxPerID    = 16 // requests waiting for one message id
)

// ErrNoVerdict is a request the bridge answered without the process's
// verdict: not stored (a full stream, NATS trouble: send it again, with
// the same message id), busy, or a command sent again after the bridge
// that handled it restarted (its verdict is gone; it was applied at most
// once).
var ErrNoVerdict = errors.New("bridge: no verdict")

// Ask sends c to a game's slice as a NATS request and returns the
// process's verdict: nil when applied, an *engine.RefusedError with the
// process's reason when refused (errors.Is engine.ErrRefused), an error
// wrapping ErrNoVerdict, or one wrapping engine.ErrLost when no answer
// came before ctx ended (the bridge or NATS down: the command may have
// been applied, once; ask again with the same id to learn it from a
// bridge that still runs). id is the command's message id: the stream
// keeps one copy of a command however often it is sent with it; "" lets
// the bridge choose one (a retry is then a new command).
func Ask(ctx context.Context, nc *nats.Conn, game, slice string, c engine.Command, id string) error {
	m := nats.NewMsg(AskSubject(game, slice))
	m.Data = c.Append(nil)
	if id != "" {
		m.Header.Set(nats.MsgIdHdr, id)
	}
	r, err := nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("%w: %w", engine.ErrLost, err)
		}
		return fmt.Errorf("bridge: ask: %w", err)
	}
	return DecodeAnswer(r)
}

// DecodeAnswer is the verdict a bridge's reply carries (see Ask). The
// reply is untrusted: engine.DecodeAnswer checks its data.
func DecodeAnswer(m *nats.Msg) error {
	if m.Header != nil {
		if e := m.Header.Get(hdrAskError); e != "" {
			return fmt.Errorf("%w: %s", ErrNoVerdict, printable(e, engine.MaxReason))
		}
		if st := m.Header.Get("Status"); st != "" {
			return fmt.Errorf("%w: status %s", engine.ErrLost, printable(st, 16))
		}
	}
	return engine.DecodeAnswer(m.Data)
}

// printable is at most n bytes of s, with control characters and
// invalid UTF-8 replaced.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, s)
}

// refusal encodes a refusal the bridge itself makes (a command that does
// not decode, an op not remote-callable) as the engine encodes a
// process's: outcome 2, reserved 0, reason length, reason.
func refusal(err error) []byte {
	reason := err.Error()
	if len(reason) > engine.MaxReason {
		i := engine.MaxReason - len("…")
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i] + "…"
	}
	b := make([]byte, 4, 4+len(reason))
	b[0] = 2
	binary.LittleEndian.PutUint16(b[2:], uint16(len(reason)))
	return append(b, reason...)
}

// verdict is what the bridge answers a request: the engine's answer, or
// why there is none.
type verdict struct {
	answer  []byte
	noneWhy string
}

// asks are one slice's asked commands: the requests waiting for each
// message id, and the verdicts given lately.
type asks struct {
	mu      sync.Mutex
	waiting map[string][]string // message id → reply subjects
	kept    map[string]verdict
	order   []string // kept's ids, oldest first
	storing chan struct{}
}

func newAsks() *asks {
	return &asks{waiting: map[string][]string{}, kept: map[string]verdict{}, storing: make(chan struct{}, maxStoring)}
}

// take removes and returns the requests waiting for id.
func (a *asks) take(id string) []string {
	if id == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.waiting[id]
	delete(a.waiting, id)
	return r
}

// decided keeps v as id's verdict and returns the requests that came
// for id meanwhile.
func (a *asks) decided(id string, v verdict) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.kept[id]; !ok {
		if len(a.order) >= keptAnswers {
			delete(a.kept, a.order[0])
			a.order = a.order[1:]
		}
		a.order = append(a.order, id)
	}
	a.kept[id] = v
	r := a.waiting[id]
	delete(a.waiting, id)
	return r
}

// answer replies v to each request.
func (b *bridgeProc) answer(replies []string, v verdict) {
	for _, r := range replies {
		if r == "" {
			continue // published, not requested: nobody to answer
		}
		m := nats.NewMsg(r)
		if v.answer != nil {
			m.Data = v.answer
		} else {
			m.Header.Set(hdrAskError, v.noneWhy)
		}
		b.nc.PublishMsg(m) // a requester gone is no error of ours
	}
}

// serveAsks takes the requests on a slice's ask subject until ctx ends.
func (b *bridgeProc) serveAsks(ctx context.Context, s *outSlice) {
	sub, err := b.nc.Subscribe(AskSubject(b.o.Game, s.Name), func(m *nats.Msg) {
		select {
		case s.asks.storing <- struct{}{}:
			go func() {
				defer func() { <-s.asks.storing }()
				b.ask(ctx, s, m)
			}()
		default:
			b.answer([]string{m.Reply}, verdict{noneWhy: "busy: too many commands being stored; send it again"})
		}
	})
	if err != nil {
		b.o.Log.Warn("bridge: no ask subject", "slice", s.Name, "err", err)
		return
	}
	<-ctx.Done()
	sub.Unsubscribe()
}

// ask stores one asked command in the slice's command stream and leaves
// its request waiting for forward's verdict. What is refused here —
// garbage, an op not remote-callable — is never stored: it is counted as
// bad and answered refused at once.
func (b *bridgeProc) ask(ctx context.Context, s *outSlice, m *nats.Msg) {
	c, err := engine.DecodeCommand(m.Data)
	if err == nil && !s.remoteOK(c.Op) {
		err = fmt.Errorf("op %d is not remote-callable (the engine's own ops never are)", c.Op)
	}
	id := m.Header.Get(nats.MsgIdHdr)
	if err == nil && len(id) > maxAskID {
		err = fmt.Errorf("message id of %d bytes, at most %d", len(id), maxAskID)
	}
	if err != nil {
		b.bad.Add(1)
		s.bad.Add(1)
		s.badOnce.Do(func() { b.o.Log.Warn("bridge: command refused (logged once per slice)", "slice", s.Name, "err", err) })
		b.answer([]string{m.Reply}, verdict{answer: refusal(err)})
		return
	}
	if id == "" {
		id = "ask-" + strings.TrimPrefix(nats.NewInbox(), "_INBOX.")
	}
	reply := m.Reply
	a := s.asks
	a.mu.Lock()
	if v, ok := a.kept[id]; ok {
		a.mu.Unlock()
		b.answer([]string{reply}, v) // sent again: it was stored and decided
		return
	}
	if len(a.waiting) >= maxWaiting || len(a.waiting[id]) >= maxPerID {
		a.mu.Unlock()
		b.answer([]string{reply}, verdict{noneWhy: "busy: too many commands awaiting their verdict; send it again"})
		return
	}
	if reply != "" {
		// Waiting before it is stored: forward may come to it at once.
		a.waiting[id] = append(a.waiting[id], reply)
	}
	a.mu.Unlock()

	select {
	case <-b.streams:
	case <-ctx.Done():
		return
	}
	out := nats.NewMsg(CommandSubject(b.o.Game, s.Name))
	out.Data = m.Data
	out.Header.Set(nats.MsgIdHdr, id)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ack, err := b.js.PublishMsg(pctx, out)
	cancel()
	if err != nil {
		a.mu.Lock()
		a.waiting[id] = without(a.waiting[id], reply)
		if len(a.waiting[id]) == 0 {
			delete(a.waiting, id)
		}
		a.mu.Unlock()
		b.answer([]string{reply}, verdict{noneWhy: "not stored: " + err.Error() + "; send it again with the same message id"})
		return
	}
	// Sent again after this bridge, or one before it, passed it: no
	// verdict will come from forward. forward decides (kept) before its
	// place moves on, so a request still waiting past the place is one
	// no forward saw.
	a.mu.Lock()
	if v, ok := a.kept[id]; ok && slicesContain(a.waiting[id], reply) {
		a.waiting[id] = without(a.waiting[id], reply)
		if len(a.waiting[id]) == 0 {
			delete(a.waiting, id)
		}
		a.mu.Unlock()
		b.answer([]string{reply}, v)
		return
	}
	select {
	case <-s.started:
	case <-ctx.Done():
		return
	}
	var late []string
	if ack.Sequence < s.place.Load() {
		late = a.waiting[id]
		delete(a.waiting, id)
	}
	a.mu.Unlock()
	b.answer(late, verdict{noneWhy: fmt.Sprintf("command %d was handled before this bridge started: its verdict is gone (it was applied at most once)", ack.Sequence)})
}

func without(rs []string, r string) []string {
	for i, x := range rs {
		if x == r {
			return append(rs[:i:i], rs[i+1:]...)
		}
	}
	return rs
}

func slicesContain(rs []string, r string) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// askProcess sends c to the process as a venom request and returns its
// answer, connecting (again) as needed; it fails only when ctx ends. A
// process that dies or is replaced while the request waits is asked
// again, with the same number, once an owner runs: the engine answers
// applied for a number it has applied (see engine.Asker), so the command
// is applied once whichever copy it took.
func askProcess(ctx context.Context, shell *venom.Shell, channel string, c engine.Command) (*venom.Shell, []byte, error) {
	var buf [engine.CommandSize]byte
	cmd := c.Append(buf[:0])
	resp := make([]byte, engine.MaxAnswerSize)
	for wait := time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		if shell == nil {
			if sh, err := venom.Connect(channel); err == nil {
				shell = sh
			}
		}
		if shell != nil {
			n, err := shell.Request(ctx, cmd, resp)
			if err == nil {
				return shell, resp[:n], nil
			}
			if ctx.Err() != nil {
				return shell, nil, ctx.Err()
			}
			if !errors.Is(err, venom.ErrDaemonRestarted) && !errors.Is(err, venom.ErrDaemonGone) {
				shell.Close() // the channel was replaced or closed: connect again
				shell = nil
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return shell, nil, err
		}
	}
}
