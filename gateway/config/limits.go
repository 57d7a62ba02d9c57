package config

import (
	"math"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// limits checks what a capability states beyond its target: step, allowed
// values, rates, cooldown and interlocks. An interlock that does not
// compile is reported at the interlock, with the line and column inside
// the expression.
func (v *checker) limits(cp path, s *capability.Spec) {
	if s.Step != nil && s.Kind != capability.KindWrite {
		v.at(cp.add("step"), "only a write takes a step limit")
	}
	if len(s.Enum) > 0 {
		if s.Kind != capability.KindWrite {
			v.at(cp.add("enum"), "only a write takes allowed values")
		} else if s.Min != nil && s.Max != nil {
			for j, e := range s.Enum {
				if e < *s.Min || e > *s.Max {
					v.at(cp.add("enum", j), "%v lies outside min %v and max %v", e, *s.Min, *s.Max)
				}
			}
		}
	}
	for _, r := range []struct {
		key  string
		rate *capability.Rate
	}{{"rate", s.Rate}, {"principal_rate", s.PrincipalRate}} {
		if r.rate != nil && (r.rate.Window.D() <= 0 || r.rate.Window.D() > capability.MaxWindow) {
			v.at(cp.add(r.key, "window"), "%s is not more than 0 and at most %s", r.rate.Window, capability.MaxWindow)
		}
	}
	if c := s.Cooldown.D(); c < 0 || c > capability.MaxWindow {
		v.at(cp.add("cooldown"), "%s is not between 0 and %s", s.Cooldown, capability.MaxWindow)
	}
	for _, e := range capability.CheckInterlocks(*s, v.c.Devices) {
		v.at(cp.add("interlocks", e.Index), "interlock does not compile: %d:%d: %v", e.Line, e.Column, e.Err)
	}
}

// writablePoint checks that device.point names a writable point and
// returns it.
func (v *checker) writablePoint(p path, device, point string, devices map[string]*drivers.DeviceConfig) (drivers.PointConfig, bool) {
	d, ok := devices[device]
	switch {
	case device == "":
		v.at(p.add("device"), "is required")
	case !ok:
		v.at(p.add("device"), "%q is not a device of this gateway", device)
	case point == "":
		v.at(p.add("point"), "is required")
	default:
		pt, found := d.Point(point)
		switch {
		case !found:
			v.at(p.add("point"), "%q is not a point of device %q", point, device)
		case !pt.Writable || pt.Register == "input" || pt.Register == "discrete":
			v.at(p.add("point"), "%s.%s is read-only; it cannot be written", device, point)
		default:
			return pt, true
		}
	}
	return drivers.PointConfig{}, false
}

// pulse checks a pulse: one writable boolean point and a bounded duration.
func (v *checker) pulse(cp path, s *capability.Spec, devices map[string]*drivers.DeviceConfig) {
	if pt, ok := v.writablePoint(cp, s.Device, s.Point, devices); ok && pt.Type != "bool" {
		v.at(cp.add("point"), "%s.%s is not a coil: a pulse switches a boolean point", s.Device, s.Point)
	}
	if d := s.Duration.D(); d <= 0 || d > capability.MaxPulse {
		v.at(cp.add("duration"), "%s is not more than 0 and at most %s", s.Duration, time.Duration(capability.MaxPulse))
	}
	for _, f := range []struct {
		key string
		set bool
	}{{"points", len(s.Points) > 0}, {"argument", s.Argument != ""}, {"min", s.Min != nil}, {"max", s.Max != nil}, {"arguments", len(s.Arguments) > 0}, {"steps", len(s.Steps) > 0}} {
		if f.set {
			v.at(cp.add(f.key), "a pulse takes no %s", f.key)
		}
	}
}

// sequence checks a sequence's steps and arguments.
func (v *checker) sequence(cp path, s *capability.Spec, devices map[string]*drivers.DeviceConfig) {
	for _, f := range []struct {
		key string
		set bool
	}{{"device", s.Device != ""}, {"point", s.Point != ""}, {"points", len(s.Points) > 0}, {"argument", s.Argument != ""}, {"min", s.Min != nil}, {"max", s.Max != nil}} {
		if f.set {
			v.at(cp.add(f.key), "a sequence takes no %s; its steps name their points", f.key)
		}
	}
	args := map[string]int{}
	used := map[string]bool{}
	for j, a := range s.Arguments {
		ap := cp.add("arguments", j)
		if !v.name(ap.add("name"), a.Name) {
			continue
		}
		if k, dup := args[a.Name]; dup {
			v.at(ap.add("name"), "%q is already the name of arguments[%d]", a.Name, k)
		}
		args[a.Name] = j
	}
	if len(s.Steps) == 0 {
		v.at(cp.add("steps"), "a sequence has at least one step")
	}
	for j, st := range s.Steps {
		sp := cp.add("steps", j)
		pt, ok := v.writablePoint(sp, st.Device, st.Point, devices)
		switch {
		case (st.Value == nil) == (st.Argument == ""):
			v.at(sp, "give exactly one of value and argument")
		case st.Value != nil:
			if f := *st.Value; ok && pt.Type == "bool" && f != 0 && f != 1 {
				v.at(sp.add("value"), "%v: %s.%s is boolean; write 0 or 1", f, st.Device, st.Point)
			} else if math.IsNaN(f) || math.IsInf(f, 0) {
				v.at(sp.add("value"), "%v is not a number", f)
			}
		default:
			if _, found := args[st.Argument]; !found {
				v.at(sp.add("argument"), "%q is not an argument of this sequence", st.Argument)
			}
			used[st.Argument] = true
		}
	}
	for j, a := range s.Arguments {
		if a.Name != "" && !used[a.Name] {
			v.at(cp.add("arguments", j, "name"), "%q is bound to no step", a.Name)
		}
	}
	v.sequenceArguments(cp, s, devices)
}

// Approvals says how calls that need an operator's approval wait.
type Approvals struct {
	// TTL is how long a pending call waits for `femtoclaw approve ID`
	// before it lapses. Default 15m; at most 24h.
	TTL drivers.Duration `yaml:"ttl" json:"ttl"`
}

// maxApprovalTTL bounds how long a call may wait for approval.
const maxApprovalTTL = 24 * time.Hour

func (v *checker) approvals() {
	if t := v.c.Approvals.TTL.D(); t < 0 || t > maxApprovalTTL {
		v.at(path{"approvals", "ttl"}, "%s is not between 0 and %s", v.c.Approvals.TTL, maxApprovalTTL)
	}
}
