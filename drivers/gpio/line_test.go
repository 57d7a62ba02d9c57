package gpio

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the header table in docs/GPIO.md")

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want lineRef
		err  string
	}{
		{in: "0", want: lineRef{offset: 0}},
		{in: "17", want: lineRef{offset: 17}},
		{in: "4095", want: lineRef{offset: 4095}},
		{in: "4096", err: "more than 4095"},
		{in: "GPIO17", want: lineRef{name: "GPIO17", offset: 17}},
		{in: "gpio17", want: lineRef{name: "GPIO17", offset: 17}},
		{in: "GPIO017", want: lineRef{name: "GPIO17", offset: 17}},
		{in: "pin11", want: lineRef{name: "GPIO17", offset: 17}},
		{in: "PIN 11", want: lineRef{name: "GPIO17", offset: 17}},
		{in: "pin3", want: lineRef{name: "GPIO2", offset: 2}},
		{in: "pin40", want: lineRef{name: "GPIO21", offset: 21}},
		{in: "pin27", want: lineRef{name: "GPIO0", offset: 0}},
		{in: "pin6", err: "pin6 is ground"},
		{in: "pin2", err: "pin2 is 5 V power"},
		{in: "pin0", err: "pins 1 to 40"},
		{in: "pin41", err: "pins 1 to 40"},
		{in: "TXD1", want: lineRef{name: "TXD1", offset: -1}},
		{in: "GPIO_GCLK", want: lineRef{name: "GPIO_GCLK", offset: -1}},
		{in: "pinX", want: lineRef{name: "pinX", offset: -1}},
		{in: "-1", want: lineRef{name: "-1", offset: -1}},
		{in: "", err: "line is empty"},
	} {
		got, err := parseLine(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseLine(%q): got %v, %v, want error %q", c.in, got, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("parseLine(%q): %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("parseLine(%q): got %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestHeaderPins checks the header table against facts any pinout
// shows: 28 GPIOs, each once, 8 grounds, GPIO17 on pin 11.
func TestHeaderPins(t *testing.T) {
	seen := map[int8]int{}
	grounds := 0
	for n := 1; n <= 40; n++ {
		p := headerPins[n]
		if p.gpio >= 0 {
			if m, dup := seen[p.gpio]; dup {
				t.Errorf("GPIO%d on pins %d and %d", p.gpio, m, n)
			}
			seen[p.gpio] = n
		} else if p.what == "ground" {
			grounds++
		}
	}
	if len(seen) != 28 || grounds != 8 {
		t.Errorf("got %d GPIOs and %d grounds, want 28 and 8", len(seen), grounds)
	}
	for bcm, pin := range map[int8]int{17: 11, 18: 12, 27: 13, 22: 15, 4: 7, 14: 8, 21: 40, 26: 37} {
		if seen[bcm] != pin {
			t.Errorf("GPIO%d: got pin %d, want %d", bcm, seen[bcm], pin)
		}
	}
}

// headerTable renders headerPins as docs/GPIO.md shows them: the header
// as it sits on the board, odd pins on the left.
func headerTable() string {
	var b strings.Builder
	b.WriteString("| function | line | pin | pin | line | function |\n")
	b.WriteString("|---:|---:|:-:|:-:|:---|:---|\n")
	line := func(n int) string {
		if g := headerPins[n].gpio; g >= 0 {
			return fmt.Sprintf("GPIO%d", g)
		}
		return ""
	}
	for n := 1; n <= 40; n += 2 {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s |\n",
			headerPins[n].what, line(n), n, n+1, line(n+1), headerPins[n+1].what)
	}
	return b.String()
}

// TestHeaderTableInDocs keeps the table in docs/GPIO.md equal to the one
// the driver resolves pins with; -update rewrites it.
func TestHeaderTableInDocs(t *testing.T) {
	const begin, end = "<!-- header table: begin -->\n", "<!-- header table: end -->"
	path := filepath.Join("..", "..", "docs", "GPIO.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
	got, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no %q ... %q markers", path, begin, end)
	}
	want := headerTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+begin+want+end+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: header table differs from the driver's (go test -update ./drivers/gpio rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
}
