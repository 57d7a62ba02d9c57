package gpio

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// pin is the part of a GPIO line the driver uses. periph's
// *gpioioctl.GPIOLine has it, and so has the fake gpiotest.Pin the tests
// use: everything above this interface is tested without hardware.
type pin interface {
	// In makes the line an input with the given bias.
	In(pull gpio.Pull, edge gpio.Edge) error
	// Read returns the level of an input line.
	Read() gpio.Level
	// Out makes the line an output and drives it to l.
	Out(l gpio.Level) error
}

// chip is the hardware path: one GPIO chip whose lines a device takes.
type chip interface {
	// ByName returns the line the chip names name, or nil.
	ByName(name string) pin
	// ByOffset returns the line at offset, or nil.
	ByOffset(offset int) pin
	// Close releases every line taken through this chip.
	Close() error
}

// openFunc opens a chip by its name, path or label.
type openFunc func(name string) (chip, error)

// The lines taken by any device of this process: periph hands out one
// shared object per line, and two devices driving one line through it
// would never notice each other.
var (
	takenMu sync.Mutex
	taken   map[*gpioioctl.GPIOLine]string // line -> chip it was taken through
)

// openChip opens a chip of this machine through periph's Linux
// character-device driver (/dev/gpiochipN, GPIO v2 ioctls). periph finds
// the machine's chips once per process; a chip that appears later is not
// seen until the gateway restarts.
func openChip(name string) (chip, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("gpio: chip %q: %w", name, err)
	}
	var have []string
	for _, c := range gpioioctl.Chips {
		if c.Name() == name || c.Path() == name || c.Label() == name {
			return &hwChip{c: c}, nil
		}
		have = append(have, fmt.Sprintf("%s (%s)", c.Name(), c.Label()))
	}
	// Say why the chip is missing, in the words of the operating system
	// where it has some (permission denied, no such file).
	path := name
	if !strings.HasPrefix(path, "/") {
		path = "/dev/" + name
	}
	f, err := os.Open(path)
	if err != nil {
		if len(have) == 0 {
			return nil, fmt.Errorf("gpio: chip %q: %w (this machine has no GPIO chips)", name, err)
		}
		return nil, fmt.Errorf("gpio: chip %q: %w (this machine has %s)", name, err, strings.Join(have, ", "))
	}
	f.Close()
	if len(have) == 0 {
		return nil, fmt.Errorf("gpio: chip %q: not found: this machine has no GPIO chips", name)
	}
	return nil, fmt.Errorf("gpio: chip %q: not found: this machine has %s", name, strings.Join(have, ", "))
}

// hwChip is a chip found by periph.
type hwChip struct {
	c     *gpioioctl.GPIOChip
	mu    sync.Mutex
	lines []*gpioioctl.GPIOLine
}

func (h *hwChip) ByName(name string) pin {
	if l := h.c.ByName(name); l != nil {
		return h.take(l)
	}
	return nil
}

func (h *hwChip) ByOffset(offset int) pin {
	if offset < 0 || offset >= h.c.LineCount() {
		return nil
	}
	if l := h.c.ByNumber(offset); l != nil {
		return h.take(l)
	}
	return nil
}

// take records l as taken; a line another device holds is refused.
func (h *hwChip) take(l *gpioioctl.GPIOLine) pin {
	takenMu.Lock()
	defer takenMu.Unlock()
	if _, busy := taken[l]; busy {
		return busyLine{chip: h.c.Name(), line: l.Number()}
	}
	if taken == nil {
		taken = make(map[*gpioioctl.GPIOLine]string)
	}
	taken[l] = h.c.Name()
	h.mu.Lock()
	h.lines = append(h.lines, l)
	h.mu.Unlock()
	return l
}

// Close releases the lines this chip handed out; the chip itself stays
// open, since periph opens each chip once per process.
func (h *hwChip) Close() error {
	h.mu.Lock()
	lines := h.lines
	h.lines = nil
	h.mu.Unlock()
	takenMu.Lock()
	defer takenMu.Unlock()
	for _, l := range lines {
		l.Close()
		delete(taken, l)
	}
	return nil
}

// errBusy is the error of a line another device of this gateway holds.
var errBusy = errors.New("gpio: line taken by another device")

// busyLine stands for a line another device holds: every use fails.
type busyLine struct {
	chip string
	line int
}

func (b busyLine) err() error {
	return fmt.Errorf("%s line %d: %w", b.chip, b.line, errBusy)
}
func (b busyLine) In(gpio.Pull, gpio.Edge) error { return b.err() }
func (b busyLine) Read() gpio.Level              { return gpio.Low }
func (b busyLine) Out(gpio.Level) error          { return b.err() }

var (
	_ chip = (*hwChip)(nil)
	_ pin  = (*gpioioctl.GPIOLine)(nil)
	_ pin  = busyLine{}
)
