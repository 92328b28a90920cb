package demo

import (
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/metrics"
	netproc "github.com/venomrt/venomrt/procs/net"
)

// metricsTool is the /metrics tool with what net and the bridge keep in
// their own slices beside every process's engine counters: net's
// players and its refusals by reason, the bridge's bytes, snapshots and
// commands by slice.
func metricsTool() game.Tool {
	return metrics.Tool(
		metrics.Slice("net", netproc.Schema, netMetrics),
		metrics.Slice(bridge.BridgeName, bridge.StatsSchema, bridgeMetrics),
	)
}

func netMetrics(f *engine.Frame[netproc.Meta, netproc.Player], emit func(metrics.Value)) {
	m := f.Meta
	emit(metrics.Value{Name: "net_players", Help: "Players connected now.", V: float64(m.Players)})
	emit(metrics.Value{Name: "net_pending_connections", Help: "Connections open that are not players.", V: float64(m.Pending)})
	emit(metrics.Value{Name: "net_joins_total", Help: "Players that joined since the world began.", Counter: true, V: float64(m.Joined)})
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"full", m.Refused}, {"address_limit", m.Limited}, {"evicted", m.Evicted}, {"protocol", m.Kicked}} {
		emit(metrics.Value{Name: "net_refusals_total", Help: "Connections refused or closed by net, by reason.", Counter: true,
			Label: "reason", LabelValue: r.reason, V: float64(r.n)})
	}
	emit(metrics.Value{Name: "net_inputs_dropped_total", Help: "Player inputs over the rate limit or the queue.", Counter: true, V: float64(m.InputsDropped)})
	emit(metrics.Value{Name: "net_commands_forwarded_total", Help: "Player commands sent to physics.", Counter: true, V: float64(m.Forwarded)})
	emit(metrics.Value{Name: "net_sent_bytes_total", Help: "Payload bytes of the messages net wrote to players.", Counter: true, V: float64(m.BytesSent)})
}

func bridgeMetrics(f *engine.Frame[bridge.Meta, bridge.SliceStats], emit func(metrics.Value)) {
	emit(metrics.Value{Name: "bridge_connected", Help: "1 while the bridge is connected to NATS.", V: float64(f.Meta.Connected)})
	for _, s := range f.Items {
		slice := s.NameString()
		for _, v := range []metrics.Value{
			{Name: "bridge_snapshots_published_total", Help: "Snapshots the bridge sent to NATS, by slice.", V: float64(s.Published)},
			{Name: "bridge_bytes_total", Help: "Payload bytes the bridge sent, by slice.", V: float64(s.Bytes)},
			{Name: "bridge_commands_total", Help: "Commands from NATS queued into the slice's channel.", V: float64(s.Commands)},
			{Name: "bridge_commands_refused_total", Help: "Commands from NATS refused: garbage, an op not remote-callable.", V: float64(s.Bad)},
		} {
			v.Counter, v.Label, v.LabelValue = true, "slice", slice
			emit(v)
		}
		// The lag: the newest snapshot's, and the sum whose rate over
		// the rate of snapshots_published_total is the mean.
		emit(metrics.Value{Name: "bridge_lag_seconds", Help: "The newest snapshot's time from its publish on the local channel to NATS, by slice.",
			Label: "slice", LabelValue: slice, V: float64(s.Lag) / 1e9})
		emit(metrics.Value{Name: "bridge_lag_seconds_total", Help: "The lags of every snapshot sent, summed, by slice (over snapshots_published_total: the mean).",
			Counter: true, Label: "slice", LabelValue: slice, V: float64(s.LagTotal) / 1e9})
	}
}
