package metrics_test

import (
	"context"
	"fmt"
	"os"
	"slices"
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

// scraper is a chaos.Watcher that serves /metrics of the game under
// chaos and scrapes it as Prometheus would, a few times a second, and
// once more when chaos reports — while the game still runs — after the
// supervisor's status has settled.
type scraper struct {
	srv      *metrics.Server
	instance string
	names    []string
	status   *engine.Client[supervisor.Meta, supervisor.ChildStatus]
	next     time.Time
	scrapes  int
	errs     []error

	// settle: the status tick and lifecycle events when every child was
	// last seen running with no new event.
	calmTick, calmEvents uint64

	// What Report saw: chaos's report, the final scrape, the status it
	// was taken under, and each process's header read just before and
	// just after it.
	rep           chaos.Report
	final         map[string]*dto.MetricFamily
	st            []supervisor.ChildStatus
	before, after map[string]engine.Header
}

func (s *scraper) Observe(now time.Time) {
	if now.Before(s.next) {
		return
	}
	s.next = now.Add(200 * time.Millisecond)
	if _, err := tryScrape(s.srv.Addr()); err != nil {
		s.errs = append(s.errs, err)
		return
	}
	s.scrapes++
}

func (s *scraper) Faulted(string, time.Time) {}

// readStatus is the newest status: its publish count (Header.Tick),
// the children, and the sum of their lifecycle events.
func (s *scraper) readStatus() (tick uint64, st []supervisor.ChildStatus, events uint64, ok bool) {
	if s.status == nil {
		c, err := engine.Connect(supervisor.StatusChannel(s.instance), supervisor.StatusSchema)
		if err != nil {
			return 0, nil, 0, false
		}
		s.status = c
	}
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if err := s.status.Read(&f); err != nil {
		return 0, nil, 0, false
	}
	for _, c := range f.Items {
		events += uint64(c.Events)
		if c.State != supervisor.ChildRunning {
			return f.Header.Tick, nil, 0, false
		}
	}
	return f.Header.Tick, slices.Clone(f.Items), events, len(f.Items) == len(s.names)
}

// Settled holds once every child runs and no lifecycle event happened
// across two status publishes: the status is published every 100 ms, so
// a restart chaos already counts by its channel's epoch may not be in
// the status yet; two publishes without a new event say it is.
func (s *scraper) Settled(time.Time) bool {
	tick, _, events, ok := s.readStatus()
	switch {
	case !ok:
		s.calmTick = 0
	case s.calmTick == 0 || events != s.calmEvents:
		s.calmTick, s.calmEvents = tick, events
	case tick >= s.calmTick+2:
		return true
	}
	return false
}

// Report takes the final scrape, chaos's counts just made: between two
// reads of the status that agree (no lifecycle event during it), and
// between two reads of each process's header.
func (s *scraper) Report(r *chaos.Report) {
	s.rep = *r
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		t0, st, e0, ok := s.readStatus()
		if !ok {
			continue
		}
		before, err := s.headers()
		if err != nil {
			continue
		}
		fams, err := tryScrape(s.srv.Addr())
		if err != nil {
			s.errs = append(s.errs, err)
			return
		}
		after, err := s.headers()
		if err != nil {
			continue
		}
		// A status published after the scrape began, with the same
		// events: the scrape saw every restart there was.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			t1, _, e1, ok := s.readStatus()
			if !ok || e1 != e0 {
				break
			}
			if t1 >= t0+2 {
				s.final, s.st, s.before, s.after = fams, st, before, after
				return
			}
		}
	}
	s.errs = append(s.errs, fmt.Errorf("no final scrape under a settled status within 30s"))
}

// headers reads each process's newest header as a tool does.
func (s *scraper) headers() (map[string]engine.Header, error) {
	hs := map[string]engine.Header{}
	for _, name := range s.names {
		sh, err := venom.Connect(s.instance + "." + name)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sh.Config().DataSize)
		n, _, err := sh.Read(buf)
		sh.Close()
		if err != nil {
			return nil, err
		}
		if hs[name], err = engine.PeekCounters(buf[:n]); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

func (s *scraper) Close() error {
	if s.status != nil {
		s.status.Close()
	}
	return s.srv.Close()
}

// TestCountersExactUnderChaos: in one chaos run of real processes
// (SIGKILLs and SIGSTOPs, the stopped ones killed as hung, numbered
// inputs throughout), the last scrape of /metrics before the game
// stops holds exactly chaos's counts: each process's restarts are those
// chaos counted by its channel's epoch (and the status's), its
// commands applied are the numbered inputs its account holds (they are
// the only commands sent), its ticks lie between its snapshot's tick
// read just before and just after the scrape, and its histogram holds
// every tick.
func TestCountersExactUnderChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	instance := fmt.Sprintf("mchaos%d", os.Getpid())
	w := &scraper{instance: instance, names: []string{"alpha", "beta"}}
	watch := chaos.Watch(func(_ context.Context, env game.Env) (chaos.Watcher, error) {
		srv, err := metrics.Serve(metrics.Options{Addr: "127.0.0.1:0", Instance: env.Instance, Log: env.Log})
		w.srv = srv
		return w, err
	})
	var out, errs proctest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Signals only: a fault sent as a command would be applied too, and
	// the report does not say how many of which kind each process took.
	err := testGame(watch).Command(ctx, []string{"chaos", "--instance", instance, "--duration", "3s", "--rate", "3",
		"--faults", "kill,stop", "--judge-stall=false", "--seed", "7"}, &out, &errs)
	if err != nil {
		t.Fatalf("chaos: %v\n%s\n%s", err, out.String(), errs.String())
	}
	defer testGame().RemoveSegments(instance)
	for _, err := range w.errs {
		t.Error(err)
	}
	if w.final == nil {
		t.Fatalf("no final scrape\n%s", out.String())
	}
	if w.scrapes < 3 {
		t.Errorf("%d scrapes during the run", w.scrapes)
	}
	restarts := 0
	for _, c := range w.st {
		name := c.NameString()
		restarts += int(c.Restarts)
		m, ok := value(w.final, "venomrt_process_restarts_total", name)
		if got := m.GetCounter().GetValue(); !ok || got != float64(w.rep.Restarts[name]) || got != float64(c.Restarts) {
			t.Errorf("%s: restarts %v in /metrics, %d in chaos's report, %d in the status", name, got, w.rep.Restarts[name], c.Restarts)
		}
		applied, _ := value(w.final, "venomrt_commands_applied_total", name)
		refused, _ := value(w.final, "venomrt_commands_refused_total", name)
		if got, want := applied.GetCounter().GetValue(), w.rep.Inputs[name].Applied; got != float64(want) || refused.GetCounter().GetValue() != 0 {
			t.Errorf("%s: commands applied %v (refused %v) in /metrics, %d numbered inputs applied in chaos's account %+v",
				name, got, refused.GetCounter().GetValue(), want, w.rep.Inputs[name])
		}
		ticks, _ := value(w.final, "venomrt_ticks_total", name)
		hist, _ := value(w.final, "venomrt_tick_duration_seconds", name)
		b, a := w.before[name], w.after[name]
		got := ticks.GetCounter().GetValue()
		if got < float64(b.Tick) || got > float64(a.Tick) || hist.GetHistogram().GetSampleCount() != uint64(got) ||
			b.Counters.Ticks != b.Tick || a.Counters.Ticks != a.Tick {
			t.Errorf("%s: ticks_total %v (histogram %d) scraped between snapshots at ticks %d and %d (their counters %d, %d)",
				name, got, hist.GetHistogram().GetSampleCount(), b.Tick, a.Tick, b.Counters.Ticks, a.Counters.Ticks)
		}
	}
	if restarts == 0 || w.rep.Sent == 0 {
		t.Errorf("a run with %d restarts and %d inputs proves nothing:\n%s", restarts, w.rep.Sent, out.String())
	}
	t.Logf("restarts %v, inputs %d, %d scrapes", w.rep.Restarts, w.rep.Sent, w.scrapes)
}
