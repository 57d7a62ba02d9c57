package agent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// stampProvider measures how long after fired each request reaches it, and
// answers at once with prose, which ends the episode.
type stampProvider struct {
	fired   time.Time
	latency []time.Duration
}

func (p *stampProvider) Complete(context.Context, brain.Request) (brain.Response, error) {
	p.latency = append(p.latency, time.Since(p.fired))
	return brain.Response{Text: "The level is in range."}, nil
}

// BenchmarkAgentStart measures an agent's start: from the moment its
// condition trigger is evaluated true to the moment the first request
// reaches the provider. That covers the condition, the episode's start and
// request records in the journal, the context (the snapshot of the four
// tank values and the memory of five episodes) and the tool list. It
// reports the mean and the 99th percentile in µs/start.
func BenchmarkAgentStart(b *testing.B) {
	pl := newPlant(b)
	now := time.Now()
	pl.live.Update("tank", []drivers.Reading{
		{Point: "level", Value: drivers.Number(82.5), Quality: drivers.QualityGood, Time: now},
		{Point: "temperature", Value: drivers.Number(21.3), Quality: drivers.QualityGood, Time: now},
		{Point: "inlet_pump", Value: drivers.Number(30), Quality: drivers.QualityGood, Time: now},
		{Point: "outlet_valve", Value: drivers.Number(20), Quality: drivers.QualityGood, Time: now},
	})
	// Reset always true and no cooldown: the condition fires on every check.
	cond, err := agent.CompileCondition("tank.level > 80", "true", 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	p := &stampProvider{}
	a := pl.agent(p, agent.Budget{MaxSteps: 1})
	for range agent.MemorySize { // a full memory, as on a gateway that has run a while
		a.Episode(context.Background(), "warmup")
	}
	p.latency = p.latency[:0]
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.fired = time.Now()
		if !cond.Fire(pl.live, p.fired) {
			b.Fatal("got no firing, want one")
		}
		if got := a.Episode(ctx, "condition"); got != agent.StatusDone {
			b.Fatalf("got %q, want done", got)
		}
	}
	b.StopTimer()
	if len(p.latency) != b.N {
		b.Fatalf("got %d requests, want %d", len(p.latency), b.N)
	}
	var sum time.Duration
	for _, d := range p.latency {
		sum += d
	}
	slices.Sort(p.latency)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(b.N)/1e3, "µs/start")
	b.ReportMetric(float64(p.latency[len(p.latency)*99/100].Nanoseconds())/1e3, "p99-µs/start")
}
