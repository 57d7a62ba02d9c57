package telemetry

import (
	"slices"
	"strings"
	"sync"
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
// The values of the device's message are in point name order too.
func (p *Publisher) PublishDevice(d DevicePayload, points bool) error {
	names := make([]string, 0, len(d.Values))
	for n := range d.Values {
		names = append(names, n)
	}
	slices.Sort(names)
	b := appendHead(nil, d.Device, d.Seq, d.Time)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		v := d.Values[n]
		b = appendString(b, n)
		b = append(b, ':')
		b = appendPointValue(b, v.Value, v.Quality, v.Unit)
	}
	p.Publish(DeviceSubtopic(d.Device), append(b, '}', '}'))
	if points {
		for _, n := range names {
			p.Publish(PointSubtopic(d.Device, n), appendPointPayload(nil, d.Device, n, d.Time, d.Values[n]))
		}
	}
	return nil
}

// pollBuffers holds the buffers PublishPoll encodes into, shared by the
// pollers of every device.
var pollBuffers = sync.Pool{New: func() any { return new([]byte) }}

// PublishPoll publishes one poll of dev, as PublishDevice publishes
// NewDevicePayload(dev, seq, t, readings), without building the payload:
// the values of the device's message are in the order of readings, and
// each is encoded straight from its reading. This is the poller's path,
// made for devices of many thousand points.
func (p *Publisher) PublishPoll(dev drivers.DeviceConfig, seq uint64, t time.Time, readings []drivers.Reading, points bool) {
	buf := pollBuffers.Get().(*[]byte)
	*buf = appendPoll((*buf)[:0], dev, seq, t, readings)
	p.Publish(DeviceSubtopic(dev.Name), *buf) // copies the payload
	pollBuffers.Put(buf)
	if !points {
		return
	}
	order := make([]int, len(readings))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(readings[i].Point, readings[j].Point) })
	cu := dev.Cursor()
	for _, i := range order {
		r := readings[i]
		pv := PointValue{Value: r.Value, Quality: r.Quality.String(), Unit: pointUnit(&cu, dev, i, r.Point)}
		p.Publish(PointSubtopic(dev.Name, r.Point), appendPointPayload(nil, dev.Name, r.Point, t, pv))
	}
}
