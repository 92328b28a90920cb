package main

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/engine/metrics"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	netproc "github.com/venomrt/venomrt/procs/net"
)

// edgeScrape gets and parses an edge's /metrics.
func edgeScrape(addr string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return metrics.Scrape(ctx, "http://"+addr+"/metrics", "")
}

// byProcess is a family's values by their process label, and the
// instance labels seen.
func byProcess(f *dto.MetricFamily) (map[string]float64, []string) {
	vals := map[string]float64{}
	var instances []string
	for _, m := range f.GetMetric() {
		var process, instance string
		for _, l := range m.Label {
			switch l.GetName() {
			case "process":
				process = l.GetValue()
			case "instance":
				instance = l.GetValue()
			}
		}
		vals[process] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if !slices.Contains(instances, instance) {
			instances = append(instances, instance)
		}
	}
	return vals, instances
}

// An edge with --metrics-addr serves its own /metrics: its children
// (the mirrors, its own net) from its own supervisor's status, not the
// game's that its "sup" mirrors — a mirror SIGKILLed on the edge is a
// restart there, while the game's process of that name has none, and
// the game's bridge, no child of the edge, is not among them.
func TestEdgeMetrics(t *testing.T) {
	natsAddr, gameNet, edgeNet := edgePorts(t)
	metricsAddr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 50, 5)
	_, edge := startEdge(t, "nats://"+natsAddr, game, edgeNet, "--metrics-addr", metricsAddr)

	edgeStatus := func() []supervisor.ChildStatus {
		c, err := engine.Connect(edge+"."+bridge.EdgeStatus, supervisor.StatusSchema)
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
	physicsMirror := func(st []supervisor.ChildStatus) (supervisor.ChildStatus, bool) {
		i := slices.IndexFunc(st, func(c supervisor.ChildStatus) bool { return c.NameString() == "physics" })
		if i < 0 {
			return supervisor.ChildStatus{}, false
		}
		return st[i], true
	}
	allRunning := func(st []supervisor.ChildStatus) bool {
		return len(st) > 0 && !slices.ContainsFunc(st, func(c supervisor.ChildStatus) bool { return c.State != supervisor.ChildRunning })
	}
	proctest.Eventually(t, 60*time.Second, "every child of the edge running", func() bool { return allRunning(edgeStatus()) })
	st := edgeStatus()
	mirror, ok := physicsMirror(st)
	if !ok {
		t.Fatalf("no physics mirror on the edge: %v", st)
	}
	if err := syscall.Kill(int(mirror.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 60*time.Second, "the edge's physics mirror restarted", func() bool {
		st = edgeStatus()
		m, ok := physicsMirror(st)
		return ok && m.Restarts == 1 && allRunning(st)
	})

	var restarts map[string]float64
	var instances []string
	proctest.Eventually(t, 30*time.Second, "the edge's /metrics shows the restart", func() bool {
		fams, err := edgeScrape(metricsAddr)
		if err != nil {
			t.Log(err)
			return false
		}
		restarts, instances = byProcess(fams["venomrt_process_restarts_total"])
		return restarts["physics"] == 1
	})
	if !slices.Equal(instances, []string{edge}) {
		t.Errorf("instances %q, want the edge's %q only", instances, edge)
	}
	for _, c := range st {
		if _, ok := restarts[c.NameString()]; !ok {
			t.Errorf("the edge's child %s not in its /metrics: %v", c.NameString(), restarts)
		}
	}
	if _, ok := restarts["bridge"]; ok || len(restarts) != len(st) {
		t.Errorf("the edge's /metrics has restarts of %v, want its own children's (%d)", restarts, len(st))
	}
	t.Logf("the edge's restarts: %v", restarts)
	// The game's physics, whose status the edge's "sup" mirrors, was
	// never restarted.
	c, err := engine.Connect(game+".sup", supervisor.StatusSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f engine.Frame[supervisor.Meta, supervisor.ChildStatus]
	if err := c.Read(&f); err != nil {
		t.Fatal(err)
	}
	if m, ok := physicsMirror(f.Items); !ok || m.Restarts != 0 {
		t.Errorf("the game's physics: %+v", m)
	}
}

// The game's /metrics with --nats shows the bridge's lag by slice: the
// newest snapshot's, and the sum over the snapshots sent, which is no
// less.
func TestBridgeLagMetrics(t *testing.T) {
	natsAddr, gameNet, _ := edgePorts(t)
	metricsAddr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	game := proctest.Name(t)
	startNATSGame(t, game, natsAddr, gameNet, 50, 5, "--metrics-addr", metricsAddr)
	var lag, total map[string]float64
	proctest.Eventually(t, 60*time.Second, "the bridge's lag of physics in /metrics", func() bool {
		fams, err := edgeScrape(metricsAddr)
		if err != nil || fams["venomrt_bridge_lag_seconds"] == nil || fams["venomrt_bridge_lag_seconds_total"] == nil {
			return false
		}
		lag, total = bySlice(fams["venomrt_bridge_lag_seconds"]), bySlice(fams["venomrt_bridge_lag_seconds_total"])
		return lag["physics"] > 0
	})
	if fams, _ := edgeScrape(metricsAddr); fams["venomrt_bridge_lag_seconds_total"].GetType() != dto.MetricType_COUNTER ||
		fams["venomrt_bridge_lag_seconds"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: lag %v, its sum %v", fams["venomrt_bridge_lag_seconds"].GetType(), fams["venomrt_bridge_lag_seconds_total"].GetType())
	}
	for slice, l := range lag {
		if total[slice] < l {
			t.Errorf("%s: lag %v s, its sum %v s", slice, l, total[slice])
		}
	}
}

// bySlice is a family's values by their slice label.
func bySlice(f *dto.MetricFamily) map[string]float64 {
	vals := map[string]float64{}
	for _, m := range f.GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "slice" {
				vals[l.GetValue()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return vals
}

// The game's /metrics shows the bytes net wrote to its players.
func TestNetSentBytesMetrics(t *testing.T) {
	gameNet, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	startSup(t, nil, "run", "--headless", "--instance", game, "--bodies", "50", "--agents", "5", "--net-addr", gameNet,
		"--metrics-addr", metricsAddr, "--duration", "5m")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var player *netproc.Client
	proctest.Eventually(t, 30*time.Second, "a player joined", func() bool {
		player, err = netproc.Dial(ctx, "ws://"+gameNet, "counted")
		return err == nil
	})
	defer player.Close()
	if _, err := player.Next(ctx); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 30*time.Second, "net's bytes sent in /metrics", func() bool {
		fams, err := edgeScrape(metricsAddr)
		if err != nil {
			return false
		}
		f := fams["venomrt_net_sent_bytes_total"]
		v, _ := byProcess(f)
		return f.GetType() == dto.MetricType_COUNTER && v["net"] > 0
	})
}
