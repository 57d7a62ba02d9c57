package all

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestRegistersDrivers(t *testing.T) {
	for _, name := range []string{"modbus", "opcua"} {
		if !slices.Contains(drivers.Registered(), name) {
			t.Errorf("drivers.Registered: got %v, want it to hold %q", drivers.Registered(), name)
		}
	}
}

// TestDriversImportNothingAbove enforces the layering of the design: a
// driver may import protocol libraries and package drivers, never the
// gateway, the gate, the journal or the model side.
func TestDriversImportNothingAbove(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/femtoclaw/femtoclaw/drivers/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/femtoclaw/femtoclaw/"
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, mod) && !strings.HasPrefix(pkg, mod+"drivers") {
			t.Errorf("drivers depend on %s, want nothing of femtoclaw outside drivers", pkg)
		}
	}
}
