// Package gpio is the GPIO driver: the lines of a Linux GPIO chip as
// boolean points, through periph.io/x/host/v3's character-device driver
// (/dev/gpiochipN and the kernel's GPIO v2 ioctls; no sysfs, no memory
// mapping).
//
// A device is one chip (chip: gpiochip0, its path or its label) and each
// point one line of it, named by offset (17), by the name the chip gives
// it (GPIO17) or by a physical pin of the Raspberry Pi header (pin11).
// A point's value is on or off: with active_low a low level is on. An
// output may be writable, and is switched to its initial state when the
// device takes its lines; an input has a bias (pull-up, pull-down or
// as-is). docs/GPIO.md has the Raspberry Pi's pin names and wiring notes.
//
// # Values on the wire
//
// Resolve encodes on or off as one byte, the level the line is driven to:
// 1 high, 0 low. The gate authorises exactly that level, active_low
// already applied. A pulse (capability kind pulse) is two such writes,
// on and then off, made by the gateway around a bounded wait.
//
// # Lines
//
// The chip is opened and its lines taken on first use, not by New; a
// chip that cannot be opened fails every call with an error wrapping
// drivers.ErrUnavailable that names the chip, and is tried again on the
// next call. After a failure the lines are taken again, and every output
// is driven back to the state last written (its initial state before
// any write), not reset. Reading an output returns the state last
// written: periph can only read a line by making it an input. Close
// releases the lines; what a released line does is up to the chip (a
// Raspberry Pi keeps its level).
package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"periph.io/x/conn/v3/gpio"
)

func init() { drivers.Register("gpio", New) }

// DefaultChip is the chip of a device that names none: the Raspberry Pi's
// header on every model (on a Pi 5 with a kernel before 6.6.45,
// gpiochip4).
const DefaultChip = "gpiochip0"

// The directions and biases a point may have.
const (
	DirectionInput  = "input"
	DirectionOutput = "output"

	BiasAsIs     = "as-is"
	BiasPullUp   = "pull-up"
	BiasPullDown = "pull-down"
)

// ErrClosed is returned by a device used after Close.
var ErrClosed = errors.New("gpio: device closed")

// point is a validated PointConfig.
type point struct {
	name      string
	ref       drivers.GPIOLine
	output    bool
	writable  bool
	activeLow bool
	pull      gpio.Pull
	initial   bool
}

// Device is one GPIO chip. It is safe for concurrent use; calls are
// serialised.
type Device struct {
	name   string
	chip   string
	points []point
	byName map[string]int
	logger *slog.Logger
	open   openFunc
	now    func() time.Time

	mu     sync.Mutex // guards every field below
	closed bool
	hw     chip  // nil until the lines are taken
	pins   []pin // by point, while hw is set
	state  []bool
}

// New validates cfg and returns its device, without touching the chip.
// Every problem in cfg is reported.
func New(cfg drivers.DeviceConfig, logger *slog.Logger) (drivers.Device, error) {
	d, err := newDevice(cfg, logger, openChip)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func newDevice(cfg drivers.DeviceConfig, logger *slog.Logger, open openFunc) (*Device, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Device{
		name:   cfg.Name,
		chip:   cfg.Chip,
		byName: make(map[string]int, len(cfg.Points)),
		logger: logger,
		open:   open,
		now:    time.Now,
	}
	if d.chip == "" {
		d.chip = DefaultChip
	}
	var errs []error
	devErr := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gpio: device %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		devErr("name is empty")
	}
	if cfg.URL != "" {
		devErr("url does not apply to GPIO; name the chip with chip")
	}
	lines := make(map[string]string, len(cfg.Points))
	for _, pc := range cfg.Points {
		p, perrs := parsePoint(pc)
		for _, e := range perrs {
			devErr("point %q: %v", pc.Name, e)
		}
		if pc.Name == "" {
			devErr("point on line %q has no name", pc.Line)
			continue
		}
		if _, dup := d.byName[pc.Name]; dup {
			devErr("point %q: defined twice", pc.Name)
			continue
		}
		if len(perrs) == 0 {
			// The same line by name or by offset; a name and an offset
			// of one line are found out when the lines are taken.
			for _, k := range p.ref.Keys() {
				if other, dup := lines[k]; dup {
					devErr("point %q: %s is already point %q", pc.Name, p.ref, other)
					break
				}
			}
			for _, k := range p.ref.Keys() {
				lines[k] = pc.Name
			}
		}
		d.byName[pc.Name] = len(d.points)
		d.points = append(d.points, p)
		d.state = append(d.state, p.initial)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// parsePoint checks one point's GPIO settings and the settings that do
// not apply to a line.
func parsePoint(pc drivers.PointConfig) (point, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	p := point{name: pc.Name, writable: pc.Writable, activeLow: pc.ActiveLow, initial: pc.Initial, pull: gpio.PullNoChange}
	ref, err := drivers.ParseGPIOLine(pc.Line)
	if err != nil {
		bad("%v", err)
	}
	p.ref = ref
	switch pc.Direction {
	case DirectionOutput:
		p.output = true
	case DirectionInput:
	case "":
		p.output = pc.Writable
	default:
		bad("direction %q: want %s or %s", pc.Direction, DirectionInput, DirectionOutput)
	}
	switch pc.Bias {
	case "", BiasAsIs:
	case BiasPullUp:
		p.pull = gpio.PullUp
	case BiasPullDown:
		p.pull = gpio.PullDown
	default:
		bad("bias %q: want %s, %s or %s", pc.Bias, BiasPullUp, BiasPullDown, BiasAsIs)
	}
	if p.output && p.pull != gpio.PullNoChange {
		bad("bias applies to inputs only")
	}
	if !p.output && pc.Writable {
		bad("an input cannot be writable")
	}
	if !p.output && pc.Initial {
		bad("initial applies to outputs only")
	}
	if pc.Type != "" && pc.Type != "bool" {
		bad("type %q: a GPIO line is bool", pc.Type)
	}
	if pc.Register != "" || pc.Address != 0 || pc.Order != "" || pc.Node != "" || pc.Bit != nil || pc.Length != 0 {
		bad("register, address, order, node, bit and length do not apply to GPIO")
	}
	if (pc.Scale != 0 && pc.Scale != 1) || pc.Offset != 0 {
		bad("scale and offset do not apply to GPIO")
	}
	return p, errs
}

// Read returns the named points, or every point when names is empty: an
// input's level as read now, an output's state as last written.
func (d *Device) Read(ctx context.Context, names []string) ([]drivers.Reading, error) {
	idx, err := d.lookup(names)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.take(); err != nil {
		return nil, err
	}
	now := d.now()
	out := make([]drivers.Reading, 0, len(idx))
	for _, i := range idx {
		p := &d.points[i]
		on := d.state[i]
		if !p.output {
			on = bool(d.pins[i].Read()) != p.activeLow
		}
		out = append(out, drivers.Reading{Point: p.name, Value: drivers.Bool(on), Quality: drivers.QualityGood, Time: now})
	}
	return out, nil
}

// lookup returns the indexes of the named points.
func (d *Device) lookup(names []string) ([]int, error) {
	if len(names) == 0 {
		idx := make([]int, len(d.points))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	idx := make([]int, 0, len(names))
	for _, n := range names {
		i, ok := d.byName[n]
		if !ok {
			return nil, fmt.Errorf("gpio: device %q: point %q: %w", d.name, n, drivers.ErrUnknownPoint)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

// Resolve encodes on (true, or the number 1) or off (false, 0) for a
// writable output as the level its line is driven to: one byte, 1 high
// or 0 low.
func (d *Device) Resolve(name string, v drivers.Value) (drivers.Encoded, error) {
	i, err := d.writable(name)
	if err != nil {
		return drivers.Encoded{}, err
	}
	var on bool
	switch {
	case v.Kind == drivers.KindBool:
		on = v.Bool
	case v.Kind == drivers.KindNumber && (v.Number == 0 || v.Number == 1):
		on = v.Number == 1
	case v.Kind == drivers.KindNumber && !math.IsNaN(v.Number):
		return drivers.Encoded{}, fmt.Errorf("gpio: device %q: point %q: %v is neither 0 (off) nor 1 (on): %w", d.name, name, v, drivers.ErrValue)
	default:
		return drivers.Encoded{}, fmt.Errorf("gpio: device %q: point %q: %v is not on or off: %w", d.name, name, v, drivers.ErrValue)
	}
	high := on != d.points[i].activeLow
	wire := byte(0)
	if high {
		wire = 1
	}
	return drivers.Encoded{Value: drivers.Bool(on), Wire: []byte{wire}}, nil
}

// writable returns the index of the named point if it may be written.
func (d *Device) writable(name string) (int, error) {
	i, ok := d.byName[name]
	if !ok {
		return 0, fmt.Errorf("gpio: device %q: point %q: %w", d.name, name, drivers.ErrUnknownPoint)
	}
	if p := &d.points[i]; !p.writable || !p.output {
		return 0, fmt.Errorf("gpio: device %q: point %q: %w", d.name, name, drivers.ErrNotWritable)
	}
	return i, nil
}

// Write drives a writable output to the level a Resolve gave: its wire
// byte, 1 high or 0 low.
func (d *Device) Write(ctx context.Context, name string, e drivers.Encoded) error {
	i, err := d.writable(name)
	if err != nil {
		return err
	}
	if len(e.Wire) != 1 || e.Wire[0] > 1 {
		return fmt.Errorf("gpio: device %q: point %q: wire %x is not one byte 0 or 1: %w", d.name, name, e.Wire, drivers.ErrValue)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	high := e.Wire[0] == 1
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.take(); err != nil {
		return err
	}
	p := &d.points[i]
	if err := d.pins[i].Out(gpio.Level(high)); err != nil {
		d.release()
		return fmt.Errorf("gpio: device %q: chip %q: point %q (%s): %w: %w", d.name, d.chip, name, p.ref, drivers.ErrUnavailable, err)
	}
	d.state[i] = high != p.activeLow
	return nil
}

// take opens the chip and sets up every line, unless that is done: an
// input gets its bias, an output its current state. It is called with
// d.mu held.
func (d *Device) take() error {
	if d.closed {
		return ErrClosed
	}
	if d.hw != nil {
		return nil
	}
	c, err := d.open(d.chip)
	if err != nil {
		return fmt.Errorf("gpio: device %q: %w: %w", d.name, drivers.ErrUnavailable, err)
	}
	pins := make([]pin, len(d.points))
	for i := range d.points {
		p := &d.points[i]
		pn, err := lineOf(c, p.ref)
		if err == nil {
			if p.output {
				err = pn.Out(gpio.Level(d.state[i] != p.activeLow))
			} else {
				err = pn.In(p.pull, gpio.NoEdge)
			}
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("gpio: device %q: chip %q: point %q (%s): %w: %w", d.name, d.chip, p.name, p.ref, drivers.ErrUnavailable, err)
		}
		pins[i] = pn
	}
	d.hw, d.pins = c, pins
	d.logger.Info("gpio lines taken", "chip", d.chip, "lines", len(pins))
	return nil
}

// lineOf finds a point's line on c.
func lineOf(c chip, r drivers.GPIOLine) (pin, error) {
	if r.Name != "" {
		if p := c.ByName(r.Name); p != nil {
			return p, nil
		}
	}
	if r.Offset >= 0 {
		if p := c.ByOffset(r.Offset); p != nil {
			return p, nil
		}
	}
	return nil, errors.New("no such line on this chip")
}

// release gives the lines back. It is called with d.mu held.
func (d *Device) release() {
	if d.hw == nil {
		return
	}
	if err := d.hw.Close(); err != nil {
		d.logger.Warn("gpio release lines", "chip", d.chip, "err", err)
	}
	d.hw, d.pins = nil, nil
}

// Close releases the lines. A closed device is not reused.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.release()
	return nil
}

var _ drivers.Device = (*Device)(nil)
