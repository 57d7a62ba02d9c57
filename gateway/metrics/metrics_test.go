package metrics

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// TestHotPathAllocatesNothing counts with label sets resolved in New and
// checks that counting allocates nothing.
func TestHotPathAllocatesNothing(t *testing.T) {
	m := New([]string{"tank"}, []string{"keeper"})
	fail := errors.New("boom")
	tests := []struct {
		name string
		fn   func()
	}{
		{"Decided", func() { m.Decided(capability.Deny, capability.ReasonOutOfRange) }},
		{"DeviceCall", func() { m.DeviceCall("tank", agent.OpWrite, time.Millisecond, nil) }},
		{"DeviceRequest", func() { m.DeviceRequest("tank", SourcePoller, agent.OpRead, time.Millisecond, fail) }},
		{"PollCycle", func() { m.PollCycle("tank", 2*time.Second, time.Second) }},
		{"ModelRequest", func() { m.ModelRequest("keeper", time.Second, brain.Usage{InputTokens: 10, OutputTokens: 2}, nil) }},
		{"EpisodeEnded", func() { m.EpisodeStarted("keeper"); m.EpisodeEnded("keeper", agent.StatusDone, time.Second) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
			t.Errorf("%s: got %v allocations per call, want 0", tt.name, got)
		}
	}
}

// TestCounts checks what the counters say after a few events, including
// label values not known to New.
func TestCounts(t *testing.T) {
	m := New([]string{"tank"}, nil)
	m.Decided(capability.Allow, capability.ReasonNone)
	m.Decided(capability.Deny, "brand_new_reason")
	m.PollCycle("tank", 2*time.Second, time.Second)
	m.PollCycle("tank", time.Millisecond, time.Second)
	m.PollCycle("pump", 2*time.Second, time.Second)
	m.ModelRequest("later", time.Second, brain.Usage{InputTokens: 7, OutputTokens: 3}, nil)
	m.EpisodeStarted("later")

	got := gather(t, m)
	for _, tt := range []struct {
		series string
		want   float64
	}{
		{`femtoclaw_decisions_total{outcome="allow",reason=""}`, 1},
		{`femtoclaw_decisions_total{outcome="deny",reason="brand_new_reason"}`, 1},
		{`femtoclaw_decisions_total{outcome="deny",reason="interlock"}`, 0},
		{`femtoclaw_poll_overruns_total{device="tank"}`, 1},
		{`femtoclaw_poll_overruns_total{device="pump"}`, 1},
		{`femtoclaw_poll_cycle_duration_seconds{device="tank"}`, 2}, // the histogram's count
		{`femtoclaw_model_tokens_total{agent="later",direction="input"}`, 7},
		{`femtoclaw_model_tokens_total{agent="later",direction="output"}`, 3},
		{`femtoclaw_episodes_running{agent="later"}`, 1},
	} {
		v, ok := got[tt.series]
		if !ok {
			t.Errorf("%s: missing", tt.series)
			continue
		}
		if v != tt.want {
			t.Errorf("%s: got %v, want %v", tt.series, v, tt.want)
		}
	}
}

// gather returns every series of m's registry by name and sorted labels:
// a counter's or gauge's value, a histogram's count.
func gather(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case mt.Counter != nil:
				out[key] = mt.Counter.GetValue()
			case mt.Gauge != nil:
				out[key] = mt.Gauge.GetValue()
			case mt.Histogram != nil:
				out[key] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestNil checks that a nil Metrics counts nothing and does not panic.
func TestNil(t *testing.T) {
	var m *Metrics
	m.Decided(capability.Allow, capability.ReasonNone)
	m.DeviceRequest("tank", SourcePoller, agent.OpRead, time.Millisecond, nil)
	m.PollCycle("tank", time.Second, time.Second)
	m.EpisodeStarted("a")
	m.EpisodeEnded("a", agent.StatusDone, time.Second)
	m.ModelRequest("a", time.Second, brain.Usage{}, nil)
	m.WatchPublisher(nil)
}
