package gateway_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// templatePoint finds the point a discovery value template reads.
var templatePoint = regexp.MustCompile(`value_json\['values'\]\["([^"]+)"\]`)

// TestHomeAssistantDiscovery runs the demo gateway with mqtt.home_assistant
// and checks, as Home Assistant would see them, that every numeric point
// has a retained discovery message that parses, whose state topic carries
// telemetry holding that point, and whose availability topic is the
// gateway's status.
func TestHomeAssistantDiscovery(t *testing.T) {
	gw, cfg, _, _ := startDemo(t, func(c *config.Config) { c.MQTT.HomeAssistant = true })
	prefix := cfg.MQTT.Prefix

	var mu sync.Mutex
	sensors := map[string]telemetry.HASensor{} // topic -> payload
	published := map[string]map[string]any{}   // topic -> last payload
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("ha-watch")
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.SubscribeMultiple(map[string]byte{telemetry.DiscoveryPrefix + "/#": 1, prefix + "/#": 1}, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			if strings.HasPrefix(m.Topic(), telemetry.DiscoveryPrefix+"/") {
				var s telemetry.HASensor
				dec := json.NewDecoder(strings.NewReader(string(m.Payload())))
				if err := dec.Decode(&s); err != nil {
					t.Errorf("%s: %v", m.Topic(), err)
				}
				sensors[m.Topic()] = s
				return
			}
			var v map[string]any
			if json.Unmarshal(m.Payload(), &v) == nil {
				published[m.Topic()] = v
			}
		})
	})
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)

	var numeric []string
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			if telemetry.Numeric(d, p) {
				numeric = append(numeric, d.Name+"."+p.Name)
			}
		}
	}
	if len(numeric) < 5 {
		t.Fatalf("demo config: %d numeric points, want the tank's and tank_ua's", len(numeric))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := len(sensors) >= len(numeric) && published[prefix+"/telemetry/tank"] != nil && published[prefix+"/status"] != nil
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("after 10s: %d discovery messages, want %d, and telemetry and status", len(sensors), len(numeric))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sensors) != len(numeric) {
		t.Errorf("got %d discovery messages, want one per numeric point: %v", len(sensors), numeric)
	}
	seen := map[string]bool{}
	for topic, s := range sensors {
		if !strings.HasPrefix(topic, "homeassistant/sensor/") || !strings.HasSuffix(topic, "/config") {
			t.Errorf("%s: want homeassistant/sensor/<node>/<object>/config", topic)
		}
		if s.AvailabilityTopic != prefix+"/status" {
			t.Errorf("%s: availability_topic %q, want %q", topic, s.AvailabilityTopic, prefix+"/status")
		}
		m := templatePoint.FindStringSubmatch(s.ValueTemplate)
		if m == nil {
			t.Errorf("%s: value_template %q names no point", topic, s.ValueTemplate)
			continue
		}
		device := strings.TrimPrefix(s.StateTopic, prefix+"/telemetry/")
		seen[device+"."+m[1]] = true
		if device != "tank" {
			continue // tank_ua has no OPC UA server in this test
		}
		msg := published[s.StateTopic]
		if msg == nil {
			t.Errorf("%s: state_topic %q: nothing published there", topic, s.StateTopic)
			continue
		}
		values, _ := msg["values"].(map[string]any)
		if _, ok := values[m[1]].(map[string]any)["value"]; !ok {
			t.Errorf("%s: the telemetry on %s has no value for %q: %v", topic, s.StateTopic, m[1], msg)
		}
	}
	for _, n := range numeric {
		if !seen[n] {
			t.Errorf("numeric point %s has no sensor", n)
		}
	}
	// A later subscriber, as Home Assistant starting after the gateway,
	// gets them all from the broker.
	if got := retainedCount(t, gw.BrokerAddr(), telemetry.DiscoveryPrefix+"/#"); got != len(numeric) {
		t.Errorf("a later subscriber got %d retained discovery messages, want %d", got, len(numeric))
	}
	if published[prefix+"/status"]["state"] != "online" {
		t.Errorf("status %v: want state online, what payload_available expects", published[prefix+"/status"])
	}
}

// retainedCount subscribes to filter as a new client and counts the
// retained messages the broker hands it.
func retainedCount(t *testing.T, broker, filter string) int {
	t.Helper()
	var n atomic.Int64
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("ha-late"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			n.Add(1)
		}
	}).Wait()
	// The broker sends the retained messages right after the SUBACK.
	time.Sleep(300 * time.Millisecond)
	return int(n.Load())
}
