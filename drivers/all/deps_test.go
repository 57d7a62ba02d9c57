package all

import (
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/internal/lint"
)

// TestBuildTagsDropDrivers proves that a driver dropped by its build tag
// really leaves the binary, with every module only it needs: the default
// build of cmd/femtoclaw has the GPIO driver and periph.io, a build with
// -tags nogpio has neither.
func TestBuildTagsDropDrivers(t *testing.T) {
	deps := func(tags string) []string {
		t.Helper()
		return lint.Deps(t, tags, lint.Module+"/cmd/femtoclaw")
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
