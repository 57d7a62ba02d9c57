package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
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
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

// eventsScript is one episode: a read, then prose.
const eventsScript = `{"loop": false, "episodes": [
 {"turns": [{"tool_calls": [{"id": "r", "name": "read_tank", "arguments": {}}]}, {"text": "all is well"}]}
]}`

// TestMetricsAndEvents runs the gateway against the simulator, makes calls
// through the local API, and checks that /metrics counted them and that the
// episodes and approvals topics told a subscriber.
func TestMetricsAndEvents(t *testing.T) {
	gw, cfg, dir, ctx := startDemo(t, nil)
	var mu sync.Mutex
	var episodes []agent.EpisodeEvent
	var approvals []agent.ApprovalEvent
	prefix := cfg.MQTT.Prefix
	subscribed := make(chan struct{})
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("events-watch")
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		tok := c.Subscribe(prefix+"/+", 1, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			switch strings.TrimPrefix(m.Topic(), prefix+"/") {
			case "episodes":
				var e agent.EpisodeEvent
				if err := json.Unmarshal(m.Payload(), &e); err != nil {
					t.Errorf("episodes payload %s: %v", m.Payload(), err)
				}
				episodes = append(episodes, e)
			case "approvals":
				var a agent.ApprovalEvent
				if err := json.Unmarshal(m.Payload(), &a); err != nil {
					t.Errorf("approvals payload %s: %v", m.Payload(), err)
				}
				approvals = append(approvals, a)
			}
		})
		tok.Wait()
		close(subscribed)
	})
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)
	<-subscribed

	cl := api.NewClient(filepath.Join(dir, api.SocketName))
	calls := []api.CallRequest{
		{Capability: "set_inlet_pump", Args: `{"value":40}`},
		{Capability: "set_inlet_pump", Args: `{"value":250}`}, // out_of_range
		{Capability: "read_tank", Args: `{}`},
	}
	for _, c := range calls {
		if _, err := cl.Call(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cl.Call(ctx, api.CallRequest{Capability: "drain", Args: `{"opening":50}`})
	if err != nil || res.Code != "pending" {
		t.Fatalf("drain: got %+v, %v; want pending", res, err)
	}
	if _, err := cl.Reject(ctx, api.ApprovalRequest{ID: res.ID, Principal: "operator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Ask(ctx, api.AskRequest{Agent: "tank_keeper", Text: "how is the tank?"}); err != nil {
		t.Fatal(err)
	}

	metrics := scrape(t, cl)
	for _, tt := range []struct {
		series string
		min    float64
	}{
		{`femtoclaw_decisions_total{outcome="allow",reason=""}`, 3}, // two reads and a write
		{`femtoclaw_decisions_total{outcome="deny",reason="out_of_range"}`, 1},
		{`femtoclaw_decisions_total{outcome="pending",reason="pending_approval"}`, 1},
		{`femtoclaw_device_requests_total{device="tank",op="write",result="ok",source="core"}`, 1},
		{`femtoclaw_device_requests_total{device="tank",op="read",result="ok",source="core"}`, 2},
		{`femtoclaw_device_requests_total{device="tank",op="read",result="ok",source="poller"}`, 1},
		{`femtoclaw_device_request_duration_seconds_count{device="tank",op="write",source="core"}`, 1},
		{`femtoclaw_poll_cycle_duration_seconds_count{device="tank"}`, 1},
		{`femtoclaw_episodes_started_total{agent="tank_keeper"}`, 1},
		{`femtoclaw_episodes_total{agent="tank_keeper",status="done"}`, 1},
		{`femtoclaw_model_requests_total{agent="tank_keeper",result="ok"}`, 2},
		{`femtoclaw_model_request_duration_seconds_count{agent="tank_keeper"}`, 2},
	} {
		got, ok := metrics[tt.series]
		if !ok {
			t.Errorf("%s: missing from /metrics", tt.series)
			continue
		}
		if got < tt.min {
			t.Errorf("%s: got %v, want at least %v", tt.series, got, tt.min)
		}
	}
	// The publisher's counters move with the broker's acknowledgements:
	// here only their presence is checked.
	for _, series := range []string{`femtoclaw_mqtt_connected`, `femtoclaw_mqtt_published_total`, `femtoclaw_mqtt_outbox_messages`, `femtoclaw_mqtt_dropped_total`, `femtoclaw_poll_overruns_total{device="tank"}`,
		`femtoclaw_model_tokens_total{agent="tank_keeper",direction="input"}`} {
		if _, ok := metrics[series]; !ok {
			t.Errorf("%s: missing from /metrics", series)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := len(episodes) >= 2 && len(approvals) >= 2
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("after 10s: episodes %+v, approvals %+v; want start and end of each", episodes, approvals)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if e := episodes[0]; e.Event != "start" || e.Agent != "tank_keeper" || e.Episode == "" {
		t.Errorf("first episode event: got %+v, want tank_keeper's start", e)
	}
	if e := episodes[1]; e.Event != "end" || e.Episode != episodes[0].Episode || e.Status != agent.StatusDone || len(e.Calls) != 1 {
		t.Errorf("second episode event: got %+v, want the end of %s, done, one call", e, episodes[0].Episode)
	}
	if a := approvals[0]; a.Event != "pending" || a.ID != res.ID || a.Capability != "drain" || a.Expires == nil {
		t.Errorf("first approval event: got %+v, want drain %s pending with an expiry", a, res.ID)
	}
	if a := approvals[1]; a.Event != "rejected" || a.ID != res.ID || a.By != "operator" {
		t.Errorf("second approval event: got %+v, want %s rejected by operator", a, res.ID)
	}
}

// startDemo runs the demo config's gateway against the simulator, with
// eventsScript as the agent's brain and episodes only when asked; edit,
// when set, changes the config first. The gateway stops when the test ends.
func startDemo(t *testing.T, edit func(*config.Config)) (*gateway.Gateway, *config.Config, string, context.Context) {
	t.Helper()
	dir := t.TempDir()
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- plant.Run(simCtx) }()
	t.Cleanup(func() { stopSim(); <-simDone })

	cfgText := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	cfgText = strings.Replace(cfgText, "interval: 2s", "interval: 1h", 1) // episodes only when asked
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), []byte(eventsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	cfg.Gateway.DataDir = dir
	cfg.MQTT.Listen = "127.0.0.1:0"
	for i := range cfg.Devices {
		cfg.Devices[i].Poll = drivers.Duration(100 * time.Millisecond)
	}

	if edit != nil {
		edit(cfg)
	}
	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-gw.Ready():
	case err := <-runDone:
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready after 10s")
	}

	return gw, cfg, dir, ctx
}

// scrape reads GET /metrics over the local API's socket into a map from
// series (name and labels as written) to value.
func scrape(t *testing.T, cl *api.Client) map[string]float64 {
	t.Helper()
	resp, err := cl.HTTPClient().Get("http://femtoclaw/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: got %s, want 200", resp.Status)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
