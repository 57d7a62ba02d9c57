package gpio

import (
	"errors"
	"log/slog"
	"strconv"
	"sync"

	"github.com/femtoclaw/femtoclaw/drivers"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// FakeChip is a chip of fake lines for tests: gpiotest pins, found by
// their name (N) or offset (Num), that record every level driven.
type FakeChip struct {
	mu     sync.Mutex
	Pins   []*gpiotest.Pin
	outs   map[*gpiotest.Pin][]gpio.Level
	Opens  int   // how often the chip was opened
	Closes int   // how often its lines were released
	OutErr error // when set, every Out fails with it
}

// NewFakeChip returns a chip with lines at offsets 0 to n-1, named as a
// Raspberry Pi names them (GPIO0, GPIO1, ...), except those in rename.
func NewFakeChip(n int, rename map[int]string) *FakeChip {
	c := &FakeChip{outs: map[*gpiotest.Pin][]gpio.Level{}}
	for i := range n {
		name := "GPIO" + strconv.Itoa(i)
		if r, ok := rename[i]; ok {
			name = r
		}
		c.Pins = append(c.Pins, &gpiotest.Pin{N: name, Num: i})
	}
	return c
}

// Outs returns the levels driven on the line at offset, in order.
func (c *FakeChip) Outs(offset int) []gpio.Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gpio.Level(nil), c.outs[c.Pins[offset]]...)
}

func (c *FakeChip) ByName(name string) pin {
	for _, p := range c.Pins {
		if p.N == name {
			return fakePin{p, c}
		}
	}
	return nil
}

func (c *FakeChip) ByOffset(offset int) pin {
	if offset < 0 || offset >= len(c.Pins) {
		return nil
	}
	return fakePin{c.Pins[offset], c}
}

func (c *FakeChip) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Closes++
	return nil
}

type fakePin struct {
	*gpiotest.Pin
	c *FakeChip
}

func (p fakePin) Out(l gpio.Level) error {
	p.c.mu.Lock()
	err := p.c.OutErr
	if err == nil {
		p.c.outs[p.Pin] = append(p.c.outs[p.Pin], l)
	}
	p.c.mu.Unlock()
	if err != nil {
		return err
	}
	return p.Pin.Out(l)
}

// NewFake builds a device whose chip is c; a nil c fails every open, as a
// machine without the chip does.
func NewFake(cfg drivers.DeviceConfig, c *FakeChip) (*Device, error) {
	return newDevice(cfg, slog.New(slog.DiscardHandler), func(name string) (chip, error) {
		if c == nil {
			return nil, errors.New("gpio: chip \"" + name + "\": not found")
		}
		c.mu.Lock()
		c.Opens++
		c.mu.Unlock()
		return c, nil
	})
}

// OpenChip is the real hardware path.
var OpenChip = func(name string) error {
	c, err := openChip(name)
	if err == nil {
		c.Close()
	}
	return err
}
