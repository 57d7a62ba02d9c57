package modbus

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

// plantConfig describes the simulator's register map as a commissioning
// engineer would.
func plantConfig(url string) drivers.DeviceConfig {
	return drivers.DeviceConfig{
		Name:    "tank",
		Driver:  "modbus",
		URL:     url,
		Timeout: drivers.Duration(500 * time.Millisecond),
		Points: []drivers.PointConfig{
			{Name: "level", Register: "holding", Address: 0, Type: "float32", Unit: "%"},
			{Name: "temperature", Register: "holding", Address: 2, Type: "float32", Unit: "degC"},
			{Name: "inlet_pump", Register: "holding", Address: 4, Unit: "%", Writable: true},
			{Name: "outlet_valve", Register: "holding", Address: 5, Type: "uint16", Unit: "%", Writable: true},
			{Name: "heater_setpoint", Register: "holding", Address: 6, Type: "int16", Scale: 0.1, Unit: "degC", Writable: true},
			{Name: "total_inflow", Register: "holding", Address: 10, Type: "uint32", Order: "CDAB", Unit: "l"},
			{Name: "heater", Register: "coil", Address: 0, Writable: true},
			{Name: "high_level_alarm", Register: "coil", Address: 1},
			{Name: "level_in", Register: "input", Address: 0, Type: "float32"},
			{Name: "heater_in", Register: "discrete", Address: 0},
		},
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(drivers.Registered(), "modbus") {
		t.Fatalf("drivers.Registered: got %v, want it to hold modbus", drivers.Registered())
	}
	d, err := drivers.Open(plantConfig("tcp://127.0.0.1:1"), nil)
	if err != nil {
		t.Fatalf("drivers.Open: %v", err)
	}
	if _, ok := d.(*Device); !ok {
		t.Errorf("drivers.Open: got %T, want *modbus.Device", d)
	}
	d.Close()
}

func TestNewValidates(t *testing.T) {
	base := func(mod func(*drivers.DeviceConfig)) drivers.DeviceConfig {
		c := plantConfig("tcp://127.0.0.1:502")
		mod(&c)
		return c
	}
	pt := func(p drivers.PointConfig) func(*drivers.DeviceConfig) {
		return func(c *drivers.DeviceConfig) { c.Points = []drivers.PointConfig{p} }
	}
	tests := []struct {
		name string
		cfg  drivers.DeviceConfig
		want []string // substrings of the error; none means valid
	}{
		{"plant", base(func(*drivers.DeviceConfig) {}), nil},
		{"bare host", base(func(c *drivers.DeviceConfig) { c.URL = "tcp://plc.local" }), nil},
		{"rtu with settings", base(func(c *drivers.DeviceConfig) { c.URL = "rtu:///dev/ttyUSB0?baud=9600&parity=even&stopbits=1" }), nil},
		{"rtu over tcp", base(func(c *drivers.DeviceConfig) { c.URL = "rtuovertcp://10.0.0.2:4001" }), nil},
		{"no scheme", base(func(c *drivers.DeviceConfig) { c.URL = "127.0.0.1:502" }), []string{`url "127.0.0.1:502"`, "scheme"}},
		{"bad scheme", base(func(c *drivers.DeviceConfig) { c.URL = "http://x" }), []string{`unsupported scheme "http"`}},
		{"bad port", base(func(c *drivers.DeviceConfig) { c.URL = "tcp://x:99999" }), []string{"bad port"}},
		{"tls without certificates", base(func(c *drivers.DeviceConfig) { c.URL = "tcp+tls://x:802" }), []string{"needs ca, cert and key"}},
		{"rtu bad parity", base(func(c *drivers.DeviceConfig) { c.URL = "rtu:///dev/ttyS0?parity=mark" }), []string{"bad parity"}},
		{"rtu unknown key", base(func(c *drivers.DeviceConfig) { c.URL = "rtu:///dev/ttyS0?speed=9600" }), []string{`unknown setting "speed"`}},
		{"unit", base(func(c *drivers.DeviceConfig) { c.Unit = 250 }), []string{"unit 250"}},
		{"unknown register", base(pt(drivers.PointConfig{Name: "p", Register: "holdings"})), []string{`point "p"`, `unknown register "holdings"`}},
		{"missing register", base(pt(drivers.PointConfig{Name: "p"})), []string{`point "p"`, "register is missing"}},
		{"unknown type", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Type: "flaot32"})), []string{`point "p"`, `unknown type "flaot32"`}},
		{"bool register", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Type: "bool"})), []string{"needs bit"}},
		{"unknown order", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Type: "int32", Order: "ABDC"})), []string{`unknown order "ABDC"`}},
		{"coil with type", base(pt(drivers.PointConfig{Name: "p", Register: "coil", Type: "uint16"})), []string{"always bool"}},
		{"coil with scale", base(pt(drivers.PointConfig{Name: "p", Register: "coil", Scale: 2})), []string{"do not apply"}},
		{"writable input", base(pt(drivers.PointConfig{Name: "p", Register: "input", Writable: true})), []string{"input cannot be writable"}},
		{"writable discrete", base(pt(drivers.PointConfig{Name: "p", Register: "discrete", Writable: true})), []string{"discrete cannot be writable"}},
		{"past the end", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Address: 65535, Type: "float32"})), []string{"runs past the last register"}},
		{"last register", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Address: 65534, Type: "float32"})), nil},
		{"nan scale", base(pt(drivers.PointConfig{Name: "p", Register: "holding", Scale: math.NaN()})), []string{"finite"}},
		{"duplicate", base(func(c *drivers.DeviceConfig) { c.Points = append(c.Points, c.Points[0]) }), []string{`point "level": defined twice`}},
		{"no name", base(pt(drivers.PointConfig{Register: "holding"})), []string{"has no name"}},
		{"every problem", base(func(c *drivers.DeviceConfig) {
			c.URL = "ftp://x"
			c.Points = []drivers.PointConfig{{Name: "a", Register: "x"}, {Name: "b", Register: "holding", Type: "y"}}
		}), []string{"ftp", `point "a"`, `point "b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.cfg, nil)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("New: got %v, want no error", err)
				}
				d.Close()
				return
			}
			if err == nil {
				t.Fatalf("New: got no error, want one containing %q", tc.want)
			}
			if d != nil {
				t.Errorf("New: got device %#v with the error, want nil", d)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c := plantConfig("tcp://127.0.0.1:502")
	c.Timeout = 0
	d, err := newDevice(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.unit != 1 || d.timeout != time.Second {
		t.Errorf("defaults: got unit %d timeout %s, want 1 and 1s", d.unit, d.timeout)
	}
	i, _ := d.find("inlet_pump")
	p := d.points[i]
	if p.codec != (Codec{Type: Uint16, Order: ABCD, Scale: 1}) {
		t.Errorf("inlet_pump codec: got %+v, want uint16 ABCD scale 1", p.codec)
	}
}

func TestPlan(t *testing.T) {
	pts := func(specs ...point) []*point {
		out := make([]*point, len(specs))
		for i := range specs {
			out[i] = &specs[i]
		}
		return out
	}
	reg := func(addr uint16, typ Type) point {
		return point{table: Holding, address: addr, codec: Codec{Type: typ, Order: ABCD, Scale: 1}}
	}
	bit := func(t Table, addr uint16) point { return point{table: t, address: addr, codec: Codec{Type: Bool}} }
	dense := func(n int, mk func(int) point) []*point {
		out := make([]*point, n)
		for i := range out {
			p := mk(i)
			out[i] = &p
		}
		return out
	}
	seq := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	type want struct {
		table   Table
		start   uint16
		count   int
		members []int
	}
	tests := []struct {
		name string
		pts  []*point
		want []want
	}{
		{"one", pts(reg(5, Uint16)), []want{{Holding, 5, 1, []int{0}}}},
		{"adjacent, unsorted", pts(reg(2, Float32), reg(0, Float32), reg(4, Uint16)), []want{{Holding, 0, 5, []int{1, 0, 2}}}},
		{"gap of 16 bridged", pts(reg(0, Uint16), reg(17, Uint16)), []want{{Holding, 0, 18, []int{0, 1}}}},
		{"gap of 17 split", pts(reg(0, Uint16), reg(18, Uint16)), []want{{Holding, 0, 1, []int{0}}, {Holding, 18, 1, []int{1}}}},
		{"overlap", pts(reg(0, Float64), reg(2, Uint16)), []want{{Holding, 0, 4, []int{0, 1}}}},
		{"125 registers max", dense(126, func(i int) point { return reg(uint16(i), Uint16) }),
			[]want{{Holding, 0, 125, seq(0, 125)}, {Holding, 125, 1, []int{125}}}},
		{"a value does not straddle the limit", dense(125, func(i int) point {
			if i == 124 {
				return reg(124, Float32)
			}
			return reg(uint16(i), Uint16)
		}), []want{{Holding, 0, 124, seq(0, 124)}, {Holding, 124, 2, []int{124}}}},
		{"tables apart", pts(bit(Coil, 0), reg(0, Uint16), bit(Discrete, 0), point{table: Input, address: 0, codec: Codec{Type: Uint16}}),
			[]want{{Holding, 0, 1, []int{1}}, {Input, 0, 1, []int{3}}, {Coil, 0, 1, []int{0}}, {Discrete, 0, 1, []int{2}}}},
		{"2000 coils max", dense(2001, func(i int) point { return bit(Coil, uint16(i)) }),
			[]want{{Coil, 0, 2000, seq(0, 2000)}, {Coil, 2000, 1, []int{2000}}}},
		{"duplicates", pts(reg(3, Uint16), reg(3, Uint16)), []want{{Holding, 3, 1, []int{0, 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(tc.pts, defaultLimits)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d blocks %+v, want %d %+v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.table != w.table || g.start != w.start || g.count != w.count || !slices.Equal(g.members, w.members) {
					t.Errorf("block %d: got %s %d+%d %v, want %s %d+%d %v", i, g.table, g.start, g.count, g.members, w.table, w.start, w.count, w.members)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	d, err := newDevice(plantConfig("tcp://127.0.0.1:502"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		point   string
		v       drivers.Value
		want    drivers.Value
		wire    []byte
		wantErr error
	}{
		{"inlet_pump", drivers.Number(75), drivers.Number(75), []byte{0, 75}, nil},
		{"inlet_pump", drivers.Number(74.6), drivers.Number(75), []byte{0, 75}, nil},
		{"inlet_pump", drivers.Number(-1), drivers.Value{}, nil, drivers.ErrValue},
		{"inlet_pump", drivers.Number(math.NaN()), drivers.Value{}, nil, drivers.ErrValue},
		{"inlet_pump", drivers.Bool(true), drivers.Value{}, nil, drivers.ErrValue},
		{"inlet_pump", drivers.Value{}, drivers.Value{}, nil, drivers.ErrValue},
		{"heater_setpoint", drivers.Number(52.3), drivers.Number(52.300000000000004), []byte{0x02, 0x0b}, nil},
		{"heater_setpoint", drivers.Number(-1), drivers.Number(-1), []byte{0xff, 0xf6}, nil},
		{"heater_setpoint", drivers.Number(4000), drivers.Value{}, nil, drivers.ErrValue},
		{"heater", drivers.Bool(true), drivers.Bool(true), []byte{1}, nil},
		{"heater", drivers.Bool(false), drivers.Bool(false), []byte{0}, nil},
		{"heater", drivers.Number(1), drivers.Bool(true), []byte{1}, nil},
		{"heater", drivers.Number(0), drivers.Bool(false), []byte{0}, nil},
		{"heater", drivers.Number(0.5), drivers.Value{}, nil, drivers.ErrValue},
		{"level", drivers.Number(50), drivers.Value{}, nil, drivers.ErrNotWritable},
		{"high_level_alarm", drivers.Bool(false), drivers.Value{}, nil, drivers.ErrNotWritable},
		{"nope", drivers.Number(1), drivers.Value{}, nil, drivers.ErrUnknownPoint},
	}
	for _, tc := range tests {
		t.Run(tc.point+"="+tc.v.String(), func(t *testing.T) {
			got, err := d.Resolve(tc.point, tc.v)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("got %v, %v, want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			if got.Value != tc.want || !slices.Equal(got.Wire, tc.wire) {
				t.Errorf("got %v, want %v", got, drivers.Encoded{Value: tc.want, Wire: tc.wire})
			}
		})
	}
}

// startPlant serves a simulated plant on a free loopback port.
func startPlant(t *testing.T) (*sim.Plant, string) {
	t.Helper()
	p := sim.New(sim.Options{})
	addr, err := p.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenModbus: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, addr.String()
}

func openDevice(t *testing.T, cfg drivers.DeviceConfig) *Device {
	t.Helper()
	d, err := newDevice(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func readMap(t *testing.T, d *Device, names ...string) map[string]drivers.Reading {
	t.Helper()
	rs, err := d.Read(context.Background(), names)
	if err != nil {
		t.Fatalf("Read(%v): %v", names, err)
	}
	m := make(map[string]drivers.Reading, len(rs))
	for _, r := range rs {
		m[r.Point] = r
	}
	return m
}

func TestAgainstSimulator(t *testing.T) {
	p, addr := startPlant(t)
	d := openDevice(t, plantConfig("tcp://"+addr))
	ctx := context.Background()

	before := time.Now()
	rs, err := d.Read(ctx, nil)
	if err != nil {
		t.Fatalf("Read all: %v", err)
	}
	if len(rs) != 10 {
		t.Fatalf("Read all: got %d readings, want 10", len(rs))
	}
	want := map[string]drivers.Value{
		"level": drivers.Number(40), "temperature": drivers.Number(20), "inlet_pump": drivers.Number(30),
		"outlet_valve": drivers.Number(20), "heater_setpoint": drivers.Number(45), "total_inflow": drivers.Number(0),
		"heater": drivers.Bool(false), "high_level_alarm": drivers.Bool(false), "level_in": drivers.Number(40),
		"heater_in": drivers.Bool(false),
	}
	for i, r := range rs {
		if r.Point != plantConfig("").Points[i].Name {
			t.Errorf("reading %d: got point %q, want %q (config order)", i, r.Point, plantConfig("").Points[i].Name)
		}
		if r.Quality != drivers.QualityGood || r.Value != want[r.Point] {
			t.Errorf("%s: got %v (%s), want %v (good)", r.Point, r.Value, r.Quality, want[r.Point])
		}
		if r.Time.Before(before) || r.Time.After(time.Now()) {
			t.Errorf("%s: time %v outside the call", r.Point, r.Time)
		}
	}

	// Write, then read back through the device and in the plant.
	writes := []struct {
		point string
		v     drivers.Value
		check func() bool
	}{
		{"inlet_pump", drivers.Number(75), func() bool { return p.Holding(sim.RegInletPump) == 75 }},
		{"heater_setpoint", drivers.Number(52.3), func() bool { return p.Holding(sim.RegHeaterSetpoint) == 523 }},
		{"heater", drivers.Bool(true), func() bool { return p.Coil(sim.CoilHeater) }},
	}
	for _, w := range writes {
		enc, err := d.Resolve(w.point, w.v)
		if err != nil {
			t.Fatalf("Resolve %s: %v", w.point, err)
		}
		if err := d.Write(ctx, w.point, enc); err != nil {
			t.Fatalf("Write %s: %v", w.point, err)
		}
		if !w.check() {
			t.Errorf("Write %s=%v: the plant did not take it", w.point, w.v)
		}
		got := readMap(t, d, w.point)[w.point]
		if got.Value != enc.Value {
			t.Errorf("read back %s: got %v, want %v", w.point, got.Value, enc.Value)
		}
	}
	log := p.Writes()
	if len(log) != 3 || log[0].Table != "holding" || !slices.Equal(log[0].Values, []uint16{75}) ||
		!slices.Equal(log[1].Values, []uint16{523}) || log[2].Table != "coil" || !slices.Equal(log[2].Values, []uint16{1}) {
		t.Errorf("plant write log: got %+v, want inlet 75, setpoint 523, heater 1", log)
	}

	// The plant moves; so do the readings.
	p.Step(100)
	m := readMap(t, d, "total_inflow", "temperature")
	if m["total_inflow"].Value.Number <= 0 || m["temperature"].Value.Number <= 20 {
		t.Errorf("after 100 steps: got total_inflow %v temperature %v, want both risen", m["total_inflow"].Value, m["temperature"].Value)
	}
}

func TestExceptions(t *testing.T) {
	_, addr := startPlant(t)
	cfg := plantConfig("tcp://" + addr)
	cfg.Points = append(cfg.Points,
		// Writable here, read-only in the plant.
		drivers.PointConfig{Name: "level_rw", Register: "holding", Address: 0, Type: "float32", Writable: true},
		// Past the plant's map, but close enough to be coalesced with
		// total_inflow: the driver must fall back to single reads.
		drivers.PointConfig{Name: "missing", Register: "holding", Address: 20},
		drivers.PointConfig{Name: "missing_coil", Register: "coil", Address: 7, Writable: true},
	)
	d := openDevice(t, cfg)
	ctx := context.Background()

	m := readMap(t, d)
	for _, n := range []string{"missing", "missing_coil"} {
		if m[n].Quality != drivers.QualityBad || m[n].Value.Valid() || m[n].Time.IsZero() {
			t.Errorf("%s: got %+v, want bad quality, no value, a time", n, m[n])
		}
	}
	for _, n := range []string{"level", "total_inflow", "heater", "high_level_alarm"} {
		if m[n].Quality != drivers.QualityGood {
			t.Errorf("%s: got quality %s, want good", n, m[n].Quality)
		}
	}

	enc, err := d.Resolve("level_rw", drivers.Number(10))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Write(ctx, "level_rw", enc)
	var ex Exception
	if !errors.Is(err, IllegalDataAddress) || !errors.As(err, &ex) || ex != IllegalDataAddress {
		t.Errorf("Write level: got %v, want IllegalDataAddress", err)
	}
	if errors.Is(err, drivers.ErrUnavailable) {
		t.Errorf("Write level: got %v, an exception must not be ErrUnavailable", err)
	}
	enc, _ = d.Resolve("inlet_pump", drivers.Number(100))
	enc.Wire = []byte{0x01, 0x00} // 256: the plant refuses
	if err := d.Write(ctx, "inlet_pump", enc); !errors.Is(err, IllegalDataValue) {
		t.Errorf("Write inlet_pump 256: got %v, want IllegalDataValue", err)
	}
	// The connection survived the exceptions.
	if _, err := d.Read(ctx, []string{"level"}); err != nil {
		t.Errorf("Read after exceptions: %v", err)
	}
}

func TestWriteValidatesWire(t *testing.T) {
	d := openDevice(t, plantConfig("tcp://127.0.0.1:1"))
	ctx := context.Background()
	tests := []struct {
		point string
		wire  []byte
		want  error
	}{
		{"inlet_pump", []byte{0, 1, 2, 3}, drivers.ErrValue},
		{"inlet_pump", nil, drivers.ErrValue},
		{"heater", []byte{2}, drivers.ErrValue},
		{"heater", []byte{0, 1}, drivers.ErrValue},
		{"level", []byte{0, 0, 0, 0}, drivers.ErrNotWritable},
		{"nope", []byte{0}, drivers.ErrUnknownPoint},
	}
	for _, tc := range tests {
		if err := d.Write(ctx, tc.point, drivers.Encoded{Wire: tc.wire}); !errors.Is(err, tc.want) {
			t.Errorf("Write %s %x: got %v, want %v", tc.point, tc.wire, err, tc.want)
		}
	}
	if _, err := d.Read(ctx, []string{"level", "nope"}); !errors.Is(err, drivers.ErrUnknownPoint) {
		t.Errorf("Read unknown point: got %v, want ErrUnknownPoint", err)
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	p, addr := startPlant(t)
	d := openDevice(t, plantConfig("tcp://"+addr))
	ctx := context.Background()
	if _, err := d.Read(ctx, nil); err != nil {
		t.Fatalf("first Read: %v", err)
	}

	p.Close()
	if _, err := d.Read(ctx, nil); !errors.Is(err, drivers.ErrUnavailable) {
		t.Fatalf("Read after the server stopped: got %v, want ErrUnavailable", err)
	}
	// Within the backoff, calls fail at once without dialing.
	for range 20 {
		start := time.Now()
		_, err := d.Read(ctx, nil)
		if !errors.Is(err, drivers.ErrUnavailable) {
			t.Fatalf("Read while down: got %v, want ErrUnavailable", err)
		}
		if el := time.Since(start); el > 50*time.Millisecond {
			t.Fatalf("Read while down took %s, want it fast", el)
		}
		enc, _ := d.Resolve("heater", drivers.Bool(true))
		if err := d.Write(ctx, "heater", enc); !errors.Is(err, drivers.ErrUnavailable) {
			t.Fatalf("Write while down: got %v, want ErrUnavailable", err)
		}
	}

	// The plant comes back on the same address; the device recovers.
	p2 := sim.New(sim.Options{})
	if _, err := p2.ListenModbus(addr); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer p2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := d.Read(ctx, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, drivers.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Read after restart: got %v, want recovery within 10s", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	enc, _ := d.Resolve("heater", drivers.Bool(true))
	if err := d.Write(ctx, "heater", enc); err != nil || !p2.Coil(sim.CoilHeater) {
		t.Errorf("Write after recovery: got %v, heater %v, want nil, true", err, p2.Coil(sim.CoilHeater))
	}
}

func TestBackoffGrows(t *testing.T) {
	// A port nobody listens on: every dial is refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := openDevice(t, plantConfig("tcp://"+addr))
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }

	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		if _, err := d.Read(context.Background(), nil); !errors.Is(err, drivers.ErrUnavailable) {
			t.Fatalf("attempt %d: got %v, want ErrUnavailable", i, err)
		}
		if got := d.retryAt.Sub(now); got != w*time.Millisecond {
			t.Errorf("backoff after failure %d: got %s, want %s", i+1, got, w*time.Millisecond)
		}
		// Just before the backoff ends no attempt is made.
		now = d.retryAt.Add(-time.Millisecond)
		d.Read(context.Background(), nil)
		if d.failures != i+1 {
			t.Fatalf("failures: got %d, want %d (an attempt was made inside the backoff)", d.failures, i+1)
		}
		now = d.retryAt
	}
}

func TestSilentDeviceTimesOut(t *testing.T) {
	// Accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cfg := plantConfig("tcp://" + ln.Addr().String())
	cfg.Timeout = drivers.Duration(200 * time.Millisecond)
	d := openDevice(t, cfg)
	start := time.Now()
	_, err = d.Read(context.Background(), nil)
	if !errors.Is(err, drivers.ErrUnavailable) {
		t.Fatalf("Read: got %v, want ErrUnavailable", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Read took %s, want about the 200ms timeout", el)
	}
	start = time.Now()
	if _, err := d.Read(context.Background(), nil); !errors.Is(err, drivers.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
		t.Errorf("second Read: got %v after %s, want a fast ErrUnavailable", err, time.Since(start))
	}
}

func TestConcurrentUseAndClose(t *testing.T) {
	p, addr := startPlant(t)
	d := openDevice(t, plantConfig("tcp://"+addr))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if i%2 == 0 {
					if _, err := d.Read(ctx, nil); err != nil {
						errs <- err
					}
					continue
				}
				enc, _ := d.Resolve("outlet_valve", drivers.Number(float64(j)))
				if err := d.Write(ctx, "outlet_valve", enc); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
	if got := len(p.Writes()); got != 80 {
		t.Errorf("plant writes: got %d, want 80", got)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Read(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: got %v, want context.Canceled", err)
	}

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if _, err := d.Read(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: got %v, want ErrClosed", err)
	}
}
