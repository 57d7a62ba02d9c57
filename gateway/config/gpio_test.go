package config

import (
	"path/filepath"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// TestExampleGPIO loads the shipped GPIO example and checks the defaults
// a GPIO device gets: the Raspberry Pi's chip, bool points, outputs when
// writable, and none of the Modbus defaults.
func TestExampleGPIO(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "configs", "example-gpio.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d := cfg.Devices[0]
	if d.Driver != "gpio" || d.Chip != "gpiochip0" || d.Unit != 0 || d.URL != "" {
		t.Errorf("device: got driver %q chip %q unit %d url %q, want gpio gpiochip0 0 \"\"", d.Driver, d.Chip, d.Unit, d.URL)
	}
	want := map[string]string{"pump": "output", "fill_valve": "output", "alarm_lamp": "output", "relay_board_enable": "output",
		"level_low": "input", "level_high": "input", "door_open": "input"}
	for _, p := range d.Points {
		if p.Type != "bool" || p.Direction != want[p.Name] || p.Order != "" || p.Scale != 0 {
			t.Errorf("point %s: got type %q direction %q order %q scale %v, want bool %s, no order, no scale", p.Name, p.Type, p.Direction, p.Order, p.Scale, want[p.Name])
		}
	}
	if n := len(cfg.Capabilities); n != 5 {
		t.Errorf("capabilities: got %d, want 5", n)
	}
}

// TestGPIODefaultsInCode: a config built in code gets the same defaults.
func TestGPIODefaultsInCode(t *testing.T) {
	c := &Config{Gateway: Gateway{ID: "x"}, Devices: []drivers.DeviceConfig{{Name: "pi", Driver: "gpio", Points: []drivers.PointConfig{
		{Name: "a", Line: "GPIO17", Writable: true}, {Name: "b", Line: "pin16"},
	}}}}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p := c.Devices[0].Points
	if p[0].Direction != "output" || p[1].Direction != "input" || p[0].Type != "bool" || c.Devices[0].Chip != DefaultChip {
		t.Errorf("got %+v, chip %q", p, c.Devices[0].Chip)
	}
}
