package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// TestRanges runs a gateway whose devices declare their registers as ranges
// against the bulk simulator: every point of a range is published with its
// value, a write to one point of a range passes the gate (with an interlock
// on another range's point) and reaches the register, and a write the
// interlock forbids does not.
func TestRanges(t *testing.T) {
	const registers = 1000
	bulk, err := sim.ListenBulk(sim.BulkOptions{Devices: 2, Registers: registers, Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bulk.Close() })
	addrs := bulk.Addrs()

	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: {id: ranges, data_dir: %s, log_level: warn}\nmqtt: {broker: \"\", listen: \"127.0.0.1:0\"}\ndevices:\n", dir)
	for d, a := range addrs {
		fmt.Fprintf(&b, "  - name: dev%d\n    driver: modbus\n    url: tcp://%s\n    poll: 200ms\n    points:\n", d, a)
		fmt.Fprintf(&b, "      - {name: r, register: holding, address: 0, type: uint16, count: %d, writable: true}\n", registers)
	}
	// dev0's register 3 holds 3, register 4 holds 4: the interlock lets
	// the first capability through and stops the second.
	b.WriteString(`capabilities:
  - {name: set_r5, description: Set register 5 of dev1., kind: write, device: dev1, point: r5, min: 0, max: 65535, interlocks: ["dev0.r3 == 3"]}
  - {name: set_r6, description: Set register 6 of dev1., kind: write, device: dev1, point: r6, min: 0, max: 65535, interlocks: ["dev0.r4 == 3"]}
operator:
  allow: [set_r5, set_r6]
`)
	cfg, err := config.Parse(filepath.Join(dir, "ranges.yaml"), []byte(b.String()))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw, stop := runGateway(t, cfg)

	got := make(chan telemetry.DevicePayload, 16)
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("ranges-watch")
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(cfg.MQTT.Prefix+"/telemetry/#", 1, func(_ mqtt.Client, m mqtt.Message) {
			var p telemetry.DevicePayload
			if err := json.Unmarshal(m.Payload(), &p); err == nil {
				select {
				case got <- p:
				default:
				}
			}
		})
	})
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)

	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < len(addrs) {
		select {
		case p := <-got:
			if len(p.Values) != registers {
				t.Fatalf("telemetry of %s: %d values, want %d", p.Device, len(p.Values), registers)
			}
			d := 0
			fmt.Sscanf(p.Device, "dev%d", &d)
			for k := range registers {
				v, ok := p.Values[fmt.Sprintf("r%d", k)]
				// Register k of device d holds d*registers+k.
				if want := float64(d*registers + k); !ok || v.Quality != "good" || v.Value.Number != want {
					t.Fatalf("telemetry of %s: r%d = %+v (present %v), want %v, good", p.Device, k, v, ok, want)
				}
			}
			seen[p.Device] = true
		case <-deadline:
			t.Fatalf("after 10s telemetry of %v only", seen)
		}
	}

	call := func(name string, value int) capability.Result {
		return gw.Core().Call(context.Background(), "operator", "", capability.Call{ID: name, Capability: name, Args: fmt.Sprintf(`{"value": %d}`, value)}, agent.CallOptions{})
	}
	if r := call("set_r5", 4242); !r.OK {
		t.Fatalf("set_r5: %+v, want it executed", r)
	}
	if h := bulk.Holding(1, 5); h != 4242 {
		t.Errorf("after set_r5: dev1 register 5 = %d, want 4242", h)
	}
	if r := call("set_r6", 4343); r.OK || r.Reason != "interlock" {
		t.Errorf("set_r6: got %+v, want refused by its interlock", r)
	}
	if h := bulk.Holding(1, 6); h != registers+6 {
		t.Errorf("after the refused set_r6: dev1 register 6 = %d, want %d", h, registers+6)
	}
	stop()
}
