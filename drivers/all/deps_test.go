package all

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuildTagsDropDrivers proves that a driver dropped by its build tag
// really leaves the binary, with every module only it needs: the default
// build of cmd/femtoclaw has the GPIO driver and periph.io, a build with
// -tags nogpio has neither.
func TestBuildTagsDropDrivers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	deps := func(tags string) []string {
		t.Helper()
		args := []string{"list", "-deps"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		out, err := exec.Command(goBin, append(args, "github.com/femtoclaw/femtoclaw/cmd/femtoclaw")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.Fields(string(out))
	}
	const gpioPkg = "github.com/femtoclaw/femtoclaw/drivers/gpio"
	dropped := func(pkg string) bool { return pkg == gpioPkg || strings.HasPrefix(pkg, "periph.io/") }
	for _, c := range []struct {
		tags string
		want bool // the GPIO driver and periph.io are linked
	}{{"", true}, {"nogpio", false}} {
		var found []string
		for _, pkg := range deps(c.tags) {
			if dropped(pkg) {
				found = append(found, pkg)
			}
		}
		hasDriver := false
		for _, pkg := range found {
			hasDriver = hasDriver || pkg == gpioPkg
		}
		switch {
		case c.want && (!hasDriver || len(found) < 2):
			t.Errorf("tags %q: got %v, want %s and periph.io packages", c.tags, found, gpioPkg)
		case !c.want && len(found) > 0:
			t.Errorf("tags %q: got %v, want no GPIO driver and no periph.io package", c.tags, found)
		}
	}
}
