package capability_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// snap is the snapshot the tests decide against.
var snap = capability.Snapshot{
	Time:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	Values: map[string]drivers.Value{"tank.level": drivers.Number(42)},
}

func TestDecide(t *testing.T) {
	notRepresentable := resolverFunc(func(point string, v drivers.Value) (drivers.Encoded, error) {
		if v.Kind == drivers.KindNumber && v.Number == 42 {
			return drivers.Encoded{}, fmt.Errorf("tank: %s: %w: 42", point, drivers.ErrValue)
		}
		return tankResolver(point, v)
	})
	unknownPoint := resolverFunc(func(point string, v drivers.Value) (drivers.Encoded, error) {
		if v.Kind == drivers.KindNumber && v.Number == 42 {
			return drivers.Encoded{}, fmt.Errorf("tank: %s: %w", point, drivers.ErrUnknownPoint)
		}
		return tankResolver(point, v)
	})
	broken := resolverFunc(func(point string, v drivers.Value) (drivers.Encoded, error) {
		enc, err := tankResolver(point, v)
		switch {
		case v.Kind == drivers.KindNumber && v.Number == 42:
			enc.Wire = nil
		case v.Kind == drivers.KindNumber && v.Number == 43:
			enc.Value = drivers.Bool(true)
		case v.Kind == drivers.KindBool && v.Bool:
			enc.Value = drivers.Bool(false)
		}
		return enc, err
	})
	tests := []struct {
		name      string
		resolver  capability.Resolver // default tankResolver
		principal capability.Principal
		call      capability.Call
		want      capability.Reason // ReasonNone: allow
		wantValue drivers.Value     // the authorised value of an allowed write
		wantWire  []byte
		detail    string // a phrase the detail of a refusal must hold
	}{
		{name: "write allowed", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":50}`},
			wantValue: drivers.Number(50), wantWire: []byte{0, 50}},
		{name: "write authorises the resolved value", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":41.6}`},
			wantValue: drivers.Number(42), wantWire: []byte{0, 42}},
		{name: "boolean write allowed", principal: "agent", call: capability.Call{Capability: "set_heater", Args: `{"value":true}`},
			wantValue: drivers.Bool(true), wantWire: []byte{1}},
		{name: "named argument", principal: "agent", call: capability.Call{Capability: "set_pump_speed", Args: `{"speed":10}`},
			wantValue: drivers.Number(10), wantWire: []byte{0, 10}},
		{name: "read allowed", principal: "viewer", call: capability.Call{Capability: "read_tank", Args: `{}`}},
		{name: "read with empty text", principal: "viewer", call: capability.Call{Capability: "read_tank", Args: ``}},

		{name: "unknown capability", principal: "agent", call: capability.Call{Capability: "open_valve", Args: `{}`}, want: capability.ReasonUnknownCapability},
		{name: "case variant", principal: "agent", call: capability.Call{Capability: "Read_tank", Args: `{}`}, want: capability.ReasonUnknownCapability},
		{name: "invalid UTF-8 name", principal: "agent", call: capability.Call{Capability: "read_tank\xff", Args: `{}`}, want: capability.ReasonUnknownCapability},
		{name: "unknown beats not allowed", principal: "nobody", call: capability.Call{Capability: "open_valve", Args: `{}`}, want: capability.ReasonUnknownCapability},

		{name: "not allowed", principal: "viewer", call: capability.Call{Capability: "set_heater", Args: `{"value":true}`}, want: capability.ReasonNotAllowed},
		{name: "no allow list", principal: "stranger", call: capability.Call{Capability: "read_tank", Args: `{}`}, want: capability.ReasonNotAllowed},
		{name: "not allowed beats bad arguments", principal: "viewer", call: capability.Call{Capability: "set_heater", Args: `nonsense`}, want: capability.ReasonNotAllowed},

		{name: "empty text for a write", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: ``}, want: capability.ReasonInvalidArguments, detail: "empty arguments"},
		{name: "invalid UTF-8 args", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: "{\"value\":5,\"n\":\"\xc3\x28\"}"}, want: capability.ReasonInvalidArguments, detail: "not valid UTF-8"},
		{name: "invalid UTF-8 key", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: "{\"valu\xe9\":5}"}, want: capability.ReasonInvalidArguments},
		{name: "duplicate key", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":5,"value":500}`}, want: capability.ReasonInvalidArguments, detail: `duplicate key "value"`},
		{name: "extra key", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":5,"confirm":true}`}, want: capability.ReasonInvalidArguments, detail: `unexpected arguments "confirm"`},
		{name: "string number", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":"5"}`}, want: capability.ReasonInvalidArguments, detail: `argument "value" is a string, want a number`},
		{name: "number for a coil", principal: "agent", call: capability.Call{Capability: "set_heater", Args: `{"value":1}`}, want: capability.ReasonInvalidArguments},
		{name: "args for a read", principal: "agent", call: capability.Call{Capability: "read_tank", Args: `{"points":["tank.level"]}`}, want: capability.ReasonInvalidArguments},
		{name: "overflow", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":1e999}`}, want: capability.ReasonInvalidArguments, detail: "does not fit a float64"},
		{name: "too deep", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":1,"x":[[[[[[[[1]]]]]]]]}`}, want: capability.ReasonInvalidArguments, detail: "nest deeper than 8"},
		{name: "too long", principal: "agent", call: capability.Call{Capability: "read_tank", Args: "{" + strings.Repeat(" ", capability.MaxArgsBytes) + "}"}, want: capability.ReasonInvalidArguments, detail: "more than 4096"},
		{name: "resolver: unknown point", resolver: unknownPoint, principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":42}`}, want: capability.ReasonInvalidArguments},

		{name: "above max", principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":100.5}`}, want: capability.ReasonOutOfRange, detail: "value 100.5 outside [0, 100]"},
		{name: "below min", principal: "agent", call: capability.Call{Capability: "set_pump_speed", Args: `{"speed":9.99}`}, want: capability.ReasonOutOfRange},
		{name: "resolved value above max", principal: "agent", call: capability.Call{Capability: "set_pump_trim", Args: `{"value":99.5}`}, want: capability.ReasonOutOfRange, detail: "resolved value 100 outside [0, 99.5]"},
		{name: "boolean outside a one-sided range", principal: "agent", call: capability.Call{Capability: "heater_off", Args: `{"value":true}`}, want: capability.ReasonOutOfRange},
		{name: "resolver: value not representable", resolver: notRepresentable, principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":42}`}, want: capability.ReasonOutOfRange},

		{name: "resolver: no wire bytes", resolver: broken, principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":42}`}, want: capability.ReasonDeviceError},
		{name: "resolver: other kind", resolver: broken, principal: "agent", call: capability.Call{Capability: "set_inlet_pump", Args: `{"value":43}`}, want: capability.ReasonDeviceError},
		{name: "resolver: flipped boolean", resolver: broken, principal: "agent", call: capability.Call{Capability: "set_heater", Args: `{"value":true}`}, want: capability.ReasonDeviceError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.resolver
			if r == nil {
				r = resolverFunc(tankResolver)
			}
			g := newTankGate(t, r)
			d := g.Decide(tt.principal, tt.call, snap)
			if d.Principal != tt.principal || d.Call != tt.call || !reflect.DeepEqual(d.Snapshot, snap) {
				t.Errorf("got decision inputs %q %+v, want %q %+v and the snapshot", d.Principal, d.Call, tt.principal, tt.call)
			}
			if tt.want != capability.ReasonNone {
				if d.Outcome != capability.Deny || d.Reason != tt.want || d.Action != nil {
					t.Fatalf("got %v %q (action %v), want deny %q", d.Outcome, d.Reason, d.Action, tt.want)
				}
				if d.Detail == "" || !strings.Contains(d.Detail, tt.detail) {
					t.Errorf("got detail %q, want one for the logs holding %q", d.Detail, tt.detail)
				}
				if got := d.Result(); got.OK || got.Code != "denied" || got.Reason != tt.want {
					t.Errorf("Result: got %+v, want denied %q", got, tt.want)
				}
				return
			}
			if d.Outcome != capability.Allow || d.Action == nil {
				t.Fatalf("got %v %q (%s), want allow", d.Outcome, d.Reason, d.Detail)
			}
			if d.Capability != tt.call.Capability || d.Action.Capability() != tt.call.Capability {
				t.Errorf("got capability %q / %q, want %q", d.Capability, d.Action.Capability(), tt.call.Capability)
			}
			if got := d.Result(); !got.OK {
				t.Errorf("Result: got %+v, want ok", got)
			}
			a := d.Action
			if a.Kind() == capability.KindRead {
				want := []capability.PointRef{{Device: "tank", Point: "level"}, {Device: "tank", Point: "inlet_pump"}}
				if got := a.Reads(); !reflect.DeepEqual(got, want) {
					t.Errorf("Reads: got %v, want %v", got, want)
				}
				return
			}
			if a.Device() != "tank" || a.Value().Value != tt.wantValue || string(a.Value().Wire) != string(tt.wantWire) {
				t.Errorf("got %s %s = %v, want tank = %v (% x)", a.Device(), a.Point(), a.Value(), tt.wantValue, tt.wantWire)
			}
		})
	}
}

func TestDecideDeterministic(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	calls := []capability.Call{
		{ID: "1", Capability: "set_inlet_pump", Args: `{"value":41.6}`},
		{ID: "2", Capability: "set_inlet_pump", Args: `{"value":5,"z":1,"a":2,"m":3,"b":4}`},
		{ID: "3", Capability: "read_tank", Args: `{"q":1,"p":2,"r":3}`},
		{ID: "4", Capability: "set_inlet_pump", Args: `{"value":5`},
	}
	for _, c := range calls {
		first := g.Decide("agent", c, snap)
		for range 20 {
			if again := g.Decide("agent", c, snap); !reflect.DeepEqual(first, again) {
				t.Fatalf("call %s: got %+v, then %+v, want the same decision", c.ID, first, again)
			}
		}
	}
}

func TestDecideKeepsAuthorisedWire(t *testing.T) {
	shared := []byte{0, 7}
	leaky := resolverFunc(func(point string, v drivers.Value) (drivers.Encoded, error) {
		if point == "inlet_pump" && v.Number == 7 {
			return drivers.Encoded{Value: v, Wire: shared}, nil
		}
		return tankResolver(point, v)
	})
	g := newTankGate(t, leaky)
	d := g.Decide("agent", capability.Call{Capability: "set_inlet_pump", Args: `{"value":7}`}, snap)
	if d.Outcome != capability.Allow {
		t.Fatalf("got %v %q, want allow", d.Outcome, d.Reason)
	}
	shared[1] = 99 // the resolver changes its buffer after the decision
	if got := d.Action.Value().Wire; got[1] != 7 {
		t.Errorf("authorised wire after the resolver changed its buffer: got % x, want 00 07", got)
	}
}

// TestAuthorizedZero documents that no package but capability can make an
// Authorized with content: outside it, only the zero value can be made, and
// it names no capability, kind, device, point or value. The gateway refuses
// an action whose Kind is neither read nor write.
func TestAuthorizedZero(t *testing.T) {
	var a capability.Authorized
	if a.Kind() != "" || a.Capability() != "" || a.Device() != "" || a.Point() != "" {
		t.Errorf("zero Authorized: got kind %q capability %q device %q point %q, want all empty", a.Kind(), a.Capability(), a.Device(), a.Point())
	}
	if v := a.Value(); v.Value.Valid() || len(v.Wire) != 0 {
		t.Errorf("zero Authorized: got value %v, want an invalid value and no wire bytes", v)
	}
	if r := a.Reads(); len(r) != 0 {
		t.Errorf("zero Authorized: got reads %v, want none", r)
	}
	forged := capability.Decision{Outcome: capability.Allow}
	if r := forged.Result(); r.OK {
		t.Errorf("Allow without an action: got Result %+v, want a denial", r)
	}
	if r := (capability.Decision{}).Result(); r.OK || r.Code != "denied" || r.Reason != capability.ReasonNotAllowed {
		t.Errorf("zero Decision: got Result %+v, want denied not_allowed", r)
	}
}

func TestResults(t *testing.T) {
	tests := []struct {
		got  capability.Result
		want string
	}{
		{capability.Failed(capability.ReasonDeviceUnavailable), `{"ok":false,"code":"failed","reason":"device_unavailable"}`},
		{capability.Decision{Reason: capability.ReasonOutOfRange}.Result(), `{"ok":false,"code":"denied","reason":"out_of_range"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.got)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got %s, want %s", b, tt.want)
		}
	}
}

// corpusCall is one line of testdata/calls.jsonl.
type corpusCall struct {
	Name       string               `json:"name"`
	Principal  capability.Principal `json:"principal"`
	Capability string               `json:"capability"`
	Args       string               `json:"args"`
	Want       string               `json:"want"` // "allow" or a Reason
}

func readCorpus(t testing.TB) []corpusCall {
	t.Helper()
	f, err := os.Open("testdata/calls.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []corpusCall
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var c corpusCall
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("calls.jsonl:%d: %v", line, err)
		}
		if c.Name == "" || c.Want == "" {
			t.Fatalf("calls.jsonl:%d: name and want are required", line)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// TestCorpus runs every hostile or malformed call of the corpus through the
// real gate and carries out what it allows on a counting device: nothing
// refused may reach the device, and every refusal has its expected reason.
func TestCorpus(t *testing.T) {
	calls := readCorpus(t)
	if len(calls) < 300 {
		t.Fatalf("got %d corpus calls, want at least 300", len(calls))
	}
	g := newTankGate(t, resolverFunc(tankResolver))
	dev := &countingDevice{}
	var wantActions int
	for _, c := range calls {
		d := g.Decide(c.Principal, capability.Call{Capability: c.Capability, Args: c.Args}, snap)
		dev.execute(d)
		got := string(d.Reason)
		if d.Outcome == capability.Allow {
			got = "allow"
			wantActions++
		}
		if got != c.Want {
			t.Errorf("%s: got %s (%s), want %s", c.Name, got, d.Detail, c.Want)
		}
		if c.Want != "allow" && d.Action != nil {
			t.Errorf("%s: got an action on a %s, want none", c.Name, d.Outcome)
		}
	}
	if got := dev.writes + dev.reads; got != wantActions {
		t.Errorf("got %d actions carried out, want %d (the allowed ones)", got, wantActions)
	}
}

// FuzzDecide feeds raw argument bytes to every capability, as a principal
// that may call them all: Decide must not panic, must decide the same way
// twice, and anything it allows must carry a value within the capability's
// range.
func FuzzDecide(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add([]byte(c.Args))
	}
	f.Add([]byte("{\"value\":5,\"n\":\"\xc3\x28\"}"))
	g := newTankGate(f, resolverFunc(tankResolver))
	specs := tankSpecs()
	f.Fuzz(func(t *testing.T, args []byte) {
		for _, s := range specs {
			c := capability.Call{Capability: s.Name, Args: string(args)}
			d := g.Decide("operator", c, snap)
			if again := g.Decide("operator", c, snap); !reflect.DeepEqual(d, again) {
				t.Fatalf("%s %q: got %+v, then %+v", s.Name, args, d, again)
			}
			if d.Outcome != capability.Allow {
				if d.Action != nil || d.Reason == capability.ReasonNone {
					t.Fatalf("%s %q: deny with action %v and reason %q", s.Name, args, d.Action, d.Reason)
				}
				continue
			}
			if len(args) > capability.MaxArgsBytes {
				t.Fatalf("%s: allowed %d bytes of arguments", s.Name, len(args))
			}
			a := d.Action
			if a == nil || a.Kind() != s.Kind || a.Capability() != s.Name {
				t.Fatalf("%s %q: allow with action %v", s.Name, args, a)
			}
			if s.Kind != capability.KindWrite {
				continue
			}
			v := a.Value().Value
			if !v.Valid() || v.Float() < *s.Min || v.Float() > *s.Max || len(a.Value().Wire) == 0 {
				t.Fatalf("%s %q: allowed value %v outside [%v, %v]", s.Name, args, a.Value(), *s.Min, *s.Max)
			}
		}
	})
}

func BenchmarkDecideWrite(b *testing.B) {
	g := newTankGate(b, resolverFunc(tankResolver))
	c := capability.Call{ID: "call_1", Capability: "set_inlet_pump", Args: `{"value":42.5}`}
	b.ReportAllocs()
	for b.Loop() {
		if d := g.Decide("agent", c, snap); d.Outcome != capability.Allow {
			b.Fatalf("got %v %q, want allow", d.Outcome, d.Reason)
		}
	}
}

func BenchmarkDecideDenyDuplicateKey(b *testing.B) {
	g := newTankGate(b, resolverFunc(tankResolver))
	c := capability.Call{Capability: "set_inlet_pump", Args: `{"value":5,"value":500}`}
	b.ReportAllocs()
	for b.Loop() {
		if d := g.Decide("agent", c, snap); d.Reason != capability.ReasonInvalidArguments {
			b.Fatalf("got %v %q, want invalid_arguments", d.Outcome, d.Reason)
		}
	}
}

// TestDecideConcurrent decides from many goroutines at once; run with -race
// it proves the gate shares nothing mutable between decisions.
func TestDecideConcurrent(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	calls := readCorpus(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(calls); i += 4 {
				c := calls[i]
				d := g.Decide(c.Principal, capability.Call{Capability: c.Capability, Args: c.Args}, snap)
				if (d.Outcome == capability.Allow) != (c.Want == "allow") {
					t.Errorf("%s: got %v %q, want %s", c.Name, d.Outcome, d.Reason, c.Want)
				}
				_ = g.Tools(c.Principal)
			}
		})
	}
	wg.Wait()
}

func TestDecideNestedDuplicate(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	// The nested duplicate is found while parsing, before the schema could
	// refuse the extra key.
	d := g.Decide("agent", capability.Call{Capability: "set_inlet_pump", Args: `{"value":5,"x":[{"a":1},{"b":1,"b":2}]}`}, snap)
	if d.Reason != capability.ReasonInvalidArguments || !strings.Contains(d.Detail, `duplicate key "b"`) {
		t.Errorf("got %q %q, want %q with a duplicate key detail", d.Reason, d.Detail, capability.ReasonInvalidArguments)
	}
}
