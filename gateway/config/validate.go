package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// The closed sets of values a setting may take.
var (
	logLevels    = []string{"debug", "info", "warn", "error"}
	knownDrivers = []string{"modbus", "opcua", "gpio"}
	registers    = []string{"holding", "input", "coil", "discrete"}
	pointTypes   = []string{"bool", "uint16", "int16", "uint32", "int32", "float32", "uint64", "int64", "float64", "string"}
	byteOrders   = []string{"ABCD", "CDAB", "BADC", "DCBA"}
	providers    = []string{"scripted", "openai", "anthropic", "replay"}
	modbusURLs   = []string{"tcp", "tcp+tls", "udp", "rtu", "rtuovertcp", "rtuoverudp"}
	mqttSchemes  = []string{"tcp", "ssl", "tls", "mqtt", "mqtts"}
)

// MinInterval is the shortest interval trigger an agent may have.
const MinInterval = 100 * time.Millisecond

// operatorName is the principal of the local command line; no agent may
// take it.
const operatorName = "operator"

// Validate checks the whole config, after its defaults have been applied,
// and returns every problem found as Problems (nil when there is none). For
// a config read from a file each problem carries the position of the
// offending setting.
func (c *Config) Validate() error {
	var ps Problems
	for _, f := range c.check() {
		ps = append(ps, f.Problem)
	}
	return ps.err()
}

// check runs every semantic check and returns what it found.
func (c *Config) check() []finding {
	v := &checker{c: c}
	v.gateway()
	v.mqtt()
	devices := v.devices()
	caps := v.capabilities(devices)
	v.approvals()
	v.agents(caps)
	v.allowList(path{"operator", "allow"}, c.Operator.Allow, caps)
	v.mcp(caps)
	v.sparkplug(caps)
	v.journal()
	return v.found
}

// checker collects problems.
type checker struct {
	c     *Config
	found []finding
}

// at reports a problem with the value at p.
func (v *checker) at(p path, format string, args ...any) {
	v.found = append(v.found, finding{path: p, Problem: v.c.src.problem(v.c.Path, p, false, fmt.Sprintf(format, args...))})
}

// validName reports whether s is 1 to 64 letters, digits, '-' or '_'.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// name checks a required name at p.
func (v *checker) name(p path, s string) bool {
	switch {
	case s == "":
		v.at(p, "is required")
	case !validName(s):
		v.at(p, "%q is not a name of 1 to 64 letters, digits, '-' or '_'", s)
	default:
		return true
	}
	return false
}

// pointName checks the name of points[j] of a device, and that no point
// before it has the same one; seen holds the names checked so far.
func (v *checker) pointName(pp path, name string, j int, seen map[string]int) {
	if !v.name(pp.add("name"), name) {
		return
	}
	if k, dup := seen[name]; dup {
		v.at(pp.add("name"), "%q is already the name of points[%d] of this device", name, k)
		return
	}
	seen[name] = j
}

// oneOf checks that s is one of opts.
func (v *checker) oneOf(p path, s string, opts []string) bool {
	if slices.Contains(opts, s) {
		return true
	}
	if s == "" {
		v.at(p, "is required (one of %s)", strings.Join(opts, ", "))
	} else {
		v.at(p, "%q is not one of %s", s, strings.Join(opts, ", "))
	}
	return false
}

func (v *checker) gateway() {
	g := v.c.Gateway
	v.name(path{"gateway", "id"}, g.ID)
	if g.DataDir == "" {
		v.at(path{"gateway", "data_dir"}, "must not be empty")
	}
	v.oneOf(path{"gateway", "log_level"}, g.LogLevel, logLevels)
}

func (v *checker) mqtt() {
	m := v.c.MQTT
	if m.Broker != "" {
		u, err := url.Parse(m.Broker)
		if err != nil || !slices.Contains(mqttSchemes, u.Scheme) || u.Host == "" {
			v.at(path{"mqtt", "broker"}, "%q is not a broker URL such as tcp://192.168.1.5:1883 (schemes: %s)", m.Broker, strings.Join(mqttSchemes, ", "))
		}
	} else if _, port, err := net.SplitHostPort(m.Listen); err != nil || !validPort(port) {
		v.at(path{"mqtt", "listen"}, "%q is not an address such as 127.0.0.1:1883", m.Listen)
	}
	// The prefix and client id default from the gateway id: without one
	// they are empty, and only the missing id is reported.
	noID := v.c.Gateway.ID == ""
	switch p := m.Prefix; {
	case p == "":
		if !noID {
			v.at(path{"mqtt", "prefix"}, "must not be empty")
		}
	case strings.ContainsAny(p, "+#\x00"):
		v.at(path{"mqtt", "prefix"}, "%q must not contain the MQTT wildcards + or #", p)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		v.at(path{"mqtt", "prefix"}, "%q must not start or end with '/' or hold an empty level", p)
	}
	if m.ClientID == "" && !noID {
		v.at(path{"mqtt", "client_id"}, "must not be empty")
	}
	v.mqttOptions()
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// devices checks the devices and returns them by name (the first of each
// name).
func (v *checker) devices() map[string]*drivers.DeviceConfig {
	byName := make(map[string]*drivers.DeviceConfig, len(v.c.Devices))
	first := make(map[string]int)
	gpioLines := make(map[string]string)
	for i := range v.c.Devices {
		d := &v.c.Devices[i]
		dp := path{"devices", strconv.Itoa(i)}
		if v.name(dp.add("name"), d.Name) {
			if j, dup := first[d.Name]; dup {
				v.at(dp.add("name"), "%q is already the name of devices[%d]", d.Name, j)
			} else {
				first[d.Name] = i
				byName[d.Name] = d
			}
		}
		if !v.oneOf(dp.add("driver"), d.Driver, knownDrivers) {
			continue
		}
		switch d.Driver {
		case "modbus":
			v.modbus(dp, d)
		case "opcua":
			v.opcua(dp, d)
		case "gpio":
			v.gpio(dp, d, gpioLines)
		}
	}
	return byName
}

func (v *checker) modbus(dp path, d *drivers.DeviceConfig) {
	v.modbusURL(dp.add("url"), d.URL)
	if d.Unit > 247 {
		v.at(dp.add("unit"), "%d is more than the maximum, 247", d.Unit)
	}
	if d.Poll <= 0 {
		v.at(dp.add("poll"), "%s must be more than 0", d.Poll)
	}
	if d.Timeout <= 0 {
		v.at(dp.add("timeout"), "%s must be more than 0", d.Timeout)
	}
	seen := make(map[string]int)
	for j := range d.Points {
		pt := &d.Points[j]
		pp := dp.add("points", j)
		v.pointName(pp, pt.Name, j, seen)
		v.modbusPoint(pp, pt)
		v.modbusPointSettings(pp, pt, d)
		v.modbusRange(pp, pt, d)
	}
	v.rangeNames(dp, d)
	v.modbusSettings(dp, d)
}

func (v *checker) modbusURL(p path, s string) {
	const want = "a Modbus URL such as tcp://192.168.1.10:502, rtu:///dev/ttyUSB0 or rtuovertcp://10.0.0.5:4001"
	if s == "" {
		v.at(p, "is required: %s", want)
		return
	}
	u, err := url.Parse(s)
	if err != nil || !slices.Contains(modbusURLs, u.Scheme) {
		v.at(p, "%q is not %s", s, want)
		return
	}
	switch u.Scheme {
	case "rtu":
		if u.Path == "" {
			v.at(p, "%q names no serial port; want e.g. rtu:///dev/ttyUSB0", s)
		}
	default:
		if _, port, err := net.SplitHostPort(u.Host); err != nil || !validPort(port) || u.Hostname() == "" {
			v.at(p, "%q needs a host and a port, e.g. %s://192.168.1.10:502", s, u.Scheme)
		}
	}
}

func (v *checker) modbusPoint(pp path, pt *drivers.PointConfig) {
	regOK := v.oneOf(pp.add("register"), pt.Register, registers)
	typeOK := v.oneOf(pp.add("type"), pt.Type, pointTypes)
	bits := pt.Register == "coil" || pt.Register == "discrete"
	if !bits {
		v.oneOf(pp.add("order"), pt.Order, byteOrders)
	}
	if regOK && typeOK {
		switch {
		case bits && pt.Type != "bool":
			v.at(pp.add("type"), "%q cannot be read from a %s; %s points are bool", pt.Type, pt.Register, pt.Register)
		}
	}
	if bits {
		// A bit has no byte order and no scale.
		for _, f := range []struct {
			name string
			set  bool
		}{{"order", pt.Order != ""}, {"scale", pt.Scale != 0}, {"offset", pt.Offset != 0}} {
			if f.set {
				v.at(pp.add(f.name), "does not apply to a %s point; remove it", pt.Register)
			}
		}
	} else if pt.Scale == 0 || math.IsNaN(pt.Scale) || math.IsInf(pt.Scale, 0) {
		v.at(pp.add("scale"), "%v is not a number other than 0", pt.Scale)
	}
	if math.IsNaN(pt.Offset) || math.IsInf(pt.Offset, 0) {
		v.at(pp.add("offset"), "%v is not a number", pt.Offset)
	}
	if pt.Writable && (pt.Register == "input" || pt.Register == "discrete") {
		instead := "holding register"
		if pt.Register == "discrete" {
			instead = "coil"
		}
		v.at(pp.add("writable"), "%s %s point cannot be written; remove writable or use a %s", article(pt.Register), pt.Register, instead)
	}
}

// capabilities checks the capabilities against the devices and returns the
// set of capability names.
func (v *checker) capabilities(devices map[string]*drivers.DeviceConfig) map[string]bool {
	names := make(map[string]bool, len(v.c.Capabilities))
	first := make(map[string]int)
	for i := range v.c.Capabilities {
		s := &v.c.Capabilities[i]
		cp := path{"capabilities", strconv.Itoa(i)}
		if v.name(cp.add("name"), s.Name) {
			if j, dup := first[s.Name]; dup {
				v.at(cp.add("name"), "%q is already the name of capabilities[%d]", s.Name, j)
			} else {
				first[s.Name] = i
				names[s.Name] = true
			}
		}
		switch s.Kind {
		case capability.KindWrite:
			v.write(cp, s, devices)
		case capability.KindRead:
			v.read(cp, s, devices)
		case capability.KindPulse:
			v.pulse(cp, s, devices)
		case capability.KindSequence:
			v.sequence(cp, s, devices)
		default:
			v.oneOf(cp.add("kind"), string(s.Kind), []string{string(capability.KindRead), string(capability.KindWrite), string(capability.KindPulse), string(capability.KindSequence)})
		}
		v.limits(cp, s)
	}
	return names
}

func (v *checker) write(cp path, s *capability.Spec, devices map[string]*drivers.DeviceConfig) {
	if len(s.Points) > 0 {
		v.at(cp.add("points"), "a write sets one point, named by device and point; points is for read capabilities")
	}
	if s.Argument != "" && !validName(s.Argument) {
		v.at(cp.add("argument"), "%q is not a name of 1 to 64 letters, digits, '-' or '_'", s.Argument)
	}
	var pt drivers.PointConfig
	found := false
	switch d, ok := devices[s.Device]; {
	case s.Device == "":
		v.at(cp.add("device"), "is required for a write")
	case !ok:
		v.at(cp.add("device"), "%q is not a device of this gateway", s.Device)
	case s.Point == "":
		v.at(cp.add("point"), "is required for a write")
	default:
		if pt, found = d.Point(s.Point); !found {
			v.at(cp.add("point"), "%q is not a point of device %q", s.Point, s.Device)
		} else if !pt.Writable || pt.Register == "input" || pt.Register == "discrete" {
			v.at(cp.add("point"), "%s.%s is read-only; a write capability needs a writable point", s.Device, s.Point)
		}
	}
	if s.Min == nil {
		v.at(cp.add("min"), "is required for a write")
	}
	if s.Max == nil {
		v.at(cp.add("max"), "is required for a write")
	}
	if s.Min == nil || s.Max == nil {
		return
	}
	lo, hi := *s.Min, *s.Max
	switch {
	case math.IsNaN(lo) || math.IsInf(lo, 0):
		v.at(cp.add("min"), "%v is not a number", lo)
	case math.IsNaN(hi) || math.IsInf(hi, 0):
		v.at(cp.add("max"), "%v is not a number", hi)
	case lo > hi:
		v.at(cp.add("min"), "%v is more than max, %v", lo, hi)
	case found && pt.Type == "bool" && (lo < 0 || hi > 1):
		v.at(cp.add("min"), "a bool point takes 0 (off) or 1 (on); min and max must lie within 0..1")
	}
}

func (v *checker) read(cp path, s *capability.Spec, devices map[string]*drivers.DeviceConfig) {
	for _, f := range []struct {
		key string
		set bool
	}{{"device", s.Device != ""}, {"point", s.Point != ""}, {"min", s.Min != nil}, {"max", s.Max != nil}, {"argument", s.Argument != ""}} {
		if f.set {
			v.at(cp.add(f.key), "only write capabilities take %s; a read lists its points", f.key)
		}
	}
	if len(s.Points) == 0 {
		v.at(cp.add("points"), "a read capability lists at least one device.point")
	}
	seen := make(map[string]bool, len(s.Points))
	for j, ref := range s.Points {
		rp := cp.add("points", j)
		if seen[ref] {
			v.at(rp, "%q is listed twice", ref)
			continue
		}
		seen[ref] = true
		dev, pt, ok := strings.Cut(ref, ".")
		if !ok || !validName(dev) || !validName(pt) {
			v.at(rp, "%q is not a point written as device.point", ref)
			continue
		}
		d, ok := devices[dev]
		if !ok {
			v.at(rp, "%q is not a device of this gateway", dev)
			continue
		}
		if _, ok := d.Point(pt); !ok {
			v.at(rp, "%q is not a point of device %q", pt, dev)
		}
	}
}

func (v *checker) agents(caps map[string]bool) {
	first := make(map[string]int)
	for i := range v.c.Agents {
		a := &v.c.Agents[i]
		ap := path{"agents", strconv.Itoa(i)}
		if v.name(ap.add("name"), a.Name) {
			switch j, dup := first[a.Name]; {
			case a.Name == operatorName:
				v.at(ap.add("name"), "%q is reserved for the local command line; choose another name", a.Name)
			case dup:
				v.at(ap.add("name"), "%q is already the name of agents[%d]", a.Name, j)
			default:
				first[a.Name] = i
			}
		}
		if v.oneOf(ap.add("brain", "provider"), a.Brain.Provider, providers) && a.Brain.Provider == "scripted" {
			switch {
			case a.Brain.Script == "":
				v.at(ap.add("brain", "script"), "is required for the scripted provider")
			case !v.c.fileExists(a.Brain.Script):
				v.at(ap.add("brain", "script"), "%q does not exist (relative names are taken from the directory of this file)", a.Brain.Script)
			}
		}
		v.brain(ap.add("brain"), &a.Brain)
		v.trigger(ap.add("trigger"), &a.Trigger)
		v.allowList(ap.add("allow"), a.Allow, caps)
		iv := a.Trigger.Interval
		if iv != 0 || v.c.src.has(ap.add("trigger", "interval")) {
			if iv.D() < MinInterval {
				v.at(ap.add("trigger", "interval"), "%s is shorter than the minimum, %s", iv, MinInterval)
			}
		}
		if a.MaxSteps < 1 || a.MaxSteps > 100 {
			v.at(ap.add("max_steps"), "%d is not between 1 and 100", a.MaxSteps)
		}
	}
}

func (v *checker) allowList(p path, allow []string, caps map[string]bool) {
	seen := make(map[string]bool, len(allow))
	for j, name := range allow {
		switch {
		case !caps[name]:
			v.at(p.add(j), "%q is not a capability of this gateway", name)
		case seen[name]:
			v.at(p.add(j), "%q is listed twice", name)
		}
		seen[name] = true
	}
}

// article returns "an" before a vowel and "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
