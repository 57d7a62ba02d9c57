package capability

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Result codes.
const (
	codeDenied = "denied"
	codeFailed = "failed"
)

// Decide decides one call by principal p against the live data in snap. It
// checks, stopping at the first refusal: that the capability exists by its
// exact bytes, that p may call it, that the arguments are one strict JSON
// object valid against the capability's schema, and for a write that the
// value, and the value the device's Resolver encodes from it, lie within
// the capability's range. Only an allowed Decision carries an Action.
//
// Decide is pure and deterministic: it does no I/O, reads no clock (time,
// where a rule needs it, comes from snap) and compiles nothing.
func (g *Gate) Decide(p Principal, c Call, snap Snapshot) Decision {
	d := Decision{Principal: p, Call: c, Snapshot: snap}
	if g == nil {
		return d.deny(ReasonUnknownCapability, "no capabilities are configured")
	}

	// 1 The name matches byte for byte: no case folding, no normalisation,
	// no trimming.
	e, ok := g.entries[c.Capability]
	if !ok {
		return d.deny(ReasonUnknownCapability, "no capability "+quoteShort(c.Capability))
	}
	d.Capability = e.spec.Name

	// 2 Deny by default: a principal with no list may call nothing.
	if _, ok := g.allow[p][e.spec.Name]; !ok {
		return d.deny(ReasonNotAllowed, "principal "+quoteShort(string(p))+" may not call "+strconv.Quote(e.spec.Name))
	}

	// 3 The arguments.
	var args map[string]any
	if c.Args == "" {
		// Empty argument text means {} for a read, which takes no
		// arguments anyway (models often send "" then); a write needs its
		// value, so for a write it is invalid_arguments.
		if e.spec.Kind != KindRead {
			return d.deny(ReasonInvalidArguments, "empty arguments")
		}
		args = map[string]any{}
	} else {
		var err error
		if args, err = parseArgs(c.Args); err != nil {
			return d.deny(ReasonInvalidArguments, err.Error())
		}
	}
	if err := e.schema.Validate(args); err != nil {
		return d.deny(ReasonInvalidArguments, e.explain(args))
	}

	switch e.spec.Kind {
	case KindRead:
		d.Outcome = Allow
		d.Action = &Authorized{capability: e.spec.Name, kind: KindRead, reads: e.reads}
		return d
	case KindWrite:
		return e.decideWrite(d, args[e.spec.Argument])
	}
	// New admits no other kind.
	return d.deny(ReasonUnknownCapability, "capability of unknown kind "+strconv.Quote(string(e.spec.Kind)))
}

// decideWrite checks a write's value against its range, resolves it
// through the device and authorises the resolved value.
func (e *entry) decideWrite(d Decision, raw any) Decision {
	var v drivers.Value
	switch t := raw.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if e.boolean || err != nil {
			return d.deny(ReasonInvalidArguments, "argument is not a "+e.argType())
		}
		v = drivers.Number(f)
	case bool:
		if !e.boolean {
			return d.deny(ReasonInvalidArguments, "argument is not a "+e.argType())
		}
		v = drivers.Bool(t)
	default:
		return d.deny(ReasonInvalidArguments, "argument is not a "+e.argType())
	}

	// 4 The range, before and after resolving.
	if !e.inRange(v.Float()) {
		return d.deny(ReasonOutOfRange, fmt.Sprintf("value %s outside [%s, %s]", v, formatFloat(e.min), formatFloat(e.max)))
	}
	enc, err := e.resolver.Resolve(e.spec.Point, v)
	if err != nil {
		if errors.Is(err, drivers.ErrValue) {
			return d.deny(ReasonOutOfRange, "resolve: "+err.Error())
		}
		return d.deny(ReasonInvalidArguments, "resolve: "+err.Error())
	}
	// A resolver that returns something other than the kind asked for, no
	// wire bytes or a flipped boolean is broken; refuse rather than guess.
	switch {
	case enc.Value.Kind != v.Kind:
		return d.deny(ReasonDeviceError, "resolve: returned a value of another kind")
	case len(enc.Wire) == 0:
		return d.deny(ReasonDeviceError, "resolve: returned no wire bytes")
	case v.Kind == drivers.KindBool && enc.Value.Bool != v.Bool:
		return d.deny(ReasonDeviceError, "resolve: returned another boolean")
	}
	if !e.inRange(enc.Value.Float()) {
		return d.deny(ReasonOutOfRange, fmt.Sprintf("resolved value %s outside [%s, %s]", enc.Value, formatFloat(e.min), formatFloat(e.max)))
	}

	// 5 Allow the resolved action. The wire bytes are copied so that the
	// resolver cannot change what was authorised.
	d.Outcome = Allow
	d.Action = &Authorized{
		capability: e.spec.Name,
		kind:       KindWrite,
		device:     e.spec.Device,
		point:      e.spec.Point,
		value:      drivers.Encoded{Value: enc.Value, Wire: slices.Clone(enc.Wire)},
	}
	return d
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
	d.Action = nil
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
