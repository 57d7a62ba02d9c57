package drivers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxGPIOOffset bounds a line offset written as a number; real chips
// have at most a few hundred lines.
const MaxGPIOOffset = 4095

// GPIOLine says which line of a GPIO chip a point takes: the line the
// chip names Name, or else the one at Offset. One of the two may be unset
// (Name "" or Offset -1).
type GPIOLine struct {
	Name   string
	Offset int
}

// String shows the line as a technician would write it.
func (l GPIOLine) String() string {
	switch {
	case l.Name == "":
		return "line " + strconv.Itoa(l.Offset)
	case l.Offset < 0:
		return "line " + strconv.Quote(l.Name)
	}
	return fmt.Sprintf("line %q (or offset %d)", l.Name, l.Offset)
}

// Keys identify the line for finding two points on one line: its name
// and its offset.
func (l GPIOLine) Keys() []string {
	var k []string
	if l.Name != "" {
		k = append(k, l.Name)
	}
	if l.Offset >= 0 {
		k = append(k, "#"+strconv.Itoa(l.Offset))
	}
	return k
}

// ParseGPIOLine reads the line setting of a GPIO point:
//
//	17       the line at offset 17 of the chip
//	GPIO17   the line the chip names GPIO17; failing that, offset 17, which
//	         is where every Raspberry Pi has its BCM GPIO17
//	pin11    physical pin 11 of the Raspberry Pi's 40-pin header: GPIO17
//	TXD1     any other name: the line the chip names so, and nothing else
func ParseGPIOLine(s string) (GPIOLine, error) {
	if s == "" {
		return GPIOLine{}, errors.New("line is empty: give an offset (17), a name (GPIO17) or a header pin (pin11)")
	}
	if gpioDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n > MaxGPIOOffset {
			return GPIOLine{}, fmt.Errorf("line offset %s is more than %d", s, MaxGPIOOffset)
		}
		return GPIOLine{Offset: n}, nil
	}
	if rest, ok := gpioCutPrefix(s, "pin"); ok && gpioDigits(strings.TrimSpace(rest)) {
		n, _ := strconv.Atoi(strings.TrimSpace(rest))
		bcm, err := headerPin(n)
		if err != nil {
			return GPIOLine{}, err
		}
		return GPIOLine{Name: "GPIO" + strconv.Itoa(bcm), Offset: bcm}, nil
	}
	if rest, ok := gpioCutPrefix(s, "GPIO"); ok && gpioDigits(rest) {
		n, err := strconv.Atoi(rest)
		if err != nil || n > MaxGPIOOffset {
			return GPIOLine{}, fmt.Errorf("line %s: number more than %d", s, MaxGPIOOffset)
		}
		return GPIOLine{Name: "GPIO" + strconv.Itoa(n), Offset: n}, nil
	}
	return GPIOLine{Name: s, Offset: -1}, nil
}

func gpioDigits(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func gpioCutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// headerPins is the Raspberry Pi's 40-pin header (every model since the
// B+, the Zero and the Pi 5): for each physical pin, the BCM GPIO number
// it carries, or what else it is. docs/GPIO.md shows the same table; a
// test in drivers/gpio keeps the two equal.
var headerPins = [41]struct {
	gpio int8 // -1: not a GPIO
	what string
}{
	{-1, ""},
	{-1, "3.3 V power"}, {-1, "5 V power"},
	{2, "I2C1 SDA"}, {-1, "5 V power"},
	{3, "I2C1 SCL"}, {-1, "ground"},
	{4, "GPCLK0"}, {14, "UART TXD"},
	{-1, "ground"}, {15, "UART RXD"},
	{17, ""}, {18, "PCM CLK"},
	{27, ""}, {-1, "ground"},
	{22, ""}, {23, ""},
	{-1, "3.3 V power"}, {24, ""},
	{10, "SPI0 MOSI"}, {-1, "ground"},
	{9, "SPI0 MISO"}, {25, ""},
	{11, "SPI0 SCLK"}, {8, "SPI0 CE0"},
	{-1, "ground"}, {7, "SPI0 CE1"},
	{0, "ID EEPROM SDA"}, {1, "ID EEPROM SCL"},
	{5, ""}, {-1, "ground"},
	{6, ""}, {12, "PWM0"},
	{13, "PWM1"}, {-1, "ground"},
	{19, "PCM FS"}, {16, ""},
	{26, ""}, {20, "PCM DIN"},
	{-1, "ground"}, {21, "PCM DOUT"},
}

// RaspberryPiPin describes physical pin n (1 to 40) of the Raspberry
// Pi's 40-pin header: the BCM GPIO number it carries, or -1, and its other
// function ("I2C1 SDA", "ground", "3.3 V power"), if any.
func RaspberryPiPin(n int) (gpio int, function string) {
	if n < 1 || n >= len(headerPins) {
		return -1, ""
	}
	return int(headerPins[n].gpio), headerPins[n].what
}

// headerPin returns the BCM GPIO number of a physical pin of the
// Raspberry Pi's 40-pin header.
func headerPin(n int) (int, error) {
	if n < 1 || n >= len(headerPins) {
		return 0, fmt.Errorf("pin%d: the Raspberry Pi header has pins 1 to 40", n)
	}
	p := headerPins[n]
	if p.gpio < 0 {
		return 0, fmt.Errorf("pin%d is %s, not a GPIO", n, p.what)
	}
	return int(p.gpio), nil
}
