package telemetry

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// DiscoveryPrefix is where Home Assistant looks for MQTT discovery
// messages by default.
const DiscoveryPrefix = "homeassistant"

// Discovery is one retained Home Assistant discovery message: Topic is the
// full topic, outside the gateway's prefix.
type Discovery struct {
	Topic   string
	Payload []byte
}

// HASensor is the discovery payload of one Home Assistant sensor: a
// numeric point read from its device's telemetry topic.
type HASensor struct {
	Name                string   `json:"name"`
	UniqueID            string   `json:"unique_id"`
	ObjectID            string   `json:"object_id"`
	StateTopic          string   `json:"state_topic"`
	ValueTemplate       string   `json:"value_template"`
	Unit                string   `json:"unit_of_measurement,omitempty"`
	StateClass          string   `json:"state_class"`
	AvailabilityTopic   string   `json:"availability_topic"`
	AvailabilityTmpl    string   `json:"availability_template"`
	PayloadAvailable    string   `json:"payload_available"`
	PayloadNotAvailable string   `json:"payload_not_available"`
	Device              HADevice `json:"device"`
	Origin              HAOrigin `json:"origin"`
}

// HADevice groups a gateway device's sensors in Home Assistant.
type HADevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
}

// HAOrigin names the software that sent the discovery message.
type HAOrigin struct {
	Name string `json:"name"`
}

// HomeAssistant returns the discovery messages of every numeric point of
// devices, for a gateway gatewayID publishing under prefix:
// homeassistant/sensor/<gateway>/<device>_<point>/config. Each sensor reads
// its value from the device's telemetry topic, and is unavailable while
// the gateway's status is not online. A point whose quality is not good
// reads as unknown.
func HomeAssistant(gatewayID, prefix string, devices []drivers.DeviceConfig) ([]Discovery, error) {
	node := haID(gatewayID)
	var out []Discovery
	for _, d := range devices {
		for _, p := range d.All() {
			if !Numeric(d, p) {
				continue
			}
			object := haID(d.Name + "_" + p.Name)
			s := HASensor{
				Name:     p.Name,
				UniqueID: "femtoclaw_" + node + "_" + object,
				ObjectID: node + "_" + object,
				// telemetry/<device> carries every point of one poll cycle.
				StateTopic: prefix + "/" + DeviceSubtopic(d.Name),
				ValueTemplate: fmt.Sprintf("{%% set v = value_json['values'][%q] %%}{{ v.value if v.quality == 'good' else None }}",
					p.Name),
				Unit:                p.Unit,
				StateClass:          "measurement",
				AvailabilityTopic:   prefix + "/" + StatusSubtopic,
				AvailabilityTmpl:    "{{ value_json.state }}",
				PayloadAvailable:    "online",
				PayloadNotAvailable: "offline",
				Device: HADevice{
					Identifiers:  []string{"femtoclaw_" + node + "_" + haID(d.Name)},
					Name:         d.Name,
					Manufacturer: "femtoclaw",
					Model:        d.Driver + " via " + gatewayID,
				},
				Origin: HAOrigin{Name: "femtoclaw"},
			}
			b, err := json.Marshal(s)
			if err != nil {
				return nil, fmt.Errorf("telemetry: discovery of %s.%s: %w", d.Name, p.Name, err)
			}
			out = append(out, Discovery{Topic: DiscoveryPrefix + "/sensor/" + node + "/" + object + "/config", Payload: b})
		}
	}
	return out, nil
}

// Numeric reports whether point p of device d reads as a number: not a
// coil, a discrete input, a GPIO line, a bool or a string.
func Numeric(d drivers.DeviceConfig, p drivers.PointConfig) bool {
	if d.Driver == "gpio" {
		return false
	}
	switch p.Register {
	case "coil", "discrete":
		return false
	}
	switch strings.ToLower(p.Type) {
	case "bool", "boolean", "string", "localizedtext", "bytestring":
		return false
	}
	return true
}

// haID makes s usable in a discovery topic and as an object id: letters,
// digits, _ and -, everything else replaced by _.
func haID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// PublishDiscovery queues discovery messages, retained, on their own
// topics (outside the prefix), through the outbox like everything else.
func (p *Publisher) PublishDiscovery(ds []Discovery) {
	for _, d := range ds {
		p.enqueueTopic(d.Topic, d.Payload, true)
	}
}
