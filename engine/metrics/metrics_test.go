package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/chaos"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/metrics"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

type meta struct{ Steps uint64 }
type item struct{ V float64 }

// ticker is a Sim that only ticks.
type ticker struct{ m meta }

func (t *ticker) Restore(f *engine.Frame[meta, item]) error {
	t.m = meta{}
	if f != nil {
		t.m = f.Meta
	}
	return nil
}
func (t *ticker) Handle(engine.Command) error { return nil }
func (t *ticker) Step(time.Duration)          { t.m.Steps++ }
func (t *ticker) Snapshot(m *meta, items []item) []item {
	*m = t.m
	return items
}

// testGame is two ticking processes, with the metrics tool and chaos
// (opts: its watcher, in the test that runs chaos; a child needs none).
func testGame(opts ...chaos.Option) *game.Game {
	newTicker := func(game.Env) (engine.Sim[meta, item], error) { return &ticker{}, nil }
	return game.New("mtest").
		Add(game.Sim("alpha", newTicker, engine.Options{Rate: 100, DataSize: 4 << 10})).
		Add(game.Sim("beta", newTicker, engine.Options{Rate: 50, DataSize: 4 << 10})).
		Use(metrics.Tool(), chaos.Tool(opts...))
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		testGame().Main(os.Args) // a child of the game under test
	}
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// runGame runs the test game's instance until the test ends and returns
// a reader of its status.
func runGame(t *testing.T, instance string, extra ...string) func() []supervisor.ChildStatus {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		args := append([]string{"run", "--headless", "--instance", instance, "--duration", "1m"}, extra...)
		ran <- testGame().Command(ctx, args, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
		testGame().RemoveSegments(instance)
	})
	return func() []supervisor.ChildStatus {
		c, err := engine.Connect(supervisor.StatusChannel(instance), supervisor.StatusSchema)
		if err != nil {
			return nil
		}
		defer c.Close()
		var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
		if c.Read(&f) != nil {
			return nil
		}
		return f.Items
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
	}
}

func allRunning(st []supervisor.ChildStatus, restarts uint32) bool {
	if len(st) != 2 {
		return false
	}
	for _, c := range st {
		if c.StateName() != "running" || c.Restarts != restarts || c.Tick == 0 {
			return false
		}
	}
	return true
}

// scrape gets and parses /metrics with Prometheus's own parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := tryScrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// tryScrape is scrape for any goroutine: a scrape that takes more than
// 10s is an error.
func tryScrape(addr string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return metrics.Scrape(ctx, "http://"+addr+"/metrics", "")
}

// value is the metric of family name for process, and whether it is there.
func value(fams map[string]*dto.MetricFamily, name, process string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "process" && l.GetValue() == process {
				return m, true
			}
		}
	}
	return nil, false
}

var schema = engine.MustSchema[meta, item]()

var nameRE = regexp.MustCompile(`^venomrt_[a-z][a-z0-9_]*$`)

// lint checks what `promtool check metrics` checks of names, types and
// units: help on every family, snake_case names under the venomrt_
// prefix, counters and only counters ending in _total, the histogram in
// seconds, no unit spelled other than in base units, and only the
// instance and process labels, and a game's own reason or slice
// (bounded values).
func lint(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range fams {
		if !nameRE.MatchString(name) || f.GetHelp() == "" {
			t.Errorf("%s: bad name or no help", name)
		}
		isCounter := f.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %s; a counter's name, and only a counter's, ends in _total", name, f.GetType())
		}
		if f.GetType() == dto.MetricType_HISTOGRAM && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: a histogram of times, not in seconds", name)
		}
		for _, bad := range []string{"_milliseconds", "_ms", "_nanoseconds", "_ns", "_kilobytes", "_mib", "_percent"} {
			if strings.Contains(name, bad) {
				t.Errorf("%s: not a base unit", name)
			}
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() != "instance" && l.GetName() != "process" && l.GetName() != "reason" && l.GetName() != "slice" {
					t.Errorf("%s: label %q", name, l.GetName())
				}
			}
		}
	}
}

// TestMetrics: /metrics of a running game parses with Prometheus's
// parser and passes the naming checks; its restart counters are the
// status slice's, after a SIGKILL of each process; with the process
// stopped, its tick counter is exactly its snapshot's tick (every tick
// counted since a fresh world began, across a warm restart), and the
// histogram holds every tick.
func TestMetrics(t *testing.T) {
	instance := fmt.Sprintf("metrics%d", os.Getpid())
	status := runGame(t, instance)
	// alpha's own numbers, from its slice; a Value breaking the naming
	// rules is left out, the rest of the scrape served.
	steps := metrics.Slice("alpha", schema, func(f *engine.Frame[meta, item], emit func(metrics.Value)) {
		emit(metrics.Value{Name: "alpha_steps_total", Help: "Steps.", Counter: true, Label: "reason", LabelValue: "step", V: float64(f.Meta.Steps)})
		emit(metrics.Value{Name: "alpha_steps", Help: "A counter not named _total.", Counter: true, V: 1})
	})
	srv, err := metrics.Serve(metrics.Options{Addr: "127.0.0.1:0", Instance: instance}, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	eventually(t, "both processes running", func() bool { return allRunning(status(), 0) })
	fams := scrape(t, srv.Addr())
	lint(t, fams)
	if m, ok := value(fams, "venomrt_alpha_steps_total", "alpha"); !ok || m.GetCounter().GetValue() == 0 {
		t.Errorf("alpha's own counter: %v", fams["venomrt_alpha_steps_total"])
	}
	if _, ok := fams["venomrt_alpha_steps"]; ok {
		t.Errorf("a counter not named _total exposed")
	}
	for _, name := range []string{"venomrt_ticks_total", "venomrt_tick_duration_seconds", "venomrt_process_restarts_total", "venomrt_command_queue_depth", "venomrt_process_cpu_seconds_total"} {
		for _, p := range []string{"alpha", "beta"} {
			if _, ok := value(fams, name, p); !ok {
				t.Errorf("no %s for %s", name, p)
			}
		}
	}

	for _, c := range status() {
		if err := syscall.Kill(int(c.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both restarted", func() bool { return allRunning(status(), 1) })
	st := status()
	fams = scrape(t, srv.Addr())
	for _, c := range st {
		m, _ := value(fams, "venomrt_process_restarts_total", c.NameString())
		if m.GetCounter().GetValue() != float64(c.Restarts) {
			t.Errorf("%s: restarts %v in /metrics, %d in the status", c.NameString(), m.GetCounter().GetValue(), c.Restarts)
		}
		// The SIGKILL is an end by a signal from outside, and the only end.
		signals := 0
		for _, m := range fams["venomrt_process_exits_total"].GetMetric() {
			var process, reason string
			for _, l := range m.Label {
				switch l.GetName() {
				case "process":
					process = l.GetValue()
				case "reason":
					reason = l.GetValue()
				}
			}
			want := 0.0
			if reason == "signal" {
				want = 1
			}
			if process == c.NameString() && m.GetCounter().GetValue() != want {
				t.Errorf("%s: exits by %s %v, want %v", process, reason, m.GetCounter().GetValue(), want)
			}
			if process == c.NameString() && reason == "signal" {
				signals++
			}
		}
		if signals != 1 {
			t.Errorf("%s: %d rows of exits by signal in /metrics, want 1", c.NameString(), signals)
		}
	}

	// A panic is a crash.
	var out bytes.Buffer
	if err := testGame().Command(context.Background(), []string{"fault", "beta", "panic", "--instance", instance}, &out, &out); err != nil {
		t.Fatalf("fault beta panic: %v: %s", err, out.String())
	}
	eventually(t, "beta restarted after its panic", func() bool {
		st := status()
		return len(st) == 2 && st[1].Restarts == 2 && st[1].StateName() == "running"
	})
	fams = scrape(t, srv.Addr())
	betaRows := 0
	for _, m := range fams["venomrt_process_exits_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["process"] == "beta" && (labels["reason"] == "crash" || labels["reason"] == "signal") {
			betaRows++
			if m.GetCounter().GetValue() != 1 {
				t.Errorf("beta's exits by %s: %v, want 1", labels["reason"], m.GetCounter().GetValue())
			}
		}
	}
	if betaRows != 2 {
		t.Errorf("beta: %d rows of exits by crash and by signal in /metrics, want both", betaRows)
	}
	st = status()

	// Stopped, alpha's numbers hold still: the scrape and its snapshot
	// agree exactly.
	alpha := int(st[0].Pid)
	if st[0].NameString() != "alpha" {
		alpha = int(st[1].Pid)
	}
	syscall.Kill(alpha, syscall.SIGSTOP)
	defer syscall.Kill(alpha, syscall.SIGCONT)
	s, err := venom.Connect(instance + ".alpha")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, s.Config().DataSize)
	var h engine.Header
	eventually(t, "alpha stopped", func() bool {
		n, _, err := s.Read(buf)
		if err != nil {
			return false
		}
		prev := h.Tick
		h, _ = engine.PeekCounters(buf[:n])
		return h.Tick == prev && venomAge(instance+".alpha") > 50*time.Millisecond
	})
	fams = scrape(t, srv.Addr())
	ticks, _ := value(fams, "venomrt_ticks_total", "alpha")
	hist, _ := value(fams, "venomrt_tick_duration_seconds", "alpha")
	if got := ticks.GetCounter().GetValue(); got != float64(h.Tick) || got != float64(h.Counters.Ticks) || hist.GetHistogram().GetSampleCount() != h.Tick {
		t.Fatalf("alpha stopped at tick %d (counters %d): ticks_total %v, histogram count %d", h.Tick, h.Counters.Ticks, got, hist.GetHistogram().GetSampleCount())
	}
}

func venomAge(ch string) time.Duration {
	info, err := venom.Inspect(ch)
	if err != nil {
		return 0
	}
	return info.Age
}

// TestScrapeDuringKills: scrapes running back to back while every
// process is SIGKILLed again and again each answer within their
// deadline and parse: a scrape never waits for a process.
func TestScrapeDuringKills(t *testing.T) {
	instance := fmt.Sprintf("mkill%d", os.Getpid())
	status := runGame(t, instance)
	srv, err := metrics.Serve(metrics.Options{Addr: "127.0.0.1:0", Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	eventually(t, "both processes running", func() bool { return allRunning(status(), 0) })
	done := make(chan struct{})
	scrapes := make(chan int, 1)
	go func() {
		n := 0
		defer func() { scrapes <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			fams, err := tryScrape(srv.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			if _, ok := value(fams, "venomrt_process_restarts_total", "alpha"); !ok {
				t.Error("a scrape without alpha's restarts")
				return
			}
			n++
		}
	}()
	for round := range 3 {
		for _, c := range status() {
			if c.Pid != 0 {
				syscall.Kill(int(c.Pid), syscall.SIGKILL)
			}
		}
		eventually(t, fmt.Sprintf("both restarted %d times", round+1), func() bool { return allRunning(status(), uint32(round+1)) })
	}
	close(done)
	if n := <-scrapes; n < 3 {
		t.Fatalf("%d scrapes during the kills", n)
	}
}

// TestInsecureRefused: beyond loopback /metrics needs a token, and a
// scrape without it is turned away.
func TestInsecureRefused(t *testing.T) {
	if _, err := metrics.Serve(metrics.Options{Addr: "0.0.0.0:0"}); !errors.Is(err, metrics.ErrInsecure) || !strings.Contains(err.Error(), "--metrics-token") {
		t.Fatalf("beyond loopback without a token: %v", err)
	}
	var out bytes.Buffer
	err := testGame().Command(context.Background(), []string{"run", "--headless", "--instance", "minsecure", "--metrics-addr", "0.0.0.0:0", "--metrics-token", ""}, &out, &out)
	if game.ExitCode(err) != 2 || !errors.Is(err, metrics.ErrInsecure) && !strings.Contains(err.Error(), "token") {
		t.Fatalf("run --metrics-addr 0.0.0.0:0: %v (exit %d)", err, game.ExitCode(err))
	}
	srv, err := metrics.Serve(metrics.Options{Addr: "127.0.0.1:0", Token: "s3cret", Instance: "minsecure"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for token, want := range map[string]int{"": 401, "wrong": 401, "s3cret": 200} {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %s, want %d", token, resp.Status, want)
		}
	}
}

// TestSubcommand: PROGRAM metrics serves /metrics of an instance that
// runs elsewhere, until interrupted; beyond loopback without a token it
// is a usage error.
func TestSubcommand(t *testing.T) {
	instance := fmt.Sprintf("msub%d", os.Getpid())
	status := runGame(t, instance)
	eventually(t, "both processes running", func() bool { return allRunning(status(), 0) })
	var out proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- testGame().Command(ctx, []string{"metrics", "--addr", "127.0.0.1:0", "--instance", instance}, &out, io.Discard)
	}()
	re := regexp.MustCompile(`serving http://([0-9.:]+)/metrics`)
	eventually(t, "metrics serving", func() bool { return re.MatchString(out.String()) })
	fams := scrape(t, re.FindStringSubmatch(out.String())[1])
	if _, ok := value(fams, "venomrt_ticks_total", "beta"); !ok {
		t.Fatalf("no ticks of beta: %v", fams["venomrt_ticks_total"])
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("metrics ended with %v", err)
	}
	err := testGame().Command(context.Background(), []string{"metrics", "--addr", "0.0.0.0:0", "--token", ""}, io.Discard, io.Discard)
	if game.ExitCode(err) != 2 || !errors.Is(err, metrics.ErrInsecure) {
		t.Fatalf("metrics beyond loopback without a token: %v", err)
	}
}
