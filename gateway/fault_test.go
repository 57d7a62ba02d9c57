package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/internal/netfault"
)

// faultConfig is a gateway polling the tank every 100ms through addr.
const faultConfig = `
gateway:
  id: fault
  data_dir: %s
mqtt:
  listen: 127.0.0.1:0
devices:
  - name: tank
    driver: modbus
    url: tcp://%s
    poll: 100ms
    timeout: 200ms
    points:
      - {name: level, register: holding, address: 0, type: float32}
      - {name: inlet_pump, register: holding, address: 4, writable: true}
capabilities:
  - name: read_tank
    kind: read
    points: [tank.level, tank.inlet_pump]
  - name: set_inlet_pump
    kind: write
    device: tank
    point: inlet_pump
    min: 0
    max: 100
operator:
  allow: [read_tank, set_inlet_pump]
`

// backoffCap is the Modbus driver's longest wait between reconnects.
const backoffCap = 5 * time.Second

// TestDeviceDisappearsAndReturns cuts the network between the gateway and
// the PLC and restores it: the gateway stays up, calls fail fast with
// device_unavailable, telemetry marks the values stale, and polling
// resumes within the backoff cap once the PLC is back.
func TestDeviceDisappearsAndReturns(t *testing.T) {
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plant.Close()
	px, err := netfault.Start(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()

	dir := t.TempDir()
	cfg, err := config.Parse("fault.yaml", fmt.Appendf(nil, faultConfig, dir, px.Addr()))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	select {
	case <-gw.Ready():
	case err := <-runDone:
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready after 10s")
	}

	// Watch the level's quality in telemetry, as a dashboard would.
	var mu sync.Mutex
	var qualities []string
	client := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("fault-watch"))
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)
	tok := client.Subscribe(cfg.MQTT.Prefix+"/telemetry/tank", 0, func(_ mqtt.Client, m mqtt.Message) {
		var p struct {
			Values map[string]struct {
				Quality string `json:"quality"`
			} `json:"values"`
		}
		if json.Unmarshal(m.Payload(), &p) == nil {
			mu.Lock()
			qualities = append(qualities, p.Values["level"].Quality)
			mu.Unlock()
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	// waitQuality waits for the next telemetry message with quality q and
	// returns how long it took.
	waitQuality := func(q string, within time.Duration) time.Duration {
		t.Helper()
		mu.Lock()
		from := len(qualities)
		mu.Unlock()
		start := time.Now()
		for time.Since(start) < within {
			mu.Lock()
			for _, got := range qualities[from:] {
				if got == q {
					mu.Unlock()
					return time.Since(start)
				}
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no telemetry with quality %q within %s; saw %v", q, within, qualities[from:])
		return 0
	}
	core := gw.Core()
	call := func(name, args string) (capability.Result, time.Duration) {
		start := time.Now()
		res := core.Call(ctx, "operator", "", capability.Call{Capability: name, Args: args}, agent.CallOptions{})
		return res, time.Since(start)
	}

	waitQuality("good", 5*time.Second)
	if res, _ := call("read_tank", "{}"); !res.OK {
		t.Fatalf("read while the PLC is up: got %+v, want ok", res)
	}

	// The cable is pulled.
	px.Cut()
	waitQuality("stale", 5*time.Second)
	for i := range 5 {
		for _, c := range [][2]string{{"read_tank", "{}"}, {"set_inlet_pump", `{"value": 50}`}} {
			res, took := call(c[0], c[1])
			if res.OK || res.Reason != capability.ReasonDeviceUnavailable {
				t.Errorf("%s while cut (#%d): got %+v, want failed with device_unavailable", c[0], i, res)
			}
			if took > time.Second {
				t.Errorf("%s while cut (#%d): took %s, want it to fail fast", c[0], i, took)
			}
		}
	}
	select {
	case err := <-runDone:
		t.Fatalf("gateway stopped while the PLC was away: %v", err)
	default:
	}
	// Let the backoff grow towards its cap, then plug the cable back in.
	time.Sleep(1500 * time.Millisecond)
	px.Restore()
	took := waitQuality("good", backoffCap+2*time.Second)
	t.Logf("telemetry good again %s after the PLC returned (backoff cap %s)", took.Round(time.Millisecond), backoffCap)
	if res, _ := call("set_inlet_pump", `{"value": 55}`); !res.OK {
		t.Errorf("write after the PLC returned: got %+v, want ok", res)
	}
	if got := plant.Holding(sim.RegInletPump); got != 55 {
		t.Errorf("inlet pump after the write: got %d, want 55", got)
	}
	if n := len(plant.Writes()); n != 1 {
		t.Errorf("plant writes: got %d, want 1 (none while cut)", n)
	}

	cancel()
	if err := <-runDone; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Run: %v", err)
	}
}
