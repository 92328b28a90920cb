package demo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{
		"physics": helperPhysics,
		"ai":      helperAI,
		"render":  helperRender,
		"net":     helperNet,
	})
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// physics INSTANCE [BODIES]: the physics process (2000 bodies by default).
func helperPhysics(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	bodies := 2000
	if len(args) > 1 {
		bodies, _ = strconv.Atoi(args[1])
	}
	return physics.Run(ctx, args[0]+".physics", 1, bodies, quiet())
}

// ai INSTANCE: the ai process with 200 agents.
func helperAI(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return ai.Run(ctx, args[0]+".ai", args[0]+".physics", 1, 200, quiet())
}

// render INSTANCE window|headless SCREENSHOT|- FRAMES [URL]: the
// renderer, from shared memory or (with URL) from a net process.
func helperRender(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	o := demo.Options{Instance: args[0], Headless: args[1] == "headless", Log: quiet(), Out: os.Stdout}
	if args[2] != "-" {
		o.Screenshot = args[2]
	}
	o.Frames, _ = strconv.Atoi(args[3])
	if len(args) > 4 {
		o.Connect, o.Player = args[4], "viewer"
	}
	return demo.Run(ctx, o)
}

// net INSTANCE ADDR: the net process; prints "listening ADDR".
func helperNet(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	return netproc.Run(ctx, netproc.Options{Channel: args[0] + ".net", Physics: args[0] + ".physics", AI: args[0] + ".ai",
		Status: args[0] + ".sup", Addr: args[1], Log: quiet(), OnListen: func(addr string) { fmt.Println("listening", addr) }})
}

// startNet starts net for inst on addr and returns it and its ws:// URL.
func startNet(t *testing.T, inst, addr string) (*proctest.Proc, string) {
	t.Helper()
	n := proctest.Start(t, "net", inst, addr)
	return n, "ws://" + n.Expect(t, `^listening (\S+)`, 20*time.Second)[1]
}

// cleanup removes an instance's channels when the test ends.
func cleanup(t *testing.T, inst string) {
	t.Cleanup(func() {
		for _, c := range []string{"physics", "ai", "render", "sup", "net"} {
			venom.Remove(inst + "." + c)
		}
	})
}

// renderFrames reads the renderer's frame counter (0 before it publishes).
type renderWatch struct {
	c *engine.Client[demo.RenderMeta, demo.SliceStat]
	f engine.Frame[demo.RenderMeta, demo.SliceStat]
}

func watchRender(t *testing.T, inst string) *renderWatch {
	t.Helper()
	w := &renderWatch{}
	proctest.Eventually(t, 30*time.Second, "the render channel exists", func() bool {
		c, err := engine.Connect(demo.RenderChannel(inst), demo.RenderSlice)
		if err != nil {
			return false
		}
		w.c = c
		return true
	})
	t.Cleanup(func() { w.c.Close() })
	return w
}

func (w *renderWatch) frames() uint64 {
	if w.c.Read(&w.f) != nil {
		return 0
	}
	return w.f.Meta.Frames
}

// startSim starts physics and ai for inst and waits for physics to publish.
func startSim(t *testing.T, inst string) (phys *proctest.Proc) {
	t.Helper()
	phys = proctest.Start(t, "physics", inst)
	proctest.Start(t, "ai", inst)
	proctest.Eventually(t, 20*time.Second, "physics publishes", func() bool {
		c, err := engine.Connect(inst+".physics", physics.Slice)
		if err != nil {
			return false
		}
		defer c.Close()
		var f engine.Frame[physics.Params, physics.Body]
		return c.Read(&f) == nil && len(f.Items) > 0
	})
	return phys
}

// The headless renderer, beside a real supervisor with physics and ai,
// reports reads of every slice in its status lines.
func TestHeadlessReadsEverySlice(t *testing.T) {
	inst := proctest.Name(t)
	cleanup(t, inst)
	spec := func(name string) engine.ChildSpec {
		return engine.ChildSpec{Name: name, Channel: inst + "." + name, Restart: engine.Permanent,
			Command: func() *exec.Cmd { return proctest.Command(name, inst) }}
	}
	sup, err := engine.NewSupervisor(engine.SupervisorOptions{Instance: inst, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		spec("physics"), spec("ai"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-supDone })

	r := proctest.Start(t, "render", inst, "headless", "-", "0")
	rx := regexp.MustCompile(`render frames=(\d+) .*reads physics=(\d+) ai=(\d+) sup=(\d+) net=\d+ bodies=(\d+) agents=(\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	var m []string
	for {
		m = r.Expect(t, rx.String(), time.Until(deadline))
		frames, _ := strconv.Atoi(m[1])
		p, _ := strconv.Atoi(m[2])
		a, _ := strconv.Atoi(m[3])
		s, _ := strconv.Atoi(m[4])
		if frames >= 100 && p > 0 && a > 0 && s > 0 {
			break
		}
	}
	t.Logf("status: %s", m[0])
	if m[5] != "2000" || m[6] != "200" {
		t.Errorf("bodies=%s agents=%s, want 2000 and 200", m[5], m[6])
	}
	r.Cmd.Process.Signal(syscall.SIGTERM)
	r.Wait(t, 10*time.Second)
}

// Without a display (or in a headless build) a screenshot is an error
// that says a display is needed.
func TestHeadlessScreenshotNeedsDisplay(t *testing.T) {
	inst := proctest.Name(t)
	cleanup(t, inst)
	err := demo.Run(context.Background(), demo.Options{Instance: inst, Headless: true, Screenshot: t.TempDir() + "/x.png", Frames: 1,
		Log: quiet(), Out: io.Discard})
	if err != demo.ErrNoDisplay {
		t.Fatalf("headless screenshot: %v, want ErrNoDisplay", err)
	}
}

// A renderer on "another machine" draws from net's stream: its status
// shows every body and agent and itself as a player; when net is
// SIGKILLed and comes back it reconnects and carries on.
func TestRemoteHeadless(t *testing.T) {
	inst := proctest.Name(t)
	cleanup(t, inst)
	startSim(t, inst)
	n, url := startNet(t, inst, "127.0.0.1:0")
	r := proctest.Start(t, "render", "remote-"+inst, "headless", "-", "0", url)
	rx := `reads physics=(\d+) .* bodies=(\d+) agents=(\d+) players=(\d+) .*\| net +connected \S+ +player=\d+ +snapshots=(\d+) +reconnects=(\d+)`
	m := r.Expect(t, rx, 30*time.Second)
	t.Logf("status: %s", m[0])
	if m[2] != "2000" || m[3] != "200" || m[4] != "1" {
		t.Fatalf("bodies=%s agents=%s players=%s, want 2000, 200 and 1", m[2], m[3], m[4])
	}
	n.Kill(t)
	startNet(t, inst, strings.TrimPrefix(url, "ws://"))
	for deadline := time.Now().Add(30 * time.Second); ; {
		m = r.Expect(t, rx, time.Until(deadline))
		if m[6] == "1" && m[2] == "2000" {
			break
		}
	}
	t.Logf("after net's restart: %s", m[0])
	r.Cmd.Process.Signal(syscall.SIGTERM)
	r.Wait(t, 10*time.Second)
}

// The remote renderer's input: a click spawns bodies through net, the
// cursor is seen by the players, and faults are refused with a clear
// error.
func TestRemoteInput(t *testing.T) {
	inst := proctest.Name(t)
	cleanup(t, inst)
	startSim(t, inst)
	_, url := startNet(t, inst, "127.0.0.1:0")
	ctx := proctest.Context(t, 30*time.Second)
	r, err := demo.DialReader(ctx, url, "clicker")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frame := func(what string, cond func() bool) {
		t.Helper()
		proctest.Eventually(t, 20*time.Second, what, func() bool { r.Frame(); return cond() })
	}
	frame("bodies", func() bool { return len(r.Physics.Cur.Items) == 2000 })
	if err := r.Send("physics", engine.Cmd(physics.OpSpawnBurst, 640, 360, 20)); err != nil {
		t.Fatal(err)
	}
	frame("the spawned bodies", func() bool { return len(r.Physics.Cur.Items) == 2000+netproc.SpawnCount })
	r.Cursor(123, 45)
	frame("our cursor", func() bool {
		p := r.Players()
		return len(p) == 1 && p[0].NameString() == "clicker" && p[0].CursorX == 123 && p[0].CursorY == 45
	})
	for _, c := range []struct {
		child string
		cmd   engine.Command
	}{{"physics", engine.Cmd(engine.OpPanic)}, {"ai", engine.Cmd(ai.OpReset)}, {"net", engine.Cmd(engine.OpHang)}} {
		if err := r.Send(c.child, c.cmd); !errors.Is(err, demo.ErrRemoteOnly) {
			t.Errorf("%s op %d over the network: %v, want ErrRemoteOnly", c.child, c.cmd.Op, err)
		}
	}
}

// A renderer pointed at nothing says so.
func TestRemoteRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := demo.DialReader(ctx, "ws://127.0.0.1:1", "x")
	if err == nil || !strings.Contains(err.Error(), `connect "ws://127.0.0.1:1"`) {
		t.Fatalf("dial nothing: %v, want an error naming the URL", err)
	}
}
