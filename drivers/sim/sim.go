// Package sim is the plant simulator behind `femtoclaw demo`, `femtoclaw
// sim` and the tests: a tank with an inlet pump and an outlet valve, and a
// heater that warms its contents, served by a real Modbus TCP server.
//
// Register map (every unit id is served the same):
//
//	table     address  point             type           access
//	holding   0-1      level             float32 ABCD   read      tank level, % (0..100)
//	holding   2-3      temperature       float32 ABCD   read      degC
//	holding   4        inlet_pump        uint16         write     pump speed, % (0..100)
//	holding   5        outlet_valve      uint16         write     valve opening, % (0..100)
//	holding   6        heater_setpoint   int16          write     degC*10 (0..1000)
//	holding   10-11    total_inflow      uint32 CDAB    read      litres since start
//	coil      0        heater            bool           write
//	coil      1        high_level_alarm  bool           read      level > 90
//	holding   100-224  message           string         read      panel text (strings.go)
//
// Holding registers 0-15 and 100-224 and coils 0-1 exist; unmapped holding
// registers in 0-15 read 0. Input registers 0-15 and 100-224 and discrete
// inputs 0-1 mirror the holding registers and coils, read-only. Anything
// else is answered with exception 2 (illegal data address). A write is all or nothing: one that
// touches a read-only or unmapped address is refused with exception 2, one
// with a value out of range with exception 3 (illegal data value). Refused
// writes change nothing and are not recorded in Writes.
//
// Physics, per step (100ms by default): the level rises by 0.05 points at
// full pump speed and falls by 0.008*valve*sqrt(level); the temperature
// moves 2% of the way to the setpoint while the heater is on, else to 20
// degC ambient; the inlet adds 0.5 l at full speed (a 1000 l tank).
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	mb "github.com/simonvetter/modbus"
)

// Register addresses of the plant.
const (
	RegLevel          = 0
	RegTemperature    = 2
	RegInletPump      = 4
	RegOutletValve    = 5
	RegHeaterSetpoint = 6
	RegTotalInflow    = 10

	CoilHeater         = 0
	CoilHighLevelAlarm = 1

	numHolding = 16
	numCoils   = 2
)

// Physics constants.
const (
	ambient       = 20.0  // degC
	fillPerStep   = 0.05  // level points per step at full pump speed
	drainPerStep  = 0.008 // times valve fraction times sqrt(level)
	heatPerStep   = 0.02  // fraction of the way to the target per step
	tankLitres    = 1000.0
	alarmLevel    = 90.0
	maxSetpoint   = 1000 // degC*10
	defaultPeriod = 100 * time.Millisecond
)

// Options configures a Plant.
type Options struct {
	// Logger receives the plant's log; nil discards it.
	Logger *slog.Logger
	// Step is the wall-clock time of one physics step in Run. Default 100ms.
	Step time.Duration
}

// Write is one write the Modbus server accepted.
type Write struct {
	Time    time.Time
	Table   string   // "holding" or "coil"
	Address uint16   // the first address written
	Values  []uint16 // the registers written; coils as 0 or 1
	Remote  string   // the client's address
}

// Plant is the simulated process and its servers. It is safe for
// concurrent use.
type Plant struct {
	logger *slog.Logger
	period time.Duration

	mu       sync.Mutex
	level    float64
	temp     float64
	inlet    uint16
	outlet   uint16
	setpoint int16
	inflow   float64 // litres
	heater   bool
	message  string // the panel message (strings.go)
	writes   []Write
	servers  []*mb.ModbusServer
	stops    []func() error // stop the other servers (OPC UA)
	closed   bool
}

// New returns a plant in its starting state: level 40 %, 20 degC, pump at
// 30 %, valve at 20 %, setpoint 45.0 degC, heater off. It serves nothing
// until ListenModbus.
func New(opts Options) *Plant {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Step <= 0 {
		opts.Step = defaultPeriod
	}
	return &Plant{
		logger:   opts.Logger,
		period:   opts.Step,
		level:    40,
		temp:     ambient,
		inlet:    30,
		outlet:   20,
		setpoint: 450,
	}
}

// ListenModbus starts a Modbus TCP server on addr ("127.0.0.1:0" picks a
// free port) and returns the address it listens on. It may be called more
// than once; every server serves the same plant.
func (p *Plant) ListenModbus(addr string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen modbus %q: %w", addr, err)
	}
	// The server library cannot report the port it bound, so port 0 is
	// resolved here first; if another process takes the port between the
	// probe and the server's bind, try another.
	attempts := 1
	if port == "0" || port == "" {
		attempts = 5
	}
	for i := 0; ; i++ {
		bound, err := p.listenOnce(host, port)
		if err == nil {
			p.logger.Info("sim modbus listening", "addr", bound.String())
			return bound, nil
		}
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("sim: listen modbus %s: %w", addr, err)
		}
	}
}

func (p *Plant) listenOnce(host, port string) (*net.TCPAddr, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	bound := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		return nil, err
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{
		URL:        "tcp://" + bound.String(),
		Timeout:    time.Minute,
		MaxClients: 32,
		Logger:     slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
	}, handler{p})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("plant closed")
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	p.servers = append(p.servers, srv)
	return bound, nil
}

// Run steps the physics every Step until ctx is done, then stops the
// servers. It returns nil when ctx is cancelled.
func (p *Plant) Run(ctx context.Context) error {
	t := time.NewTicker(p.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return p.Close()
		case <-t.C:
			p.Step(1)
		}
	}
}

// Close stops every server. It is safe to call more than once, and after Run.
func (p *Plant) Close() error {
	p.mu.Lock()
	servers, stops := p.servers, p.stops
	p.servers, p.stops, p.closed = nil, nil, true
	p.mu.Unlock()
	var errs []error
	for _, s := range servers {
		if err := s.Stop(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, stop := range stops {
		if err := stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: close: %w", err)
	}
	return nil
}

// Step advances the physics by n steps at once.
func (p *Plant) Step(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.step()
	}
}

func (p *Plant) step() {
	in := float64(p.inlet) / 100
	out := float64(p.outlet) / 100
	p.level += fillPerStep*in - drainPerStep*out*math.Sqrt(p.level)
	p.level = min(max(p.level, 0), 100)
	target := ambient
	if p.heater {
		target = float64(p.setpoint) / 10
	}
	p.temp += (target - p.temp) * heatPerStep
	p.inflow += in * fillPerStep / 100 * tankLitres
}

// Holding returns a holding register as the server would serve it; an
// unmapped address reads 0.
func (p *Plant) Holding(addr uint16) uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding(addr)
}

func (p *Plant) holding(addr uint16) uint16 {
	f32 := func(v float64, word int) uint16 {
		bits := math.Float32bits(float32(v))
		if word == 0 {
			return uint16(bits >> 16)
		}
		return uint16(bits)
	}
	total := uint32(uint64(p.inflow)) // a counter wraps
	switch addr {
	case RegLevel, RegLevel + 1:
		return f32(p.level, int(addr-RegLevel))
	case RegTemperature, RegTemperature + 1:
		return f32(p.temp, int(addr-RegTemperature))
	case RegInletPump:
		return p.inlet
	case RegOutletValve:
		return p.outlet
	case RegHeaterSetpoint:
		return uint16(p.setpoint)
	case RegTotalInflow: // CDAB: low word first
		return uint16(total)
	case RegTotalInflow + 1:
		return uint16(total >> 16)
	}
	return 0
}

// Coil returns a coil as the server would serve it.
func (p *Plant) Coil(addr uint16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.coil(addr)
}

func (p *Plant) coil(addr uint16) bool {
	switch addr {
	case CoilHeater:
		return p.heater
	case CoilHighLevelAlarm:
		return p.level > alarmLevel
	}
	return false
}

// Writes returns every write the server accepted, oldest first.
func (p *Plant) Writes() []Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Write, len(p.writes))
	for i, w := range p.writes {
		w.Values = slices.Clone(w.Values)
		out[i] = w
	}
	return out
}

// handler serves the plant's register map to the Modbus server.
type handler struct{ p *Plant }

// inRange reports whether [addr, addr+qty) lies inside [0, size).
func inRange(addr, qty uint16, size int) bool {
	return int(addr)+int(qty) <= size
}

func (h handler) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if !inRange(req.Addr, req.Quantity, numCoils) {
		return nil, mb.ErrIllegalDataAddress
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !req.IsWrite {
		out := make([]bool, req.Quantity)
		for i := range out {
			out[i] = p.coil(req.Addr + uint16(i))
		}
		return out, nil
	}
	if req.Addr != CoilHeater || req.Quantity != 1 {
		return nil, mb.ErrIllegalDataAddress
	}
	p.heater = req.Args[0]
	v := uint16(0)
	if p.heater {
		v = 1
	}
	p.record("coil", req.Addr, []uint16{v}, req.ClientAddr)
	return nil, nil
}

func (h handler) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	if !inRange(req.Addr, req.Quantity, numCoils) {
		return nil, mb.ErrIllegalDataAddress
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = p.coil(req.Addr + uint16(i))
	}
	return out, nil
}

func (h handler) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if regs, ok, err := h.p.readMessage(req.Addr, req.Quantity); ok {
		if req.IsWrite {
			return nil, mb.ErrIllegalDataAddress
		}
		return regs, err
	}
	if !inRange(req.Addr, req.Quantity, numHolding) {
		return nil, mb.ErrIllegalDataAddress
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !req.IsWrite {
		return p.readHolding(req.Addr, req.Quantity), nil
	}
	for i, v := range req.Args {
		switch req.Addr + uint16(i) {
		case RegInletPump, RegOutletValve:
			if v > 100 {
				return nil, mb.ErrIllegalDataValue
			}
		case RegHeaterSetpoint:
			if s := int16(v); s < 0 || s > maxSetpoint {
				return nil, mb.ErrIllegalDataValue
			}
		default:
			return nil, mb.ErrIllegalDataAddress
		}
	}
	for i, v := range req.Args {
		switch req.Addr + uint16(i) {
		case RegInletPump:
			p.inlet = v
		case RegOutletValve:
			p.outlet = v
		case RegHeaterSetpoint:
			p.setpoint = int16(v)
		}
	}
	p.record("holding", req.Addr, slices.Clone(req.Args), req.ClientAddr)
	return nil, nil
}

func (h handler) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	if regs, ok, err := h.p.readMessage(req.Addr, req.Quantity); ok {
		return regs, err
	}
	if !inRange(req.Addr, req.Quantity, numHolding) {
		return nil, mb.ErrIllegalDataAddress
	}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.readHolding(req.Addr, req.Quantity), nil
}

func (p *Plant) readHolding(addr, qty uint16) []uint16 {
	out := make([]uint16, qty)
	for i := range out {
		out[i] = p.holding(addr + uint16(i))
	}
	return out
}

// record logs an accepted write; the caller holds p.mu.
func (p *Plant) record(table string, addr uint16, values []uint16, remote string) {
	p.writes = append(p.writes, Write{Time: time.Now(), Table: table, Address: addr, Values: values, Remote: remote})
	p.logger.Info("sim write", "table", table, "address", addr, "values", values, "remote", remote)
}
