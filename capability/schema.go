package capability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// schemaDoc is the JSON schema of one capability's arguments, as compiled
// and as shown to the model. It carries no "$schema" (some providers
// refuse it). Its keywords mean the same in draft 7 and draft 2020-12, and
// the compiler is told draft 7: it checks every schema it compiles against
// its draft's meta-schema, and against draft 7's that costs a third of
// what it costs against 2020-12's (8 capabilities: 0.5 against 1.2-3 ms,
// 1,700 against 4,200 allocations), at every start.
type schemaDoc struct {
	Type                 string                `json:"type"`
	Properties           map[string]schemaProp `json:"properties"`
	Required             []string              `json:"required,omitempty"`
	AdditionalProperties bool                  `json:"additionalProperties"`
}

// schemaProp is the schema of one argument. The range of a write is not
// part of it: an out-of-range value is refused as out_of_range by the
// gate, not as invalid_arguments by the schema.
type schemaProp struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// argsSchema returns the schema document of a capability's arguments: for
// a write exactly one required argument of the point's type, for a read no
// arguments at all; extra keys are refused in both.
func argsSchema(e *entry) ([]byte, error) {
	doc := schemaDoc{Type: "object", Properties: map[string]schemaProp{}}
	switch e.spec.Kind {
	case KindWrite:
		doc.Properties[e.spec.Argument] = schemaProp{Type: e.argType(), Description: e.rangeText()}
		doc.Required = []string{e.spec.Argument}
	case KindSequence:
		doc.Properties, doc.Required = e.sequenceSchemaProps()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// compileSchema compiles a schema document with the given compiler under a
// URL made from the capability's position, so that no name can make the
// compiler look elsewhere.
func compileSchema(c *jsonschema.Compiler, index int, doc []byte) (*jsonschema.Schema, error) {
	url := "femtoclaw:///capability/" + strconv.Itoa(index) + ".json"
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// argType is the JSON type of a write's argument.
func (e *entry) argType() string {
	if e.boolean {
		return "boolean"
	}
	return "number"
}

// rangeText says in words what a write accepts, for the model.
func (e *entry) rangeText() string {
	if e.boolean {
		switch {
		case e.min > 0:
			return "true only"
		case e.max < 1:
			return "false only"
		}
		return "true or false"
	}
	s := "a number from " + formatFloat(e.min) + " to " + formatFloat(e.max)
	if e.unit != "" {
		s += " " + e.unit
	}
	return s
}

// description is the tool description shown to the model: the
// commissioned text, then what the capability takes or returns.
func (e *entry) description() string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(e.spec.Description))
	if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
		b.WriteByte('.')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	switch e.spec.Kind {
	case KindWrite:
		fmt.Fprintf(&b, "Sets %s.%s. Argument %q: %s.", e.spec.Device, e.spec.Point, e.spec.Argument, e.rangeText())
	case KindRead:
		b.WriteString("Reads ")
		for i, r := range e.reads {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.Device + "." + r.Point)
			if u := e.units[i]; u != "" {
				b.WriteString(" (" + u + ")")
			}
		}
		b.WriteString(". Takes no arguments.")
	case KindPulse:
		fmt.Fprintf(&b, "Switches %s.%s on for %s, then off. Takes no arguments.", e.spec.Device, e.spec.Point, e.spec.Duration)
	case KindSequence:
		b.WriteString("Writes in order: ")
		for i, st := range e.steps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(st.device + "." + st.point)
			if st.arg >= 0 {
				b.WriteString(" = " + e.args[st.arg].name)
			}
		}
		b.WriteString(".")
	}
	if e.spec.Approval {
		b.WriteString(" Needs an operator's approval.")
	}
	return b.String()
}

// explain says, deterministically, why arguments failed the schema. The
// check decides (argsMatch); this only words the refusal for the journal, because the
// validator's own messages list extra keys in map order.
func (e *entry) explain(args map[string]any) string {
	var extra []string
	for k := range args {
		if !e.takes(k) {
			extra = append(extra, quoteShort(k))
		}
	}
	slices.Sort(extra)
	var parts []string
	if len(extra) > 0 {
		parts = append(parts, "unexpected arguments "+strings.Join(extra, ", "))
	}
	want := map[string]string{}
	switch e.spec.Kind {
	case KindWrite:
		want[e.spec.Argument] = e.argType()
	case KindSequence:
		for _, a := range e.args {
			want[a.name] = typeName(a.boolean)
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v, ok := args[n]
		switch {
		case !ok:
			parts = append(parts, fmt.Sprintf("missing argument %q", n))
		case jsonType(v) != want[n]:
			parts = append(parts, fmt.Sprintf("argument %q is a %s, want a %s", n, jsonType(v), want[n]))
		}
	}
	if len(parts) == 0 {
		return "arguments do not match the schema"
	}
	return strings.Join(parts, "; ")
}

// argsMatch reports whether parsed arguments are valid against the
// capability's schema. The schema is always one flat object whose every
// property is required, of type number or boolean, with no other
// properties allowed, so the check is exact: as many arguments as
// properties, each a property of its type. A test holds it to the
// compiled schema's verdict.
func (e *entry) argsMatch(args map[string]any) bool {
	switch e.spec.Kind {
	case KindWrite:
		v, ok := args[e.spec.Argument]
		return ok && len(args) == 1 && jsonType(v) == e.argType()
	case KindSequence:
		if len(args) != len(e.args) {
			return false
		}
		for _, a := range e.args {
			v, ok := args[a.name]
			if !ok || jsonType(v) != typeName(a.boolean) {
				return false
			}
		}
		return true
	}
	return len(args) == 0
}

// takes reports whether k names an argument of the capability.
func (e *entry) takes(k string) bool {
	switch e.spec.Kind {
	case KindWrite:
		return k == e.spec.Argument
	case KindSequence:
		for _, a := range e.args {
			if a.name == k {
				return true
			}
		}
	}
	return false
}

// jsonType names the JSON type of a parsed value.
func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "null"
}

// formatFloat writes f as briefly as it reads back.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
