package agent_test

import (
	"context"
	"testing"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// benchSteps is the steps with a call in each benchmarked episode; the
// episode makes one more request, answered without calls.
const benchSteps = 4

// benchEpisodes runs b.N episodes of the demo agent whose model answers
// instantly with call, and reports the time per step: the runtime's own
// overhead (context, journal records of request and response, gate,
// proposal/decision/outcome records, tool result) without model latency.
func benchEpisodes(b *testing.B, call string) {
	turns := ""
	for i := 0; i < benchSteps; i++ {
		if i > 0 {
			turns += ","
		}
		turns += `{"tool_calls":[` + call + `]}`
	}
	s, err := brain.ParseScript([]byte(`{"loop":true,"episodes":[{"turns":[` + turns + `]}]}`))
	if err != nil {
		b.Fatal(err)
	}
	pl := newPlant(b)
	a := pl.agent(brain.NewScripted(s), agent.Budget{MaxSteps: benchSteps + 1})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := a.Episode(ctx, "bench"); got != agent.StatusDone {
			b.Fatalf("got %q, want done", got)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(benchSteps+1))/1e3, "µs/step")
}

// BenchmarkStepDenied measures a step whose call the gate refuses: no
// device is touched, so this is the runtime alone.
func BenchmarkStepDenied(b *testing.B) {
	benchEpisodes(b, `{"name":"set_inlet_pump","arguments":{"value":250}}`)
}

// BenchmarkStepRead measures a step with an allowed read: the runtime plus
// one Modbus TCP round trip to the simulator on loopback.
func BenchmarkStepRead(b *testing.B) {
	benchEpisodes(b, `{"name":"read_tank"}`)
}
