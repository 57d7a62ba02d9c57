package capability_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// TestToolSchemasReadTheSameInDraft7 keeps the argument schemas, compiled
// as draft 7 by the gate, to keywords that draft 2020-12 (what a provider
// reads them as) reads the same, and checks that both drafts accept and
// refuse the same arguments.
func TestToolSchemasReadTheSameInDraft7(t *testing.T) {
	common := map[string]bool{"type": true, "properties": true, "required": true, "additionalProperties": true, "description": true}
	var keywords func(path string, v any)
	keywords = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range m {
			if !common[k] {
				t.Errorf("%s: keyword %q: want only keywords both drafts read the same", path, k)
			}
			if k == "properties" {
				props, _ := e.(map[string]any)
				for name, p := range props {
					keywords(path+"/properties/"+name, p)
				}
			}
		}
	}
	args := []string{`{}`, `{"value":1}`, `{"value":true}`, `{"value":"1"}`, `{"value":null}`, `{"value":1,"x":2}`, `{"speed":50}`, `{"speed":[50]}`, `[]`, `1`}
	g := newTankGate(t, resolverFunc(tankResolver))
	for _, tool := range g.Tools("operator") {
		var doc any
		if err := json.Unmarshal(tool.Parameters, &doc); err != nil {
			t.Fatalf("%s: %v", tool.Name, err)
		}
		keywords(tool.Name, doc)
		compile := func(d *jsonschema.Draft) *jsonschema.Schema {
			c := jsonschema.NewCompiler()
			c.Draft = d
			if err := c.AddResource("tool.json", bytes.NewReader(tool.Parameters)); err != nil {
				t.Fatalf("%s: %v", tool.Name, err)
			}
			s, err := c.Compile("tool.json")
			if err != nil {
				t.Fatalf("%s: compile: %v", tool.Name, err)
			}
			return s
		}
		s7, s2020 := compile(jsonschema.Draft7), compile(jsonschema.Draft2020)
		for _, a := range args {
			var v any
			d := json.NewDecoder(strings.NewReader(a))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			e7, e2020 := s7.Validate(v), s2020.Validate(v)
			if (e7 == nil) != (e2020 == nil) {
				t.Errorf("%s with %s: draft 7 says %v, want what 2020-12 says, %v", tool.Name, a, e7, e2020)
			}
		}
	}
}
