package config

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/femtoclaw/femtoclaw/configs"
)

// TestSchemaMeta checks the embedded schema against the 2020-12
// meta-schema, which the compile at start-up no longer does (see
// draft7Body).
func TestSchemaMeta(t *testing.T) {
	d := json.NewDecoder(bytes.NewReader(configs.Schema()))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("decode the schema: %v", err)
	}
	meta, err := jsonschema.NewCompiler().Compile(jsonschema.Draft2020.URL())
	if err != nil {
		t.Fatalf("compile the meta-schema: %v", err)
	}
	if err := meta.Validate(doc); err != nil {
		t.Errorf("the schema is not valid against its meta-schema: %v", err)
	}
	// The check can fail: a keyword of the wrong type is refused.
	bad := map[string]any{"$schema": jsonschema.Draft2020.URL(), "type": json.Number("3")}
	if err := meta.Validate(bad); err == nil {
		t.Errorf("got a schema with type 3 accepted, want it refused")
	}
}

// TestSchemaDraft7 keeps the schema within the keywords that mean the same
// in draft 7 and 2020-12, since it is compiled as draft 7 (see draft7Body):
// a keyword outside that set, or a $ref with validating siblings (ignored
// by draft 7), fails here.
func TestSchemaDraft7(t *testing.T) {
	var doc any
	if err := json.Unmarshal(configs.Schema(), &doc); err != nil {
		t.Fatalf("decode the schema: %v", err)
	}
	if bad := draft7Misfits(doc, "#"); len(bad) > 0 {
		t.Errorf("got keywords that draft 7 reads differently: %v, want none", bad)
	}
	// The check can fail.
	for _, s := range []string{
		`{"unevaluatedProperties": false}`,
		`{"properties": {"a": {"$ref": "#/$defs/x", "minimum": 1}}}`,
		`{"$defs": {"x": {"dependentRequired": {}}}}`,
	} {
		var d any
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			t.Fatal(err)
		}
		if bad := draft7Misfits(d, "#"); len(bad) == 0 {
			t.Errorf("draft7Misfits(%s): got none, want one", s)
		}
	}
}

// draft7Misfits lists the places in schema s where draft 7 and 2020-12
// would disagree.
func draft7Misfits(s any, at string) []string {
	m, ok := s.(map[string]any)
	if !ok {
		return nil // true or false
	}
	same := map[string]bool{
		"$id": true, "$schema": true, "$ref": true, "$comment": true, "title": true, "description": true,
		"default": true, "examples": true, "type": true, "enum": true, "const": true, "minimum": true,
		"maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
		"minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true,
		"uniqueItems": true, "minProperties": true, "maxProperties": true, "required": true,
	}
	annotation := map[string]bool{"$ref": true, "$comment": true, "title": true, "description": true, "default": true, "examples": true}
	var bad []string
	for k, v := range m {
		where := at + "/" + k
		switch {
		case strings.HasPrefix(k, "x-"):
		case k == "properties" || k == "patternProperties" || k == "$defs":
			sub, _ := v.(map[string]any)
			for name, e := range sub {
				bad = append(bad, draft7Misfits(e, where+"/"+name)...)
			}
		case k == "items":
			if _, list := v.([]any); list {
				bad = append(bad, where)
			}
			bad = append(bad, draft7Misfits(v, where)...)
		case k == "not" || k == "if" || k == "then" || k == "else" || k == "additionalProperties" || k == "contains" || k == "propertyNames":
			bad = append(bad, draft7Misfits(v, where)...)
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			l, _ := v.([]any)
			for i, e := range l {
				bad = append(bad, draft7Misfits(e, where+"/"+strconv.Itoa(i))...)
			}
		case !same[k]:
			bad = append(bad, where)
		case k == "$ref":
			for sib := range m {
				if !annotation[sib] && !strings.HasPrefix(sib, "x-") {
					bad = append(bad, at+"/"+sib+" beside $ref")
				}
			}
		}
	}
	return bad
}

// BenchmarkSchemaCompile2020 is the compile of the schema as 2020-12, as it
// was before draft7Body; BenchmarkSchemaMeta is the part of it spent
// validating the schema against the 2020-12 meta-schema, and
// BenchmarkSchemaCompile the compile done at start-up.
func BenchmarkSchemaCompile(b *testing.B) {
	for b.Loop() {
		body, err := draft7Body(configs.Schema())
		if err != nil {
			b.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft7
		if err := c.AddResource(schemaURL, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Compile(schemaURL); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSchemaCompile2020(b *testing.B) {
	raw := configs.Schema()
	for b.Loop() {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if err := c.AddResource(schemaURL, bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Compile(schemaURL); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSchemaMeta(b *testing.B) {
	d := json.NewDecoder(bytes.NewReader(configs.Schema()))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		b.Fatal(err)
	}
	meta, err := jsonschema.NewCompiler().Compile(jsonschema.Draft2020.URL())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := meta.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSchemaReleased checks that the compiled schema does not outlive the
// parse that needed it: a gateway loads its config once and would carry it
// for months.
func TestSchemaReleased(t *testing.T) {
	if _, err := Parse("t.yaml", []byte("gateway: {id: x}\n")); err != nil {
		t.Fatal(err)
	}
	if schemaWeak.Value() == nil {
		t.Fatal("got no compiled schema right after Parse, want it kept until a collection")
	}
	runtime.GC()
	if schemaWeak.Value() != nil {
		t.Error("got the compiled schema still in memory after a collection, want it released")
	}
}

// TestDraft7Body checks that the text compiled at start-up names draft 7,
// and that a schema file whose $schema is not written as expected stops
// the compile rather than being compiled as 2020-12.
func TestDraft7Body(t *testing.T) {
	body, err := draft7Body(configs.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the edited schema: %v", err)
	}
	if got, want := doc["$schema"], "http://json-schema.org/draft-07/schema#"; got != want {
		t.Errorf("$schema: got %v, want %s", got, want)
	}
	for _, s := range []string{`{}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema"}`} {
		if _, err := draft7Body([]byte(s)); err == nil {
			t.Errorf("draft7Body(%s): got no error, want one", s)
		}
	}
}
