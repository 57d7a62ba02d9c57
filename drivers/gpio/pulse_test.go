package gpio_test

import (
	"slices"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	fgpio "github.com/femtoclaw/femtoclaw/drivers/gpio"
	"periph.io/x/conn/v3/gpio"
)

// TestPulseThroughTheGate builds a gate with pulse and write capabilities
// on GPIO outputs, lets it decide, and carries out the authorised actions
// as the gateway does (a pulse: write its value, wait, write its
// restore): the lines see on and then off, active_low applied, and a
// pulse or a write on an input is refused when the gate is built.
func TestPulseThroughTheGate(t *testing.T) {
	cfg := board()
	for i := range cfg.Points {
		cfg.Points[i].Type = "bool" // as the config's defaults set it
	}
	chip := fgpio.NewFakeChip(28, nil)
	dev, err := fgpio.NewFake(cfg, chip)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	specs := []capability.Spec{
		{Name: "prime_pump", Kind: capability.KindPulse, Device: "pi", Point: "pump", Duration: drivers.Duration(20 * time.Millisecond)},
		{Name: "flash_lamp", Kind: capability.KindPulse, Device: "pi", Point: "lamp", Duration: drivers.Duration(20 * time.Millisecond)},
		{Name: "set_lamp", Kind: capability.KindWrite, Device: "pi", Point: "lamp", Min: ptr(0), Max: ptr(1)},
	}
	g, err := capability.New(specs, map[capability.Principal][]string{"agent": {"prime_pump", "flash_lamp", "set_lamp"}},
		[]drivers.DeviceConfig{cfg}, map[string]capability.Resolver{"pi": dev})
	if err != nil {
		t.Fatalf("gate: %v", err)
	}
	if _, err := dev.Read(ctx, nil); err != nil { // take the lines: initial states
		t.Fatal(err)
	}
	for _, c := range []struct {
		cap    string
		offset int
		want   []gpio.Level // after the initial level
	}{
		{"prime_pump", 17, []gpio.Level{gpio.Low, gpio.High}}, // active low: on is low
		{"flash_lamp", 22, []gpio.Level{gpio.High, gpio.Low}},
	} {
		d := g.Decide("agent", capability.Call{Capability: c.cap}, capability.Snapshot{Time: time.Now()})
		if d.Outcome != capability.Allow || d.Action == nil {
			t.Fatalf("%s: got %v %s %s, want allow", c.cap, d.Outcome, d.Reason, d.Detail)
		}
		a := d.Action
		if a.Kind() != capability.KindPulse || a.Value().Value != drivers.Bool(true) || a.Restore().Value != drivers.Bool(false) {
			t.Fatalf("%s: got %s %v then %v, want a pulse on then off", c.cap, a.Kind(), a.Value(), a.Restore())
		}
		if err := dev.Write(ctx, a.Point(), a.Value()); err != nil {
			t.Fatalf("%s: set: %v", c.cap, err)
		}
		if got := values(t, dev, a.Point())[a.Point()]; !got {
			t.Errorf("%s: during the pulse %s reads %v, want true", c.cap, a.Point(), got)
		}
		time.Sleep(a.Duration())
		if err := dev.Write(ctx, a.Point(), a.Restore()); err != nil {
			t.Fatalf("%s: restore: %v", c.cap, err)
		}
		if got := chip.Outs(c.offset)[1:]; !slices.Equal(got, c.want) {
			t.Errorf("%s: line %d driven %v, want %v", c.cap, c.offset, got, c.want)
		}
	}
	d := g.Decide("agent", capability.Call{Capability: "set_lamp", Args: `{"value":true}`}, capability.Snapshot{Time: time.Now()})
	if d.Outcome != capability.Allow {
		t.Fatalf("set_lamp: got %v %s %s", d.Outcome, d.Reason, d.Detail)
	}
	if w := d.Action.Value(); w.Value != drivers.Bool(true) || !slices.Equal(w.Wire, []byte{1}) {
		t.Errorf("set_lamp true: authorised %s, want true (0x01)", w)
	}

	for _, bad := range []capability.Spec{
		{Name: "pulse_door", Kind: capability.KindPulse, Device: "pi", Point: "door", Duration: drivers.Duration(time.Second)},
		{Name: "pulse_enable", Kind: capability.KindPulse, Device: "pi", Point: "enable", Duration: drivers.Duration(time.Second)},
	} {
		if _, err := capability.New([]capability.Spec{bad}, nil, []drivers.DeviceConfig{cfg}, map[string]capability.Resolver{"pi": dev}); err == nil {
			t.Errorf("%s: the gate took a pulse on a point that is not a writable output", bad.Name)
		}
	}
}

func ptr(f float64) *float64 { return &f }
