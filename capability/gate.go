// Package capability is the gate between what a model (or an operator, or an
// MCP client) proposes and what reaches a device. Every field-device action
// is a named, typed capability from the commissioning file; nothing else can
// be asked for. The gate denies by default: a principal with no allow list
// may call nothing, and an unknown name, a malformed argument or a value out
// of range is refused with a fixed Reason.
//
// A call passes through Decide in this order, stopping at the first refusal:
//
//	1 the capability exists, by byte-equal name       else unknown_capability
//	2 the principal's allow list names it             else not_allowed
//	3 the argument text is one strict JSON object     else invalid_arguments
//	  that validates against the capability's schema
//	4 a write's value lies within [min, max], and so  else out_of_range
//	  does the value the device's Resolver encodes
//	5 allow: an Authorized action carrying the device,
//	  point and encoded value (write) or the points (read)
//
// An empty argument text means {} for a read and is invalid_arguments for a
// write. A Resolver error wrapping drivers.ErrValue is out_of_range, any
// other invalid_arguments; a Resolver that returns a value of another kind,
// a flipped boolean or no wire bytes is broken, and the call is refused as
// device_error.
//
// The argument schema of a write is
//
//	{"type":"object","properties":{"value":{"type":"number"}},
//	 "required":["value"],"additionalProperties":false}
//
// with "boolean" for coils and the argument's name taken from the Spec; the
// range is in the tool description, not the schema. A read's schema admits
// only {}.
//
// Decide is pure: it does no I/O, reads no clock and compiles nothing, so a
// recorded (principal, call, snapshot) re-decides identically. Only this
// package can construct an Authorized with content, so no other package can
// reach a device with an action the gate did not approve.
package capability

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Resolver is the part of a device the gate needs: turning a value into its
// wire form, purely. Every drivers.Device is one.
type Resolver interface {
	Resolve(point string, v drivers.Value) (drivers.Encoded, error)
}

// Tool is one capability as offered to a model or an MCP client.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Parameters is the JSON schema of the arguments.
	Parameters json.RawMessage `json:"parameters"`
}

// Gate decides calls. It is immutable once built and safe for concurrent
// use. A nil *Gate denies every call.
type Gate struct {
	entries map[string]*entry
	// allow maps a principal to the set of capability names it may call.
	allow map[Principal]map[string]struct{}
	// digest identifies everything the gate decides by.
	digest string
}

// entry is one validated capability, with everything Decide needs ready.
type entry struct {
	spec Spec // normalised: Argument set for writes
	// argKey is how an interlock reads a write's argument: args.NAME.
	argKey string
	tool   Tool
	schema *jsonschema.Schema

	// A write's target.
	boolean  bool    // the point holds a boolean
	min, max float64 // inclusive; for a boolean point within [0, 1]
	unit     string
	resolver Resolver

	// A read's points and their units.
	reads []PointRef
	units []string

	// A pulse's two values.
	pulseOn, pulseOff drivers.Encoded
	// A sequence's arguments and steps.
	args  []seqArg
	steps []seqStep

	limits limits
}

// defaultArgument names a write's argument when its Spec does not.
const defaultArgument = "value"

// maxNameLen bounds capability and argument names; providers refuse
// longer tool names.
const maxNameLen = 64

// New builds a gate from the commissioned capabilities, the allow list of
// every principal, the devices they reach and a Resolver for every device a
// write capability names. It checks everything and returns every problem
// found, joined: each a *SpecError or an *AllowError, or a plain error for
// a device configured twice. Nothing invalid is silently dropped.
func New(specs []Spec, allow map[Principal][]string, devices []drivers.DeviceConfig, resolvers map[string]Resolver) (*Gate, error) {
	var errs []error
	devs := make(map[string]*drivers.DeviceConfig, len(devices))
	for i := range devices {
		d := &devices[i]
		if _, dup := devs[d.Name]; dup {
			errs = append(errs, fmt.Errorf("capability: device %q configured twice", d.Name))
			continue
		}
		devs[d.Name] = d
	}

	g := &Gate{
		entries: make(map[string]*entry, len(specs)),
		allow:   make(map[Principal]map[string]struct{}, len(allow)),
	}
	compiler := jsonschema.NewCompiler()
	// Draft 7: see schemaDoc.
	compiler.Draft = jsonschema.Draft7
	for i, s := range specs {
		problem := func(field, format string, args ...any) {
			errs = append(errs, &SpecError{Index: i, Name: s.Name, Field: field, Err: fmt.Errorf(format, args...)})
		}
		before := len(errs)
		if err := checkName(s.Name); err != nil {
			problem("name", "%w", err)
		} else if _, dup := g.entries[s.Name]; dup {
			problem("name", "defined twice")
		}
		e := &entry{spec: cloneSpec(s)}
		switch s.Kind {
		case KindWrite:
			checkWrite(e, devs, resolvers, problem)
		case KindRead:
			checkRead(e, devs, problem)
		case KindPulse:
			checkPulse(e, devs, resolvers, problem)
		case KindSequence:
			checkSequence(e, devs, resolvers, problem)
		case "":
			problem("kind", "missing (want %s)", kindList)
		default:
			problem("kind", "%q is not one of %s", s.Kind, kindList)
		}
		if len(errs) > before {
			continue
		}
		if checkLimits(e, devices, problem); len(errs) > before {
			continue
		}
		doc, err := argsSchema(e)
		if err == nil {
			e.schema, err = compileSchema(compiler, i, doc)
		}
		if err != nil {
			problem("name", "argument schema: %w", err)
			continue
		}
		e.tool = Tool{Name: e.spec.Name, Description: e.description(), Parameters: doc}
		g.entries[e.spec.Name] = e
	}

	principals := make([]Principal, 0, len(allow))
	for p := range allow {
		principals = append(principals, p)
	}
	slices.Sort(principals)
	for _, p := range principals {
		if p == "" {
			errs = append(errs, &AllowError{Principal: p, Index: -1, Err: errors.New("empty principal name")})
			continue
		}
		set := make(map[string]struct{}, len(allow[p]))
		for i, name := range allow[p] {
			switch {
			case !defined(specs, name):
				errs = append(errs, &AllowError{Principal: p, Index: i, Name: name, Err: errors.New("no such capability")})
			case contains(set, name):
				errs = append(errs, &AllowError{Principal: p, Index: i, Name: name, Err: errors.New("listed twice")})
			}
			set[name] = struct{}{}
		}
		g.allow[p] = set
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	g.digest = configDigest(specs, allow, devices)
	return g, nil
}

// kindList names the kinds for problems.
const kindList = `"read", "write", "pulse" or "sequence"`

// configDigest is the hex SHA-256 of what decisions depend on: the
// capabilities, the allow lists (sorted) and the devices' names, drivers
// and points. Addresses of devices, poll rates and timeouts are left out:
// they do not change a decision.
func configDigest(specs []Spec, allow map[Principal][]string, devices []drivers.DeviceConfig) string {
	type dev struct {
		Name   string                `json:"name"`
		Driver string                `json:"driver"`
		Points []drivers.PointConfig `json:"points"`
	}
	type principal struct {
		Name  Principal `json:"name"`
		Allow []string  `json:"allow"`
	}
	var doc struct {
		Specs      []Spec      `json:"specs"`
		Principals []principal `json:"principals"`
		Devices    []dev       `json:"devices"`
	}
	doc.Specs = specs
	for p, names := range allow {
		doc.Principals = append(doc.Principals, principal{p, slices.Sorted(slices.Values(names))})
	}
	slices.SortFunc(doc.Principals, func(a, b principal) int { return strings.Compare(string(a.Name), string(b.Name)) })
	for _, d := range devices {
		doc.Devices = append(doc.Devices, dev{d.Name, d.Driver, d.Points})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Digest identifies the configuration the gate decides by; every decision
// records it.
func (g *Gate) Digest() string {
	if g == nil {
		return ""
	}
	return g.digest
}

// Needs lists the "device.point" live values a decision on the named
// capability reads: the points of its interlocks and the point a step
// limit moves. A snapshot needs to carry only these.
func (g *Gate) Needs(name string) []string {
	if g == nil {
		return nil
	}
	if e, ok := g.entries[name]; ok {
		return slices.Clone(e.limits.needs)
	}
	return nil
}

// Horizon is how far back a decision on the named capability reads its
// admissions: the longest of its rate windows and its cooldown. Zero: it
// reads none.
func (g *Gate) Horizon(name string) time.Duration {
	if g == nil {
		return 0
	}
	if e, ok := g.entries[name]; ok {
		return e.limits.horizon
	}
	return 0
}

// checkWrite validates a write capability and fills in its target.
func checkWrite(e *entry, devs map[string]*drivers.DeviceConfig, resolvers map[string]Resolver, problem func(field, format string, args ...any)) {
	s := &e.spec
	if len(s.Points) > 0 {
		problem("points", "a write sets one point: use device and point")
	}
	if s.Argument == "" {
		s.Argument = defaultArgument
	} else if err := checkName(s.Argument); err != nil {
		problem("argument", "%w", err)
	}
	e.argKey = argsIdent + "." + s.Argument
	rangeOK := true
	for _, b := range []struct {
		field string
		v     *float64
	}{{"min", s.Min}, {"max", s.Max}} {
		switch {
		case b.v == nil:
			problem(b.field, "missing: a write must state min and max")
			rangeOK = false
		case math.IsNaN(*b.v) || math.IsInf(*b.v, 0):
			problem(b.field, "%v is not a finite number", *b.v)
			rangeOK = false
		}
	}
	if rangeOK {
		e.min, e.max = *s.Min, *s.Max
		if e.min > e.max {
			problem("min", "min %s is greater than max %s", formatFloat(e.min), formatFloat(e.max))
			rangeOK = false
		}
	}

	if s.Device == "" {
		problem("device", "missing")
		return
	}
	dev, ok := devs[s.Device]
	if !ok {
		problem("device", "no device %q", s.Device)
		return
	}
	if s.Point == "" {
		problem("point", "missing")
		return
	}
	pt, ok := dev.Point(s.Point)
	if !ok {
		problem("point", "device %q has no point %q", s.Device, s.Point)
		return
	}
	if !writable(pt) {
		problem("point", "%s.%s is not writable", s.Device, s.Point)
	}
	e.boolean = isBool(pt)
	e.unit = pt.Unit
	if e.boolean && rangeOK && (!zeroOrOne(e.min) || !zeroOrOne(e.max)) {
		problem("min", "%s.%s is boolean: min and max must each be 0 (false) or 1 (true)", s.Device, s.Point)
		rangeOK = false
	}
	e.resolver = resolvers[s.Device]
	if e.resolver == nil {
		problem("device", "no resolver for device %q", s.Device)
		return
	}
	if !rangeOK || !writable(pt) {
		return
	}
	// The ends of the range must be representable on the wire, or the
	// range promises the model values the point cannot take.
	for _, b := range []struct {
		field string
		v     float64
	}{{"min", e.min}, {"max", e.max}} {
		if _, err := e.resolver.Resolve(s.Point, e.value(b.v)); err != nil {
			problem(b.field, "%s does not resolve on %s.%s: %w", formatFloat(b.v), s.Device, s.Point, err)
		}
	}
}

// checkRead validates a read capability and fills in its points.
func checkRead(e *entry, devs map[string]*drivers.DeviceConfig, problem func(field, format string, args ...any)) {
	s := &e.spec
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"device", s.Device != ""},
		{"point", s.Point != ""},
		{"argument", s.Argument != ""},
		{"min", s.Min != nil},
		{"max", s.Max != nil},
	} {
		if f.set {
			problem(f.field, "a read takes no %s: list \"device.point\" in points", f.field)
		}
	}
	if len(s.Points) == 0 {
		problem("points", "a read must list at least one \"device.point\"")
		return
	}
	seen := make(map[PointRef]bool, len(s.Points))
	for _, ref := range s.Points {
		r, pt, err := splitRef(ref, devs)
		if err != nil {
			problem("points", "%w", err)
			continue
		}
		if seen[r] {
			problem("points", "%q listed twice", ref)
			continue
		}
		seen[r] = true
		e.reads = append(e.reads, r)
		e.units = append(e.units, pt.Unit)
	}
}

// splitRef resolves "device.point" against the devices. Device and point
// names may themselves contain dots, so every split is tried; more than one
// match is an error rather than a guess.
func splitRef(ref string, devs map[string]*drivers.DeviceConfig) (PointRef, drivers.PointConfig, error) {
	var (
		found PointRef
		pc    drivers.PointConfig
		n     int
	)
	for i := 0; i < len(ref); i++ {
		if ref[i] != '.' {
			continue
		}
		dev, ok := devs[ref[:i]]
		if !ok {
			continue
		}
		if pt, ok := dev.Point(ref[i+1:]); ok {
			found, pc = PointRef{Device: ref[:i], Point: ref[i+1:]}, pt
			n++
		}
	}
	switch n {
	case 0:
		return PointRef{}, pc, fmt.Errorf("%q names no configured \"device.point\"", ref)
	case 1:
		return found, pc, nil
	}
	return PointRef{}, pc, fmt.Errorf("%q is ambiguous: more than one device.point split matches", ref)
}

// checkName accepts the names every provider accepts for a tool: ASCII
// letters, digits, '_' and '-', at most 64 of them. Anything else (spaces,
// dots, look-alike letters) is refused at commissioning, so a call can only
// ever match by its exact bytes.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%q is longer than %d characters", name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%+q may hold only ASCII letters, digits, '_' and '-'", name)
		}
	}
	return nil
}

// isBool reports whether a point holds a boolean.
func isBool(p drivers.PointConfig) bool {
	return p.Register == "coil" || p.Register == "discrete" || p.Type == "bool"
}

// writable reports whether a point may be written at all.
func writable(p drivers.PointConfig) bool {
	return p.Writable && p.Register != "input" && p.Register != "discrete"
}

// value makes the drivers.Value of a write from a number in its range.
func (e *entry) value(f float64) drivers.Value {
	if e.boolean {
		return drivers.Bool(f != 0)
	}
	return drivers.Number(f)
}

func zeroOrOne(f float64) bool { return f == 0 || f == 1 }

func defined(specs []Spec, name string) bool {
	for _, s := range specs {
		if s.Name == name {
			return true
		}
	}
	return false
}

func contains(set map[string]struct{}, name string) bool {
	_, ok := set[name]
	return ok
}

// cloneSpec copies a Spec so that the caller's later changes cannot reach
// the gate.
func cloneSpec(s Spec) Spec {
	s.Points = slices.Clone(s.Points)
	if s.Min != nil {
		v := *s.Min
		s.Min = &v
	}
	if s.Max != nil {
		v := *s.Max
		s.Max = &v
	}
	if s.Step != nil {
		v := *s.Step
		s.Step = &v
	}
	if s.Rate != nil {
		v := *s.Rate
		s.Rate = &v
	}
	if s.PrincipalRate != nil {
		v := *s.PrincipalRate
		s.PrincipalRate = &v
	}
	s.Enum = slices.Clone(s.Enum)
	s.Interlocks = slices.Clone(s.Interlocks)
	s.Arguments = slices.Clone(s.Arguments)
	for i, a := range s.Arguments {
		if a.Min != nil {
			v := *a.Min
			s.Arguments[i].Min = &v
		}
		if a.Max != nil {
			v := *a.Max
			s.Arguments[i].Max = &v
		}
	}
	s.Steps = slices.Clone(s.Steps)
	for i, st := range s.Steps {
		if st.Value != nil {
			v := *st.Value
			s.Steps[i].Value = &v
		}
	}
	return s
}

// Tools lists the capabilities p may call, sorted by name. A principal with
// no allow list gets none.
func (g *Gate) Tools(p Principal) []Tool {
	if g == nil {
		return nil
	}
	tools := make([]Tool, 0, len(g.allow[p]))
	for name := range g.allow[p] {
		if e, ok := g.entries[name]; ok {
			t := e.tool
			t.Parameters = slices.Clone(t.Parameters)
			tools = append(tools, t)
		}
	}
	slices.SortFunc(tools, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return tools
}

// Spec returns the named capability as the gate uses it (a write's
// Argument filled in), by exact name.
func (g *Gate) Spec(name string) (Spec, bool) {
	if g == nil {
		return Spec{}, false
	}
	e, ok := g.entries[name]
	if !ok {
		return Spec{}, false
	}
	return cloneSpec(e.spec), true
}
