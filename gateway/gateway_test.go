package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
	"github.com/femtoclaw/femtoclaw/journal"
)

// e2eScript is one episode per call: an allowed write and the four ways a
// call is refused.
const e2eScript = `{"loop": false, "episodes": [
 {"turns": [{"text": "raising the inlet", "tool_calls": [{"id": "a", "name": "set_inlet_pump", "arguments": {"value": 70}}]}]},
 {"turns": [{"tool_calls": [{"id": "b", "name": "set_inlet_pump", "arguments": {"value": 250}}]}]},
 {"turns": [{"tool_calls": [{"id": "c", "name": "set_heater", "arguments": {"value": true}}]}]},
 {"turns": [{"tool_calls": [{"id": "d", "name": "open_drain_valve", "arguments": {"value": 100}}]}]},
 {"turns": [{"tool_calls": [{"id": "e", "name": "set_outlet_valve", "arguments": "{\"value\": \"wide open\"}"}]}]}
]}`

var wantReasons = []string{"", "out_of_range", "not_allowed", "unknown_capability", "invalid_arguments"}

// TestEndToEnd runs the real simulator, the real embedded broker and the
// gateway on loopback, and checks what reached the plant, MQTT and the
// journal.
func TestEndToEnd(t *testing.T) {
	baseGoroutines := runtime.NumGoroutine()
	dir := t.TempDir()

	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- plant.Run(simCtx) }()
	defer stopSim()
	before := plant.Holding(4)

	cfgText := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	cfgText = strings.Replace(cfgText, "interval: 2s", "interval: 200ms", 1)
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), []byte(e2eScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	cfg.Gateway.DataDir = dir
	cfg.MQTT.Listen = "127.0.0.1:0"
	for i := range cfg.Devices {
		cfg.Devices[i].Poll = drivers.Duration(200 * time.Millisecond)
	}

	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	select {
	case <-gw.Ready():
	case err := <-runDone:
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready after 10s")
	}

	// Subscribe over MQTT as a dashboard would.
	var mu sync.Mutex
	var telemetrySeqs []uint64
	var decisions []agent.DecisionEvent
	var actuations []agent.ActuationEvent
	prefix := cfg.MQTT.Prefix
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("e2e-watch")
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(prefix+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			switch strings.TrimPrefix(m.Topic(), prefix+"/") {
			case "telemetry/tank":
				var p telemetry.DevicePayload
				if err := json.Unmarshal(m.Payload(), &p); err == nil && p.Values["level"].Quality == "good" {
					telemetrySeqs = append(telemetrySeqs, p.Seq)
				}
			case "decisions":
				var d agent.DecisionEvent
				if err := json.Unmarshal(m.Payload(), &d); err == nil {
					decisions = append(decisions, d)
				}
			case "actuations":
				var a agent.ActuationEvent
				if err := json.Unmarshal(m.Payload(), &a); err == nil {
					actuations = append(actuations, a)
				}
			}
		})
	})
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		done := len(decisions) >= len(wantReasons) && len(telemetrySeqs) >= 3
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("after 20s: %d decisions, %d telemetry messages; want %d and 3", len(decisions), len(telemetrySeqs), len(wantReasons))
		}
		time.Sleep(50 * time.Millisecond)
	}

	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	client.Disconnect(0)

	mu.Lock()
	for i, want := range wantReasons {
		if got := string(decisions[i].Reason); got != want {
			t.Errorf("decision %d (%s): reason %q, want %q", i, decisions[i].Capability, got, want)
		}
	}
	for i := 1; i < len(telemetrySeqs); i++ {
		if telemetrySeqs[i] <= telemetrySeqs[i-1] {
			t.Errorf("telemetry seq %d after %d: want increasing", telemetrySeqs[i], telemetrySeqs[i-1])
		}
	}
	if len(actuations) != 1 || !actuations[0].OK || actuations[0].Point != "inlet_pump" {
		t.Errorf("actuations = %+v, want one ok write of inlet_pump", actuations)
	}
	mu.Unlock()

	// Only the allowed write reached the plant.
	writes := plant.Writes()
	if len(writes) != 1 {
		t.Fatalf("plant saw %d writes, want 1: %+v", len(writes), writes)
	}
	if w := writes[0]; w.Table != "holding" || w.Address != 4 || len(w.Values) != 1 || w.Values[0] != 70 {
		t.Errorf("plant write = %+v, want holding 4 = [70]", w)
	}
	if got := plant.Holding(4); got != 70 {
		t.Errorf("inlet_pump register = %d (was %d), want 70", got, before)
	}

	checkJournal(t, filepath.Join(dir, "journal"))

	// No goroutine outlives Run (the simulator and MQTT client are stopped too).
	stopSim()
	if err := <-simDone; err != nil {
		t.Errorf("simulator Run: %v", err)
	}
	waitGoroutines(t, baseGoroutines)
}

// checkJournal checks that every proposal has its decision and that the
// allowed write has a synced intent before its outcome.
func checkJournal(t *testing.T, dir string) {
	t.Helper()
	j, err := journal.OpenReadOnly(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if res, err := j.Verify(); err != nil || !res.OK {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	var proposals, decisions, intents, outcomes int
	intentSeq := map[uint64]bool{}
	var lastKind journal.Kind
	err = j.Scan(1, func(r journal.Record) error {
		switch r.Kind {
		case journal.KindProposal:
			proposals++
		case journal.KindDecision:
			if lastKind != journal.KindProposal {
				t.Errorf("decision #%d follows %s, want a proposal", r.Seq, lastKind)
			}
			decisions++
		case journal.KindIntent:
			if lastKind != journal.KindDecision {
				t.Errorf("intent #%d follows %s, want a decision", r.Seq, lastKind)
			}
			intents++
			intentSeq[r.Seq] = true
		case journal.KindOutcome:
			if !intentSeq[r.Ref] {
				t.Errorf("outcome #%d refers to #%d, which is no earlier intent", r.Seq, r.Ref)
			}
			outcomes++
		}
		lastKind = r.Kind
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if proposals != len(wantReasons) || decisions != len(wantReasons) || intents != 1 || outcomes != 1 {
		t.Errorf("journal: %d proposals, %d decisions, %d intents, %d outcomes; want %d, %d, 1, 1",
			proposals, decisions, intents, outcomes, len(wantReasons), len(wantReasons))
	}
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Run, want at most %d:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
