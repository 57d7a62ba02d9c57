package configs

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportsOnlyEmbed enforces that the package imports nothing but embed.
func TestImportsOnlyEmbed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value != `"embed"` {
				t.Errorf("%s imports %s, want embed only", file, imp.Path.Value)
			}
		}
	}
}

func TestFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
	}{{"schema", Schema()}, {"demo", Demo()}, {"demo script", DemoScript()}, {"example", Example()}} {
		if len(c.b) == 0 {
			t.Errorf("%s is empty", c.name)
		}
	}
	if !json.Valid(Schema()) {
		t.Error("schema.json is not valid JSON")
	}
	a, b := Demo(), Demo()
	a[0] ^= 0xff
	if a[0] == b[0] {
		t.Error("Demo() returns shared storage; want a copy for each caller")
	}
}
