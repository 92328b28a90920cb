package metrics

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/venomrt/venomrt/engine"
)

// Option adds to what the metrics tool exposes.
type Option func(*options)

type options struct {
	slices []sliceSource
}

// Value is one number a game's process keeps in its own slice (net's
// players and refusals, the bridge's bytes), as a Slice option's
// function hands it over. It is exposed as venomrt_<Name> with the
// labels instance and process, and Label="LabelValue" when Label is set
// (a reason, a slice: a value from code, never one that grows without
// bound).
type Value struct {
	Name       string  // [a-z][a-z0-9_]*; a counter's ends in _total
	Help       string  // one line
	Counter    bool    // a counter (else a gauge)
	Label      string  // "" or [a-z][a-z0-9_]*, not instance or process
	LabelValue string  // with Label
	V          float64 // the value
}

// Slice exposes numbers of process's own slice (sl): at each scrape the
// newest snapshot is read (its schema checked, as every engine reader
// does) and handed to fn, which emits what it holds. A process not
// running, or a snapshot of another schema, gives nothing that scrape.
func Slice[M, T any](process string, sl engine.Schema[M, T], fn func(f *engine.Frame[M, T], emit func(Value))) Option {
	return func(o *options) {
		r := &sliceReader[M, T]{process: process, sl: sl, fn: fn}
		o.slices = append(o.slices, r)
	}
}

// sliceSource is a Slice option's reader, made per Collector.
type sliceSource interface {
	name() string
	collect(instance string, emit func(Value)) error
	close()
}

type sliceReader[M, T any] struct {
	process string
	sl      engine.Schema[M, T]
	fn      func(f *engine.Frame[M, T], emit func(Value))

	mu     sync.Mutex
	client *engine.Client[M, T]
	inst   string
	f      engine.Frame[M, T]
}

func (r *sliceReader[M, T]) name() string { return r.process }

func (r *sliceReader[M, T]) collect(instance string, emit func(Value)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil && r.inst != instance {
		r.client.Close()
		r.client = nil
	}
	if r.client == nil {
		c, err := engine.Connect(instance+"."+r.process, r.sl)
		if err != nil {
			return nil // not running: nothing to show
		}
		r.client, r.inst = c, instance
	}
	if err := r.client.Read(&r.f); err != nil {
		// Replaced, or another schema: connect afresh next time.
		r.client.Close()
		r.client = nil
		return fmt.Errorf("metrics: %s.%s: %w", instance, r.process, err)
	}
	r.fn(&r.f, emit)
	return nil
}

func (r *sliceReader[M, T]) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		r.client.Close()
		r.client = nil
	}
}

var valueName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// constMetric is v as a Prometheus metric of instance's process, or an
// error for a Value that breaks the naming rules.
func constMetric(instance, process string, v Value) (prometheus.Metric, error) {
	if !valueName.MatchString(v.Name) || v.Counter != (len(v.Name) > 6 && v.Name[len(v.Name)-6:] == "_total") {
		return nil, fmt.Errorf("metrics: value %q: want [a-z][a-z0-9_]*, ending in _total for a counter and only then", v.Name)
	}
	labels, values := []string{"instance", "process"}, []string{instance, process}
	if v.Label != "" {
		if !valueName.MatchString(v.Label) || v.Label == "instance" || v.Label == "process" {
			return nil, fmt.Errorf("metrics: value %q: label %q", v.Name, v.Label)
		}
		labels, values = append(labels, v.Label), append(values, v.LabelValue)
	}
	d := prometheus.NewDesc("venomrt_"+v.Name, v.Help, labels, nil)
	t := prometheus.GaugeValue
	if v.Counter {
		t = prometheus.CounterValue
	}
	return prometheus.NewConstMetric(d, t, v.V, values...)
}
