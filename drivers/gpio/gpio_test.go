package gpio_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
	fgpio "github.com/femtoclaw/femtoclaw/drivers/gpio"
	"periph.io/x/conn/v3/gpio"
)

var ctx = context.Background()

// board is a Raspberry Pi wired as the example config: a relay board
// (active low) on GPIO17 and GPIO27, a lamp on GPIO22 (active high), a
// door contact to ground on GPIO23 with the pull-up, a level switch on
// GPIO24 that drives the line itself, and an output the gateway only
// holds at its initial state on GPIO5.
func board() drivers.DeviceConfig {
	return drivers.DeviceConfig{Name: "pi", Driver: "gpio", Points: []drivers.PointConfig{
		{Name: "pump", Line: "GPIO17", Writable: true, ActiveLow: true},
		{Name: "valve", Line: "pin13", Writable: true, ActiveLow: true, Initial: true},
		{Name: "lamp", Line: "22", Writable: true},
		{Name: "door", Line: "GPIO23", Bias: "pull-up", ActiveLow: true},
		{Name: "level_high", Line: "gpio24", Direction: "input"},
		{Name: "enable", Line: "GPIO5", Direction: "output", Initial: true},
	}}
}

func newBoard(t *testing.T) (*fgpio.Device, *fgpio.FakeChip) {
	t.Helper()
	chip := fgpio.NewFakeChip(28, map[int]string{14: "TXD1"})
	d, err := fgpio.NewFake(board(), chip)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, chip
}

func values(t *testing.T, d drivers.Device, points ...string) map[string]bool {
	t.Helper()
	rs, err := d.Read(ctx, points)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	out := map[string]bool{}
	for _, r := range rs {
		if r.Quality != drivers.QualityGood || r.Value.Kind != drivers.KindBool {
			t.Errorf("Read %s: got %v quality %s, want a good bool", r.Point, r.Value, r.Quality)
		}
		out[r.Point] = r.Value.Bool
	}
	return out
}

func TestTakeSetsInitialStatesAndBias(t *testing.T) {
	d, chip := newBoard(t)
	if chip.Opens != 0 {
		t.Fatalf("New opened the chip %d times, want 0: lines are taken on first use", chip.Opens)
	}
	got := values(t, d)
	want := map[string]bool{"pump": false, "valve": true, "lamp": false, "door": false, "level_high": false, "enable": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	// Outputs are driven to their initial state, active_low applied:
	// pump off = high, valve on = low, lamp off = low, enable on = high.
	for _, c := range []struct {
		offset int
		want   []gpio.Level
	}{{17, []gpio.Level{gpio.High}}, {27, []gpio.Level{gpio.Low}}, {22, []gpio.Level{gpio.Low}}, {5, []gpio.Level{gpio.High}}, {23, nil}, {24, nil}} {
		if got := chip.Outs(c.offset); !slices.Equal(got, c.want) {
			t.Errorf("line %d driven: got %v, want %v", c.offset, got, c.want)
		}
	}
	if p := chip.Pins[23].Pull(); p != gpio.PullUp {
		t.Errorf("door bias: got %s, want %s", p, gpio.PullUp)
	}
	if p := chip.Pins[24].Pull(); p != gpio.PullNoChange {
		t.Errorf("level_high bias: got %s, want %s", p, gpio.PullNoChange)
	}
	values(t, d)
	if chip.Opens != 1 {
		t.Errorf("chip opened %d times after two reads, want 1", chip.Opens)
	}
}

func TestInputsFollowTheLine(t *testing.T) {
	d, chip := newBoard(t)
	values(t, d)
	for _, c := range []struct {
		door, level gpio.Level
		want        map[string]bool
	}{
		{gpio.High, gpio.Low, map[string]bool{"door": false, "level_high": false}},
		{gpio.Low, gpio.High, map[string]bool{"door": true, "level_high": true}},
		{gpio.Low, gpio.Low, map[string]bool{"door": true, "level_high": false}},
	} {
		chip.Pins[23].Out(c.door)
		chip.Pins[24].Out(c.level)
		got := values(t, d, "door", "level_high")
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("door line %s, level line %s: %s got %v, want %v", c.door, c.level, k, got[k], v)
			}
		}
	}
}

func TestResolveAndWrite(t *testing.T) {
	d, chip := newBoard(t)
	for _, c := range []struct {
		point string
		v     drivers.Value
		wire  byte
		level gpio.Level
	}{
		{"pump", drivers.Bool(true), 0, gpio.Low},
		{"pump", drivers.Bool(false), 1, gpio.High},
		{"pump", drivers.Number(1), 0, gpio.Low},
		{"lamp", drivers.Bool(true), 1, gpio.High},
		{"lamp", drivers.Number(0), 0, gpio.Low},
	} {
		e, err := d.Resolve(c.point, c.v)
		if err != nil {
			t.Fatalf("Resolve %s %v: %v", c.point, c.v, err)
		}
		on := c.v.Bool || c.v.Number == 1
		if e.Value != drivers.Bool(on) || !slices.Equal(e.Wire, []byte{c.wire}) {
			t.Errorf("Resolve %s %v: got %s, want %v (0x0%d)", c.point, c.v, e, on, c.wire)
		}
		if err := d.Write(ctx, c.point, e); err != nil {
			t.Fatalf("Write %s %s: %v", c.point, e, err)
		}
		line := map[string]int{"pump": 17, "lamp": 22}[c.point]
		if got := chip.Pins[line].Read(); got != c.level {
			t.Errorf("Write %s %v: line %d got %s, want %s", c.point, c.v, line, got, c.level)
		}
		if got := values(t, d, c.point)[c.point]; got != on {
			t.Errorf("Read %s after writing %v: got %v", c.point, c.v, got)
		}
	}
}

func TestRefusals(t *testing.T) {
	d, _ := newBoard(t)
	for _, c := range []struct {
		name  string
		point string
		v     drivers.Value
		want  error
	}{
		{"unknown point", "heater", drivers.Bool(true), drivers.ErrUnknownPoint},
		{"input", "door", drivers.Bool(true), drivers.ErrNotWritable},
		{"output not writable", "enable", drivers.Bool(false), drivers.ErrNotWritable},
		{"number 2", "pump", drivers.Number(2), drivers.ErrValue},
		{"number 0.5", "pump", drivers.Number(0.5), drivers.ErrValue},
		{"string", "pump", drivers.String("on"), drivers.ErrValue},
		{"invalid", "pump", drivers.Value{}, drivers.ErrValue},
	} {
		if _, err := d.Resolve(c.point, c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: Resolve got %v, want %v", c.name, err, c.want)
		}
	}
	for _, w := range [][]byte{nil, {2}, {0, 1}, {0xff}} {
		if err := d.Write(ctx, "pump", drivers.Encoded{Value: drivers.Bool(true), Wire: w}); !errors.Is(err, drivers.ErrValue) {
			t.Errorf("Write wire %x: got %v, want %v", w, err, drivers.ErrValue)
		}
	}
	if err := d.Write(ctx, "door", drivers.Encoded{Value: drivers.Bool(true), Wire: []byte{1}}); !errors.Is(err, drivers.ErrNotWritable) {
		t.Errorf("Write input: got %v, want %v", err, drivers.ErrNotWritable)
	}
	if _, err := d.Read(ctx, []string{"pump", "heater"}); !errors.Is(err, drivers.ErrUnknownPoint) {
		t.Errorf("Read unknown: got %v, want %v", err, drivers.ErrUnknownPoint)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Read(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Read cancelled: got %v, want %v", err, context.Canceled)
	}
	d.Close()
	if _, err := d.Read(ctx, nil); !errors.Is(err, fgpio.ErrClosed) {
		t.Errorf("Read after Close: got %v, want %v", err, fgpio.ErrClosed)
	}
}

// TestLineLookup finds lines by name, by the Raspberry Pi's names with a
// fallback to their offset (a Pi 3 names GPIO14 TXD1), and refuses a
// line the chip does not have.
func TestLineLookup(t *testing.T) {
	chip := fgpio.NewFakeChip(28, map[int]string{14: "TXD1", 4: "GPIO_GCLK"})
	for _, c := range []struct {
		line   string
		offset int // -1: not found
	}{
		{"GPIO14", 14}, {"pin8", 14}, {"TXD1", 14}, {"14", 14},
		{"GPIO_GCLK", 4}, {"pin7", 4}, {"GPIO4", 4},
		{"GPIO27", 27}, {"27", 27},
		{"28", -1}, {"GPIO40", -1}, {"SPI_CE0_N", -1},
	} {
		d, err := fgpio.NewFake(drivers.DeviceConfig{Name: "pi", Points: []drivers.PointConfig{{Name: "x", Line: c.line, Writable: true}}}, chip)
		if err != nil {
			t.Fatalf("line %s: New: %v", c.line, err)
		}
		e, _ := d.Resolve("x", drivers.Bool(true))
		err = d.Write(ctx, "x", e)
		d.Close()
		switch {
		case c.offset < 0 && err == nil:
			t.Errorf("line %s: got no error, want none such on the chip", c.line)
		case c.offset < 0 && (!errors.Is(err, drivers.ErrUnavailable) || !strings.Contains(err.Error(), "no such line")):
			t.Errorf("line %s: got %v, want no such line, device unavailable", c.line, err)
		case c.offset >= 0 && err != nil:
			t.Errorf("line %s: %v", c.line, err)
		case c.offset >= 0 && chip.Pins[c.offset].Read() != gpio.High:
			t.Errorf("line %s: got line %d low, want it driven high", c.line, c.offset)
		}
		if c.offset >= 0 {
			chip.Pins[c.offset].Out(gpio.Low)
		}
	}
}

// TestMissingChip: this machine has no GPIO chip, and a device on one
// fails every call with drivers.ErrUnavailable and the chip's name, and
// tries the chip again on the next call.
func TestMissingChip(t *testing.T) {
	if _, err := os.Stat("/dev/gpiochip7"); err == nil {
		t.Skip("this machine has /dev/gpiochip7")
	}
	dev, err := drivers.Open(drivers.DeviceConfig{Name: "pi", Driver: "gpio", Chip: "gpiochip7", Points: board().Points}, nil)
	if err != nil {
		t.Fatalf("Open: %v (New must not touch the chip)", err)
	}
	defer dev.Close()
	for range 2 {
		_, err = dev.Read(ctx, nil)
		if !errors.Is(err, drivers.ErrUnavailable) || !strings.Contains(err.Error(), `chip "gpiochip7"`) {
			t.Fatalf("Read: got %v, want device unavailable naming chip \"gpiochip7\"", err)
		}
	}
	e, err := dev.Resolve("pump", drivers.Bool(true))
	if err != nil {
		t.Fatalf("Resolve needs no chip: %v", err)
	}
	err = dev.Write(ctx, "pump", e)
	if !errors.Is(err, drivers.ErrUnavailable) || !strings.Contains(err.Error(), "gpiochip7") {
		t.Errorf("Write: got %v, want device unavailable naming gpiochip7", err)
	}
	t.Logf("the error a technician sees: %v", err)
	if err := fgpio.OpenChip("/dev/gpiochip7"); err == nil || !strings.Contains(err.Error(), "/dev/gpiochip7") {
		t.Errorf("open by path: got %v, want an error naming /dev/gpiochip7", err)
	}
}

// TestRetakeRestoresLastState: after a failed write the lines are taken
// again and every output is driven to the state last written, not to its
// initial state.
func TestRetakeRestoresLastState(t *testing.T) {
	d, chip := newBoard(t)
	on, _ := d.Resolve("lamp", drivers.Bool(true))
	off, _ := d.Resolve("valve", drivers.Bool(false))
	for _, w := range []struct {
		p string
		e drivers.Encoded
	}{{"lamp", on}, {"valve", off}} {
		if err := d.Write(ctx, w.p, w.e); err != nil {
			t.Fatal(err)
		}
	}
	chip.OutErr = errors.New("EIO")
	if err := d.Write(ctx, "pump", on); !errors.Is(err, drivers.ErrUnavailable) {
		t.Fatalf("Write with a failing line: got %v, want %v", err, drivers.ErrUnavailable)
	}
	if chip.Closes != 1 {
		t.Errorf("lines released %d times after the failure, want 1", chip.Closes)
	}
	chip.OutErr = nil
	got := values(t, d)
	if chip.Opens != 2 {
		t.Errorf("chip opened %d times, want 2", chip.Opens)
	}
	want := map[string]bool{"pump": false, "valve": false, "lamp": true, "enable": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s after re-taking: got %v, want %v", k, got[k], v)
		}
	}
	// lamp: initial low, written high, re-taken high; valve (active low):
	// initial on (low), written off (high), re-taken high.
	if got, want := chip.Outs(22), []gpio.Level{gpio.Low, gpio.High, gpio.High}; !slices.Equal(got, want) {
		t.Errorf("lamp line: got %v, want %v", got, want)
	}
	if got, want := chip.Outs(27), []gpio.Level{gpio.Low, gpio.High, gpio.High}; !slices.Equal(got, want) {
		t.Errorf("valve line: got %v, want %v", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	d, _ := newBoard(t)
	on, _ := d.Resolve("lamp", drivers.Bool(true))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := d.Read(ctx, nil); err != nil {
					t.Error(err)
					return
				}
				if err := d.Write(ctx, "lamp", on); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestConfigProblems(t *testing.T) {
	p := func(pc drivers.PointConfig) drivers.DeviceConfig {
		if pc.Name == "" {
			pc.Name = "x"
		}
		return drivers.DeviceConfig{Name: "pi", Driver: "gpio", Points: []drivers.PointConfig{pc}}
	}
	bit := uint8(3)
	for _, c := range []struct {
		name string
		cfg  drivers.DeviceConfig
		want string
	}{
		{"no line", p(drivers.PointConfig{}), "line is empty"},
		{"offset too large", p(drivers.PointConfig{Line: "5000"}), "more than 4095"},
		{"ground pin", p(drivers.PointConfig{Line: "pin6"}), "pin6 is ground"},
		{"power pin", p(drivers.PointConfig{Line: "PIN1"}), "pin1 is 3.3 V power"},
		{"pin 41", p(drivers.PointConfig{Line: "pin41"}), "pins 1 to 40"},
		{"bad direction", p(drivers.PointConfig{Line: "17", Direction: "out"}), `direction "out"`},
		{"bad bias", p(drivers.PointConfig{Line: "17", Bias: "up"}), `bias "up"`},
		{"bias on output", p(drivers.PointConfig{Line: "17", Writable: true, Bias: "pull-up"}), "bias applies to inputs only"},
		{"writable input", p(drivers.PointConfig{Line: "17", Direction: "input", Writable: true}), "input cannot be writable"},
		{"initial on input", p(drivers.PointConfig{Line: "17", Initial: true}), "initial applies to outputs only"},
		{"type", p(drivers.PointConfig{Line: "17", Type: "uint16"}), "a GPIO line is bool"},
		{"register", p(drivers.PointConfig{Line: "17", Register: "coil"}), "do not apply to GPIO"},
		{"bit", p(drivers.PointConfig{Line: "17", Bit: &bit}), "do not apply to GPIO"},
		{"scale", p(drivers.PointConfig{Line: "17", Scale: 2}), "scale and offset"},
		{"url", drivers.DeviceConfig{Name: "pi", URL: "tcp://x:1"}, "url does not apply"},
		{"same line twice", drivers.DeviceConfig{Name: "pi", Points: []drivers.PointConfig{{Name: "a", Line: "GPIO17"}, {Name: "b", Line: "pin11"}}}, `is already point "a"`},
		{"same name twice", drivers.DeviceConfig{Name: "pi", Points: []drivers.PointConfig{{Name: "a", Line: "1"}, {Name: "a", Line: "2"}}}, "defined twice"},
	} {
		_, err := fgpio.New(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := fgpio.New(board(), nil); err != nil {
		t.Errorf("the example board: %v", err)
	}
}
