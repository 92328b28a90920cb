package demo_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/ai"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{
		"physics": helperPhysics,
		"ai":      helperAI,
		"render":  helperRender,
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

// render INSTANCE window|headless SCREENSHOT|- FRAMES: the renderer.
func helperRender(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	o := demo.Options{Instance: args[0], Headless: args[1] == "headless", Log: quiet(), Out: os.Stdout}
	if args[2] != "-" {
		o.Screenshot = args[2]
	}
	o.Frames, _ = strconv.Atoi(args[3])
	return demo.Run(ctx, o)
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
	rx := regexp.MustCompile(`render frames=(\d+) .*reads physics=(\d+) ai=(\d+) sup=(\d+) bodies=(\d+) agents=(\d+)`)
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
