package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/femtoclaw/femtoclaw/configs"
)

// schemaURL is the schema's $id; the compiler knows the embedded schema
// under it, so nothing is fetched.
const schemaURL = "https://femtoclaw.dev/schema/config.json"

// The schema is compiled on first use, never at init: start-up time matters
// on the appliance, and most runs validate exactly one file. The compiled
// schema (about 400 KB of heap) is kept only as long as the collector
// leaves it: a gateway loads its config once and then has no use for it,
// while a run of many checks, such as the tests, mostly finds it still
// there.
var (
	schemaMu   sync.Mutex
	schemaWeak weak.Pointer[compiled]
)

// compiled is the config's compiled schema and the schema document itself,
// from which problems are worded; the document is decoded only when a
// file has problems.
type compiled struct {
	schema *jsonschema.Schema
	doc    func() (any, error)
}

// compiledSchema returns the compiled schema, compiling it unless it is
// still in memory. The caller's reference keeps it there.
func compiledSchema() (*compiled, error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if c := schemaWeak.Value(); c != nil {
		return c, nil
	}
	raw := configs.Schema()
	body, err := draft7Body(raw)
	if err != nil {
		return nil, fmt.Errorf("config: embedded schema: %w", err)
	}
	comp := jsonschema.NewCompiler()
	comp.Draft = jsonschema.Draft7
	if err := comp.AddResource(schemaURL, bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("config: embedded schema: %w", err)
	}
	c := &compiled{doc: sync.OnceValues(func() (any, error) {
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("config: embedded schema: %w", err)
		}
		return doc, nil
	})}
	if c.schema, err = comp.Compile(schemaURL); err != nil {
		return nil, fmt.Errorf("config: embedded schema: %w", err)
	}
	schemaWeak = weak.Make(c)
	return c, nil
}

// The $schema the schema file names, and the one it is compiled under.
const (
	schemaDraft2020 = `"$schema": "https://json-schema.org/draft/2020-12/schema"`
	schemaDraft7    = `"$schema": "http://json-schema.org/draft-07/schema#"`
)

// draft7Body returns the schema text naming draft 7 as its $schema, to be
// compiled as draft 7. The schema is written for 2020-12 but uses only
// keywords that mean the same in draft 7 (TestSchemaDraft7 keeps it so),
// and jsonschema v5 validates every schema it compiles against its draft's
// meta-schema, with no setting to skip it: against the 2020-12
// meta-schema that is two thirds of a 20 ms compile at every start,
// against draft 7's a small part of a 10 ms one. The schema's validity
// against 2020-12 is checked by TestSchemaMeta instead. The text is edited
// in place, sparing a decode and an encode of the document at every start.
func draft7Body(raw []byte) ([]byte, error) {
	if n := bytes.Count(raw, []byte(schemaDraft2020)); n != 1 {
		return nil, fmt.Errorf("the schema names %s %d times, want once", schemaDraft2020, n)
	}
	return bytes.Replace(raw, []byte(schemaDraft2020), []byte(schemaDraft7), 1), nil
}

// errTooLarge stops the conversion of a document that, through aliases,
// expands beyond any sensible commissioning file.
var errTooLarge = errors.New("the document is too large or nested too deeply (check its aliases)")

// jsonValue converts a decoded YAML value into the types the schema
// validator accepts: maps with string keys, slices, strings, booleans, nil
// and json.Number. Non-finite floats become strings so that the schema
// refuses them. budget bounds the values visited.
func jsonValue(v any, depth int, budget *int) (any, error) {
	*budget--
	if *budget < 0 || depth > 100 {
		return nil, errTooLarge
	}
	switch t := v.(type) {
	case nil, bool, string:
		return t, nil
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonValue(e, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			c, err := jsonValue(e, depth+1, budget)
			if err != nil {
				return nil, err
			}
			s[i] = c
		}
		return s, nil
	case int:
		return json.Number(strconv.FormatInt(int64(t), 10)), nil
	case int64:
		return json.Number(strconv.FormatInt(t, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(t, 10)), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return strconv.FormatFloat(t, 'g', -1, 64), nil
		}
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64)), nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	case []byte:
		return string(t), nil
	}
	return fmt.Sprint(v), nil
}

// finding is a problem together with the path of the value it condemns;
// prune says the value cannot be trusted and is left out when the rest of
// the file is decoded for the semantic checks.
type finding struct {
	path  path
	prune bool
	Problem
}

// schemaProblems validates doc against the schema and turns every failure
// into a problem at the YAML node it concerns.
func schemaProblems(src *source, doc any) ([]finding, error) {
	c, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	verr := c.schema.Validate(doc)
	if verr == nil {
		return nil, nil
	}
	sdoc, err := c.doc()
	if err != nil {
		return nil, err
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return nil, fmt.Errorf("config: schema validation: %w", verr)
	}
	var fs []finding
	seen := make(map[string]bool)
	for _, leaf := range leaves(ve, nil) {
		for _, f := range leafProblems(src, sdoc, doc, leaf) {
			k := f.Error()
			if !seen[k] {
				seen[k] = true
				fs = append(fs, f)
			}
		}
	}
	return fs, nil
}

func leaves(ve *jsonschema.ValidationError, acc []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(acc, ve)
	}
	for _, c := range ve.Causes {
		acc = leaves(c, acc)
	}
	return acc
}

// leafProblems words one schema failure for a technician.
func leafProblems(src *source, sdoc, doc any, ve *jsonschema.ValidationError) []finding {
	p := pointerPath(ve.InstanceLocation)
	value, _ := lookup(doc, p)

	loc := ve.AbsoluteKeywordLocation
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[i+1:]
	}
	kp := pointerPath(loc)
	keyword := ""
	if len(kp) > 0 {
		keyword = kp[len(kp)-1]
		kp = kp[:len(kp)-1]
	}
	snode, _ := lookup(sdoc, kp)
	sm, _ := snode.(map[string]any)
	want, _ := sm["x-want"].(string)

	one := func(msg string) []finding {
		return []finding{{path: p, prune: true, Problem: src.problem(src.file, p, false, msg)}}
	}

	switch keyword {
	case "additionalProperties":
		obj, _ := value.(map[string]any)
		props, _ := sm["properties"].(map[string]any)
		known := make([]string, 0, len(props))
		for k := range props {
			known = append(known, k)
		}
		slices.Sort(known)
		var out []finding
		for _, k := range sortedKeys(obj) {
			if _, ok := props[k]; ok {
				continue
			}
			msg := fmt.Sprintf("unknown key %q", k)
			if s := closest(k, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(known) > 0 {
				msg += " (known keys: " + strings.Join(known, ", ") + ")"
			}
			out = append(out, finding{path: p.add(k), prune: true, Problem: src.problem(src.file, p.add(k), true, msg)})
		}
		return out
	case "required":
		obj, _ := value.(map[string]any)
		req, _ := sm["required"].([]any)
		var out []finding
		for _, r := range req {
			k, _ := r.(string)
			if _, ok := obj[k]; ok || k == "" {
				continue
			}
			out = append(out, finding{path: p.add(k), Problem: src.problem(src.file, p.add(k), false, "is required")})
		}
		return out
	case "enum":
		opts, _ := sm["enum"].([]any)
		names := make([]string, len(opts))
		for i, o := range opts {
			names[i] = fmt.Sprint(o)
		}
		return one(fmt.Sprintf("%s is not one of %s", show(value), strings.Join(names, ", ")))
	case "type":
		if want == "" {
			want = typeWant(sm["type"])
		}
		if value == nil {
			return one("has no value; want " + want)
		}
		msg := fmt.Sprintf("%s is not %s", show(value), want)
		if quoted := fmt.Sprint(value); sm["type"] == "string" && matches(sm["pattern"], quoted) {
			msg += fmt.Sprintf(" (write it in quotes: %q)", quoted)
		}
		return one(msg)
	case "minimum":
		return one(fmt.Sprintf("%s is less than the minimum, %v", show(value), sm["minimum"]))
	case "maximum":
		return one(fmt.Sprintf("%s is more than the maximum, %v", show(value), sm["maximum"]))
	case "minLength":
		return one("must not be empty")
	case "minItems":
		return one(fmt.Sprintf("needs at least %v entries", sm["minItems"]))
	case "uniqueItems":
		return one("lists the same entry twice")
	}
	if want != "" {
		return one(fmt.Sprintf("%s is not %s", show(value), want))
	}
	return one(ve.Message)
}

// matches reports whether s matches the schema pattern pat; no pattern
// matches everything. It runs only while wording a problem.
func matches(pat any, s string) bool {
	ps, ok := pat.(string)
	if !ok {
		return true
	}
	re, err := regexp.Compile(ps)
	return err == nil && re.MatchString(s)
}

// lookup follows p through a decoded JSON value.
func lookup(v any, p path) (any, bool) {
	for _, s := range p {
		switch t := v.(type) {
		case map[string]any:
			e, ok := t[s]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// show formats a value as the technician wrote it.
func show(v any) string {
	switch t := v.(type) {
	case nil:
		return "an empty value"
	case string:
		return strconv.Quote(t)
	case json.Number, bool:
		return fmt.Sprint(t)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

func typeWant(t any) string {
	switch t {
	case "string":
		return "text"
	case "integer":
		return "a whole number"
	case "number":
		return "a number"
	case "boolean":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "a mapping of keys to values"
	}
	return fmt.Sprint(t)
}

// closest returns the candidate within a small edit distance of s, for
// "did you mean" hints, or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// prune removes the value at p from doc: a map entry is deleted, a list
// entry is set to null so that the indexes of the others stay. It returns
// the new doc.
func prune(doc any, p path) any {
	if len(p) == 0 {
		return nil
	}
	parent, ok := lookup(doc, p[:len(p)-1])
	if !ok {
		return doc
	}
	last := p[len(p)-1]
	switch t := parent.(type) {
	case map[string]any:
		delete(t, last)
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(t) {
			t[i] = nil
		}
	}
	return doc
}

// under reports whether p is q or lies below it.
func (p path) under(q path) bool {
	return len(p) >= len(q) && slices.Equal(p[:len(q)], q)
}

// durationProblems finds durations that have the right form but that
// time.ParseDuration still refuses (they overflow), which the schema cannot
// express. Values already reported are skipped.
func durationProblems(src *source, doc any, found []finding) []finding {
	var paths []path
	devices, _ := lookup(doc, path{"devices"})
	for i := range asList(devices) {
		paths = append(paths, path{"devices", strconv.Itoa(i), "poll"}, path{"devices", strconv.Itoa(i), "timeout"})
	}
	agents, _ := lookup(doc, path{"agents"})
	for i := range asList(agents) {
		paths = append(paths, path{"agents", strconv.Itoa(i), "trigger", "interval"})
	}
	var out []finding
next:
	for _, p := range paths {
		v, _ := lookup(doc, p)
		s, ok := v.(string)
		if !ok {
			continue
		}
		for _, f := range found {
			if p.under(f.path) {
				continue next
			}
		}
		if _, err := time.ParseDuration(s); err != nil {
			out = append(out, finding{path: p, prune: true, Problem: src.problem(src.file, p, false, fmt.Sprintf("%q is not a duration such as 500ms, 2s or 1m", s))})
		}
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
