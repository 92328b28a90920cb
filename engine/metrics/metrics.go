// Package metrics serves a running game's numbers on /metrics in the
// Prometheus exposition format (prometheus/client_golang): every
// process's tick-time histogram and counters (engine.Counters, kept in
// its snapshot header), its segment's queue and clients, the
// supervisor's restarts and handovers, and /proc's CPU and memory — all
// read by an engine/watch.Watcher at each scrape, so a scrape never
// blocks a process and one during a restart returns what is known.
//
// It is an opt-in tool: a game registers it with g.Use(metrics.Tool())
// and only then links client_golang. `run --metrics-addr 127.0.0.1:9464`
// serves it from the supervisor's process for the run's instance.
//
// Every series has the labels instance (the game's --instance) and
// process (a child's name); no label takes values that grow without
// bound. Prometheus sets a target's own "instance" label at scrape: a
// scrape config keeps the game's with honor_labels: true (see
// docs/prometheus.yml).
package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/engine/watch"
)

// ErrInsecure is a metrics address beyond loopback without a token: the
// bridge's rule for NATS, applied to /metrics.
var ErrInsecure = errors.New("metrics: serving beyond loopback without a token")

// Tool registers the /metrics endpoint on run: --metrics-addr (off
// unless given) and --metrics-token (default $VENOMRT_METRICS_TOKEN);
// the same on the bridge's edge, when the game registers the bridge
// (an edge's /metrics is its own: its mirrors, its net and renderer and
// its supervisor's status, not the game's); and PROGRAM metrics, which
// serves it for an instance running elsewhere (another run, chaos's or
// bench's game) until interrupted.
func Tool(opts ...Option) game.Tool {
	return func(g *game.Game) {
		g.Subcommand(game.Subcommand{
			Name: "metrics", Summary: "serve /metrics of a running game: metrics --addr HOST:PORT [--instance I | --all]",
			Run: func(ctx context.Context, c game.Call) error {
				fs := g.NewFlags("metrics")
				addr := fs.String("addr", "127.0.0.1:9464", "where to serve /metrics (beyond loopback it needs --token)")
				tok := fs.String("token", os.Getenv("VENOMRT_METRICS_TOKEN"), "bearer token a scrape must send (default $VENOMRT_METRICS_TOKEN)")
				all := fs.Bool("all", false, "every game instance on the host")
				fs.SetOutput(c.Stderr)
				pos, err := g.Parse(fs, c.Args)
				if err != nil {
					return err
				}
				if len(pos) > 0 {
					return fmt.Errorf("%w: metrics: unexpected arguments %q", game.ErrUsage, pos)
				}
				inst := fs.Instance
				if *all {
					inst = ""
				}
				s, err := Serve(Options{Addr: *addr, Token: *tok, Instance: inst, Log: c.Log}, opts...)
				if errors.Is(err, ErrInsecure) {
					return fmt.Errorf("%w: %w", game.ErrUsage, err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.Stdout, "serving http://%s/metrics\n", s.Addr())
				<-ctx.Done()
				return s.Close()
			},
		})
		// run serves the game's /metrics from its supervisor's process;
		// an edge (the bridge's, when the game registers it) serves its
		// own: its mirrors, its net and renderer, and its own status.
		for _, cmd := range []string{"run", "edge"} {
			var addr, token string
			g.CommandFlags(cmd, func(fs *flag.FlagSet) {
				fs.StringVar(&addr, "metrics-addr", "", "serve Prometheus metrics on HOST:PORT /metrics (off unless given; beyond loopback it needs --metrics-token)")
				fs.StringVar(&token, "metrics-token", os.Getenv("VENOMRT_METRICS_TOKEN"), "bearer token a scrape must send (default $VENOMRT_METRICS_TOKEN)")
			})
			g.OnCommand(cmd, func(ctx context.Context, f *game.Flags, c game.Call) ([]game.Child, func(), error) {
				if addr == "" {
					return nil, nil, nil
				}
				s, err := Serve(Options{Addr: addr, Token: token, Instance: f.Instance, Log: c.Log}, opts...)
				if err != nil {
					return nil, nil, fmt.Errorf("%w: --metrics-addr: %w", game.ErrUsage, err)
				}
				return nil, func() { s.Close() }, nil
			})
		}
	}
}

// Options configure Serve.
type Options struct {
	Addr     string // HOST:PORT to listen on (port 0: any free one, see Server.Addr)
	Token    string // required beyond loopback: a scrape sends "Authorization: Bearer TOKEN"
	Instance string // the game instance to expose ("": every instance on the host)
	Log      *slog.Logger
}

// Server serves /metrics.
type Server struct {
	srv *http.Server
	ln  net.Listener
	col *Collector
}

// Serve listens on o.Addr and serves /metrics for o.Instance, with what
// opts add (Slice), until Close. Beyond loopback it refuses to start without a token
// (ErrInsecure): the numbers say which processes run and how, and the
// token keeps them from whoever can reach the port. (It is sent in the
// clear over plain HTTP: beyond a trusted network, put TLS in front.)
func Serve(o Options, opts ...Option) (*Server, error) {
	var extra options
	for _, opt := range opts {
		opt(&extra)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: address %q: %w", o.Addr, err)
	}
	if !loopback(host) && o.Token == "" {
		return nil, fmt.Errorf("%w: listening on %s shows the game to any machine that reaches it; "+
			"give a token (run --metrics-token, metrics --token, or VENOMRT_METRICS_TOKEN; scrapes send it as a bearer token), or listen on 127.0.0.1",
			ErrInsecure, o.Addr)
	}
	col := NewCollector(o.Instance)
	col.slices, col.log = extra.slices, o.Log
	reg := prometheus.NewRegistry()
	if err := reg.Register(col); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogLogger{o.Log}, ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second})
	if o.Token != "" {
		h = bearer(o.Token, h)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		col.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, col: col}
	go s.srv.Serve(ln)
	o.Log.Info("metrics served", "addr", "http://"+ln.Addr().String()+"/metrics", "instance", o.Instance)
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving and lets go of the channels read.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.col.Close()
	return err
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer lets through only requests with the token.
func bearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="venomrt"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Println(v ...any) { l.l.Warn("metrics: " + fmt.Sprint(v...)) }

// Collector is a prometheus.Collector of a game instance (or every
// instance on the host): each Collect samples it once with a
// watch.Watcher.
type Collector struct {
	mu     sync.Mutex // a Watcher is used from one goroutine at a time
	w      *watch.Watcher
	slices []sliceSource
	log    *slog.Logger
}

// NewCollector makes a Collector of instance ("" for every one).
func NewCollector(instance string) *Collector {
	return &Collector{w: watch.New(instance)}
}

// Close lets go of the channels read.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Close()
	for _, s := range c.slices {
		s.close()
	}
}

var labels = []string{"instance", "process"}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("venomrt_"+name, help, labels, nil)
}

// The metrics, by name (README "Watching a game" lists them).
var (
	dTicks     = desc("ticks_total", "Ticks the process has run (engine.Counters.Ticks), since its world began.")
	dMisses    = desc("tick_deadline_misses_total", "Ticks that took longer than the process's step (1/rate).")
	dTickTime  = desc("tick_duration_seconds", "Time of a tick: its commands and its step (not the snapshot encode after them).")
	dSkipped   = desc("ticks_skipped_total", "Ticks skipped because catch-up after a stall is bounded.")
	dCommands  = desc("commands_total", "Commands the process took from its lanes: applied, refused and malformed.")
	dApplied   = desc("commands_applied_total", "Commands applied.")
	dRefused   = desc("commands_refused_total", "Commands refused by the process or dropped as malformed.")
	dPublishes = desc("snapshots_published_total", "Snapshots the process published.")
	dRate      = desc("tick_rate_target_hertz", "The process's nominal ticks per second.")
	dQueued    = desc("command_queue_depth", "Commands waiting in the process's lanes.")
	dAge       = desc("snapshot_age_seconds", "Age of the process's newest snapshot.")
	dClients   = desc("channel_clients", "Client slots in use on the process's channel (this scraper's not counted).")
	dRefusedC  = desc("counters_refused", "1 when the process's counters block was refused as foreign or corrupt (its counters are then left out).")
	dUp        = desc("process_up", "1 when the supervisor says the process is running (or, without one, its channel is owned).")
	dFailed    = desc("process_failed", "1 when the process is past its failure threshold and no longer restarted.")
	dRestarts  = desc("process_restarts_total", "Launches of the process after its first (the supervisor's status).")
	dHandovers = desc("process_handovers_total", "Restarts its hot standby served.")
	dScore     = desc("process_failure_score", "The supervisor's decaying failure score for the process.")
	dCPU       = desc("process_cpu_seconds_total", "User and system CPU time of the process's current OS process.")
	dRSS       = desc("process_resident_memory_bytes", "Resident memory of the process's current OS process.")
	dSup       = prometheus.NewDesc("venomrt_supervisor_up", "1 when the instance's supervisor is live.", []string{"instance"}, nil)
	dExits     = prometheus.NewDesc("venomrt_process_exits_total", "Ends of the process that were not a stop, by reason: "+
		"crash (exit non-zero, a panic), signal (killed from outside), hang (killed by the supervisor: hung, or not started in time), clean (exit 0).",
		[]string{"instance", "process", "reason"}, nil)

	allDescs = []*prometheus.Desc{dTicks, dMisses, dTickTime, dSkipped, dCommands, dApplied, dRefused, dPublishes,
		dRate, dQueued, dAge, dClients, dRefusedC, dUp, dFailed, dRestarts, dHandovers, dExits, dScore, dCPU, dRSS, dSup}
)

// tickBounds are engine.TickBounds in seconds.
var tickBounds = func() []float64 {
	b := make([]float64, len(engine.TickBounds))
	for i, d := range engine.TickBounds {
		b[i] = d.Seconds()
	}
	return b
}()

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect samples the game once and sends what it saw.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	games, err := c.w.Sample()
	c.mu.Unlock()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(dSup, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, g := range games {
		gauge(dSup, b2f(g.Supervisor != 0), g.Instance)
		for _, s := range c.slices {
			err := s.collect(g.Instance, func(v Value) {
				m, err := constMetric(g.Instance, s.name(), v)
				if err != nil {
					m = prometheus.NewInvalidMetric(dSup, err)
				}
				ch <- m
			})
			if err != nil && c.log != nil {
				c.log.Debug("metrics: slice skipped", "err", err)
			}
		}
		for _, p := range g.Processes {
			lv := []string{p.Instance, p.Name}
			gauge(dUp, b2f(p.State == "running" || p.State == "alive"), lv...)
			if g.Supervisor != 0 {
				gauge(dFailed, b2f(p.State == "failed"), lv...)
				counter(dRestarts, float64(p.Restarts), lv...)
				counter(dHandovers, float64(p.Handovers), lv...)
				for i, n := range p.Exits {
					counter(dExits, float64(n), p.Instance, p.Name, supervisor.ExitKindNames[i])
				}
				gauge(dScore, p.Failures, lv...)
			}
			if p.Channel == "" {
				continue
			}
			gauge(dQueued, float64(p.Queued), lv...)
			gauge(dClients, float64(p.Clients), lv...)
			if p.Age >= 0 {
				gauge(dAge, p.Age.Seconds(), lv...)
			}
			if p.RSS > 0 {
				gauge(dRSS, float64(p.RSS), lv...)
				counter(dCPU, p.CPUSeconds, lv...)
			}
			if !p.Have {
				continue
			}
			counter(dApplied, float64(p.Applied), lv...)
			counter(dRefused, float64(p.Refused), lv...)
			counter(dSkipped, float64(p.Lag), lv...)
			if p.Rate > 0 {
				gauge(dRate, float64(p.Rate), lv...)
			}
			gauge(dRefusedC, b2f(!p.Counted && p.Note != ""), lv...)
			if !p.Counted {
				continue
			}
			k := p.Counters
			counter(dTicks, float64(k.Ticks), lv...)
			counter(dMisses, float64(k.Misses), lv...)
			counter(dCommands, float64(k.Commands), lv...)
			counter(dPublishes, float64(k.Publishes), lv...)
			buckets := make(map[float64]uint64, len(tickBounds))
			var cum uint64
			for i, le := range tickBounds {
				cum += k.Hist[i]
				buckets[le] = cum
			}
			ch <- prometheus.MustNewConstHistogram(dTickTime, k.Ticks, float64(k.TickNanos)/1e9, buckets, lv...)
		}
	}
}
