package drivers_test

import (
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestParseGPIOLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want drivers.GPIOLine
		err  string
	}{
		{in: "0", want: drivers.GPIOLine{Offset: 0}},
		{in: "17", want: drivers.GPIOLine{Offset: 17}},
		{in: "4095", want: drivers.GPIOLine{Offset: 4095}},
		{in: "4096", err: "more than 4095"},
		{in: "GPIO17", want: drivers.GPIOLine{Name: "GPIO17", Offset: 17}},
		{in: "gpio17", want: drivers.GPIOLine{Name: "GPIO17", Offset: 17}},
		{in: "GPIO017", want: drivers.GPIOLine{Name: "GPIO17", Offset: 17}},
		{in: "pin11", want: drivers.GPIOLine{Name: "GPIO17", Offset: 17}},
		{in: "PIN 11", want: drivers.GPIOLine{Name: "GPIO17", Offset: 17}},
		{in: "pin3", want: drivers.GPIOLine{Name: "GPIO2", Offset: 2}},
		{in: "pin40", want: drivers.GPIOLine{Name: "GPIO21", Offset: 21}},
		{in: "pin27", want: drivers.GPIOLine{Name: "GPIO0", Offset: 0}},
		{in: "pin6", err: "pin6 is ground"},
		{in: "pin2", err: "pin2 is 5 V power"},
		{in: "pin0", err: "pins 1 to 40"},
		{in: "pin41", err: "pins 1 to 40"},
		{in: "TXD1", want: drivers.GPIOLine{Name: "TXD1", Offset: -1}},
		{in: "GPIO_GCLK", want: drivers.GPIOLine{Name: "GPIO_GCLK", Offset: -1}},
		{in: "pinX", want: drivers.GPIOLine{Name: "pinX", Offset: -1}},
		{in: "-1", want: drivers.GPIOLine{Name: "-1", Offset: -1}},
		{in: "", err: "line is empty"},
	} {
		got, err := drivers.ParseGPIOLine(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseGPIOLine(%q): got %v, %v, want error %q", c.in, got, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("ParseGPIOLine(%q): %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseGPIOLine(%q): got %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestRaspberryPiPin checks the header table against facts any pinout
// shows: 28 GPIOs, each once, 8 grounds, GPIO17 on pin 11.
func TestRaspberryPiPin(t *testing.T) {
	seen := map[int]int{}
	grounds := 0
	for n := 1; n <= 40; n++ {
		gpio, what := drivers.RaspberryPiPin(n)
		if gpio >= 0 {
			if m, dup := seen[gpio]; dup {
				t.Errorf("GPIO%d on pins %d and %d", gpio, m, n)
			}
			seen[gpio] = n
		} else if what == "ground" {
			grounds++
		}
	}
	for _, n := range []int{0, 41, -1} {
		if gpio, what := drivers.RaspberryPiPin(n); gpio != -1 || what != "" {
			t.Errorf("RaspberryPiPin(%d): got %d %q, want -1 \"\"", n, gpio, what)
		}
	}
	if len(seen) != 28 || grounds != 8 {
		t.Errorf("got %d GPIOs and %d grounds, want 28 and 8", len(seen), grounds)
	}
	for bcm, pin := range map[int]int{17: 11, 18: 12, 27: 13, 22: 15, 4: 7, 14: 8, 21: 40, 26: 37} {
		if seen[bcm] != pin {
			t.Errorf("GPIO%d: got pin %d, want %d", bcm, seen[bcm], pin)
		}
	}
}
