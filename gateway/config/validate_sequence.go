package config

import (
	"math"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// maxSequenceSteps is the most writes one sequence may make; the gate
// refuses longer ones.
const maxSequenceSteps = 32

// sequenceArguments checks what the gate demands of a sequence's
// arguments, by the points their steps write: an argument written to a
// number needs a finite min and max with min not above max; one written to
// a boolean takes neither; no argument is written to both kinds. It also
// bounds the number of steps.
func (v *checker) sequenceArguments(cp path, s *capability.Spec, devices map[string]*drivers.DeviceConfig) {
	if n := len(s.Steps); n > maxSequenceSteps {
		v.at(cp.add("steps", maxSequenceSteps), "a sequence has at most %d steps, this one %d", maxSequenceSteps, n)
	}
	// The kinds of point each argument is written to, from the steps whose
	// point is known and writable (the others are reported already).
	boolean := map[string]bool{}
	numeric := map[string]bool{}
	for j, st := range s.Steps {
		if st.Argument == "" || st.Value != nil {
			continue
		}
		d, ok := devices[st.Device]
		if !ok {
			continue
		}
		pt, ok := d.Point(st.Point)
		if !ok || !pt.Writable {
			continue
		}
		isBool := pt.Type == "bool" || pt.Register == "coil"
		if isBool && numeric[st.Argument] || !isBool && boolean[st.Argument] {
			v.at(cp.add("steps", j, "argument"), "%q is written to boolean and numeric points at once", st.Argument)
		}
		if isBool {
			boolean[st.Argument] = true
		} else {
			numeric[st.Argument] = true
		}
	}
	for j, a := range s.Arguments {
		ap := cp.add("arguments", j)
		switch {
		case boolean[a.Name] && !numeric[a.Name]:
			if a.Min != nil {
				v.at(ap.add("min"), "%q is written to a boolean point: it takes no min", a.Name)
			}
			if a.Max != nil {
				v.at(ap.add("max"), "%q is written to a boolean point: it takes no max", a.Name)
			}
		case numeric[a.Name]:
			if a.Min == nil {
				v.at(ap.add("name"), "%q is written to a number: it needs a min", a.Name)
			} else if math.IsNaN(*a.Min) || math.IsInf(*a.Min, 0) {
				v.at(ap.add("min"), "%v is not a finite number", *a.Min)
			}
			if a.Max == nil {
				v.at(ap.add("name"), "%q is written to a number: it needs a max", a.Name)
			} else if math.IsNaN(*a.Max) || math.IsInf(*a.Max, 0) {
				v.at(ap.add("max"), "%v is not a finite number", *a.Max)
			}
			if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
				v.at(ap.add("min"), "min %v is greater than max %v", *a.Min, *a.Max)
			}
		}
	}
}
