// Package metrics counts what a gateway does for Prometheus: decisions,
// device requests, poll cycles, the MQTT outbox and connection, episodes
// and model requests. Everything is registered in the Metrics' own registry,
// never the global one, and served by the local API's GET /metrics.
//
// The counters of the hot path (decisions, device requests, poll cycles,
// model requests) are resolved for every known label set when Metrics is
// built, so that counting allocates nothing; a label value not known then
// (a device added later, a new reason code) is still counted, through the
// slower vector lookup.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// namespace starts every metric's name.
const namespace = "femtoclaw"

// Sources of a device request.
const (
	SourceCore   = "core"   // a call through agent.Core
	SourcePoller = "poller" // the device's poller
)

// Reasons are the reason codes a decision may carry, resolved in advance.
var Reasons = []capability.Reason{
	capability.ReasonNone, capability.ReasonUnknownCapability, capability.ReasonNotAllowed,
	capability.ReasonInvalidArguments, capability.ReasonOutOfRange, capability.ReasonDeviceUnavailable,
	capability.ReasonDeviceError, capability.ReasonTimeout, capability.ReasonJournalUnavailable,
	capability.ReasonStepTooLarge, capability.ReasonRateLimited, capability.ReasonInterlock,
	capability.ReasonPendingApproval, capability.ReasonApprovalExpired, capability.ReasonSelfApproval,
	capability.ReasonApprovalMismatch, capability.ReasonUnknownApproval,
}

// Statuses are the ways an episode ends, resolved in advance.
var Statuses = []agent.Status{
	agent.StatusDone, agent.StatusMaxSteps, agent.StatusTokenBudget, agent.StatusTimeBudget,
	agent.StatusInvalidCalls, agent.StatusError, agent.StatusCancelled,
}

var outcomes = []capability.Outcome{capability.Allow, capability.Deny, capability.Pending}

type decisionKey struct {
	outcome capability.Outcome
	reason  capability.Reason
}

type callKey struct {
	device, source, op string
}

// call holds the resolved children of one device, source and operation.
type call struct {
	ok, failed prometheus.Counter
	latency    prometheus.Observer
}

// poll holds the resolved children of one device's poller.
type poll struct {
	duration prometheus.Observer
	overruns prometheus.Counter
}

// model holds the resolved children of one agent.
type model struct {
	ok, failed    prometheus.Counter
	latency       prometheus.Observer
	input, output prometheus.Counter
	started       prometheus.Counter
	running       prometheus.Gauge
	ended         map[agent.Status]prometheus.Counter
	duration      prometheus.Observer
}

// Metrics holds a gateway's metrics. A nil *Metrics counts nothing: every
// method may be called on it.
type Metrics struct {
	reg *prometheus.Registry

	decisionVec *prometheus.CounterVec
	decisions   map[decisionKey]prometheus.Counter

	callVec    *prometheus.CounterVec
	latencyVec *prometheus.HistogramVec
	calls      map[callKey]call

	pollVec    *prometheus.HistogramVec
	overrunVec *prometheus.CounterVec
	polls      map[string]poll

	modelVec, tokenVec, episodeStartVec, episodeVec *prometheus.CounterVec
	modelLatencyVec, episodeDurationVec             *prometheus.HistogramVec
	runningVec                                      *prometheus.GaugeVec
	models                                          map[string]*model
}

var _ agent.Observer = (*Metrics)(nil)

// latencyBuckets suit device and model requests: 1 ms to 60 s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New builds the metrics of a gateway with these devices and agents, and a
// registry holding them and the Go runtime's and process's collectors.
func New(devices, agents []string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }

	m.decisionVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "decisions_total",
		Help: "Decisions of the capability gate, by outcome and reason code (empty when allowed)."}, []string{"outcome", "reason"})
	f(m.decisionVec)
	m.decisions = make(map[decisionKey]prometheus.Counter, len(outcomes)*len(Reasons))
	for _, o := range outcomes {
		for _, r := range Reasons {
			m.decisions[decisionKey{o, r}] = m.decisionVec.WithLabelValues(o.String(), string(r))
		}
	}

	m.callVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "device_requests_total",
		Help: "Requests made to devices, by device, source (core or poller), operation and result."}, []string{"device", "source", "op", "result"})
	m.latencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "device_request_duration_seconds",
		Help: "How long device requests took, by device, source and operation.", Buckets: latencyBuckets}, []string{"device", "source", "op"})
	m.pollVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "poll_cycle_duration_seconds",
		Help: "How long one poll cycle of a device took.", Buckets: latencyBuckets}, []string{"device"})
	m.overrunVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "poll_overruns_total",
		Help: "Poll cycles that took longer than the device's poll interval."}, []string{"device"})
	f(m.callVec)
	f(m.latencyVec)
	f(m.pollVec)
	f(m.overrunVec)
	m.calls = make(map[callKey]call)
	m.polls = make(map[string]poll, len(devices))
	for _, d := range devices {
		m.resolveDevice(d)
	}

	m.modelVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_requests_total",
		Help: "Requests to an agent's model provider, by agent and result."}, []string{"agent", "result"})
	m.modelLatencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "model_request_duration_seconds",
		Help: "How long an agent's model requests took.", Buckets: latencyBuckets}, []string{"agent"})
	m.tokenVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "model_tokens_total",
		Help: "Tokens the model provider reported, by agent and direction (input or output)."}, []string{"agent", "direction"})
	m.episodeStartVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "episodes_started_total",
		Help: "Episodes started, by agent."}, []string{"agent"})
	m.episodeVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "episodes_total",
		Help: "Episodes ended, by agent and status."}, []string{"agent", "status"})
	m.episodeDurationVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "episode_duration_seconds",
		Help: "How long episodes took, by agent.", Buckets: latencyBuckets}, []string{"agent"})
	m.runningVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "episodes_running",
		Help: "Episodes running now, by agent."}, []string{"agent"})
	for _, c := range []prometheus.Collector{m.modelVec, m.modelLatencyVec, m.tokenVec, m.episodeStartVec, m.episodeVec, m.episodeDurationVec, m.runningVec} {
		f(c)
	}
	m.models = make(map[string]*model, len(agents))
	for _, a := range agents {
		m.models[a] = m.resolveAgent(a)
	}
	return m
}

func (m *Metrics) resolveDevice(d string) {
	for _, src := range []string{SourceCore, SourcePoller} {
		for _, op := range []string{agent.OpRead, agent.OpWrite} {
			m.calls[callKey{d, src, op}] = call{
				ok:      m.callVec.WithLabelValues(d, src, op, "ok"),
				failed:  m.callVec.WithLabelValues(d, src, op, "error"),
				latency: m.latencyVec.WithLabelValues(d, src, op),
			}
		}
	}
	m.polls[d] = poll{duration: m.pollVec.WithLabelValues(d), overruns: m.overrunVec.WithLabelValues(d)}
}

func (m *Metrics) resolveAgent(a string) *model {
	md := &model{
		ok: m.modelVec.WithLabelValues(a, "ok"), failed: m.modelVec.WithLabelValues(a, "error"),
		latency: m.modelLatencyVec.WithLabelValues(a),
		input:   m.tokenVec.WithLabelValues(a, "input"), output: m.tokenVec.WithLabelValues(a, "output"),
		started: m.episodeStartVec.WithLabelValues(a), running: m.runningVec.WithLabelValues(a),
		duration: m.episodeDurationVec.WithLabelValues(a),
		ended:    make(map[agent.Status]prometheus.Counter, len(Statuses)),
	}
	for _, s := range Statuses {
		md.ended[s] = m.episodeVec.WithLabelValues(a, string(s))
	}
	return md
}

// Registry returns the registry every metric is in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchPublisher exports the MQTT publisher's counters, read from stats
// at every scrape: outbox depth, drops, messages published and the broker
// connection's state.
func (m *Metrics) WatchPublisher(stats func() telemetry.Stats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "mqtt", Name: "outbox_messages",
			Help: "Messages waiting in the MQTT outbox."}, func() float64 { return float64(stats().Queued) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Subsystem: "mqtt", Name: "dropped_total",
			Help: "Messages the MQTT outbox could not keep (since the outbox was created)."}, func() float64 { return float64(stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Subsystem: "mqtt", Name: "published_total",
			Help: "Messages the MQTT broker acknowledged."}, func() float64 { return float64(stats().Published) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "mqtt", Name: "connected",
			Help: "1 while the connection to the MQTT broker is up, else 0."}, func() float64 {
			if stats().Connected {
				return 1
			}
			return 0
		}),
	)
}

// Decided counts one decision.
func (m *Metrics) Decided(outcome capability.Outcome, reason capability.Reason) {
	if m == nil {
		return
	}
	if c, ok := m.decisions[decisionKey{outcome, reason}]; ok {
		c.Inc()
		return
	}
	m.decisionVec.WithLabelValues(outcome.String(), string(reason)).Inc()
}

// DeviceCall counts one request of the core to a device.
func (m *Metrics) DeviceCall(device, op string, d time.Duration, err error) {
	m.DeviceRequest(device, SourceCore, op, d, err)
}

// DeviceRequest counts one request to a device from source.
func (m *Metrics) DeviceRequest(device, source, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	c, ok := m.calls[callKey{device, source, op}]
	if !ok {
		c = call{
			ok:      m.callVec.WithLabelValues(device, source, op, "ok"),
			failed:  m.callVec.WithLabelValues(device, source, op, "error"),
			latency: m.latencyVec.WithLabelValues(device, source, op),
		}
	}
	if err != nil {
		c.failed.Inc()
	} else {
		c.ok.Inc()
	}
	c.latency.Observe(d.Seconds())
}

// PollCycle counts one poll cycle of a device that took d, with a poll
// interval of every: a cycle longer than its interval is an overrun.
func (m *Metrics) PollCycle(device string, d, every time.Duration) {
	if m == nil {
		return
	}
	p, ok := m.polls[device]
	if !ok {
		p = poll{duration: m.pollVec.WithLabelValues(device), overruns: m.overrunVec.WithLabelValues(device)}
	}
	p.duration.Observe(d.Seconds())
	if every > 0 && d > every {
		p.overruns.Inc()
	}
}

func (m *Metrics) agent(name string) *model {
	if md, ok := m.models[name]; ok {
		return md
	}
	return m.resolveAgent(name)
}

// EpisodeStarted counts an episode that started.
func (m *Metrics) EpisodeStarted(name string) {
	if m == nil {
		return
	}
	md := m.agent(name)
	md.started.Inc()
	md.running.Inc()
}

// EpisodeEnded counts an episode that ended with status after d.
func (m *Metrics) EpisodeEnded(name string, status agent.Status, d time.Duration) {
	if m == nil {
		return
	}
	md := m.agent(name)
	md.running.Dec()
	md.duration.Observe(d.Seconds())
	if c, ok := md.ended[status]; ok {
		c.Inc()
		return
	}
	m.episodeVec.WithLabelValues(name, string(status)).Inc()
}

// ModelRequest counts one model request of an agent, its latency and the
// tokens it reported.
func (m *Metrics) ModelRequest(name string, d time.Duration, usage brain.Usage, err error) {
	if m == nil {
		return
	}
	md := m.agent(name)
	if err != nil {
		md.failed.Inc()
	} else {
		md.ok.Inc()
	}
	md.latency.Observe(d.Seconds())
	md.input.Add(float64(usage.InputTokens))
	md.output.Add(float64(usage.OutputTokens))
}
