package venom

// Baselines for bench_test.go, each between this process and a helper
// process: a Unix-socket echo and flood (net.UnixConn), a pipe echo
// (an os.Pipe pair handed to the helper as ExtraFiles) and a gRPC echo over
// a Unix socket (a raw-bytes codec and a hand-written ServiceDesc, so no
// protoc).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func init() {
	helpers["bench-unix-echo"] = benchHelperUnixEcho
	helpers["bench-unix-flood"] = benchHelperUnixFlood
	helpers["bench-pipe-echo"] = benchHelperPipeEcho
	helpers["bench-grpc-echo"] = benchHelperGRPCEcho
}

// benchEchoLoop answers every size bytes read from r with the same bytes on w,
// until r ends.
func benchEchoLoop(r io.Reader, w io.Writer, size int) error {
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
}

// benchHelperUnixEcho: args path size. Echoes one connection.
func benchHelperUnixEcho(args []string) error {
	if err := benchArgs(args, 2); err != nil {
		return err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: args[0], Net: "unix"})
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("ready")
	ln.SetDeadline(time.Now().Add(time.Minute))
	c, err := ln.AcceptUnix()
	if err != nil {
		return err
	}
	defer c.Close()
	return benchEchoLoop(c, c, benchAtoi(args[1]))
}

func benchUnixEchoClient(b *testing.B, size int) benchRoundTrip {
	path := filepath.Join(b.TempDir(), "echo.sock")
	p := startProc(b, "bench-unix-echo", path, strconv.Itoa(size))
	p.Expect(b, `^ready$`, 30*time.Second)
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return func(msg, out []byte) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, out)
		return err
	}
}

// benchHelperPipeEcho: args size. Echoes what it reads on fd 3 to fd 4.
func benchHelperPipeEcho(args []string) error {
	if err := benchArgs(args, 1); err != nil {
		return err
	}
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	return benchEchoLoop(in, out, benchAtoi(args[0]))
}

func benchPipeEchoClient(b *testing.B, size int) benchRoundTrip {
	toR, toW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCTEST_HELPER=bench-pipe-echo", "PROCTEST_ARGS="+strconv.Itoa(size))
	cmd.ExtraFiles = []*os.File{toR, fromW} // fds 3 and 4
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	toR.Close()
	fromW.Close()
	if err != nil {
		toW.Close()
		fromR.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		toW.Close() // EOF: the helper exits
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		fromR.Close()
	})
	return func(msg, out []byte) error {
		if _, err := toW.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(fromR, out)
		return err
	}
}

// benchRawCodec is a gRPC codec of plain bytes: messages are *[]byte.
type benchRawCodec struct{}

func (benchRawCodec) Name() string { return "venom-raw" }

func (benchRawCodec) Marshal(v any) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("benchRawCodec: cannot marshal %T", v)
	}
	return *p, nil
}

func (benchRawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("benchRawCodec: cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

const benchGRPCMethod = "/venombench.Echo/Echo"

// benchEchoService is a hand-written descriptor of a service with one unary
// method that answers its request bytes.
var benchEchoService = grpc.ServiceDesc{
	ServiceName: "venombench.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			if icpt == nil {
				return &in, nil
			}
			info := &grpc.UnaryServerInfo{FullMethod: benchGRPCMethod}
			return icpt(ctx, &in, info, func(_ context.Context, req any) (any, error) { return req, nil })
		},
	}},
	Metadata: "venom/baseline_test.go",
}

// benchHelperGRPCEcho: args path. Serves benchEchoService on a Unix socket.
func benchHelperGRPCEcho(args []string) error {
	if err := benchArgs(args, 1); err != nil {
		return err
	}
	ln, err := net.Listen("unix", args[0])
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(benchRawCodec{}))
	srv.RegisterService(&benchEchoService, struct{}{})
	fmt.Println("ready")
	time.AfterFunc(benchHelperLife, srv.Stop)
	return srv.Serve(ln)
}

func benchGRPCEchoClient(b *testing.B) benchRoundTrip {
	path := filepath.Join(b.TempDir(), "grpc.sock")
	p := startProc(b, "bench-grpc-echo", path)
	p.Expect(b, `^ready$`, 30*time.Second)
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(benchRawCodec{})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ctx := context.Background()
	return func(msg, out []byte) error {
		in, got := msg, out[:0]
		if err := conn.Invoke(ctx, benchGRPCMethod, &in, &got); err != nil {
			return err
		}
		if len(got) != len(msg) {
			return fmt.Errorf("answer of %d bytes, want %d", len(got), len(msg))
		}
		copy(out, got) // got is out unless the answer did not fit
		return nil
	}
}

// benchHelperUnixFlood: args path size count. Connects, says ready, waits for a
// start byte, then writes count frames (a 4-byte little-endian length and
// size bytes), one write per frame.
func benchHelperUnixFlood(args []string) error {
	if err := benchArgs(args, 3); err != nil {
		return err
	}
	path, size, count := args[0], benchAtoi(args[1]), benchAtoi(args[2])
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("ready")
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	var start [1]byte
	if _, err := io.ReadFull(c, start[:]); err != nil {
		return fmt.Errorf("waiting for the start byte: %w", err)
	}
	frame := make([]byte, 4+size)
	binary.LittleEndian.PutUint32(frame, uint32(size))
	for i := 4; i < len(frame); i++ {
		frame[i] = byte(i)
	}
	for i := 0; i < count; i++ {
		binary.LittleEndian.PutUint64(frame[4:], uint64(i))
		if _, err := c.Write(frame); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return c.Close()
}

// benchUnixFloodRate has procs processes write b.N frames of size bytes to a Unix
// socket this process reads, and returns frames per second.
func benchUnixFloodRate(b *testing.B, size, procs int) float64 {
	path := filepath.Join(b.TempDir(), "flood.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	ps := make([]*proc, procs)
	for i, n := range benchSplit(b.N, procs) {
		ps[i] = startProc(b, "bench-unix-flood", path, strconv.Itoa(size), strconv.Itoa(n))
	}
	ln.SetDeadline(time.Now().Add(30 * time.Second))
	conns := make([]*net.UnixConn, procs)
	for i := range conns {
		c, err := ln.AcceptUnix()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		conns[i] = c
	}
	for _, p := range ps {
		p.Expect(b, `^ready$`, 30*time.Second)
	}
	counts, errs := make([]int, procs), make([]error, procs)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, c := range conns {
		wg.Go(func() {
			r := bufio.NewReaderSize(c, 64<<10)
			var hdr [4]byte
			payload := make([]byte, size)
			for {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					if !errors.Is(err, io.EOF) {
						errs[i] = err
					}
					return
				}
				if n := binary.LittleEndian.Uint32(hdr[:]); n != uint32(size) {
					errs[i] = fmt.Errorf("frame of %d bytes, want %d", n, size)
					return
				}
				if _, err := io.ReadFull(r, payload); err != nil {
					errs[i] = err
					return
				}
				counts[i]++
			}
		})
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	total := 0
	for i := range counts {
		if errs[i] != nil {
			b.Fatalf("conn %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != b.N {
		b.Fatalf("received %d of %d frames", total, b.N)
	}
	for _, p := range ps {
		p.Wait(b, 30*time.Second)
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "cmds/s")
	return rate
}
