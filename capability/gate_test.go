package capability_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// problems splits the joined error of New into its parts.
func problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestNewValid(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	for _, s := range tankSpecs() {
		if _, ok := g.Spec(s.Name); !ok {
			t.Errorf("Spec(%q): got missing, want present", s.Name)
		}
	}
}

func TestNewProblems(t *testing.T) {
	write := func(name, point string, min, max *float64) capability.Spec {
		return capability.Spec{Name: name, Kind: capability.KindWrite, Device: "tank", Point: point, Min: min, Max: max}
	}
	failing := resolverFunc(func(string, drivers.Value) (drivers.Encoded, error) {
		return drivers.Encoded{}, fmt.Errorf("tank: %w", drivers.ErrValue)
	})
	tests := []struct {
		name      string
		specs     []capability.Spec
		allow     map[capability.Principal][]string
		devices   []drivers.DeviceConfig
		resolvers map[string]capability.Resolver
		want      []string // one substring per problem, in order
		field     string   // the Field of the first *SpecError, if any
	}{
		{
			name:  "unknown device",
			specs: []capability.Spec{{Name: "w", Kind: capability.KindWrite, Device: "boiler", Point: "x", Min: ptr(0), Max: ptr(1)}},
			want:  []string{`capability "w": device: no device "boiler"`},
			field: "device",
		},
		{
			name:  "unknown point",
			specs: []capability.Spec{write("w", "outlet", ptr(0), ptr(1))},
			want:  []string{`capability "w": point: device "tank" has no point "outlet"`},
			field: "point",
		},
		{
			name:  "write to a read-only point",
			specs: []capability.Spec{write("w", "level", ptr(0), ptr(1))},
			want:  []string{`capability "w": point: tank.level is not writable`},
			field: "point",
		},
		{
			name:  "write without min",
			specs: []capability.Spec{write("w", "inlet_pump", nil, ptr(1))},
			want:  []string{`capability "w": min: missing`},
			field: "min",
		},
		{
			name:  "write without max",
			specs: []capability.Spec{write("w", "inlet_pump", ptr(0), nil)},
			want:  []string{`capability "w": max: missing`},
			field: "max",
		},
		{
			name:  "write without min or max",
			specs: []capability.Spec{write("w", "inlet_pump", nil, nil)},
			want:  []string{`"w": min: missing`, `"w": max: missing`},
			field: "min",
		},
		{
			name:  "min above max",
			specs: []capability.Spec{write("w", "inlet_pump", ptr(50), ptr(10))},
			want:  []string{`capability "w": min: min 50 is greater than max 10`},
			field: "min",
		},
		{
			name:  "NaN max",
			specs: []capability.Spec{write("w", "inlet_pump", ptr(0), ptr(math.NaN()))},
			want:  []string{`capability "w": max: NaN is not a finite number`},
			field: "max",
		},
		{
			name:  "boolean range beyond 0 and 1",
			specs: []capability.Spec{write("w", "heater", ptr(0), ptr(2))},
			want:  []string{`"w": min: tank.heater is boolean`},
			field: "min",
		},
		{
			name:  "range end the device cannot represent",
			specs: []capability.Spec{write("w", "inlet_pump", ptr(-5), ptr(10))},
			want:  []string{`capability "w": min: -5 does not resolve on tank.inlet_pump`},
			field: "min",
		},
		{
			name:      "no resolver for the device",
			specs:     []capability.Spec{write("w", "inlet_pump", ptr(0), ptr(1))},
			resolvers: map[string]capability.Resolver{},
			want:      []string{`capability "w": device: no resolver for device "tank"`},
			field:     "device",
		},
		{
			name:      "resolver refusing both ends",
			specs:     []capability.Spec{write("w", "inlet_pump", ptr(0), ptr(1))},
			resolvers: map[string]capability.Resolver{"tank": failing},
			want:      []string{`"w": min: 0 does not resolve`, `"w": max: 1 does not resolve`},
			field:     "min",
		},
		{
			name:  "write listing points",
			specs: []capability.Spec{{Name: "w", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Points: []string{"tank.level"}, Min: ptr(0), Max: ptr(1)}},
			want:  []string{`capability "w": points: a write sets one point`},
			field: "points",
		},
		{
			name:  "bad argument name",
			specs: []capability.Spec{{Name: "w", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Argument: "the value", Min: ptr(0), Max: ptr(1)}},
			want:  []string{`capability "w": argument: "the value" may hold only`},
			field: "argument",
		},
		{
			name:  "read of an unknown point",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level", "tank.volume"}}},
			want:  []string{`capability "r": points: "tank.volume" names no configured "device.point"`},
			field: "points",
		},
		{
			name:  "read of an unknown device",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"boiler.level"}}},
			want:  []string{`capability "r": points: "boiler.level" names no configured`},
			field: "points",
		},
		{
			name:  "read without a dot",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"level"}}},
			want:  []string{`capability "r": points: "level" names no configured`},
			field: "points",
		},
		{
			name:  "read listing a point twice",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level", "tank.level"}}},
			want:  []string{`capability "r": points: "tank.level" listed twice`},
			field: "points",
		},
		{
			name:  "read with no points",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead}},
			want:  []string{`capability "r": points: a read must list at least one`},
			field: "points",
		},
		{
			name:  "read with write fields",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Device: "tank", Points: []string{"tank.level"}, Max: ptr(1)}},
			want:  []string{`capability "r": device: a read takes no device`, `capability "r": max: a read takes no max`},
			field: "device",
		},
		{
			name:  "missing kind",
			specs: []capability.Spec{{Name: "k", Points: []string{"tank.level"}}},
			want:  []string{`capability "k": kind: missing`},
			field: "kind",
		},
		{
			name:  "unknown kind",
			specs: []capability.Spec{{Name: "k", Kind: "toggle", Points: []string{"tank.level"}}},
			want:  []string{`capability "k": kind: "toggle" is not`},
			field: "kind",
		},
		{
			name:  "empty name",
			specs: []capability.Spec{{Kind: capability.KindRead, Points: []string{"tank.level"}}},
			want:  []string{`capability #1: name: empty`},
			field: "name",
		},
		{
			name:  "name with a look-alike letter",
			specs: []capability.Spec{{Name: "r\u0435ad", Kind: capability.KindRead, Points: []string{"tank.level"}}},
			want:  []string{`name: "r\u0435ad" may hold only ASCII letters`},
			field: "name",
		},
		{
			name: "duplicate names",
			specs: []capability.Spec{
				{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level"}},
				{Name: "r", Kind: capability.KindRead, Points: []string{"tank.heater"}},
			},
			want:  []string{`capability "r": name: defined twice`},
			field: "name",
		},
		{
			name:  "allow list naming an unknown capability",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level"}}},
			allow: map[capability.Principal][]string{"agent": {"r", "R", "set_everything"}},
			want:  []string{`principal "agent": allow "R": no such capability`, `principal "agent": allow "set_everything": no such capability`},
		},
		{
			name:  "allow list naming a capability twice",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level"}}},
			allow: map[capability.Principal][]string{"agent": {"r", "r"}},
			want:  []string{`principal "agent": allow "r": listed twice`},
		},
		{
			name:  "empty principal",
			specs: []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level"}}},
			allow: map[capability.Principal][]string{"": {"r"}},
			want:  []string{`principal "": empty principal name`},
		},
		{
			name:    "device configured twice",
			specs:   []capability.Spec{{Name: "r", Kind: capability.KindRead, Points: []string{"tank.level"}}},
			devices: []drivers.DeviceConfig{tankDevice(), tankDevice()},
			want:    []string{`capability: device "tank" configured twice`},
		},
		{
			name: "every problem is reported",
			specs: []capability.Spec{
				write("a", "level", ptr(0), ptr(1)),
				write("b", "inlet_pump", nil, ptr(1)),
				{Name: "c", Kind: capability.KindRead, Points: []string{"tank.nothing"}},
				{Name: "ok", Kind: capability.KindRead, Points: []string{"tank.level"}},
			},
			allow: map[capability.Principal][]string{"agent": {"ok", "ghost"}},
			want:  []string{`"a": point`, `"b": min: missing`, `"c": points`, `allow "ghost"`},
			field: "point",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devices := tt.devices
			if devices == nil {
				devices = []drivers.DeviceConfig{tankDevice()}
			}
			resolvers := tt.resolvers
			if resolvers == nil {
				resolvers = map[string]capability.Resolver{"tank": resolverFunc(tankResolver)}
			}
			g, err := capability.New(tt.specs, tt.allow, devices, resolvers)
			if g != nil {
				t.Errorf("got a gate, want nil")
			}
			got := problems(err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %q, want %d %q", len(got), err, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].Error(), w) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, got[i], w)
				}
			}
			var se *capability.SpecError
			switch {
			case tt.field == "" && errors.As(err, &se):
				t.Errorf("got a SpecError %v, want none", se)
			case tt.field != "" && !errors.As(err, &se):
				t.Errorf("got no SpecError, want one for field %q", tt.field)
			case tt.field != "" && se.Field != tt.field:
				t.Errorf("got SpecError field %q, want %q", se.Field, tt.field)
			}
		})
	}
}

func TestNewDenyByDefault(t *testing.T) {
	g, err := capability.New(tankSpecs(), nil, []drivers.DeviceConfig{tankDevice()}, map[string]capability.Resolver{"tank": resolverFunc(tankResolver)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, p := range []capability.Principal{"agent", "operator", ""} {
		if tools := g.Tools(p); len(tools) != 0 {
			t.Errorf("Tools(%q): got %d tools, want none", p, len(tools))
		}
		d := g.Decide(p, capability.Call{Capability: "read_tank", Args: "{}"}, capability.Snapshot{})
		if d.Outcome != capability.Deny || d.Reason != capability.ReasonNotAllowed {
			t.Errorf("Decide as %q: got %v %q, want deny %q", p, d.Outcome, d.Reason, capability.ReasonNotAllowed)
		}
	}
	var nilGate *capability.Gate
	d := nilGate.Decide("operator", capability.Call{Capability: "read_tank", Args: "{}"}, capability.Snapshot{})
	if d.Outcome != capability.Deny || d.Action != nil {
		t.Errorf("nil gate: got %v with action %v, want deny without one", d.Outcome, d.Action)
	}
}

func TestTools(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	tests := []struct {
		principal capability.Principal
		want      []string
	}{
		{"agent", []string{"heater_off", "read_tank", "set_heater", "set_inlet_pump", "set_pump_speed", "set_pump_trim"}},
		{"viewer", []string{"read_tank"}},
		{"nobody", nil},
		{"Viewer", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, tool := range g.Tools(tt.principal) {
			got = append(got, tool.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tools(%q): got %q, want %q", tt.principal, got, tt.want)
		}
	}
}

func TestToolSchemasAndDescriptions(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	tools := map[string]capability.Tool{}
	for _, tool := range g.Tools("operator") {
		tools[tool.Name] = tool
	}
	tests := []struct {
		name       string
		schema     string
		descPhrase string
	}{
		{
			name:       "set_inlet_pump",
			schema:     `{"type":"object","properties":{"value":{"type":"number","description":"a number from 0 to 100 %"}},"required":["value"],"additionalProperties":false}`,
			descPhrase: `Sets the inlet pump speed. Sets tank.inlet_pump. Argument "value": a number from 0 to 100 %.`,
		},
		{
			name:       "set_pump_speed",
			schema:     `{"type":"object","properties":{"speed":{"type":"number","description":"a number from 10 to 90 %"}},"required":["speed"],"additionalProperties":false}`,
			descPhrase: `Argument "speed": a number from 10 to 90 %.`,
		},
		{
			name:       "set_heater",
			schema:     `{"type":"object","properties":{"value":{"type":"boolean","description":"true or false"}},"required":["value"],"additionalProperties":false}`,
			descPhrase: `Sets tank.heater. Argument "value": true or false.`,
		},
		{
			name:       "heater_off",
			schema:     `{"type":"object","properties":{"value":{"type":"boolean","description":"false only"}},"required":["value"],"additionalProperties":false}`,
			descPhrase: `false only`,
		},
		{
			name:       "read_tank",
			schema:     `{"type":"object","properties":{},"additionalProperties":false}`,
			descPhrase: `Reads the tank. Reads tank.level (%), tank.inlet_pump (%). Takes no arguments.`,
		},
	}
	for _, tt := range tests {
		tool, ok := tools[tt.name]
		if !ok {
			t.Errorf("Tools(operator): %q missing", tt.name)
			continue
		}
		if got := string(tool.Parameters); got != tt.schema {
			t.Errorf("%s schema: got %s, want %s", tt.name, got, tt.schema)
		}
		if !json.Valid(tool.Parameters) {
			t.Errorf("%s schema: not valid JSON", tt.name)
		}
		if !strings.Contains(tool.Description, tt.descPhrase) {
			t.Errorf("%s description: got %q, want it to contain %q", tt.name, tool.Description, tt.descPhrase)
		}
	}
}

func TestToolsAreCopies(t *testing.T) {
	g := newTankGate(t, resolverFunc(tankResolver))
	first := g.Tools("viewer")
	first[0].Parameters[0] = 'X'
	if got := g.Tools("viewer")[0].Parameters[0]; got != '{' {
		t.Errorf("after changing a returned schema: got first byte %q, want '{'", got)
	}
}

func TestSpecIsACopy(t *testing.T) {
	specs := tankSpecs()
	g, err := capability.New(specs, tankAllow(), []drivers.DeviceConfig{tankDevice()}, map[string]capability.Resolver{"tank": resolverFunc(tankResolver)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	*specs[0].Max = 1000 // the caller's change after New
	s, ok := g.Spec("set_inlet_pump")
	if !ok {
		t.Fatal("Spec(set_inlet_pump): got missing, want present")
	}
	if *s.Max != 100 {
		t.Errorf("Spec max after the caller changed its copy: got %v, want 100", *s.Max)
	}
	if s.Argument != "value" {
		t.Errorf("Spec argument: got %q, want the default %q", s.Argument, "value")
	}
	*s.Max = 1000 // a change to the returned copy
	d := g.Decide("agent", capability.Call{Capability: "set_inlet_pump", Args: `{"value":500}`}, capability.Snapshot{})
	if d.Reason != capability.ReasonOutOfRange {
		t.Errorf("after changing copies of the spec: got %q, want %q", d.Reason, capability.ReasonOutOfRange)
	}
	if _, ok := g.Spec("SET_INLET_PUMP"); ok {
		t.Error("Spec(SET_INLET_PUMP): got present, want missing")
	}
}
