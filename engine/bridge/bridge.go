// Package bridge carries a game's slices and commands between machines
// over NATS.
//
// On the game's machine a Bridge (a supervised process of the game)
// publishes every slice's snapshots — the engine's own bytes, schema hash
// included — on subject "venomrt.<game>.<slice>", into a JetStream stream
// that keeps the newest message per subject: a late joiner reads the last
// snapshot at once (a direct get), then follows the live ones. Commands
// for a slice arrive on "venomrt.<game>.cmd.<slice>", a JetStream stream
// per slice on file storage; the bridge queues each into the local channel
// with its stream sequence as its input number, and acknowledges it only
// once queued. A bridge that dies before the acknowledgement is handed the
// command again, and the engine drops a number it has applied already:
// exactly once.
//
// On another machine a Mirror owns a local venom channel with the remote
// slice's name and publishes into it what arrives (newest wins: a slow
// mirror skips to the newest, never replays old frames), so the unchanged
// local readers work — a renderer, net. Commands queued on the mirror's
// channel go to the slice's command stream with a message id made of the
// local segment's identity and the command's lane position: a mirror that
// dies before its channel commits them is handed them again and sends the
// same ids, which JetStream's deduplication drops.
//
// A game declared on engine/game opts in with g.Use(bridge.Tool()): run
// then takes --nats (the bridge child; "embedded" runs a NATS server in
// the supervisor, see StartServer), proc runs bridge and mirror, and the
// subcommand edge runs an edge. A game that does not register it links
// no NATS.
package bridge

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
)

// Errors of this package, comparable with errors.Is.
var (
	// ErrBadSnapshot is a snapshot message that fails its checks: an
	// encoding, a size or a header that does not fit the slice.
	ErrBadSnapshot = errors.New("bridge: bad snapshot message")
	// ErrInsecure is a NATS server asked to listen beyond loopback
	// without credentials.
	ErrInsecure = errors.New("bridge: NATS beyond loopback without credentials")
)

// Headers of a snapshot message.
const (
	hdrDataSize = "Venom-Data-Size" // the source channel's DataSize
	hdrCmdSlots = "Venom-Cmd-Slots" // its command cells per client
	hdrSeq      = "Venom-Seq"       // its publish sequence number
	hdrEncoding = "Venom-Encoding"  // "s2" when compressed
)

// MaxDataSize bounds the snapshot size a mirror accepts from the network.
const MaxDataSize = 64 << 20

// token makes a name one NATS subject token and a valid stream name part:
// dots, wildcards and spaces become underscores.
func token(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\n', '\r':
			return '_'
		}
		return r
	}, s)
}

// SliceSubject is the subject of a game's slice snapshots.
func SliceSubject(game, slice string) string { return "venomrt." + token(game) + "." + token(slice) }

// CommandSubject is the subject of commands for a game's slice.
func CommandSubject(game, slice string) string {
	return "venomrt." + token(game) + ".cmd." + token(slice)
}

// allSlices and allCommands are the wildcard subjects of a game's slices
// and commands.
func allSlices(game string) string   { return "venomrt." + token(game) + ".*" }
func allCommands(game string) string { return "venomrt." + token(game) + ".cmd.*" }

func slicesStream(game string) string { return "VENOMRT_" + token(game) + "_SLICES" }

func commandStream(game, slice string) string {
	return "VENOMRT_" + token(game) + "_CMD_" + token(slice)
}

// Slice is one slice a bridge publishes or a mirror follows.
type Slice struct {
	Name string
	// Check reads and checks the header of a snapshot of this slice
	// (Slice.DecodeHeader of its type): schema hash, sizes, length.
	Check func(b []byte) (engine.Header, error)
	// Remote says which of the slice's own ops (engine.OpUser on) a
	// command from NATS may carry; nil lets none of them through.
	// The engine's ops never come from the network, whatever Remote
	// says — faults least of all — but for OpInput, the numbered no-op
	// that proves exactly-once through an edge.
	Remote func(op engine.Op) bool
}

// remoteOK reports whether a command from NATS with op may be queued
// into the slice's channel.
func (s Slice) remoteOK(op engine.Op) bool {
	switch {
	case op == engine.OpInput:
		return true
	case op < engine.OpUser:
		return false
	}
	return s.Remote != nil && s.Remote(op)
}

// encode makes the payload of a snapshot message.
func encode(dst, snap []byte, compress bool) []byte {
	if !compress {
		return append(dst[:0], snap...)
	}
	return s2.Encode(dst[:cap(dst)], snap)
}

// decode undoes encode, checking sizes against dataSize before any
// allocation: the network is not trusted.
func decode(dst []byte, m *nats.Msg, dataSize int) ([]byte, error) {
	switch enc := m.Header.Get(hdrEncoding); enc {
	case "":
		if len(m.Data) > dataSize {
			return nil, fmt.Errorf("%w: %d bytes, DataSize %d", ErrBadSnapshot, len(m.Data), dataSize)
		}
		return append(dst[:0], m.Data...), nil
	case "s2":
		n, err := s2.DecodedLen(m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		if n > dataSize {
			return nil, fmt.Errorf("%w: decodes to %d bytes, DataSize %d", ErrBadSnapshot, n, dataSize)
		}
		out, err := s2.Decode(dst[:cap(dst)], m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: encoding %q", ErrBadSnapshot, enc)
	}
}

// headerInt reads a positive integer header no larger than max.
func headerInt(m *nats.Msg, key string, max int) (int, error) {
	v, err := strconv.Atoi(m.Header.Get(key))
	if err != nil || v <= 0 || v > max {
		return 0, fmt.Errorf("%w: header %s %q, want 1..%d", ErrBadSnapshot, key, m.Header.Get(key), max)
	}
	return v, nil
}

// Connect connects to NATS at urls (comma-separated) for a long life:
// reconnecting at once and forever, to the servers in the order given.
// Credentials come from the URL (user:password@ or token@) or from
// VENOMRT_NATS_CREDS ("user:password" or a token).
func Connect(urls, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(0, 0), nats.DontRandomize(), nats.RetryOnFailedConnect(true),
		// No buffer while disconnected: a publish then fails at once.
		// Snapshots are newest-wins, and a command is sent again with
		// its id until it is acknowledged: a buffer would only hold
		// stale frames and hide an outage.
		nats.ReconnectBufSize(-1)}
	if c := os.Getenv("VENOMRT_NATS_CREDS"); c != "" && !strings.Contains(urls, "@") {
		cr, err := ParseCreds(c)
		if err != nil {
			return nil, err
		}
		if cr.Token != "" {
			opts = append(opts, nats.Token(cr.Token))
		} else {
			opts = append(opts, nats.UserInfo(cr.User, cr.Password))
		}
	}
	for _, u := range strings.Split(urls, ",") {
		if _, err := url.Parse(strings.TrimSpace(u)); err != nil {
			return nil, fmt.Errorf("bridge: NATS URL %q: %w", u, err)
		}
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("bridge: connect to NATS %s: %w", Redact(urls), err)
	}
	return nc, nil
}

// Redact hides the credentials of NATS URLs, for logs and errors.
func Redact(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.User != nil {
			p.User = url.User("***")
			u = p.String()
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}
