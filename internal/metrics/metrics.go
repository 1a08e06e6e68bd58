// Package metrics exposes the Temporal SDK's metrics and hardneg's own on a
// Prometheus endpoint.
//
// The SDK reports through client.MetricsHandler, whose metrics carry tag sets
// that vary from call to call. Temporal's contrib/tally adapter would bring a
// second metrics library (uber-go/tally) just to translate; Handler instead
// keeps one series per name and tag set and hands them to Prometheus as an
// unchecked collector, which allows label sets to vary.
package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

type kind int

const (
	counter kind = iota
	gauge
	timer
)

type series struct {
	kind   kind
	name   string
	labels map[string]string
	value  float64              // counter and gauge
	hist   prometheus.Histogram // timer
	desc   *prometheus.Desc     // built once
	keys   []string             // sorted label names
}

// Registry holds every series. It is a prometheus.Collector.
type Registry struct {
	mu     sync.Mutex
	series map[string]*series
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{series: map[string]*series{}} }

// Handler returns a client.MetricsHandler that records into r.
func (r *Registry) Handler() client.MetricsHandler { return handler{r: r} }

func (r *Registry) get(k kind, name string, tags map[string]string) *series {
	name = strings.ReplaceAll(name, ".", "_")
	keys := slices.Sorted(maps.Keys(tags))
	var id strings.Builder
	id.WriteString(name)
	for _, k := range keys {
		id.WriteString("\x00" + k + "=" + tags[k])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.series[id.String()]; ok {
		return s
	}
	s := &series{kind: k, name: name, labels: maps.Clone(tags), keys: keys,
		desc: prometheus.NewDesc(name, name, keys, nil)}
	if k == timer {
		s.hist = prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: name, ConstLabels: tags})
	}
	r.series[id.String()] = s
	return s
}

// Describe sends nothing: the collector is unchecked, so label sets may vary.
func (r *Registry) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current value of every series.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.series {
		vals := make([]string, len(s.keys))
		for i, k := range s.keys {
			vals[i] = s.labels[k]
		}
		switch s.kind {
		case counter:
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, s.value, vals...)
		case gauge:
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, s.value, vals...)
		case timer:
			ch <- s.hist
		}
	}
}

// Add adds delta to a counter; hardneg's own metrics use it.
func (r *Registry) Add(name string, tags map[string]string, delta float64) {
	s := r.get(counter, name, tags)
	r.mu.Lock()
	s.value += delta
	r.mu.Unlock()
}

type handler struct {
	r    *Registry
	tags map[string]string
}

func (h handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return handler{r: h.r, tags: merged}
}

func (h handler) Counter(name string) client.MetricsCounter {
	s := h.r.get(counter, name, h.tags)
	return counterFunc(func(d int64) {
		h.r.mu.Lock()
		s.value += float64(d)
		h.r.mu.Unlock()
	})
}

func (h handler) Gauge(name string) client.MetricsGauge {
	s := h.r.get(gauge, name, h.tags)
	return gaugeFunc(func(v float64) {
		h.r.mu.Lock()
		s.value = v
		h.r.mu.Unlock()
	})
}

func (h handler) Timer(name string) client.MetricsTimer {
	s := h.r.get(timer, name, h.tags)
	return timerFunc(func(d time.Duration) { s.hist.Observe(d.Seconds()) })
}

// The SDK's own func adapters are internal; these are the same three lines.
type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
