package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/sparkplug"
)

// TestSparkplugDCMD runs the gateway with its Sparkplug B edge node against
// the simulator and the embedded broker: a DCMD of an allowed capability
// writes the plant and shows in DDATA; a DCMD the sparkplug principal may
// not make is refused, and its decision is journaled and published.
func TestSparkplugDCMD(t *testing.T) {
	dir := t.TempDir()
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- plant.Run(simCtx) }()
	defer func() { stopSim(); <-simDone }()

	cfgText := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), []byte(`{"loop": false, "episodes": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	cfg.Gateway.DataDir = dir
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Agents = nil
	cfg.Devices = slices.DeleteFunc(cfg.Devices, func(d drivers.DeviceConfig) bool { return d.Name != "tank" })
	cfg.Capabilities = slices.DeleteFunc(cfg.Capabilities, func(s capability.Spec) bool { return s.Name == "read_tank_ua" })
	cfg.Operator.Allow = slices.DeleteFunc(cfg.Operator.Allow, func(s string) bool { return s == "read_tank_ua" })
	cfg.MCP.Allow = slices.DeleteFunc(cfg.MCP.Allow, func(s string) bool { return s == "read_tank_ua" })
	cfg.Devices[0].Poll = drivers.Duration(100 * time.Millisecond)
	cfg.MQTT.Sparkplug = &config.MQTTSparkplug{GroupID: "plant", EdgeNodeID: "gw1"}
	cfg.Sparkplug.Allow = []string{"set_inlet_pump"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}

	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-gw.Ready():
	case err := <-runDone:
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready after 10s")
	}

	var mu sync.Mutex
	var decisions []agent.DecisionEvent
	var births int
	pumps := map[float64]bool{} // inlet_pump values seen in DBIRTH and DDATA
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("sparkplug-host"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.SubscribeMultiple(map[string]byte{"spBv1.0/plant/+/gw1/tank": 1, cfg.MQTT.Prefix + "/decisions": 1}, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if m.Topic() == cfg.MQTT.Prefix+"/decisions" {
			var d agent.DecisionEvent
			if err := json.Unmarshal(m.Payload(), &d); err == nil && d.Principal == "sparkplug" {
				decisions = append(decisions, d)
			}
			return
		}
		if strings.Contains(m.Topic(), "/DCMD/") {
			return // our own command
		}
		var p sparkplug.Payload
		if err := proto.Unmarshal(m.Payload(), &p); err != nil {
			t.Errorf("%s: %v", m.Topic(), err)
			return
		}
		if strings.Contains(m.Topic(), "/DBIRTH/") {
			births++
		}
		for _, mt := range p.GetMetrics() {
			if mt.GetName() == "inlet_pump" && !mt.GetIsNull() {
				pumps[mt.GetDoubleValue()] = true
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	send := func(topic string, m *sparkplug.Payload_Metric) {
		t.Helper()
		b, err := proto.Marshal(&sparkplug.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Metrics: []*sparkplug.Payload_Metric{m}})
		if err != nil {
			t.Fatal(err)
		}
		if tok := c.Publish(topic, 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: no %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Ask for births until the node answers: then it is subscribed.
	rebirth := &sparkplug.Payload_Metric{Name: proto.String(sparkplug.RebirthMetric), Value: &sparkplug.Payload_Metric_BooleanValue{BooleanValue: true}}
	for i := 0; ; i++ {
		send("spBv1.0/plant/NCMD/gw1", rebirth)
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		n := births
		mu.Unlock()
		if n > 0 {
			break
		}
		if i == 50 {
			t.Fatal("no DBIRTH after 10s of rebirth requests")
		}
	}

	send("spBv1.0/plant/DCMD/gw1/tank", &sparkplug.Payload_Metric{Name: proto.String("inlet_pump"), Value: &sparkplug.Payload_Metric_DoubleValue{DoubleValue: 70}})
	send("spBv1.0/plant/DCMD/gw1/tank", &sparkplug.Payload_Metric{Name: proto.String("heater"), Value: &sparkplug.Payload_Metric_BooleanValue{BooleanValue: true}})
	waitFor("two decisions of the sparkplug principal", func() bool { return len(decisions) >= 2 })
	waitFor("inlet_pump 70 in DDATA", func() bool { return pumps[70] })

	mu.Lock()
	want := []struct {
		capability, outcome, reason string
	}{{"set_inlet_pump", "allow", ""}, {"set_heater", "deny", "not_allowed"}}
	for i, w := range want {
		d := decisions[i]
		if d.Capability != w.capability || d.Outcome != w.outcome || string(d.Reason) != w.reason || d.Seq == 0 {
			t.Errorf("decision %d: got %s %s %q (journal seq %d), want %s %s %q with a journal seq", i, d.Capability, d.Outcome, d.Reason, d.Seq, w.capability, w.outcome, w.reason)
		}
	}
	mu.Unlock()
	if got := plant.Holding(4); got != 70 {
		t.Errorf("inlet_pump register: got %d, want 70", got)
	}
	if got := plant.Coil(0); got {
		t.Errorf("heater coil: got on, want off (the DCMD was not allowed)")
	}
}
