package capability_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// limitSpecs exercise every limit, kind and approval on the tank.
func limitSpecs() []capability.Spec {
	w := func(name string) capability.Spec {
		return capability.Spec{Name: name, Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Min: ptr(0), Max: ptr(100)}
	}
	step, enum, rate, prate, cool, lock, appr := w("pump_step"), w("pump_enum"), w("pump_rate"), w("pump_prate"), w("pump_cool"), w("pump_lock"), w("pump_approve")
	step.Step = ptr(10)
	enum.Enum = []float64{0, 50, 100}
	rate.Rate = &capability.Rate{Count: 2, Window: drivers.Duration(time.Minute)}
	prate.PrincipalRate = &capability.Rate{Count: 1, Window: drivers.Duration(time.Minute)}
	cool.Cooldown = drivers.Duration(30 * time.Second)
	lock.Interlocks = []string{"tank.level < 90", "args.value <= 50 || tank.heater == false"}
	appr.Approval = true
	return []capability.Spec{step, enum, rate, prate, cool, lock, appr,
		{Name: "pulse_heater", Kind: capability.KindPulse, Device: "tank", Point: "heater", Duration: drivers.Duration(2 * time.Second)},
		{Name: "fill", Kind: capability.KindSequence,
			Arguments: []capability.Argument{{Name: "speed", Min: ptr(0), Max: ptr(80)}},
			Steps: []capability.Step{
				{Device: "tank", Point: "heater", Value: ptr(0)},
				{Device: "tank", Point: "inlet_pump", Argument: "speed"},
			},
			Interlocks: []string{"args.speed < tank.level"}},
	}
}

func newLimitGate(t testing.TB) *capability.Gate {
	t.Helper()
	var names []string
	for _, s := range limitSpecs() {
		names = append(names, s.Name)
	}
	g, err := capability.New(limitSpecs(), map[capability.Principal][]string{"agent": names, "operator": names, "viewer": {"fill"}},
		[]drivers.DeviceConfig{tankDevice()}, map[string]capability.Resolver{"tank": resolverFunc(tankResolver)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func admitted(p capability.Principal, ago ...time.Duration) []capability.Admission {
	var as []capability.Admission
	for _, a := range ago {
		as = append(as, capability.Admission{Time: t0.Add(-a), Principal: p})
	}
	return as
}

func values(kv ...any) map[string]drivers.Value {
	m := map[string]drivers.Value{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case float64:
			m[kv[i].(string)] = drivers.Number(v)
		case bool:
			m[kv[i].(string)] = drivers.Bool(v)
		}
	}
	return m
}

func TestLimits(t *testing.T) {
	g := newLimitGate(t)
	live := values("tank.inlet_pump", 40.0, "tank.level", 50.0, "tank.heater", false)
	tests := []struct {
		name   string
		p      capability.Principal
		cap    string
		args   string
		snap   capability.Snapshot
		want   string // "allow", "pending" or a reason
		detail string
	}{
		{name: "step within", cap: "pump_step", args: `{"value":50}`, snap: capability.Snapshot{Values: live}, want: "allow"},
		{name: "step down within", cap: "pump_step", args: `{"value":30}`, snap: capability.Snapshot{Values: live}, want: "allow"},
		{name: "step too large", cap: "pump_step", args: `{"value":51}`, snap: capability.Snapshot{Values: live}, want: "step_too_large", detail: "more than 10"},
		{name: "step without live value", cap: "pump_step", args: `{"value":40}`, want: "step_too_large", detail: "no good live value"},
		{name: "step from a boolean value", cap: "pump_step", args: `{"value":40}`, snap: capability.Snapshot{Values: values("tank.inlet_pump", true)}, want: "step_too_large"},

		{name: "enum member", cap: "pump_enum", args: `{"value":50}`, want: "allow"},
		{name: "enum non-member", cap: "pump_enum", args: `{"value":49}`, want: "out_of_range", detail: "allowed values"},

		{name: "rate first", cap: "pump_rate", args: `{"value":1}`, want: "allow"},
		{name: "rate one before", cap: "pump_rate", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("x", 10*time.Second)}, want: "allow"},
		{name: "rate full", cap: "pump_rate", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("x", 50*time.Second, 10*time.Second)}, want: "rate_limited", detail: "rate: 2"},
		{name: "rate window slid", cap: "pump_rate", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("x", time.Minute, 10*time.Second)}, want: "allow"},

		{name: "principal rate other principal", p: "operator", cap: "pump_prate", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("agent", 10*time.Second)}, want: "allow"},
		{name: "principal rate same principal", cap: "pump_prate", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("agent", 10*time.Second)}, want: "rate_limited", detail: "principal rate"},

		{name: "cooldown running", cap: "pump_cool", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("x", 29*time.Second)}, want: "rate_limited", detail: "cooldown"},
		{name: "cooldown over", cap: "pump_cool", args: `{"value":1}`, snap: capability.Snapshot{Admitted: admitted("x", 30*time.Second)}, want: "allow"},

		{name: "interlocks hold", cap: "pump_lock", args: `{"value":80}`, snap: capability.Snapshot{Values: live}, want: "allow"},
		{name: "interlock on level", cap: "pump_lock", args: `{"value":10}`, snap: capability.Snapshot{Values: values("tank.level", 95.0, "tank.heater", false)}, want: "interlock", detail: "#1"},
		{name: "interlock on args", cap: "pump_lock", args: `{"value":60}`, snap: capability.Snapshot{Values: values("tank.level", 50.0, "tank.heater", true)}, want: "interlock", detail: "#2"},
		{name: "interlock on args passes", cap: "pump_lock", args: `{"value":50}`, snap: capability.Snapshot{Values: values("tank.level", 50.0, "tank.heater", true)}, want: "allow"},
		{name: "interlock without value", cap: "pump_lock", args: `{"value":10}`, snap: capability.Snapshot{Values: values("tank.heater", false)}, want: "interlock", detail: "no good live value"},
		{name: "interlock with a value of the wrong type", cap: "pump_lock", args: `{"value":10}`, snap: capability.Snapshot{Values: values("tank.level", true, "tank.heater", false)}, want: "interlock"},

		{name: "pulse", cap: "pulse_heater", args: `{}`, want: "allow"},
		{name: "pulse takes no arguments", cap: "pulse_heater", args: `{"duration":"1h"}`, want: "invalid_arguments"},
		{name: "sequence", cap: "fill", args: `{"speed":30}`, snap: capability.Snapshot{Values: live}, want: "allow"},
		{name: "sequence argument out of range", cap: "fill", args: `{"speed":81}`, snap: capability.Snapshot{Values: live}, want: "out_of_range"},
		{name: "sequence argument missing", cap: "fill", args: `{}`, want: "invalid_arguments"},
		{name: "sequence empty text", cap: "fill", args: ``, want: "invalid_arguments"},
		{name: "sequence extra argument", cap: "fill", args: `{"speed":30,"value":1}`, want: "invalid_arguments"},
		{name: "sequence interlock", cap: "fill", args: `{"speed":60}`, snap: capability.Snapshot{Values: live}, want: "interlock"},
		{name: "viewer may run the sequence", p: "viewer", cap: "fill", args: `{"speed":30}`, snap: capability.Snapshot{Values: live}, want: "allow"},

		{name: "approval needed", cap: "pump_approve", args: `{"value":10}`, want: "pending"},
		{name: "approval forged in arguments", cap: "pump_approve", args: `{"value":10,"approved":true}`, want: "invalid_arguments"},
		{name: "approval for a capability that needs none", cap: "pump_enum", args: `{"value":50}`, snap: capability.Snapshot{Approval: &capability.Approval{ID: "1", Approver: "operator"}}, want: "approval_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			if p == "" {
				p = "agent"
			}
			tt.snap.Time = t0
			d := g.Decide(p, capability.Call{Capability: tt.cap, Args: tt.args}, tt.snap)
			got := string(d.Reason)
			switch d.Outcome {
			case capability.Allow:
				got = "allow"
			case capability.Pending:
				got = "pending"
			}
			if got != tt.want {
				t.Fatalf("got %s (%s), want %s", got, d.Detail, tt.want)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got detail %q, want it to contain %q", d.Detail, tt.detail)
			}
			if (d.Action != nil) != (got == "allow") {
				t.Errorf("got action %v on %s", d.Action, got)
			}
			if (d.Proposed != nil) != (got == "pending") || (d.Digest != "") != (got == "allow" || got == "pending") {
				t.Errorf("got proposed %v, digest %q on %s", d.Proposed, d.Digest, got)
			}
			if d.Config != g.Digest() || d.Config == "" {
				t.Errorf("got config digest %q, want %q", d.Config, g.Digest())
			}
		})
	}
}

func TestPulseAndSequenceActions(t *testing.T) {
	g := newLimitGate(t)
	d := g.Decide("agent", capability.Call{Capability: "pulse_heater"}, capability.Snapshot{Time: t0})
	if d.Outcome != capability.Allow {
		t.Fatalf("pulse: got %v %s", d.Outcome, d.Reason)
	}
	a := d.Action
	if a.Kind() != capability.KindPulse || a.Device() != "tank" || a.Point() != "heater" || a.Duration() != 2*time.Second ||
		!a.Value().Value.Bool || a.Restore().Value.Bool || string(a.Value().Wire) != "\x01" || string(a.Restore().Wire) != "\x00" {
		t.Errorf("pulse: got %s %s.%s %v -> %v for %s", a.Kind(), a.Device(), a.Point(), a.Value(), a.Restore(), a.Duration())
	}

	live := values("tank.level", 50.0)
	d = g.Decide("agent", capability.Call{Capability: "fill", Args: `{"speed":30.4}`}, capability.Snapshot{Time: t0, Values: live})
	if d.Outcome != capability.Allow {
		t.Fatalf("sequence: got %v %s %s", d.Outcome, d.Reason, d.Detail)
	}
	steps := d.Action.Steps()
	if len(steps) != 2 || steps[0].Point != "heater" || steps[0].Value.Value.Bool || steps[1].Point != "inlet_pump" ||
		steps[1].Value.Value.Number != 30 || string(steps[1].Value.Wire) != "\x00\x1e" {
		t.Errorf("sequence: got steps %+v", steps)
	}
	steps[1].Value.Wire[1] = 99
	if d.Action.Steps()[1].Value.Wire[1] != 30 {
		t.Error("sequence: Steps returned the authorised wire bytes, not a copy")
	}
}

func TestApprovals(t *testing.T) {
	g := newLimitGate(t)
	call := capability.Call{Capability: "pump_approve", Args: `{"value":10}`}
	pending := g.Decide("agent", call, capability.Snapshot{Time: t0})
	if pending.Outcome != capability.Pending || pending.Reason != capability.ReasonPendingApproval || pending.Action != nil {
		t.Fatalf("got %v %s action %v, want pending without an action", pending.Outcome, pending.Reason, pending.Action)
	}
	if r := pending.Result(); r.OK || r.Code != "pending" || r.Reason != capability.ReasonPendingApproval {
		t.Errorf("got result %+v, want pending", r)
	}
	expires := t0.Add(5 * time.Minute)
	approve := func(approver capability.Principal, digest string, at time.Time, c capability.Call) capability.Decision {
		return g.Decide("agent", c, capability.Snapshot{Time: at, Approval: &capability.Approval{ID: "7", Approver: approver, Digest: digest, Expires: expires}})
	}
	other := g.Decide("agent", capability.Call{Capability: "pump_approve", Args: `{"value":11}`}, capability.Snapshot{Time: t0})

	tests := []struct {
		name     string
		approver capability.Principal
		digest   string
		at       time.Time
		call     capability.Call
		want     string
	}{
		{"operator approves", "operator", pending.Digest, t0.Add(time.Minute), call, "allow"},
		{"self-approval refused", "agent", pending.Digest, t0.Add(time.Minute), call, "self_approval"},
		{"approver without the capability", "viewer", pending.Digest, t0.Add(time.Minute), call, "not_allowed"},
		{"stranger", "stranger", pending.Digest, t0.Add(time.Minute), call, "not_allowed"},
		{"expired", "operator", pending.Digest, expires, call, "approval_expired"},
		{"changed action refused", "operator", other.Digest, t0.Add(time.Minute), call, "approval_mismatch"},
		{"approval of another call refused", "operator", pending.Digest, t0.Add(time.Minute), capability.Call{Capability: "pump_approve", Args: `{"value":90}`}, "approval_mismatch"},
		{"approval does not mend bad arguments", "operator", pending.Digest, t0.Add(time.Minute), capability.Call{Capability: "pump_approve", Args: `{"value":500}`}, "out_of_range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := approve(tt.approver, tt.digest, tt.at, tt.call)
			got := string(d.Reason)
			if d.Outcome == capability.Allow {
				got = "allow"
			}
			if got != tt.want {
				t.Fatalf("got %s %s (%s), want %s", d.Outcome, d.Reason, d.Detail, tt.want)
			}
			if got == "allow" && d.Action.Digest() != pending.Digest {
				t.Errorf("got action digest %s, want the approved %s", d.Action.Digest(), pending.Digest)
			}
		})
	}
}

func TestLimitProblems(t *testing.T) {
	base := func(mod func(*capability.Spec)) []capability.Spec {
		s := capability.Spec{Name: "k", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Min: ptr(0), Max: ptr(100)}
		mod(&s)
		return []capability.Spec{s}
	}
	tests := []struct {
		name  string
		specs []capability.Spec
		want  string
	}{
		{"negative step", base(func(s *capability.Spec) { s.Step = ptr(-1) }), "step: -1 is not a positive number"},
		{"enum out of range", base(func(s *capability.Spec) { s.Enum = []float64{101} }), "enum: 101"},
		{"zero rate", base(func(s *capability.Spec) { s.Rate = &capability.Rate{Count: 0, Window: drivers.Duration(time.Second)} }), "rate: count 0"},
		{"no window", base(func(s *capability.Spec) { s.PrincipalRate = &capability.Rate{Count: 1} }), "principal_rate: window 0s"},
		{"negative cooldown", base(func(s *capability.Spec) { s.Cooldown = -1 }), "cooldown"},
		{"interlock syntax", base(func(s *capability.Spec) { s.Interlocks = []string{"tank.level <"} }), "interlocks: interlock #1: 1:"},
		{"interlock unknown point", base(func(s *capability.Spec) { s.Interlocks = []string{"tank.levl < 3"} }), "unknown name tank.levl"},
		{"interlock not boolean", base(func(s *capability.Spec) { s.Interlocks = []string{"tank.level + 1"} }), "interlock #1"},
		{"interlock reads the clock", base(func(s *capability.Spec) { s.Interlocks = []string{"now() != nil"} }), "interlock #1"},
		{"interlock unknown argument", base(func(s *capability.Spec) { s.Interlocks = []string{"args.speed > 1"} }), "unknown name args.speed"},
		{"pulse on a register", []capability.Spec{{Name: "k", Kind: capability.KindPulse, Device: "tank", Point: "inlet_pump", Duration: drivers.Duration(time.Second)}}, "is not boolean"},
		{"pulse too long", []capability.Spec{{Name: "k", Kind: capability.KindPulse, Device: "tank", Point: "heater", Duration: drivers.Duration(time.Hour)}}, "duration: 1h0m0s"},
		{"sequence without steps", []capability.Spec{{Name: "k", Kind: capability.KindSequence}}, "steps: a sequence has 1 to"},
		{"sequence unbound argument", []capability.Spec{{Name: "k", Kind: capability.KindSequence, Arguments: []capability.Argument{{Name: "a", Min: ptr(0), Max: ptr(1)}},
			Steps: []capability.Step{{Device: "tank", Point: "heater", Value: ptr(1)}}}}, `argument "a" is bound to no step`},
		{"sequence step to read-only point", []capability.Spec{{Name: "k", Kind: capability.KindSequence, Steps: []capability.Step{{Device: "tank", Point: "level", Value: ptr(1)}}}}, "not writable"},
		{"sequence step with both", []capability.Spec{{Name: "k", Kind: capability.KindSequence, Arguments: []capability.Argument{{Name: "a", Min: ptr(0), Max: ptr(1)}},
			Steps: []capability.Step{{Device: "tank", Point: "inlet_pump", Value: ptr(1), Argument: "a"}}}}, "exactly one of value and argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := capability.New(tt.specs, nil, []drivers.DeviceConfig{tankDevice()}, map[string]capability.Resolver{"tank": resolverFunc(tankResolver)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a problem containing %q", err, tt.want)
			}
		})
	}
	errs := capability.CheckInterlocks(capability.Spec{Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Interlocks: []string{"tank.level < 3", "\n  tank.nope"}}, []drivers.DeviceConfig{tankDevice()})
	if len(errs) != 1 || errs[0].Index != 1 || errs[0].Line != 2 || errs[0].Column != 3 {
		t.Fatalf("got %v, want one problem in interlock #2 at 2:3", errs)
	}
	var ie *capability.InterlockError
	if !errors.As(errs[0], &ie) {
		t.Error("not an InterlockError")
	}
}

func TestNeedsAndHorizon(t *testing.T) {
	g := newLimitGate(t)
	if got := strings.Join(g.Needs("pump_lock"), ","); got != "tank.heater,tank.level" {
		t.Errorf("pump_lock needs %q, want tank.heater,tank.level", got)
	}
	if got := strings.Join(g.Needs("pump_step"), ","); got != "tank.inlet_pump" {
		t.Errorf("pump_step needs %q, want tank.inlet_pump", got)
	}
	if got := g.Horizon("pump_cool"); got != 30*time.Second {
		t.Errorf("pump_cool horizon %s, want 30s", got)
	}
	if got := g.Horizon("pump_enum"); got != 0 {
		t.Errorf("pump_enum horizon %s, want 0", got)
	}
}

// BenchmarkDecide decides a write with two interlocks over a snapshot of
// live values, and reports the 99th percentile of the single decisions as
// p99-ns next to the mean and the allocations.
func BenchmarkDecide(b *testing.B) {
	g := newLimitGate(b)
	c := capability.Call{ID: "call_1", Capability: "pump_lock", Args: `{"value":42}`}
	snap := capability.Snapshot{Time: t0, Values: values("tank.inlet_pump", 40.0, "tank.level", 50.0, "tank.heater", false)}
	times := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		d := g.Decide("agent", c, snap)
		times = append(times, time.Since(start))
		if d.Outcome != capability.Allow {
			b.Fatalf("got %v %q %s, want allow", d.Outcome, d.Reason, d.Detail)
		}
	}
	slices.Sort(times)
	if n := len(times); n > 0 {
		b.ReportMetric(float64(times[n*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(times[n/2].Nanoseconds()), "p50-ns")
	}
}

// TestArgsMatchSchema holds Decide's hand check of the argument shape to
// the compiled JSON schema's verdict, over the corpus and the shapes of
// every kind of capability.
func TestArgsMatchSchema(t *testing.T) {
	texts := []string{`{}`, `{"value":1}`, `{"value":true}`, `{"value":"1"}`, `{"value":null}`, `{"value":[1]}`,
		`{"value":{}}`, `{"speed":30}`, `{"speed":30,"value":1}`, `{"Speed":30}`, `{"speed":false}`, `{"x":1}`}
	for _, c := range readCorpus(t) {
		texts = append(texts, c.Args)
	}
	gates := map[*capability.Gate][]capability.Spec{newLimitGate(t): limitSpecs(), newTankGate(t, resolverFunc(tankResolver)): tankSpecs()}
	n := 0
	for g, specs := range gates {
		for _, s := range specs {
			for _, text := range texts {
				hand, schema, ok := capability.SchemaVerdicts(g, s.Name, text)
				if !ok {
					continue
				}
				n++
				if hand != schema {
					t.Errorf("%s %q: got hand check %v, want the schema's %v", s.Name, text, hand, schema)
				}
			}
		}
	}
	if n < 1000 {
		t.Errorf("got %d comparisons, want at least 1000", n)
	}
}

// FuzzDecideLimits feeds raw argument bytes to every capability with
// limits, interlocks, pulses, sequences and approvals: Decide must not
// panic, must decide the same way twice, and may allow only what the
// capability's range admits; an approval-bound capability never allows
// without an approval.
func FuzzDecideLimits(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add([]byte(c.Args))
	}
	f.Add([]byte(`{"speed":30}`))
	g := newLimitGate(f)
	snap := capability.Snapshot{Time: t0, Values: values("tank.inlet_pump", 40.0, "tank.level", 50.0, "tank.heater", false)}
	f.Fuzz(func(t *testing.T, args []byte) {
		for _, s := range limitSpecs() {
			if hand, schema, ok := capability.SchemaVerdicts(g, s.Name, string(args)); ok && hand != schema {
				t.Fatalf("%s %q: hand check says %v, schema %v", s.Name, args, hand, schema)
			}
			c := capability.Call{Capability: s.Name, Args: string(args)}
			d := g.Decide("agent", c, snap)
			if again := g.Decide("agent", c, snap); d.Outcome != again.Outcome || d.Reason != again.Reason || d.Digest != again.Digest {
				t.Fatalf("%s %q: got %v %s, then %v %s", s.Name, args, d.Outcome, d.Reason, again.Outcome, again.Reason)
			}
			if d.Outcome != capability.Allow {
				if d.Action != nil {
					t.Fatalf("%s %q: %v with an action", s.Name, args, d.Outcome)
				}
				continue
			}
			if s.Approval {
				t.Fatalf("%s %q: allowed without approval", s.Name, args)
			}
			a := d.Action
			switch a.Kind() {
			case capability.KindWrite:
				if v := a.Value().Value.Float(); v < *s.Min || v > *s.Max {
					t.Fatalf("%s %q: allowed %v", s.Name, args, v)
				}
			case capability.KindSequence:
				for _, st := range a.Steps() {
					if st.Point == "inlet_pump" && (st.Value.Value.Number < 0 || st.Value.Value.Number > 80) {
						t.Fatalf("%s %q: allowed step %v", s.Name, args, st.Value)
					}
				}
			}
		}
	})
}
