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

// maxSteps bounds the writes of one sequence.
const maxSteps = 32

// seqArg is one argument of a sequence, validated.
type seqArg struct {
	name     string
	key      string // how an interlock reads it: args.NAME
	boolean  bool
	min, max float64
}

// seqStep is one write of a sequence, validated: a fixed value resolved at
// New, or the index of the argument it takes.
type seqStep struct {
	device, point string
	resolver      Resolver
	boolean       bool
	fixed         drivers.Encoded
	arg           int // -1: fixed
}

// target looks up a writable point for a pulse or a step and its device's
// resolver.
func target(devs map[string]*drivers.DeviceConfig, resolvers map[string]Resolver, device, point string) (drivers.PointConfig, Resolver, error) {
	if device == "" {
		return drivers.PointConfig{}, nil, errors.New("device missing")
	}
	dev, ok := devs[device]
	if !ok {
		return drivers.PointConfig{}, nil, fmt.Errorf("no device %q", device)
	}
	if point == "" {
		return drivers.PointConfig{}, nil, errors.New("point missing")
	}
	pt, ok := dev.Point(point)
	if !ok {
		return pt, nil, fmt.Errorf("device %q has no point %q", device, point)
	}
	if !writable(pt) {
		return pt, nil, fmt.Errorf("%s.%s is not writable", device, point)
	}
	r := resolvers[device]
	if r == nil {
		return pt, nil, fmt.Errorf("no resolver for device %q", device)
	}
	return pt, r, nil
}

// checkPulse validates a pulse: one writable boolean point, a duration
// within (0, MaxPulse], nothing a write or read takes.
func checkPulse(e *entry, devs map[string]*drivers.DeviceConfig, resolvers map[string]Resolver, problem func(field, format string, args ...any)) {
	s := &e.spec
	noneOf(s, problem, "a pulse", "points", "argument", "min", "max", "arguments", "steps")
	if d := s.Duration.D(); d <= 0 || d > MaxPulse {
		problem("duration", "%s is not more than 0 and at most %s", s.Duration, MaxPulse)
	}
	pt, r, err := target(devs, resolvers, s.Device, s.Point)
	if err != nil {
		problem("point", "%w", err)
		return
	}
	if !isBool(pt) {
		problem("point", "%s.%s is not boolean: a pulse sets a coil or a line", s.Device, s.Point)
		return
	}
	e.boolean, e.resolver = true, r
	on, err1 := r.Resolve(s.Point, drivers.Bool(true))
	off, err2 := r.Resolve(s.Point, drivers.Bool(false))
	if err := errors.Join(err1, err2); err != nil {
		problem("point", "%s.%s does not resolve: %w", s.Device, s.Point, err)
		return
	}
	e.pulseOn, e.pulseOff = cloneEncoded(on), cloneEncoded(off)
}

// checkSequence validates a sequence's arguments and steps and resolves
// its fixed values.
func checkSequence(e *entry, devs map[string]*drivers.DeviceConfig, resolvers map[string]Resolver, problem func(field, format string, args ...any)) {
	s := &e.spec
	noneOf(s, problem, "a sequence", "device", "point", "points", "argument", "min", "max", "step", "enum")
	if len(s.Steps) == 0 || len(s.Steps) > maxSteps {
		problem("steps", "a sequence has 1 to %d steps, not %d", maxSteps, len(s.Steps))
	}
	index := map[string]int{}
	used := make([]bool, len(s.Arguments))
	for i, a := range s.Arguments {
		if err := checkName(a.Name); err != nil {
			problem("arguments", "argument #%d: %w", i+1, err)
		} else if _, dup := index[a.Name]; dup {
			problem("arguments", "argument %q defined twice", a.Name)
		}
		index[a.Name] = i
		e.args = append(e.args, seqArg{name: a.Name, key: argsIdent + "." + a.Name, min: math.Inf(-1), max: math.Inf(1)})
	}
	for i, st := range s.Steps {
		field := "steps"
		pt, r, err := target(devs, resolvers, st.Device, st.Point)
		if err != nil {
			problem(field, "step #%d: %w", i+1, err)
			continue
		}
		step := seqStep{device: st.Device, point: st.Point, resolver: r, boolean: isBool(pt), arg: -1}
		switch {
		case (st.Value == nil) == (st.Argument == ""):
			problem(field, "step #%d: give exactly one of value and argument", i+1)
			continue
		case st.Value != nil:
			f := *st.Value
			var v drivers.Value
			switch {
			case step.boolean && zeroOrOne(f):
				v = drivers.Bool(f == 1)
			case step.boolean:
				problem(field, "step #%d: %s.%s is boolean: value must be 0 or 1", i+1, st.Device, st.Point)
				continue
			case math.IsNaN(f) || math.IsInf(f, 0):
				problem(field, "step #%d: %v is not a finite number", i+1, f)
				continue
			default:
				v = drivers.Number(f)
			}
			enc, err := r.Resolve(st.Point, v)
			if err != nil || len(enc.Wire) == 0 || enc.Value.Kind != v.Kind {
				problem(field, "step #%d: %v does not resolve on %s.%s: %v", i+1, f, st.Device, st.Point, err)
				continue
			}
			step.fixed = cloneEncoded(enc)
		default:
			j, ok := index[st.Argument]
			if !ok {
				problem(field, "step #%d: no argument %q", i+1, st.Argument)
				continue
			}
			if used[j] && e.args[j].boolean != step.boolean {
				problem(field, "step #%d: argument %q is bound to boolean and numeric points at once", i+1, st.Argument)
				continue
			}
			used[j] = true
			e.args[j].boolean = step.boolean
			step.arg = j
		}
		e.steps = append(e.steps, step)
	}
	for i, a := range s.Arguments {
		if i >= len(e.args) {
			break
		}
		if !used[i] {
			problem("arguments", "argument %q is bound to no step", a.Name)
			continue
		}
		if e.args[i].boolean {
			if a.Min != nil || a.Max != nil {
				problem("arguments", "argument %q is boolean: it takes no min or max", a.Name)
			}
			continue
		}
		if a.Min == nil || a.Max == nil || !finite(*a.Min) || !finite(*a.Max) || *a.Min > *a.Max {
			problem("arguments", "argument %q needs a finite min and max, min not above max", a.Name)
			continue
		}
		e.args[i].min, e.args[i].max = *a.Min, *a.Max
	}
}

// noneOf reports every field of s a kind does not take.
func noneOf(s *Spec, problem func(field, format string, args ...any), what string, fields ...string) {
	set := map[string]bool{
		"device": s.Device != "", "point": s.Point != "", "points": len(s.Points) > 0,
		"argument": s.Argument != "", "min": s.Min != nil, "max": s.Max != nil,
		"arguments": len(s.Arguments) > 0, "steps": len(s.Steps) > 0,
		"step": s.Step != nil, "enum": len(s.Enum) > 0, "duration": s.Duration != 0,
	}
	for _, f := range fields {
		if set[f] {
			problem(f, "%s takes no %s", what, f)
		}
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// argValue turns a parsed argument into a value of the wanted kind.
func argValue(raw any, boolean bool) (drivers.Value, bool) {
	switch t := raw.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if boolean || err != nil {
			return drivers.Value{}, false
		}
		return drivers.Number(f), true
	case bool:
		if !boolean {
			return drivers.Value{}, false
		}
		return drivers.Bool(t), true
	}
	return drivers.Value{}, false
}

// resolveChecked resolves v on a point and refuses a resolver that
// misbehaves or a resolved value outside [lo, hi].
func resolveChecked(r Resolver, point string, v drivers.Value, lo, hi float64) (drivers.Encoded, Reason, string) {
	enc, err := r.Resolve(point, v)
	if err != nil {
		if errors.Is(err, drivers.ErrValue) {
			return enc, ReasonOutOfRange, "resolve: " + err.Error()
		}
		return enc, ReasonInvalidArguments, "resolve: " + err.Error()
	}
	// A resolver that returns something other than the kind asked for, no
	// wire bytes or a flipped boolean is broken; refuse rather than guess.
	switch {
	case enc.Value.Kind != v.Kind:
		return enc, ReasonDeviceError, "resolve: returned a value of another kind"
	case len(enc.Wire) == 0:
		return enc, ReasonDeviceError, "resolve: returned no wire bytes"
	case v.Kind == drivers.KindBool && enc.Value.Bool != v.Bool:
		return enc, ReasonDeviceError, "resolve: returned another boolean"
	}
	if f := enc.Value.Float(); math.IsNaN(f) || f < lo || f > hi {
		return enc, ReasonOutOfRange, fmt.Sprintf("resolved value %s outside [%s, %s]", enc.Value, formatFloat(lo), formatFloat(hi))
	}
	// The wire bytes are copied so that the resolver cannot change what
	// was authorised.
	return cloneEncoded(enc), ReasonNone, ""
}

// resolveSequence checks a sequence's arguments and resolves its steps.
func (e *entry) resolveSequence(args map[string]any) (*Authorized, []binding, Reason, string) {
	vals := make([]drivers.Value, len(e.args))
	argv := make([]binding, len(e.args))
	for i, a := range e.args {
		v, ok := argValue(args[a.name], a.boolean)
		if !ok {
			return nil, nil, ReasonInvalidArguments, fmt.Sprintf("argument %q is not a %s", a.name, typeName(a.boolean))
		}
		if f := v.Float(); !a.boolean && (math.IsNaN(f) || f < a.min || f > a.max) {
			return nil, nil, ReasonOutOfRange, fmt.Sprintf("argument %q: value %s outside [%s, %s]", a.name, v, formatFloat(a.min), formatFloat(a.max))
		}
		vals[i] = v
		argv[i] = binding{key: a.key, value: v}
	}
	act := &Authorized{capability: e.spec.Name, kind: KindSequence, steps: make([]WriteStep, 0, len(e.steps))}
	for i, st := range e.steps {
		enc := st.fixed
		if st.arg >= 0 {
			a := e.args[st.arg]
			lo, hi := a.min, a.max
			if a.boolean {
				lo, hi = 0, 1
			}
			var r Reason
			var detail string
			if enc, r, detail = resolveChecked(st.resolver, st.point, vals[st.arg], lo, hi); r != ReasonNone {
				return nil, nil, r, "step #" + strconv.Itoa(i+1) + ": " + detail
			}
		} else {
			enc = cloneEncoded(enc)
		}
		act.steps = append(act.steps, WriteStep{Device: st.device, Point: st.point, Value: enc})
	}
	return act, argv, ReasonNone, ""
}

// pulseAction is the action of a pulse, which takes no arguments.
func (e *entry) pulseAction() *Authorized {
	return &Authorized{
		capability: e.spec.Name, kind: KindPulse, device: e.spec.Device, point: e.spec.Point,
		value: cloneEncoded(e.pulseOn), restore: cloneEncoded(e.pulseOff), duration: e.spec.Duration.D(),
	}
}

func typeName(boolean bool) string {
	if boolean {
		return "boolean"
	}
	return "number"
}

// sequenceSchemaProps are the schema properties of a sequence's arguments.
func (e *entry) sequenceSchemaProps() (map[string]schemaProp, []string) {
	props := make(map[string]schemaProp, len(e.args))
	var req []string
	for _, a := range e.args {
		p := schemaProp{Type: typeName(a.boolean)}
		if !a.boolean {
			p.Description = "a number from " + formatFloat(a.min) + " to " + formatFloat(a.max)
		}
		props[a.name] = p
		req = append(req, a.name)
	}
	slices.Sort(req)
	return props, req
}
