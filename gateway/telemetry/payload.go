package telemetry

import (
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Subtopics the gateway publishes under its prefix.
const (
	// StatusSubtopic carries the retained Status of the gateway.
	StatusSubtopic = "status"
	// deviceSubtopicPrefix starts every device's telemetry subtopic.
	deviceSubtopicPrefix = "telemetry/"
)

// DeviceSubtopic returns the subtopic of a device's telemetry.
func DeviceSubtopic(device string) string { return deviceSubtopicPrefix + device }

// Status is the payload of <prefix>/status.
type Status struct {
	// State is "online" or "offline".
	State string `json:"state"`
	// Since is when the gateway's current connection to the broker came up;
	// absent when offline.
	Since time.Time `json:"since,omitzero"`
	// Dropped counts the messages the outbox could not keep since it was
	// first created (across restarts with the durable outbox); absent when
	// none were. It is published with every online status, so the drops
	// made while the broker was away are reported once it is back.
	Dropped uint64 `json:"dropped,omitzero"`
}

// The states of a Status.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// offlinePayload is the Status published when the gateway goes away, by
// itself or as its last will.
const offlinePayload = `{"state":"offline"}`

// DevicePayload is one poll of a device, published on
// <prefix>/telemetry/<device>.
type DevicePayload struct {
	// Device names the device.
	Device string `json:"device"`
	// Seq counts the device's polls since the gateway started, from 1; a gap
	// shows a lost message.
	Seq uint64 `json:"seq"`
	// Time is when the poll was made.
	Time time.Time `json:"ts"`
	// Values holds every point read, by point name.
	Values map[string]PointValue `json:"values"`
}

// PointValue is one point of a DevicePayload.
type PointValue struct {
	// Value is the engineering value: a number, a boolean, or null when
	// there is none.
	Value drivers.Value `json:"value"`
	// Quality is "good", "bad" or "stale".
	Quality string `json:"quality"`
	// Unit is the point's engineering unit, if it has one.
	Unit string `json:"unit,omitempty"`
}

// NewDevicePayload builds the payload of one poll of dev, taking each
// point's unit from its configuration.
func NewDevicePayload(dev drivers.DeviceConfig, seq uint64, t time.Time, readings []drivers.Reading) DevicePayload {
	values := make(map[string]PointValue, len(readings))
	cu := dev.Cursor()
	for i, r := range readings {
		pv := PointValue{Value: r.Value, Quality: r.Quality.String()}
		pv.Unit = pointUnit(&cu, dev, i, r.Point)
		values[r.Point] = pv
	}
	return DevicePayload{Device: dev.Name, Seq: seq, Time: t, Values: values}
}

// pointUnit returns the unit of the point called name, the i-th reading of
// a poll of dev. A device reads its points in the order of its
// configuration, so the i-th point is tried first, found by cu without a
// search: a search of every point for every reading costs a poll of 10,000
// points 50 million comparisons.
func pointUnit(cu *drivers.Cursor, dev drivers.DeviceConfig, i int, name string) string {
	if p, _, ok := cu.Match(i, name); ok {
		return p.Unit
	}
	if pc, ok := dev.Point(name); ok {
		return pc.Unit
	}
	return ""
}
