package capability

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Result codes.
const (
	codeDenied  = "denied"
	codePending = "pending"
	codeFailed  = "failed"
)

// Decide decides one call by principal p against the live data in snap. It
// checks, stopping at the first refusal:
//
//	1 the capability exists by its exact bytes        else unknown_capability
//	2 p may call it                                   else not_allowed
//	3 the arguments are one strict JSON object valid  else invalid_arguments
//	  against the capability's schema
//	4 values: a write's value within [min, max] and   else out_of_range
//	  its allowed values, before and after resolving;
//	  a sequence's arguments likewise, every step
//	  resolved; a pulse's values fixed at New
//	5 a write's step from the point's live value      else step_too_large
//	6 cooldown and rates over snap.Admitted           else rate_limited
//	7 every interlock over snap.Values and the args   else interlock
//	8 approval, for a capability that needs one:
//	  no snap.Approval                                -> pending (Proposed, Digest)
//	  the approver is the proposer                    else self_approval
//	  the approver may call the capability            else not_allowed
//	  snap.Time is before the approval's expiry       else approval_expired
//	  the approval's digest is the resolved action's  else approval_mismatch
//	9 allow: an Authorized action and its Digest
//
// Decide is pure and deterministic: it does no I/O, reads no clock (its
// time is snap.Time) and compiles nothing, so a recorded (config, principal,
// call, snapshot) re-decides identically.
func (g *Gate) Decide(p Principal, c Call, snap Snapshot) Decision {
	d := Decision{Principal: p, Call: c, Snapshot: snap}
	if g == nil {
		return d.deny(ReasonUnknownCapability, "no capabilities are configured")
	}
	d.Config = g.digest

	// 1 The name matches byte for byte: no case folding, no normalisation,
	// no trimming.
	e, ok := g.entries[c.Capability]
	if !ok {
		return d.deny(ReasonUnknownCapability, "no capability "+quoteShort(c.Capability))
	}
	d.Capability = e.spec.Name

	// 2 Deny by default: a principal with no list may call nothing.
	if !g.allowed(p, e.spec.Name) {
		return d.deny(ReasonNotAllowed, "principal "+quoteShort(string(p))+" may not call "+strconv.Quote(e.spec.Name))
	}

	// 3 The arguments.
	var args map[string]any
	if c.Args == "" {
		// Empty argument text means {} for a capability that takes no
		// arguments (models often send "" then); for one that does, it is
		// invalid_arguments.
		if e.spec.Kind == KindWrite || len(e.args) > 0 {
			return d.deny(ReasonInvalidArguments, "empty arguments")
		}
		args = map[string]any{}
	} else {
		var err error
		if args, err = parseArgs(c.Args); err != nil {
			return d.deny(ReasonInvalidArguments, err.Error())
		}
	}
	if !e.argsMatch(args) {
		return d.deny(ReasonInvalidArguments, e.explain(args))
	}

	// 4, 5 The values.
	var (
		act    *Authorized
		argv   []binding
		one    [1]binding // a write's argument, without an allocation
		reason Reason
		detail string
	)
	switch e.spec.Kind {
	case KindRead:
		act = &Authorized{capability: e.spec.Name, kind: KindRead, reads: e.reads}
	case KindWrite:
		act, one[0].value, reason, detail = e.resolveWrite(args[e.spec.Argument], &snap)
		one[0].key, argv = e.argKey, one[:]
	case KindPulse:
		act = e.pulseAction()
	case KindSequence:
		act, argv, reason, detail = e.resolveSequence(args)
	default:
		// New admits no other kind.
		return d.deny(ReasonUnknownCapability, "capability of unknown kind "+strconv.Quote(string(e.spec.Kind)))
	}
	if reason != ReasonNone {
		return d.deny(reason, detail)
	}

	// 6 Cooldown and rates; 7 interlocks.
	if reason, detail = e.limits.checkUsage(p, &snap); reason != ReasonNone {
		return d.deny(reason, detail)
	}
	if reason, detail = e.limits.checkInterlocks(argv, &snap); reason != ReasonNone {
		return d.deny(reason, detail)
	}

	// 8 Approval; 9 allow.
	d.Digest = act.digestOf()
	a := snap.Approval
	switch {
	case !e.limits.approval && a == nil:
	case !e.limits.approval:
		return d.deny(ReasonApprovalMismatch, "approval "+quoteShort(a.ID)+" for a capability that needs none")
	case a == nil:
		d.Outcome, d.Reason, d.Detail = Pending, ReasonPendingApproval, "waits for an operator's approval"
		d.Proposed = act
		return d
	case a.Approver == p:
		return d.deny(ReasonSelfApproval, "principal "+quoteShort(string(p))+" may not approve its own call")
	case !g.allowed(a.Approver, e.spec.Name):
		return d.deny(ReasonNotAllowed, "approver "+quoteShort(string(a.Approver))+" may not call "+strconv.Quote(e.spec.Name))
	case !snap.Time.Before(a.Expires):
		return d.deny(ReasonApprovalExpired, "approval "+quoteShort(a.ID)+" expired at "+a.Expires.Format(time.RFC3339Nano))
	case a.Digest != d.Digest:
		return d.deny(ReasonApprovalMismatch, "approval "+quoteShort(a.ID)+" names action "+quoteShort(a.Digest)+", the call resolves to "+d.Digest)
	}
	d.Outcome = Allow
	d.Action = act
	return d
}

// allowed reports whether p's allow list names the capability.
func (g *Gate) allowed(p Principal, name string) bool {
	_, ok := g.allow[p][name]
	return ok
}

// resolveWrite checks a write's value against its range, allowed values
// and step, and resolves it through the device.
func (e *entry) resolveWrite(raw any, snap *Snapshot) (*Authorized, drivers.Value, Reason, string) {
	var none drivers.Value
	v, ok := argValue(raw, e.boolean)
	if !ok {
		return nil, none, ReasonInvalidArguments, "argument is not a " + e.argType()
	}
	if !e.inRange(v.Float()) {
		return nil, none, ReasonOutOfRange, fmt.Sprintf("value %s outside [%s, %s]", v, formatFloat(e.min), formatFloat(e.max))
	}
	if !e.limits.inEnum(v.Float()) {
		return nil, none, ReasonOutOfRange, fmt.Sprintf("value %s is not one of the allowed values", v)
	}
	enc, r, detail := resolveChecked(e.resolver, e.spec.Point, v, e.min, e.max)
	if r != ReasonNone {
		return nil, none, r, detail
	}
	if r, detail := e.checkStep(enc.Value.Float(), snap); r != ReasonNone {
		return nil, none, r, detail
	}
	act := &Authorized{capability: e.spec.Name, kind: KindWrite, device: e.spec.Device, point: e.spec.Point, value: enc}
	return act, v, ReasonNone, ""
}

// inRange reports whether f lies within the write's inclusive range. NaN
// never does.
func (e *entry) inRange(f float64) bool {
	return !math.IsNaN(f) && f >= e.min && f <= e.max
}

// deny refuses the call with a reason and a detail for logs.
func (d Decision) deny(r Reason, detail string) Decision {
	d.Outcome = Deny
	d.Reason = r
	d.Detail = detail
	d.Action, d.Proposed, d.Digest = nil, nil, ""
	return d
}

// Result is what the caller learns of the decision itself: {ok:true} for an
// allow (the value comes from carrying the action out), {ok:false,
// code:"denied", reason} for a deny. A Decision that says Allow but
// carries no action is a deny.
func (d Decision) Result() Result {
	if d.Outcome == Allow && d.Action != nil {
		return Result{OK: true}
	}
	if d.Outcome == Pending {
		return Result{Code: codePending, Reason: ReasonPendingApproval}
	}
	r := d.Reason
	if r == ReasonNone {
		r = ReasonNotAllowed
	}
	return Result{Code: codeDenied, Reason: r}
}

// Failed is the result of an allowed action that could not be carried out:
// {ok:false, code:"failed", reason: r}.
func Failed(r Reason) Result {
	return Result{Code: codeFailed, Reason: r}
}
