package config

import (
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// The closed sets of GPIO settings.
var (
	gpioDirections = []string{"input", "output"}
	gpioBiases     = []string{"as-is", "pull-up", "pull-down"}
)

// DefaultChip is the chip of a GPIO device that names none: the
// Raspberry Pi's header.
const DefaultChip = "gpiochip0"

// gpioDefaults fills in a GPIO device's defaults: its points are bool,
// outputs when writable and inputs otherwise; the Modbus defaults do not
// apply.
func (c *Config) gpioDefaults(d *drivers.DeviceConfig) {
	if d.Poll == 0 {
		d.Poll = DefaultPoll
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Chip == "" {
		d.Chip = DefaultChip
	}
	for j := range d.Points {
		p := &d.Points[j]
		if p.Type == "" {
			p.Type = "bool"
		}
		if p.Direction == "" {
			p.Direction = "input"
			if p.Writable {
				p.Direction = "output"
			}
		}
	}
}

// gpio checks a GPIO device. lines holds the lines every GPIO device
// checked so far takes, by chip and line, so that two devices on one line
// are found.
func (v *checker) gpio(dp path, d *drivers.DeviceConfig, lines map[string]string) {
	for _, k := range []string{"url", "unit", "address_base", "max_registers", "max_bits", "max_gap", "one_request_per_point", "retries", "pause_after_connect", "tls", "opcua"} {
		if v.c.src.has(dp.add(k)) {
			v.at(dp.add(k), "does not apply to GPIO")
		}
	}
	if d.URL != "" && !v.c.src.has(dp.add("url")) {
		v.at(dp.add("url"), "does not apply to GPIO; name the chip with chip")
	}
	if d.Poll <= 0 {
		v.at(dp.add("poll"), "%s must be more than 0", d.Poll)
	}
	if d.Timeout <= 0 {
		v.at(dp.add("timeout"), "%s must be more than 0", d.Timeout)
	}
	chip := strings.TrimPrefix(d.Chip, "/dev/")
	seen := make(map[string]int)
	for j := range d.Points {
		pt := &d.Points[j]
		pp := dp.add("points", j)
		v.pointName(pp, pt.Name, j, seen)
		v.noRange(pp, pt, "GPIO")
		if ref, err := drivers.ParseGPIOLine(pt.Line); err != nil {
			v.at(pp.add("line"), "%v", err)
		} else {
			for _, k := range ref.Keys() {
				if other, dup := lines[chip+" "+k]; dup {
					v.at(pp.add("line"), "%s of %s is already %s", ref, chip, other)
					break
				}
			}
			for _, k := range ref.Keys() {
				lines[chip+" "+k] = d.Name + "." + pt.Name
			}
		}
		v.gpioPoint(pp, pt)
	}
}

// gpioPoint checks the settings of one line.
func (v *checker) gpioPoint(pp path, pt *drivers.PointConfig) {
	for _, k := range []string{"register", "address", "order", "bit", "length", "node", "scale", "offset"} {
		if v.c.src.has(pp.add(k)) {
			v.at(pp.add(k), "does not apply to GPIO")
		}
	}
	if pt.Type != "bool" {
		v.at(pp.add("type"), "%q: a GPIO line is bool", pt.Type)
	}
	dirOK := v.oneOf(pp.add("direction"), pt.Direction, gpioDirections)
	if pt.Bias != "" {
		v.oneOf(pp.add("bias"), pt.Bias, gpioBiases)
	}
	if !dirOK {
		return
	}
	output := pt.Direction == "output"
	if output && pt.Bias != "" && pt.Bias != "as-is" {
		v.at(pp.add("bias"), "applies to inputs only; an output drives its line")
	}
	if !output && pt.Writable {
		v.at(pp.add("writable"), "an input cannot be written; use direction: output")
	}
	if !output && pt.Initial {
		v.at(pp.add("initial"), "applies to outputs only")
	}
}
