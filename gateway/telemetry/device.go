package telemetry

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// PointPayload is one point of one poll, published on
// <prefix>/telemetry/<device>/<point> when per-point topics are on.
type PointPayload struct {
	Device  string        `json:"device"`
	Point   string        `json:"point"`
	Time    time.Time     `json:"ts"`
	Value   drivers.Value `json:"value"`
	Quality string        `json:"quality"`
	Unit    string        `json:"unit,omitempty"`
}

// PointSubtopic returns the subtopic of one point's telemetry.
func PointSubtopic(device, point string) string {
	return deviceSubtopicPrefix + device + "/" + point
}

// PublishDevice publishes one poll of a device on its telemetry topic and,
// with points, each point on its own topic as well, in point name order.
func (p *Publisher) PublishDevice(d DevicePayload, points bool) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("telemetry: device %q: %w", d.Device, err)
	}
	p.Publish(DeviceSubtopic(d.Device), b)
	if !points {
		return nil
	}
	names := make([]string, 0, len(d.Values))
	for n := range d.Values {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := d.Values[n]
		b, err := json.Marshal(PointPayload{Device: d.Device, Point: n, Time: d.Time, Value: v.Value, Quality: v.Quality, Unit: v.Unit})
		if err != nil {
			return fmt.Errorf("telemetry: device %q: point %q: %w", d.Device, n, err)
		}
		p.Publish(PointSubtopic(d.Device, n), b)
	}
	return nil
}
