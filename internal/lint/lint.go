// Package lint holds checks of the source tree itself, run as tests: the
// package import rules of the design (in this package's tests) and GoList,
// the helper tests use to ask the go tool which packages a build links.
package lint

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is the project's module path.
const Module = "github.com/femtoclaw/femtoclaw"

// GoList runs `go list args...` and returns its output. It skips the test
// in -short mode and where the go tool is not installed, and fails it when
// go list fails.
func GoList(t testing.TB, args ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Deps returns every package that a build of pkg with the build tags tags
// (none when empty) links, pkg included.
func Deps(t testing.TB, tags, pkg string) []string {
	t.Helper()
	args := []string{"-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	return strings.Fields(GoList(t, append(args, pkg)...))
}
