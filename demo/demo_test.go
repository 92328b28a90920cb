package demo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/demotest"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	netproc "github.com/venomrt/venomrt/procs/net"
	"github.com/venomrt/venomrt/procs/physics"
)

func TestMain(m *testing.M) {
	proctest.Main(m, demotest.Helpers(demo.Run))
}

func quiet() *slog.Logger { return demotest.Quiet() }

// The headless renderer, beside a real supervisor with physics and ai,
// reports reads of every slice in its status lines.
func TestHeadlessReadsEverySlice(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	spec := func(name string) supervisor.ChildSpec {
		return supervisor.ChildSpec{Name: name, Channel: inst + "." + name, Restart: supervisor.Permanent,
			Command: func() *exec.Cmd { return proctest.Command(name, inst) }}
	}
	sup, err := supervisor.New(supervisor.Options{Instance: inst, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
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

// The headless renderer cannot take a screenshot: the error says the
// window and a display are needed.
func TestHeadlessScreenshotNeedsDisplay(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	err := demo.Run(context.Background(), demo.Options{Instance: inst, Headless: true, Screenshot: t.TempDir() + "/x.png", Frames: 1,
		Log: quiet(), Out: io.Discard})
	if err != demo.ErrNoDisplay {
		t.Fatalf("headless screenshot: %v, want ErrNoDisplay", err)
	}
}

// Run is the headless renderer whatever the environment says: with a
// DISPLAY that names no X server and without Options.Headless it runs its
// frames without drawing and publishes them as headless.
func TestRunIsHeadless(t *testing.T) {
	t.Setenv("DISPLAY", ":4242")
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	var out strings.Builder
	if err := demo.Run(context.Background(), demo.Options{Instance: inst, Frames: 5, Log: quiet(), Out: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "render frames=5 ") {
		t.Errorf("status lines %q, want one with frames=5", out.String())
	}
	c, err := engine.Connect(demo.RenderChannel(inst), demo.RenderSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f engine.Frame[demo.RenderMeta, demo.SliceStat]
	if err := c.Read(&f); err != nil {
		t.Fatal(err)
	}
	if f.Meta.Headless != 1 || f.Meta.Frames != 5 {
		t.Errorf("render slice: headless=%d frames=%d, want 1 and 5", f.Meta.Headless, f.Meta.Frames)
	}
}

// A renderer on "another machine" draws from net's stream: its status
// shows every body and agent and itself as a player; when net is
// SIGKILLed and comes back it reconnects and carries on.
func TestRemoteHeadless(t *testing.T) {
	inst := proctest.Name(t)
	demotest.Cleanup(t, inst)
	demotest.StartSim(t, inst)
	n, url := demotest.StartNet(t, inst, "127.0.0.1:0")
	r := proctest.Start(t, "render", "remote-"+inst, "headless", "-", "0", url)
	rx := `reads physics=(\d+) .* bodies=(\d+) agents=(\d+) players=(\d+) .*\| net +connected \S+ +player=\d+ +snapshots=(\d+) +reconnects=(\d+)`
	m := r.Expect(t, rx, 30*time.Second)
	t.Logf("status: %s", m[0])
	if m[2] != "2000" || m[3] != "200" || m[4] != "1" {
		t.Fatalf("bodies=%s agents=%s players=%s, want 2000, 200 and 1", m[2], m[3], m[4])
	}
	n.Kill(t)
	demotest.StartNet(t, inst, strings.TrimPrefix(url, "ws://"))
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
	demotest.Cleanup(t, inst)
	demotest.StartSim(t, inst)
	_, url := demotest.StartNet(t, inst, "127.0.0.1:0")
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
	// A renderer gives its cursor every frame (sends are rate-limited,
	// so one call alone may be skipped): do as it does.
	frame("our cursor", func() bool {
		r.Cursor(123, 45)
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
