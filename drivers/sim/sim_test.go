package sim

import (
	"context"
	"errors"
	"math"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

func float32At(p *Plant, addr uint16) float64 {
	return float64(math.Float32frombits(uint32(p.Holding(addr))<<16 | uint32(p.Holding(addr+1))))
}

func TestStartState(t *testing.T) {
	p := New(Options{})
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"level", float32At(p, RegLevel), 40},
		{"temperature", float32At(p, RegTemperature), 20},
		{"inlet_pump", float64(p.Holding(RegInletPump)), 30},
		{"outlet_valve", float64(p.Holding(RegOutletValve)), 20},
		{"heater_setpoint", float64(int16(p.Holding(RegHeaterSetpoint))), 450},
		{"total_inflow", float64(p.Holding(RegTotalInflow)), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if p.Coil(CoilHeater) || p.Coil(CoilHighLevelAlarm) {
		t.Errorf("coils: got heater %v alarm %v, want both off", p.Coil(CoilHeater), p.Coil(CoilHighLevelAlarm))
	}
}

// setHolding writes through the server handler, as a client would.
func setHolding(t *testing.T, p *Plant, addr uint16, v ...uint16) {
	t.Helper()
	if _, err := (handler{p}).HandleHoldingRegisters(&mb.HoldingRegistersRequest{Addr: addr, Quantity: uint16(len(v)), IsWrite: true, Args: v}); err != nil {
		t.Fatalf("write holding %d: %v", addr, err)
	}
}

func setCoil(t *testing.T, p *Plant, addr uint16, v bool) {
	t.Helper()
	if _, err := (handler{p}).HandleCoils(&mb.CoilsRequest{Addr: addr, Quantity: 1, IsWrite: true, Args: []bool{v}}); err != nil {
		t.Fatalf("write coil %d: %v", addr, err)
	}
}

func TestPhysics(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, p *Plant)
		steps int
		check func(t *testing.T, p *Plant)
	}{
		{
			name:  "level rises at the start",
			steps: 50, // 5 s
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegLevel); got <= 40.1 {
					t.Errorf("level: got %v, want > 40.1", got)
				}
			},
		},
		{
			name:  "level falls with the pump off and the valve open",
			setup: func(t *testing.T, p *Plant) { setHolding(t, p, RegInletPump, 0, 100) },
			steps: 50,
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegLevel); got >= 38 {
					t.Errorf("level: got %v, want < 38", got)
				}
			},
		},
		{
			name:  "level clamps at 0",
			setup: func(t *testing.T, p *Plant) { setHolding(t, p, RegInletPump, 0, 100) },
			steps: 100000,
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegLevel); got < 0 || got > 0.01 {
					t.Errorf("level: got %v, want about 0", got)
				}
			},
		},
		{
			name:  "level clamps at 100 and raises the alarm",
			setup: func(t *testing.T, p *Plant) { setHolding(t, p, RegInletPump, 100, 0) },
			steps: 2000,
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegLevel); got != 100 {
					t.Errorf("level: got %v, want 100", got)
				}
				if !p.Coil(CoilHighLevelAlarm) {
					t.Errorf("high_level_alarm: got false, want true")
				}
			},
		},
		{
			name:  "heater warms towards the setpoint",
			setup: func(t *testing.T, p *Plant) { setCoil(t, p, CoilHeater, true) },
			steps: 50,
			check: func(t *testing.T, p *Plant) {
				got := float32At(p, RegTemperature)
				if got <= 25 || got > 45 {
					t.Errorf("temperature: got %v, want in (25, 45]", got)
				}
			},
		},
		{
			name: "temperature settles at the setpoint",
			setup: func(t *testing.T, p *Plant) {
				setCoil(t, p, CoilHeater, true)
				setHolding(t, p, RegHeaterSetpoint, 600)
			},
			steps: 2000,
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegTemperature); math.Abs(got-60) > 0.01 {
					t.Errorf("temperature: got %v, want 60", got)
				}
			},
		},
		{
			name:  "temperature stays ambient with the heater off",
			steps: 100,
			check: func(t *testing.T, p *Plant) {
				if got := float32At(p, RegTemperature); got != 20 {
					t.Errorf("temperature: got %v, want 20", got)
				}
			},
		},
		{
			name:  "total inflow integrates the pump (CDAB)",
			setup: func(t *testing.T, p *Plant) { setHolding(t, p, RegInletPump, 100) },
			steps: 200000, // 100000 l: needs the high word
			check: func(t *testing.T, p *Plant) {
				got := uint32(p.Holding(RegTotalInflow+1))<<16 | uint32(p.Holding(RegTotalInflow))
				if got < 99990 || got > 100000 {
					t.Errorf("total_inflow: got %d, want about 100000", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{})
			if tc.setup != nil {
				tc.setup(t, p)
			}
			p.Step(tc.steps)
			tc.check(t, p)
		})
	}
}

// serve starts a plant on a free loopback port and a client for it.
func serve(t *testing.T) (*Plant, *mb.ModbusClient, net.Addr) {
	t.Helper()
	p := New(Options{})
	addr, err := p.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenModbus: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + addr.String(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatalf("open client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c, addr
}

func TestServerServesMap(t *testing.T) {
	p, c, _ := serve(t)

	level, err := c.ReadFloat32(RegLevel, mb.HOLDING_REGISTER)
	if err != nil || level != 40 {
		t.Errorf("level: got %v, %v, want 40", level, err)
	}
	temp, err := c.ReadFloat32(RegTemperature, mb.INPUT_REGISTER)
	if err != nil || temp != 20 {
		t.Errorf("temperature (input table): got %v, %v, want 20", temp, err)
	}
	regs, err := c.ReadRegisters(0, numHolding, mb.HOLDING_REGISTER)
	if err != nil {
		t.Fatalf("read all holding: %v", err)
	}
	if regs[RegInletPump] != 30 || regs[RegOutletValve] != 20 || regs[RegHeaterSetpoint] != 450 {
		t.Errorf("regs 4-6: got %v, want [30 20 450]", regs[4:7])
	}

	if err := c.WriteRegister(RegInletPump, 80); err != nil {
		t.Fatalf("write inlet_pump: %v", err)
	}
	if err := c.WriteRegisters(RegOutletValve, []uint16{55, 300}); err != nil {
		t.Fatalf("write outlet_valve+setpoint: %v", err)
	}
	if err := c.WriteCoil(CoilHeater, true); err != nil {
		t.Fatalf("write heater: %v", err)
	}
	if got := p.Holding(RegInletPump); got != 80 {
		t.Errorf("inlet_pump: got %d, want 80", got)
	}
	if got := p.Holding(RegHeaterSetpoint); got != 300 {
		t.Errorf("heater_setpoint: got %d, want 300", got)
	}
	coils, err := c.ReadCoils(0, numCoils)
	if err != nil || !coils[0] || coils[1] {
		t.Errorf("coils: got %v, %v, want [true false]", coils, err)
	}
	di, err := c.ReadDiscreteInputs(CoilHeater, 1)
	if err != nil || !di[0] {
		t.Errorf("discrete heater: got %v, %v, want [true]", di, err)
	}

	p.Step(100)
	c.SetEncoding(mb.BIG_ENDIAN, mb.LOW_WORD_FIRST)
	total, err := c.ReadUint32(RegTotalInflow, mb.HOLDING_REGISTER)
	if err != nil || total == 0 {
		t.Errorf("total_inflow: got %d, %v, want > 0", total, err)
	}

	w := p.Writes()
	if len(w) != 3 {
		t.Fatalf("writes: got %d, want 3: %+v", len(w), w)
	}
	want := []Write{
		{Table: "holding", Address: RegInletPump, Values: []uint16{80}},
		{Table: "holding", Address: RegOutletValve, Values: []uint16{55, 300}},
		{Table: "coil", Address: CoilHeater, Values: []uint16{1}},
	}
	for i := range want {
		g := w[i]
		if g.Table != want[i].Table || g.Address != want[i].Address || !equal(g.Values, want[i].Values) {
			t.Errorf("write %d: got %s %d %v, want %s %d %v", i, g.Table, g.Address, g.Values, want[i].Table, want[i].Address, want[i].Values)
		}
		if g.Time.IsZero() || !strings.HasPrefix(g.Remote, "127.0.0.1:") {
			t.Errorf("write %d: got time %v remote %q, want a time and a loopback remote", i, g.Time, g.Remote)
		}
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestServerRefuses(t *testing.T) {
	p, c, _ := serve(t)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"write level", func() error { return c.WriteRegister(RegLevel, 1) }, mb.ErrIllegalDataAddress},
		{"write total_inflow", func() error { return c.WriteRegisters(RegTotalInflow, []uint16{1, 2}) }, mb.ErrIllegalDataAddress},
		{"write span over read-only", func() error { return c.WriteRegisters(RegInletPump, []uint16{1, 2, 3, 4}) }, mb.ErrIllegalDataAddress},
		{"write unmapped", func() error { return c.WriteRegister(8, 1) }, mb.ErrIllegalDataAddress},
		{"write alarm coil", func() error { return c.WriteCoil(CoilHighLevelAlarm, true) }, mb.ErrIllegalDataAddress},
		{"pump over 100", func() error { return c.WriteRegister(RegInletPump, 101) }, mb.ErrIllegalDataValue},
		{"negative setpoint", func() error { return c.WriteRegister(RegHeaterSetpoint, 0xffff) }, mb.ErrIllegalDataValue},
		{"read past map", func() error { _, err := c.ReadRegisters(10, 7, mb.HOLDING_REGISTER); return err }, mb.ErrIllegalDataAddress},
		{"read coil past map", func() error { _, err := c.ReadCoils(2, 1); return err }, mb.ErrIllegalDataAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if w := p.Writes(); len(w) != 0 {
		t.Errorf("writes: got %+v, want none recorded", w)
	}
	if got := p.Holding(RegInletPump); got != 30 {
		t.Errorf("inlet_pump after refused writes: got %d, want 30", got)
	}
}

func TestListenBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := New(Options{})
	defer p.Close()
	_, err = p.ListenModbus(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("got %v, want an address-in-use error", err)
	}
}

func TestRunStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(Options{Step: 5 * time.Millisecond})
	addr, err := p.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + addr.String(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	first, err := c.ReadFloat32(RegLevel, mb.HOLDING_REGISTER)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := c.ReadFloat32(RegLevel, mb.HOLDING_REGISTER)
		if err != nil {
			t.Fatal(err)
		}
		if v > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("level: got %v after 5s of Run, want above %v", v, first)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	if _, err := c.ReadFloat32(RegLevel, mb.HOLDING_REGISTER); err == nil {
		t.Errorf("read after Run returned: got no error, want one")
	}
	c.Close()
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Errorf("dial after Run returned: got a connection, want refused")
	}

	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d, want <= %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := p.ListenModbus("127.0.0.1:0"); err == nil {
		t.Errorf("ListenModbus after Run: got nil error, want plant closed")
	}
}
