package capability

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Bounds on limits a capability may state.
const (
	// MaxPulse is the longest a pulse may hold its point.
	MaxPulse = 10 * time.Minute
	// MaxWindow is the longest rate window or cooldown; it bounds how much
	// history a snapshot carries.
	MaxWindow = 24 * time.Hour
	// MaxRateCount bounds a rate's count, and so the admissions a snapshot
	// carries.
	MaxRateCount = 10000
)

// limits are the checks a capability makes beyond its arguments, ready
// for Decide.
type limits struct {
	step     float64
	hasStep  bool
	enum     []float64
	rate     Rate
	prate    Rate
	cooldown time.Duration
	locks    []*interlock
	approval bool
	// needs are the "device.point" keys Decide reads from a snapshot,
	// sorted; horizon how far back it reads admissions.
	needs   []string
	horizon time.Duration
}

// checkLimits validates the limits of e's spec and compiles its
// interlocks.
func checkLimits(e *entry, devices []drivers.DeviceConfig, problem func(field, format string, args ...any)) {
	s := &e.spec
	l := &e.limits
	if s.Step != nil {
		switch {
		case s.Kind != KindWrite:
			problem("step", "only a write takes a step limit")
		case e.boolean:
			problem("step", "%s.%s is boolean: a step limit does not apply", s.Device, s.Point)
		case math.IsNaN(*s.Step) || math.IsInf(*s.Step, 0) || *s.Step <= 0:
			problem("step", "%v is not a positive number", *s.Step)
		default:
			l.step, l.hasStep = *s.Step, true
		}
	}
	if len(s.Enum) > 0 {
		if s.Kind != KindWrite {
			problem("enum", "only a write takes allowed values")
		}
		for _, v := range s.Enum {
			if math.IsNaN(v) || math.IsInf(v, 0) || (s.Kind == KindWrite && !e.inRange(v)) {
				problem("enum", "%v is not a number within [min, max]", v)
			}
		}
		l.enum = slices.Clone(s.Enum)
	}
	for _, r := range []struct {
		field string
		rate  *Rate
		dst   *Rate
	}{{"rate", s.Rate, &l.rate}, {"principal_rate", s.PrincipalRate, &l.prate}} {
		if r.rate == nil {
			continue
		}
		switch {
		case r.rate.Count < 1 || r.rate.Count > MaxRateCount:
			problem(r.field, "count %d is not between 1 and %d", r.rate.Count, MaxRateCount)
		case r.rate.Window.D() <= 0 || r.rate.Window.D() > MaxWindow:
			problem(r.field, "window %s is not more than 0 and at most %s", r.rate.Window, MaxWindow)
		default:
			*r.dst = *r.rate
		}
	}
	switch c := s.Cooldown.D(); {
	case c < 0 || c > MaxWindow:
		problem("cooldown", "%s is not between 0 and %s", s.Cooldown, MaxWindow)
	default:
		l.cooldown = c
	}
	l.horizon = max(l.rate.Window.D(), l.prate.Window.D(), l.cooldown)
	l.approval = s.Approval

	kinds := specArgKinds(*s, devices)
	needs := map[string]bool{}
	for i, src := range s.Interlocks {
		il, err := compileInterlock(i, src, devices, kinds)
		if err != nil {
			problem("interlocks", "%w", err)
			continue
		}
		l.locks = append(l.locks, il)
		for _, k := range il.points {
			needs[k] = true
		}
	}
	if l.hasStep {
		needs[s.Device+"."+s.Point] = true
	}
	for k := range needs {
		l.needs = append(l.needs, k)
	}
	slices.Sort(l.needs)
}

// checkUsage refuses a call that its cooldown or rates do not admit at
// snap.Time, given the earlier admissions in snap.
func (l *limits) checkUsage(p Principal, snap *Snapshot) (Reason, string) {
	now := snap.Time
	if l.cooldown > 0 {
		for i := len(snap.Admitted) - 1; i >= 0; i-- {
			if t := snap.Admitted[i].Time; now.Before(t.Add(l.cooldown)) {
				return ReasonRateLimited, "cooldown: admitted " + now.Sub(t).String() + " ago, cooldown " + l.cooldown.String()
			}
		}
	}
	if l.rate.Count > 0 {
		if n := countSince(snap.Admitted, now.Add(-l.rate.Window.D()), ""); n >= l.rate.Count {
			return ReasonRateLimited, "rate: " + strconv.Itoa(n) + " admitted in the last " + l.rate.Window.String() + ", limit " + strconv.Itoa(l.rate.Count)
		}
	}
	if l.prate.Count > 0 {
		if n := countSince(snap.Admitted, now.Add(-l.prate.Window.D()), p); n >= l.prate.Count {
			return ReasonRateLimited, "principal rate: " + strconv.Itoa(n) + " admitted in the last " + l.prate.Window.String() + ", limit " + strconv.Itoa(l.prate.Count)
		}
	}
	return ReasonNone, ""
}

// countSince counts the admissions after since, of principal p when p is
// not empty.
func countSince(as []Admission, since time.Time, p Principal) int {
	n := 0
	for _, a := range as {
		if a.Time.After(since) && (p == "" || a.Principal == p) {
			n++
		}
	}
	return n
}

// binding is one argument of a call as an interlock reads it.
type binding struct {
	key   string // args.NAME
	value drivers.Value
}

// evaluation is what evaluating interlocks needs besides the programs: an
// environment and a machine, reused from call to call through evalPool.
type evaluation struct {
	env     map[string]any
	machine vm.VM
}

// evalPool holds idle evaluations. An evaluation is used by one decision
// at a time and emptied before it is put back.
var evalPool = sync.Pool{New: func() any { return &evaluation{env: make(map[string]any, 8)} }}

// checkInterlocks evaluates every interlock over the snapshot's values
// and the call's arguments (float64 or bool by name). A point without a
// value fails its interlock.
func (l *limits) checkInterlocks(args []binding, snap *Snapshot) (Reason, string) {
	if len(l.locks) == 0 {
		return ReasonNone, ""
	}
	ev := evalPool.Get().(*evaluation)
	defer func() {
		clear(ev.env)
		evalPool.Put(ev)
	}()
	env := ev.env
	for _, k := range l.needs {
		if v, ok := snap.Values[k]; ok && v.Valid() {
			env[k] = v.Any()
		}
	}
	for _, a := range args {
		env[a.key] = a.value.Any()
	}
	for i, il := range l.locks {
		for _, k := range il.points {
			if _, ok := env[k]; !ok {
				return ReasonInterlock, "interlock #" + strconv.Itoa(i+1) + " " + strconv.Quote(il.src) + ": " + k + " has no good live value"
			}
		}
		ok, err := il.holds(&ev.machine, env)
		if err != nil {
			return ReasonInterlock, "interlock #" + strconv.Itoa(i+1) + " " + strconv.Quote(il.src) + ": " + err.Error()
		}
		if !ok {
			return ReasonInterlock, "interlock #" + strconv.Itoa(i+1) + " " + strconv.Quote(il.src) + " does not hold"
		}
	}
	return ReasonNone, ""
}

// checkStep refuses a write that moves its point further than the step
// limit from its live value.
func (e *entry) checkStep(v float64, snap *Snapshot) (Reason, string) {
	if !e.limits.hasStep {
		return ReasonNone, ""
	}
	key := e.spec.Device + "." + e.spec.Point
	cur, ok := snap.Values[key]
	if !ok || cur.Kind != drivers.KindNumber || math.IsNaN(cur.Number) {
		return ReasonStepTooLarge, key + " has no good live value to step from"
	}
	if d := math.Abs(v - cur.Number); !(d <= e.limits.step) {
		return ReasonStepTooLarge, "step " + formatFloat(d) + " from " + formatFloat(cur.Number) + " is more than " + formatFloat(e.limits.step)
	}
	return ReasonNone, ""
}

// inEnum reports whether v is one of the allowed values, when there are
// any.
func (l *limits) inEnum(v float64) bool {
	return len(l.enum) == 0 || slices.Contains(l.enum, v)
}
