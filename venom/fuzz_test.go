package venom

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"
)

// FuzzSegment mutates the bytes of a live segment (each 5 bytes of input:
// a little-endian offset and a byte to XOR there) and then uses it from
// both sides. Whatever the bytes, every call returns an error or valid
// data: no panic, no out-of-bounds access, no unbounded wait.
func FuzzSegment(f *testing.F) {
	l := newLayout(fuzzConfig().withDefaults())
	seed := func(offs ...uint64) []byte {
		var b []byte
		for _, o := range offs {
			b = binary.LittleEndian.AppendUint32(b, uint32(o))
			b = append(b, 0xA5)
		}
		return b
	}
	f.Add([]byte{})
	f.Add(seed(hMagic))
	f.Add(seed(hVersion))
	f.Add(seed(hDataSize, hHistory+1))
	f.Add(seed(hCmdSlots))
	f.Add(seed(hTotalSize))
	f.Add(seed(hLatest))
	f.Add(seed(hLatest + 7))
	f.Add(seed(hState))
	f.Add(seed(hEpoch))
	f.Add(seed(hOwnerPid, hBeatNanos+7))
	f.Add(seed(l.buf(1)+bLen, l.buf(1)+bLen+3))
	f.Add(seed(l.buf(2)+bSeq, l.buf(1)+bPub))
	f.Add(seed(l.client(0)+cState, l.client(1)+cState))
	f.Add(seed(l.client(0)+cRespSeq, l.client(0)+cRespLen+2))
	f.Add(seed(l.lane(0)+lHead+5, l.lane(0)+lTail))
	f.Add(seed(l.lane(0)+lTail+1, l.lane(1)+lHead))
	f.Add(seed(l.cell(0, 0), l.cell(0, 0)+4, l.cell(0, 1)+2))
	f.Fuzz(func(t *testing.T, muts []byte) {
		fuzzOnce(t, muts)
	})
}

func fuzzConfig() Config {
	return Config{DataSize: 256, History: 3, CmdSlots: 4, CmdSize: 32, RespSize: 64, MaxClients: 3, CommitOnPublish: true}
}

func fuzzOnce(t *testing.T, muts []byte) {
	name := fmt.Sprintf("fuzz%d", os.Getpid())
	Remove(name)
	defer Remove(name)
	cfg := fuzzConfig()
	d, err := Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Publish([]byte("first"))
	d.Publish([]byte("second"))
	s, err := Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("queued"))
	s.Send([]byte("queued too"))

	mem := d.seg.mem
	for i := 0; i+5 <= len(muts); i += 5 {
		off := uint64(binary.LittleEndian.Uint32(muts[i:])) % uint64(len(mem))
		mem[off] ^= muts[i+4]
	}

	buf := make([]byte, 512)
	use := func(s *Shell) {
		if n, _, err := s.Read(buf); err == nil && n > cfg.DataSize {
			t.Fatalf("Read returned %d bytes > DataSize", n)
		}
		s.ReadAt(1, buf)
		s.ReadSnapshot(1, buf)
		s.Send([]byte("after"))
		s.Daemon()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		served := make(chan struct{})
		go func() {
			defer close(served)
			d.Serve(ctx, func(_ ClientID, cmd, resp []byte) int {
				if len(cmd) > cfg.CmdSize {
					t.Errorf("handler got %d bytes > CmdSize", len(cmd))
				}
				return copy(resp, cmd)
			})
		}()
		if n, err := s.Request(ctx, []byte("req"), buf); err == nil && n > cfg.RespSize {
			t.Errorf("Request returned %d bytes > RespSize", n)
		}
		<-served
	}
	use(s)
	if s2, err := Connect(name, WithDaemonTimeout(50*time.Millisecond)); err == nil {
		use(s2)
		s2.Close()
	}
	d.Publish([]byte("third"))
	d.Poll(func(_ ClientID, cmd, resp []byte) int { return len(resp) + 10 })
	Inspect(name)
	d.Close()
	// A successor adopts the mutated segment or refuses it with an error.
	if d2, err := Create(name, cfg); err == nil {
		d2.Poll(func(_ ClientID, cmd, resp []byte) int { return -1 })
		d2.Publish([]byte("fourth"))
		if n, _, err := s.Read(buf); err == nil && n > cfg.DataSize {
			t.Fatalf("Read returned %d bytes > DataSize", n)
		}
		d2.Close()
	}
	s.Close()
}
