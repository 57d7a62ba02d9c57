package gpio

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

var update = flag.Bool("update", false, "rewrite the header table in docs/GPIO.md")

// headerTable renders the Raspberry Pi header as docs/GPIO.md shows them: the header
// as it sits on the board, odd pins on the left.
func headerTable() string {
	var b strings.Builder
	b.WriteString("| function | line | pin | pin | line | function |\n")
	b.WriteString("|---:|---:|:-:|:-:|:---|:---|\n")
	line := func(n int) string {
		if g, _ := drivers.RaspberryPiPin(n); g >= 0 {
			return fmt.Sprintf("GPIO%d", g)
		}
		return ""
	}
	what := func(n int) string {
		_, w := drivers.RaspberryPiPin(n)
		return w
	}
	for n := 1; n <= 40; n += 2 {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s |\n", what(n), line(n), n, n+1, line(n+1), what(n+1))
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
