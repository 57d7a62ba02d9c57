package lint

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rule says which of the module's packages the packages under prefix may
// link, directly or through others, and for which direct imports from
// outside the module they are allowed (nil: any).
type rule struct {
	prefix   string   // a package and the packages below it
	may      []string // module packages (and those below them) they may link
	external []string // path prefixes of allowed direct imports outside the module and the standard library
}

// rules are the import rules of DESIGN.md ("Packages, and who may import
// whom"), in module-relative paths; packages no rule names (cmd, gateway,
// internal) may import anything.
var rules = []rule{
	{prefix: "brain", may: []string{"brain"}},
	{prefix: "capability", may: []string{"capability", "drivers="}},
	{prefix: "journal", may: []string{"journal"}, external: []string{"github.com/cockroachdb/pebble/"}},
	{prefix: "drivers", may: []string{"drivers"}},
	{prefix: "configs", may: []string{"configs"}},
	{prefix: "gateway/config", may: []string{"gateway/config", "capability", "drivers", "configs"}},
	{prefix: "gateway/agent", may: []string{"gateway/agent", "brain", "capability", "journal", "drivers"}},
	{prefix: "gateway/telemetry", may: []string{"gateway/telemetry", "journal", "drivers"}},
	{prefix: "gateway/api", may: []string{"gateway/api", "gateway/agent", "brain", "capability", "journal", "drivers"}},
}

// under reports whether the module-relative path p is prefix or below it;
// a prefix ending in "=" matches that package alone.
func under(p, prefix string) bool {
	if exact, ok := strings.CutSuffix(prefix, "="); ok {
		return p == exact
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// pkg is one package as go list describes it, with module-relative paths
// for the module's own packages.
type pkg struct {
	path    string
	imports []string // direct imports
	deps    []string // everything it links
}

// violations returns one line per broken rule.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.path, r.prefix) {
				continue
			}
			for _, d := range p.deps {
				if outside(d) || stdlib[d] {
					continue
				}
				if !slices.ContainsFunc(r.may, func(m string) bool { return under(d, m) }) {
					out = append(out, fmt.Sprintf("%s links %s; it may link only %s", p.path, d, strings.Join(r.may, ", ")))
				}
			}
			if r.external == nil {
				continue
			}
			for _, d := range p.imports {
				if !outside(d) {
					continue
				}
				if !slices.ContainsFunc(r.external, func(e string) bool { return strings.HasPrefix(d, e) }) {
					out = append(out, fmt.Sprintf("%s imports %s; outside the standard library it may import only %s", p.path, d, strings.Join(r.external, ", ")))
				}
			}
		}
	}
	return out
}

// stdlib is the set of standard library packages, filled by listModule.
var stdlib map[string]bool

// outside reports whether the import path p names a package of another
// module: its first element has a dot, as a module's host name does.
func outside(p string) bool { return strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }

// listModule describes every package of the module (test files aside).
func listModule(t *testing.T) []pkg {
	t.Helper()
	stdlib = map[string]bool{}
	for _, p := range strings.Fields(GoList(t, "std")) {
		stdlib[p] = true
	}
	rel := func(p string) string {
		if r, ok := strings.CutPrefix(p, Module+"/"); ok {
			return r
		}
		return p
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(GoList(t, "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", Module+"/...")), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q: want path|imports|deps", line)
		}
		p := pkg{path: rel(f[0])}
		for _, i := range strings.Fields(f[1]) {
			p.imports = append(p.imports, rel(i))
		}
		for _, d := range strings.Fields(f[2]) {
			p.deps = append(p.deps, rel(d))
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	if len(pkgs) < 10 {
		t.Fatalf("got %d packages from go list, want the whole module", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestImportRulesFindViolations proves that the check fails on each kind of
// forbidden import.
func TestImportRulesFindViolations(t *testing.T) {
	listModule(t) // fills stdlib
	for _, c := range []struct {
		name string
		pkg  pkg
		want int
	}{
		{"brain links capability", pkg{path: "brain", deps: []string{"fmt", "capability", "drivers"}}, 2},
		{"brain subpackage links journal", pkg{path: "brain/braintest", deps: []string{"journal"}}, 1},
		{"capability links gateway", pkg{path: "capability", deps: []string{"drivers", "gateway/agent"}}, 1},
		{"capability links a driver", pkg{path: "capability", deps: []string{"drivers/modbus"}}, 1},
		{"journal imports a module besides pebble", pkg{path: "journal", imports: []string{"github.com/cockroachdb/pebble/v2", "github.com/goccy/go-yaml"}}, 1},
		{"a driver links the journal", pkg{path: "drivers/modbus", deps: []string{"drivers", "journal"}}, 1},
		{"telemetry links the agent", pkg{path: "gateway/telemetry", deps: []string{"gateway/agent"}}, 1},
		{"api links the gateway", pkg{path: "gateway/api", deps: []string{"gateway/agent", "gateway"}}, 1},
		{"the gateway links anything", pkg{path: "gateway", deps: []string{"brain", "journal", "gateway/api"}}, 0},
		{"journal with pebble and std only", pkg{path: "journal", imports: []string{"fmt", "github.com/cockroachdb/pebble/v2/vfs"}}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := violations([]pkg{c.pkg}); len(got) != c.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, c.want)
			}
		})
	}
}
