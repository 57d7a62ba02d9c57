package capability

import (
	"fmt"
	"slices"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Kind is what a capability does.
type Kind string

// Capability kinds.
const (
	KindRead     Kind = "read"     // read one or more points
	KindWrite    Kind = "write"    // write one point from one argument
	KindPulse    Kind = "pulse"    // set a boolean point for a bounded time, then restore it
	KindSequence Kind = "sequence" // a fixed list of writes with arguments bound into them
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

	// Step bounds how far a write may move its point from the point's
	// current live value in one call. A write with a step is refused while
	// the point has no good live value.
	Step *float64 `yaml:"step" json:"step,omitempty"`
	// Enum lists the only values a write may set; each lies within
	// [min, max].
	Enum []float64 `yaml:"enum" json:"enum,omitempty"`
	// Rate bounds how often the capability is admitted, whoever calls it.
	Rate *Rate `yaml:"rate" json:"rate,omitempty"`
	// PrincipalRate bounds how often each principal is admitted.
	PrincipalRate *Rate `yaml:"principal_rate" json:"principal_rate,omitempty"`
	// Cooldown is the least time between two admissions of the capability.
	Cooldown drivers.Duration `yaml:"cooldown" json:"cooldown,omitempty"`
	// Interlocks are boolean expressions that must all hold for a call to
	// pass. They read live values as device.point (a '-' in a device or
	// point name is written '_') and the call's arguments as args.NAME.
	// A point without a good live value fails the interlock.
	Interlocks []string `yaml:"interlocks" json:"interlocks,omitempty"`
	// Approval makes every call pending until an operator approves the
	// exact resolved action.
	Approval bool `yaml:"approval" json:"approval,omitempty"`

	// Duration is how long a pulse holds its point on before restoring it;
	// at most MaxPulse.
	Duration drivers.Duration `yaml:"duration" json:"duration,omitempty"`

	// Arguments are the named numeric or boolean arguments of a sequence.
	Arguments []Argument `yaml:"arguments" json:"arguments,omitempty"`
	// Steps are the writes of a sequence, carried out in order.
	Steps []Step `yaml:"steps" json:"steps,omitempty"`
}

// Rate is a number of admissions per sliding window.
type Rate struct {
	// Count is how many calls the window admits; at least 1.
	Count int `yaml:"count" json:"count"`
	// Window is the sliding window's length.
	Window drivers.Duration `yaml:"window" json:"window"`
}

// Argument is one argument of a sequence, with its inclusive range.
type Argument struct {
	Name string   `yaml:"name" json:"name"`
	Min  *float64 `yaml:"min" json:"min,omitempty"`
	Max  *float64 `yaml:"max" json:"max,omitempty"`
}

// Step is one write of a sequence: a fixed value, or the value of one of
// the sequence's arguments.
type Step struct {
	Device string `yaml:"device" json:"device"`
	Point  string `yaml:"point" json:"point"`
	// Value is the fixed value written (0 or 1 for a boolean point).
	Value *float64 `yaml:"value" json:"value,omitempty"`
	// Argument names the sequence argument whose value is written.
	Argument string `yaml:"argument" json:"argument,omitempty"`
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
	// Pending is an allowable call that waits for an operator's approval.
	Pending
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Allow:
		return "allow"
	case Pending:
		return "pending"
	}
	return "deny"
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome's name; anything else is an error.
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "allow":
		*o = Allow
	case "pending":
		*o = Pending
	case "deny":
		*o = Deny
	default:
		return fmt.Errorf("capability: unknown outcome %q", b)
	}
	return nil
}

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
	ReasonStepTooLarge       Reason = "step_too_large"
	ReasonRateLimited        Reason = "rate_limited" // a rate or a cooldown
	ReasonInterlock          Reason = "interlock"
	ReasonPendingApproval    Reason = "pending_approval"
	ReasonApprovalExpired    Reason = "approval_expired"
	ReasonSelfApproval       Reason = "self_approval"     // the proposer tried to approve
	ReasonApprovalMismatch   Reason = "approval_mismatch" // the approval names another action
	ReasonUnknownApproval    Reason = "unknown_approval"  // no pending call has that id
)

// Snapshot is the live data a decision may read. Its time is the decision's
// clock, so that a recorded snapshot re-decides identically.
type Snapshot struct {
	Time   time.Time                `json:"time"`
	Values map[string]drivers.Value `json:"values,omitempty"` // "device.point" -> value
	// Admitted are the earlier admissions of the called capability within
	// its Horizon, oldest first: what its rate and cooldown read.
	Admitted []Admission `json:"admitted,omitempty"`
	// Approval is an operator's approval of a pending call; nil for a
	// call as proposed. Only the gateway sets it, never an argument.
	Approval *Approval `json:"approval,omitempty"`
}

// Admission is one earlier admission of a capability.
type Admission struct {
	Time      time.Time `json:"time"`
	Principal Principal `json:"principal"`
}

// Approval is an operator's approval of one pending call.
type Approval struct {
	// ID is the pending call's id.
	ID string `json:"id"`
	// Approver is who approved; never the proposer.
	Approver Principal `json:"approver"`
	// Digest is the digest of the resolved action the approver saw.
	Digest string `json:"digest"`
	// Expires is when the pending call lapses.
	Expires time.Time `json:"expires"`
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
	// Config is the digest of the gate's configuration (Gate.Digest).
	Config string `json:"config,omitempty"`
	// Action is set only when Outcome is Allow.
	Action *Authorized `json:"action,omitempty"`
	// Proposed is the resolved action a Pending decision waits to have
	// approved. It cannot be carried out.
	Proposed *Authorized `json:"proposed,omitempty"`
	// Digest is the digest of Action or Proposed: what an approval binds.
	Digest string `json:"digest,omitempty"`
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
	// A pulse's hold time and the value that ends it.
	duration time.Duration
	restore  drivers.Encoded
	// A sequence's writes.
	steps []WriteStep
}

// WriteStep is one resolved write of a sequence.
type WriteStep struct {
	Device string          `json:"device"`
	Point  string          `json:"point"`
	Value  drivers.Encoded `json:"value"`
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

// Duration is how long a pulse holds Value before writing Restore.
func (a *Authorized) Duration() time.Duration { return a.duration }

// Restore is the value that ends a pulse.
func (a *Authorized) Restore() drivers.Encoded { return cloneEncoded(a.restore) }

// Steps lists a sequence's writes in order. The wire bytes are copies.
func (a *Authorized) Steps() []WriteStep {
	out := make([]WriteStep, len(a.steps))
	for i, s := range a.steps {
		out[i] = WriteStep{Device: s.Device, Point: s.Point, Value: cloneEncoded(s.Value)}
	}
	return out
}

func cloneEncoded(e drivers.Encoded) drivers.Encoded {
	return drivers.Encoded{Value: e.Value, Wire: slices.Clone(e.Wire)}
}

// MarshalJSON records the action for the journal.
func (a *Authorized) MarshalJSON() ([]byte, error) {
	return a.appendJSON(nil), nil
}

// Digest is the hex SHA-256 of the action's journal form: what an approval
// binds. Two actions with one digest put the same bytes on the same points.
func (a *Authorized) Digest() string { return a.digestOf() }

// Result is what the caller (and so the model) gets back for a call:
// {"ok":true,"value":...,"unit":...} or {"ok":false,"code":"denied","reason":"..."}.
type Result struct {
	OK     bool   `json:"ok"`
	Value  any    `json:"value,omitempty"`
	Unit   string `json:"unit,omitempty"`
	Code   string `json:"code,omitempty"`   // "denied", "pending" or "failed"
	Reason Reason `json:"reason,omitempty"` // a fixed code
	// ID names a pending call, for femtoclaw approve|reject ID.
	ID string `json:"id,omitempty"`
	// DryRun says the call was decided and allowed but not carried out.
	DryRun bool `json:"dry_run,omitempty"`
}
