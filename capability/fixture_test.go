package capability_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// tankDevice is the device every test gate reaches: a tank with a pump
// speed it may set, a level it may only read and a heater coil.
func tankDevice() drivers.DeviceConfig {
	return drivers.DeviceConfig{
		Name:   "tank",
		Driver: "modbus",
		URL:    "tcp://127.0.0.1:502",
		Points: []drivers.PointConfig{
			{Name: "inlet_pump", Register: "holding", Address: 0, Type: "uint16", Unit: "%", Writable: true},
			{Name: "level", Register: "holding", Address: 1, Type: "float32", Unit: "%"},
			{Name: "heater", Register: "coil", Address: 0, Writable: true},
		},
	}
}

func ptr(f float64) *float64 { return &f }

// tankSpecs are the capabilities of the test gate.
func tankSpecs() []capability.Spec {
	return []capability.Spec{
		{Name: "set_inlet_pump", Description: "Sets the inlet pump speed", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Min: ptr(0), Max: ptr(100)},
		{Name: "set_heater", Kind: capability.KindWrite, Device: "tank", Point: "heater", Min: ptr(0), Max: ptr(1)},
		{Name: "heater_off", Kind: capability.KindWrite, Device: "tank", Point: "heater", Min: ptr(0), Max: ptr(0)},
		{Name: "read_tank", Description: "Reads the tank.", Kind: capability.KindRead, Points: []string{"tank.level", "tank.inlet_pump"}},
		{Name: "set_pump_speed", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Argument: "speed", Min: ptr(10), Max: ptr(90)},
		{Name: "set_pump_trim", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Min: ptr(0), Max: ptr(99.5)},
		{Name: "drain_tank", Kind: capability.KindWrite, Device: "tank", Point: "inlet_pump", Min: ptr(0), Max: ptr(0)},
	}
}

// tankAllow are the allow lists of the test gate.
func tankAllow() map[capability.Principal][]string {
	return map[capability.Principal][]string{
		"agent":    {"set_inlet_pump", "set_heater", "heater_off", "read_tank", "set_pump_speed", "set_pump_trim"},
		"operator": {"set_inlet_pump", "set_heater", "heater_off", "read_tank", "set_pump_speed", "set_pump_trim", "drain_tank"},
		"viewer":   {"read_tank"},
	}
}

// resolverFunc makes a Resolver of a function.
type resolverFunc func(point string, v drivers.Value) (drivers.Encoded, error)

func (f resolverFunc) Resolve(point string, v drivers.Value) (drivers.Encoded, error) {
	return f(point, v)
}

// tankResolver resolves as a Modbus driver would for the tank: the pump is
// a uint16 register (rounded to the nearest step), the heater a coil.
func tankResolver(point string, v drivers.Value) (drivers.Encoded, error) {
	switch point {
	case "inlet_pump":
		if v.Kind != drivers.KindNumber {
			return drivers.Encoded{}, fmt.Errorf("tank: %s: %w: not a number", point, drivers.ErrValue)
		}
		r := math.Round(v.Number)
		if math.IsNaN(r) || r < 0 || r > math.MaxUint16 {
			return drivers.Encoded{}, fmt.Errorf("tank: %s: %w: %v", point, drivers.ErrValue, v)
		}
		wire := binary.BigEndian.AppendUint16(nil, uint16(r))
		return drivers.Encoded{Value: drivers.Number(r), Wire: wire}, nil
	case "heater":
		if v.Kind != drivers.KindBool {
			return drivers.Encoded{}, fmt.Errorf("tank: %s: %w: not a boolean", point, drivers.ErrValue)
		}
		var b byte
		if v.Bool {
			b = 1
		}
		return drivers.Encoded{Value: v, Wire: []byte{b}}, nil
	case "level":
		return drivers.Encoded{}, fmt.Errorf("tank: %s: %w", point, drivers.ErrNotWritable)
	}
	return drivers.Encoded{}, fmt.Errorf("tank: %s: %w", point, drivers.ErrUnknownPoint)
}

// countingDevice stands in for the driver: it carries out authorised
// actions and counts them, so a test can prove that nothing refused ever
// reached it.
type countingDevice struct {
	mu     sync.Mutex
	writes int
	reads  int
	last   drivers.Encoded
}

// execute carries out a decision as the gateway would: only an Allow with
// an action that names this device does anything.
func (d *countingDevice) execute(dec capability.Decision) {
	if dec.Outcome != capability.Allow || dec.Action == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch dec.Action.Kind() {
	case capability.KindWrite:
		if dec.Action.Device() == "tank" {
			d.writes++
			d.last = dec.Action.Value()
		}
	case capability.KindRead:
		d.reads++
	}
}

// newTankGate builds the test gate with the given resolver.
func newTankGate(t testing.TB, r capability.Resolver) *capability.Gate {
	t.Helper()
	g, err := capability.New(tankSpecs(), tankAllow(), []drivers.DeviceConfig{tankDevice()}, map[string]capability.Resolver{"tank": r})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}
