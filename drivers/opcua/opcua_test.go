package opcua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/gopcua/opcua/ua"
)

var shared struct {
	once  sync.Once
	plant *sim.Plant
	ep    string
	err   error
}

// startPlant returns the plant every test of the package shares, served
// over OPC UA on a free loopback port: building the server's address space
// takes seconds under the race detector. The plant does not step, so only
// writes change it.
func startPlant(t *testing.T) (*sim.Plant, string) {
	t.Helper()
	shared.once.Do(startShared)
	if shared.err != nil {
		t.Fatalf("ListenOPCUA: %v", shared.err)
	}
	return shared.plant, shared.ep
}

func startShared() {
	shared.plant = sim.New(sim.Options{})
	shared.ep, shared.err = shared.plant.ListenOPCUA("127.0.0.1:0")
}

func TestMain(m *testing.M) {
	// The server library logs its start-up through the standard logger.
	log.SetOutput(io.Discard)
	// Build both servers' address spaces at once, on both cores.
	go shared.once.Do(startShared)
	go secure.once.Do(startSecureServer)
	code := m.Run()
	if shared.plant != nil {
		if err := shared.plant.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "plant Close:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// plantPoints are the simulator's nodes as points.
func plantPoints() []drivers.PointConfig {
	return []drivers.PointConfig{
		{Name: "level", Node: "ns=1;s=tank.level", Type: "float64"},
		{Name: "temperature", Node: "ns=1;s=tank.temperature", Type: "Double"},
		{Name: "inlet_pump", Node: "ns=1;s=tank.inlet_pump", Type: "uint16", Writable: true},
		{Name: "outlet_valve", Node: "ns=1;s=tank.outlet_valve", Type: "uint16", Writable: true},
		{Name: "heater_setpoint", Node: "ns=1;s=tank.heater_setpoint", Type: "float64", Writable: true},
		{Name: "total_inflow", Node: "ns=1;s=tank.total_inflow"},
		{Name: "heater", Node: "ns=1;s=tank.heater", Type: "bool", Writable: true},
		{Name: "high_level_alarm", Node: "ns=1;s=tank.high_level_alarm", Type: "Boolean"},
		// Misconfigured on purpose: the node is a UInt16.
		{Name: "inlet_as_double", Node: "ns=1;s=tank.inlet_pump", Type: "float64", Writable: true},
		// The node is read-only on the server.
		{Name: "level_rw", Node: "ns=1;s=tank.level", Type: "float64", Writable: true},
		// No such namespace on the server.
		{Name: "ghost", Node: "ns=7;s=tank.level", Type: "float64", Writable: true},
		{Name: "scaled_setpoint", Node: "ns=1;s=tank.heater_setpoint", Type: "float64", Scale: 0.1, Writable: true},
	}
}

func openDevice(t *testing.T, cfg drivers.DeviceConfig) *Device {
	t.Helper()
	d, err := newDevice(cfg, nil)
	if err != nil {
		t.Fatalf("newDevice: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func noneConfig(url string) drivers.DeviceConfig {
	return drivers.DeviceConfig{
		Name: "plc", Driver: "opcua", URL: url, Timeout: drivers.Duration(time.Second),
		OPCUA:  &drivers.OPCUAConfig{SecurityPolicy: "None"},
		Points: plantPoints(),
	}
}

func TestReadPlant(t *testing.T) {
	_, ep := startPlant(t)
	d := openDevice(t, noneConfig(ep))
	rs, err := d.Read(t.Context(), []string{"level", "temperature", "inlet_pump", "outlet_valve", "heater_setpoint", "total_inflow", "heater", "high_level_alarm", "scaled_setpoint"})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	p, _ := startPlant(t)
	want := map[string]drivers.Value{
		"level": drivers.Number(40), "temperature": drivers.Number(20),
		"inlet_pump":      drivers.Number(float64(p.Holding(sim.RegInletPump))),
		"outlet_valve":    drivers.Number(float64(p.Holding(sim.RegOutletValve))),
		"heater_setpoint": drivers.Number(float64(int16(p.Holding(sim.RegHeaterSetpoint))) / 10),
		"scaled_setpoint": drivers.Number(float64(int16(p.Holding(sim.RegHeaterSetpoint))) / 100),
		"total_inflow":    drivers.Number(0),
		"heater":          drivers.Bool(p.Coil(sim.CoilHeater)), "high_level_alarm": drivers.Bool(false),
	}
	for _, r := range rs {
		if r.Quality != drivers.QualityGood || r.Value != want[r.Point] {
			t.Errorf("Read %s: got %v (%s), want %v (good)", r.Point, r.Value, r.Quality, want[r.Point])
		}
	}
	// A configured type the node does not have reads as bad, not as a
	// silently converted value.
	rs, err = d.Read(t.Context(), []string{"inlet_as_double", "ghost"})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	for _, r := range rs {
		if r.Quality != drivers.QualityBad {
			t.Errorf("Read %s: got quality %s, want bad", r.Point, r.Quality)
		}
	}
}

func TestWritePlant(t *testing.T) {
	p, ep := startPlant(t)
	d := openDevice(t, noneConfig(ep))
	ctx := t.Context()
	cases := []struct {
		point   string
		value   drivers.Value
		wantErr error          // from Resolve or Write
		status  ua.StatusCode  // the server's refusal, if any
		check   func() float64 // the plant's state after the write
		want    float64
	}{
		{point: "inlet_pump", value: drivers.Number(55), check: func() float64 { return float64(p.Holding(sim.RegInletPump)) }, want: 55},
		{point: "heater_setpoint", value: drivers.Number(61.2), check: func() float64 { return float64(int16(p.Holding(sim.RegHeaterSetpoint))) }, want: 612},
		{point: "scaled_setpoint", value: drivers.Number(5), check: func() float64 { return float64(int16(p.Holding(sim.RegHeaterSetpoint))) }, want: 500},
		{point: "heater", value: drivers.Bool(true), check: func() float64 { return b2f(p.Coil(sim.CoilHeater)) }, want: 1},
		{point: "outlet_valve", value: drivers.Number(150), wantErr: drivers.ErrValue, status: ua.StatusBadOutOfRange},
		{point: "outlet_valve", value: drivers.Number(70000), wantErr: drivers.ErrValue}, // refused by Resolve
		{point: "inlet_as_double", value: drivers.Number(10), wantErr: drivers.ErrValue, status: ua.StatusBadTypeMismatch},
		{point: "level_rw", value: drivers.Number(10), wantErr: drivers.ErrNotWritable, status: ua.StatusBadNotWritable},
		{point: "ghost", value: drivers.Number(10), wantErr: drivers.ErrUnknownPoint, status: ua.StatusBadNodeIDUnknown},
		{point: "level", value: drivers.Number(10), wantErr: drivers.ErrNotWritable},
		{point: "heater", value: drivers.Number(2), wantErr: drivers.ErrValue},
	}
	for _, tc := range cases {
		enc, err := d.Resolve(tc.point, tc.value)
		if err == nil {
			err = d.Write(ctx, tc.point, enc)
		}
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("write %s %v: got error %v, want %v", tc.point, tc.value, err, tc.wantErr)
			continue
		}
		if tc.status != 0 {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.status {
				t.Errorf("write %s %v: got %v, want status %v", tc.point, tc.value, err, tc.status)
			}
		}
		if err != nil {
			continue
		}
		if got := tc.check(); got != tc.want {
			t.Errorf("write %s %v: plant holds %v, want %v", tc.point, tc.value, got, tc.want)
		}
		rs, err := d.Read(ctx, []string{tc.point})
		if err != nil || rs[0].Value != enc.Value {
			t.Errorf("read back %s: got %v, %v, want %v", tc.point, rs, err, enc.Value)
		}
	}
	if n := d.Connects(); n != 1 {
		t.Errorf("sessions opened: got %d, want 1 (refused writes keep the session)", n)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestUnreachable(t *testing.T) {
	_, ep := startPlant(t)
	cfg := noneConfig("opc.tcp://127.0.0.1:1")
	d := openDevice(t, cfg)
	_ = ep
	ctx := context.Background()
	_, err := d.Read(ctx, nil)
	if !errors.Is(err, drivers.ErrUnavailable) {
		t.Fatalf("Read of a closed port: got %v, want ErrUnavailable", err)
	}
	start := time.Now()
	_, err = d.Read(ctx, nil)
	if !errors.Is(err, drivers.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("Read during backoff: got %v after %s, want ErrUnavailable at once", err, time.Since(start))
	}
}
