package bridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

func msgWith(data []byte, hdr map[string]string) *nats.Msg {
	m := nats.NewMsg("x")
	m.Data = data
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	return m
}

// Every snapshot message is untrusted: sizes are checked before anything
// is allocated or copied, and a bad one is ErrBadSnapshot.
func TestDecodeRefuses(t *testing.T) {
	big := s2.Encode(nil, make([]byte, 1<<20))
	for _, tc := range []struct {
		name string
		m    *nats.Msg
	}{
		{"raw larger than DataSize", msgWith(make([]byte, 65), nil)},
		{"s2 that decodes larger than DataSize", msgWith(big, map[string]string{hdrEncoding: "s2"})},
		{"s2 that is not s2", msgWith([]byte("garbage"), map[string]string{hdrEncoding: "s2"})},
		{"an unknown encoding", msgWith([]byte{1}, map[string]string{hdrEncoding: "zip"})},
	} {
		if _, err := decode(nil, tc.m, 64); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v, want ErrBadSnapshot", tc.name, err)
		}
	}
	want := []byte("a snapshot")
	for _, compress := range []bool{false, true} {
		m := msgWith(encode(make([]byte, 0, 64), want, compress), nil)
		if compress {
			m.Header.Set(hdrEncoding, "s2")
		}
		got, err := decode(make([]byte, 0, 64), m, 64)
		if err != nil || string(got) != string(want) {
			t.Errorf("round trip (compress %v): %q, %v", compress, got, err)
		}
	}
}

func TestHeaderIntRefuses(t *testing.T) {
	for _, v := range []string{"", "x", "0", "-1", "99999999999"} {
		if _, err := headerInt(msgWith(nil, map[string]string{hdrDataSize: v}), hdrDataSize, MaxDataSize); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s %q: %v, want ErrBadSnapshot", hdrDataSize, v, err)
		}
	}
}

func TestSubjectsAreOneTokenPerName(t *testing.T) {
	if got := SliceSubject("t1.Test Game", "phys*ics"); got != "venomrt.t1_Test_Game.phys_ics" {
		t.Errorf("SliceSubject = %q", got)
	}
	if got := CommandSubject("a.b", "physics"); got != "venomrt.a_b.cmd.physics" {
		t.Errorf("CommandSubject = %q", got)
	}
	if allSlices("a.b") != "venomrt.a_b.*" || allCommands("a.b") != "venomrt.a_b.cmd.*" {
		t.Errorf("wildcards: %q %q", allSlices("a.b"), allCommands("a.b"))
	}
}

func TestCredsAndInsecureListen(t *testing.T) {
	if c, err := ParseCreds("ann:secret"); err != nil || c.User != "ann" || c.Password != "secret" {
		t.Errorf("user:password: %+v %v", c, err)
	}
	if c, err := ParseCreds("s3cr3t"); err != nil || c.Token != "s3cr3t" {
		t.Errorf("token: %+v %v", c, err)
	}
	if _, err := ParseCreds("ann:"); err == nil {
		t.Error("an empty password accepted")
	}
	_, err := StartServer(ServerOptions{Listen: "0.0.0.0:0"})
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "--nats-creds") {
		t.Errorf("listen beyond loopback without credentials: %v", err)
	}
	if got := Redact("nats://ann:secret@h:4222,nats://h2:4222"); strings.Contains(got, "secret") {
		t.Errorf("redact: %q", got)
	}
}
