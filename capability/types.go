package capability

import (
	"encoding/json"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Kind is what a capability does.
type Kind string

// Capability kinds.
const (
	KindRead  Kind = "read"  // read one or more points
	KindWrite Kind = "write" // write one point from one argument
)

// Spec is one capability as commissioned in the config file.
type Spec struct {
	// Name is the tool name the model and operators call.
	Name string `yaml:"name" json:"name"`
	// Description is shown to the model as the tool's description.
	Description string `yaml:"description" json:"description,omitempty"`
	// Kind is "read" or "write".
	Kind Kind `yaml:"kind" json:"kind"`
	// Device names the device of a write.
	Device string `yaml:"device" json:"device,omitempty"`
	// Point names the point a write sets.
	Point string `yaml:"point" json:"point,omitempty"`
	// Points lists "device.point" for a read.
	Points []string `yaml:"points" json:"points,omitempty"`
	// Argument names the single argument of a write. Default "value".
	Argument string `yaml:"argument" json:"argument,omitempty"`
	// Min and Max bound the value a write may set, inclusive. A write
	// capability must state both.
	Min *float64 `yaml:"min" json:"min,omitempty"`
	Max *float64 `yaml:"max" json:"max,omitempty"`
}

// Principal is who asks: an agent's name, "operator", an MCP client.
type Principal string

// Call is one proposed tool call, exactly as it arrived.
type Call struct {
	// ID is the caller's id for the call (the model's tool-call id).
	ID string `json:"id,omitempty"`
	// Capability is the tool name as sent, not normalised.
	Capability string `json:"capability"`
	// Args is the raw argument text as sent. It need not be valid JSON.
	Args string `json:"args"`
}

// Outcome is the gate's verdict. Deny is the zero value.
type Outcome uint8

// Outcomes.
const (
	Deny Outcome = iota
	Allow
)

// String names the outcome.
func (o Outcome) String() string {
	if o == Allow {
		return "allow"
	}
	return "deny"
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Reason is a fixed, comparable code saying why a call was refused or failed.
// These codes are all the model ever learns of a refusal.
type Reason string

// Reasons.
const (
	ReasonNone               Reason = ""
	ReasonUnknownCapability  Reason = "unknown_capability"
	ReasonNotAllowed         Reason = "not_allowed"
	ReasonInvalidArguments   Reason = "invalid_arguments"
	ReasonOutOfRange         Reason = "out_of_range"
	ReasonDeviceUnavailable  Reason = "device_unavailable"
	ReasonDeviceError        Reason = "device_error"
	ReasonTimeout            Reason = "timeout" // the device did not answer in time
	ReasonJournalUnavailable Reason = "journal_unavailable"
)

// Snapshot is the live data a decision may read. Its time is the decision's
// clock, so that a recorded snapshot re-decides identically.
type Snapshot struct {
	Time   time.Time                `json:"time"`
	Values map[string]drivers.Value `json:"values,omitempty"` // "device.point" -> value
}

// Decision is the gate's verdict on one call, with everything it was based on.
type Decision struct {
	Outcome    Outcome   `json:"outcome"`
	Reason     Reason    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"` // for logs and journal, never the model
	Principal  Principal `json:"principal"`
	Call       Call      `json:"call"`
	Capability string    `json:"capability,omitempty"` // the matched capability
	Snapshot   Snapshot  `json:"snapshot"`
	// Action is set only when Outcome is Allow.
	Action *Authorized `json:"action,omitempty"`
}

// Authorized is an action that passed the gate. Only this package can make
// one, so no other package can reach a device without a decision.
type Authorized struct {
	capability string
	kind       Kind
	device     string
	point      string
	value      drivers.Encoded
	reads      []PointRef
}

// PointRef names one point on one device.
type PointRef struct {
	Device string `json:"device"`
	Point  string `json:"point"`
}

// Capability names the capability the action was authorised under.
func (a *Authorized) Capability() string { return a.capability }

// Kind says whether the action reads or writes.
func (a *Authorized) Kind() Kind { return a.kind }

// Device names the device a write goes to.
func (a *Authorized) Device() string { return a.device }

// Point names the point a write sets.
func (a *Authorized) Point() string { return a.point }

// Value is the resolved value a write puts on the wire.
func (a *Authorized) Value() drivers.Encoded { return a.value }

// Reads lists the points a read returns.
func (a *Authorized) Reads() []PointRef { return append([]PointRef(nil), a.reads...) }

// MarshalJSON records the action for the journal.
func (a *Authorized) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Capability string           `json:"capability"`
		Kind       Kind             `json:"kind"`
		Device     string           `json:"device,omitempty"`
		Point      string           `json:"point,omitempty"`
		Value      *drivers.Encoded `json:"value,omitempty"`
		Reads      []PointRef       `json:"reads,omitempty"`
	}{a.capability, a.kind, a.device, a.point, a.encodedPtr(), a.reads})
}

func (a *Authorized) encodedPtr() *drivers.Encoded {
	if a.kind != KindWrite {
		return nil
	}
	return &a.value
}

// Result is what the caller (and so the model) gets back for a call:
// {"ok":true,"value":...,"unit":...} or {"ok":false,"code":"denied","reason":"..."}.
type Result struct {
	OK     bool   `json:"ok"`
	Value  any    `json:"value,omitempty"`
	Unit   string `json:"unit,omitempty"`
	Code   string `json:"code,omitempty"`   // "denied" or "failed"
	Reason Reason `json:"reason,omitempty"` // a fixed code
	// DryRun says the call was decided and allowed but not carried out.
	DryRun bool `json:"dry_run,omitempty"`
}
