package config

import (
	"github.com/femtoclaw/femtoclaw/drivers"
)

// Limits of the Modbus settings, as the protocol sets them.
const (
	modbusMaxRegisters = 125
	modbusMaxBits      = 2000
	modbusMaxString    = 2 * modbusMaxRegisters
)

// modbusWords is how many registers a point of each register type takes;
// a string takes its length.
var modbusWords = map[string]int{
	"bool": 1, "uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2,
	"uint64": 4, "int64": 4, "float64": 4,
}

// modbusSettings checks the device-wide Modbus settings for awkward
// devices.
func (v *checker) modbusSettings(dp path, d *drivers.DeviceConfig) {
	if d.AddressBase > 1 {
		v.at(dp.add("address_base"), "%d is neither 0 (addresses as on the wire) nor 1 (register 1 is wire address 0)", d.AddressBase)
	}
	if d.MaxRegisters > modbusMaxRegisters {
		v.at(dp.add("max_registers"), "%d is more than one request may read, %d", d.MaxRegisters, modbusMaxRegisters)
	}
	if d.MaxBits > modbusMaxBits {
		v.at(dp.add("max_bits"), "%d is more than one request may read, %d", d.MaxBits, modbusMaxBits)
	}
	if d.PauseAfterConnect < 0 {
		v.at(dp.add("pause_after_connect"), "%s must not be negative", d.PauseAfterConnect)
	}
	tlsURL := len(d.URL) > 10 && d.URL[:10] == "tcp+tls://"
	switch {
	case tlsURL && (d.TLS == nil || d.TLS.CA == "" || d.TLS.Cert == "" || d.TLS.Key == ""):
		v.at(dp.add("url"), "a tcp+tls device needs tls: with ca, cert and key")
	case !tlsURL && d.TLS != nil:
		v.at(dp.add("tls"), "applies only to a tcp+tls:// device")
	}
}

// modbusPointSettings checks what a point of a Modbus device adds to the
// basics: its span against the address space and the request size, a bit
// in a register, a string's length.
func (v *checker) modbusPointSettings(pp path, pt *drivers.PointConfig, d *drivers.DeviceConfig) {
	bits := pt.Register == "coil" || pt.Register == "discrete"
	if d.AddressBase == 1 && pt.Address == 0 {
		v.at(pp.add("address"), "0 does not exist on a device whose address_base is 1")
	}
	if bits {
		if pt.Bit != nil {
			v.at(pp.add("bit"), "does not apply to a %s point; remove it", pt.Register)
		}
		if pt.Length != 0 {
			v.at(pp.add("length"), "does not apply to a %s point; remove it", pt.Register)
		}
		return
	}
	words := modbusWords[pt.Type]
	switch pt.Type {
	case "bool":
		if pt.Bit == nil {
			v.at(pp.add("type"), "bool on %s %s register needs bit: the bit it reads, 0-15", article(pt.Register), pt.Register)
		} else if *pt.Bit > 15 {
			v.at(pp.add("bit"), "%d is not a bit of a register, 0-15", *pt.Bit)
		}
	case "string":
		if pt.Length == 0 || pt.Length > modbusMaxString {
			v.at(pp.add("length"), "a string needs its length in bytes, 1-%d", modbusMaxString)
		}
		words = (int(pt.Length) + 1) / 2
	}
	if pt.Bit != nil && pt.Type != "bool" {
		v.at(pp.add("bit"), "applies only to type bool; remove it or make the point bool")
	}
	if pt.Length != 0 && pt.Type != "string" {
		v.at(pp.add("length"), "applies only to type string; remove it or make the point a string")
	}
	if (pt.Type == "bool" || pt.Type == "string") && pt.Writable {
		v.at(pp.add("writable"), "a %s point is read-only; remove writable", pt.Type)
	}
	if (pt.Type == "bool" || pt.Type == "string") && (pt.Offset != 0 || (pt.Scale != 0 && pt.Scale != 1)) {
		v.at(pp.add("scale"), "scale and offset do not apply to a %s point; remove them", pt.Type)
	}
	wire := int(pt.Address) - int(d.AddressBase)
	if words > 1 && wire >= 0 && wire+words > 0x10000 {
		v.at(pp.add("address"), "%d leaves no room for the %d registers of a %s", pt.Address, words, pt.Type)
	}
	if limit := int(d.MaxRegisters); limit > 0 && words > limit {
		v.at(pp.add("type"), "a %s takes %d registers, more than max_registers %d lets one request read", pt.Type, words, limit)
	}
}
