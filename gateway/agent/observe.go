package agent

import (
	"context"
	"time"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// Observer is told what the core and its agents do, for metrics. Its methods
// are called on the hot path: they must not block and should not allocate.
type Observer interface {
	// Decided reports one decision of the gate.
	Decided(outcome capability.Outcome, reason capability.Reason)
	// DeviceCall reports one request the core made to a device: op is
	// "read" or "write", err its failure or nil.
	DeviceCall(device, op string, d time.Duration, err error)
	// EpisodeStarted and EpisodeEnded bracket one episode of an agent.
	EpisodeStarted(agent string)
	EpisodeEnded(agent string, status Status, d time.Duration)
	// ModelRequest reports one request to an agent's model provider.
	ModelRequest(agent string, d time.Duration, usage brain.Usage, err error)
}

// Device operations an Observer is told of.
const (
	OpRead  = "read"
	OpWrite = "write"
)

// observedDevice times every Read and Write the core makes on a device.
type observedDevice struct {
	drivers.Device
	name string
	obs  Observer
}

var _ drivers.Device = (*observedDevice)(nil)

// Read reads through the device and reports the request.
func (d *observedDevice) Read(ctx context.Context, points []string) ([]drivers.Reading, error) {
	start := time.Now()
	rs, err := d.Device.Read(ctx, points)
	d.obs.DeviceCall(d.name, OpRead, time.Since(start), err)
	return rs, err
}

// Write writes through the device and reports the request.
func (d *observedDevice) Write(ctx context.Context, point string, e drivers.Encoded) error {
	start := time.Now()
	err := d.Device.Write(ctx, point, e)
	d.obs.DeviceCall(d.name, OpWrite, time.Since(start), err)
	return err
}

// observe wraps every device in a new map so that the core's requests are
// reported to obs; the caller's map is left as it is.
func observe(devices map[string]drivers.Device, obs Observer) map[string]drivers.Device {
	out := make(map[string]drivers.Device, len(devices))
	for name, d := range devices {
		out[name] = &observedDevice{Device: d, name: name, obs: obs}
	}
	return out
}

// EpisodeEvent is published on the episodes topic when an episode starts
// and when it ends.
type EpisodeEvent struct {
	Event   string    `json:"event"` // start or end
	Episode string    `json:"episode"`
	Agent   string    `json:"agent"`
	Time    time.Time `json:"ts"`
	Trigger string    `json:"trigger,omitempty"`
	// End only.
	Status     Status   `json:"status,omitempty"`
	Steps      int      `json:"steps,omitempty"`
	Calls      []string `json:"calls,omitempty"`
	DurationMS float64  `json:"duration_ms,omitempty"`
}

// ApprovalEvent is published on the approvals topic when a call starts to
// wait for an operator's approval and when the wait ends.
type ApprovalEvent struct {
	// Event is pending, approved, rejected or expired.
	Event      string               `json:"event"`
	ID         string               `json:"id"`
	Time       time.Time            `json:"ts"`
	Principal  capability.Principal `json:"principal"`
	Episode    string               `json:"episode,omitempty"`
	Capability string               `json:"capability"`
	Args       string               `json:"args,omitempty"`
	Digest     string               `json:"digest,omitempty"`
	Expires    *time.Time           `json:"expires,omitempty"` // pending only
	By         capability.Principal `json:"by,omitempty"`      // approved, rejected
	// The result of an approved call, decided again and carried out if
	// allowed.
	OK     *bool             `json:"ok,omitempty"`
	Code   string            `json:"code,omitempty"`
	Reason capability.Reason `json:"reason,omitempty"`
}

// publishApproval publishes one event of the pending call pc; res is the
// result of an approved call, nil otherwise.
func (c *Core) publishApproval(event string, pc PendingCall, by capability.Principal, res *capability.Result) {
	if c.events == nil {
		return
	}
	ev := ApprovalEvent{
		Event: event, ID: pc.ID, Time: c.now().UTC(), Principal: pc.Principal, Episode: pc.Episode,
		Capability: pc.Call.Capability, Args: pc.Call.Args, Digest: pc.Digest, By: by,
	}
	if event == "pending" {
		exp := pc.Expires.UTC()
		ev.Expires = &exp
	}
	if res != nil {
		ok := res.OK
		ev.OK, ev.Code, ev.Reason = &ok, res.Code, res.Reason
	}
	c.publish("approvals", ev)
}
