package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	slashpath "path"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Load reads the commissioning file at path, decodes it strictly, checks it
// against the schema, applies the defaults and validates it. Every problem
// found is returned at once, as Problems.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))}}
	}
	return Parse(path, data)
}

// Parse is Load for a file already read. path names the file in problems,
// and files the config names (a brain's script) are looked up relative to
// its directory.
func Parse(path string, data []byte) (*Config, error) {
	return parse(nil, path, data)
}

// ParseFS is Load for a file in fsys: name is a slash-separated path in
// fsys, and the files the config names are looked up beside it in fsys.
// The demo parses its embedded config this way.
func ParseFS(fsys fs.FS, name string) (*Config, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, Problems{{File: name, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))}}
	}
	return parse(fsys, name, data)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parse runs the stages in order: YAML syntax, schema, strict decode,
// defaults, semantic validation. A syntax error stops everything. The
// schema reports every structural problem; the values it condemned are left
// out of the decode, so that the semantic checks still run over the rest
// and say nothing more about those values.
func parse(fsys fs.FS, name string, data []byte) (cfg *Config, err error) {
	defer func() {
		// The YAML library is third-party code fed untrusted input; a
		// panic in it is reported as a problem with the file rather than
		// taking the process down.
		if r := recover(); r != nil {
			cfg, err = nil, Problems{{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("cannot parse this file as YAML (%v)", r)}}
		}
	}()

	if len(data) > maxFileSize {
		return nil, Problems{{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("the file is %d bytes; a commissioning file is at most %d", len(data), maxFileSize)}}
	}
	tokens := lexer.Tokenize(string(data))
	if tk := tooDeep(tokens); tk != nil {
		return nil, Problems{{File: name, Line: tk.Position.Line, Col: tk.Position.Column, Msg: "nested too deeply for a commissioning file"}}
	}
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, Problems{yamlProblem(name, nil, err)}
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			tk := doc.Body.GetToken()
			line, col := 1, 1
			if tk != nil && tk.Position != nil {
				line, col = tk.Position.Line, tk.Position.Column
			}
			return nil, Problems{{File: name, Line: line, Col: col, Msg: fmt.Sprintf("document %d: a commissioning file holds exactly one YAML document", i+1)}}
		}
		body = doc.Body
	}
	if body == nil {
		return nil, Problems{{File: name, Line: 1, Col: 1, Msg: "the file is empty; a commissioning file needs at least gateway: {id: ...}"}}
	}
	src := newSource(name, body)

	// Schema: every structural problem (unknown keys, types, enums,
	// patterns), all at once.
	var generic any
	if err := yaml.NodeToValue(body, &generic); err != nil {
		return nil, Problems{yamlProblem(name, src, err)}
	}
	budget := maxIndexed
	doc, err := jsonValue(generic, 0, &budget)
	if err != nil {
		return nil, Problems{{File: name, Line: 1, Col: 1, Msg: err.Error()}}
	}
	found, err := schemaProblems(src, doc)
	if err != nil {
		return nil, err
	}
	found = append(found, durationProblems(src, doc, found)...)

	cfg = &Config{Path: name, src: src, fsys: fsys}
	if len(found) == 0 {
		// A clean file is decoded strictly from its own nodes, so that
		// anything the schema cannot express is still reported in place.
		if err := yaml.NodeToValue(body, cfg, decodeOptions()...); err != nil {
			return nil, Problems{yamlProblem(name, src, err)}
		}
	} else if !decodePruned(doc, found, cfg) {
		// What is left cannot be decoded; the schema's findings say why.
		return nil, problemsOf(found).err()
	}

	// Semantic checks run even when the schema found problems, so that
	// one run reports everything; but nothing is said twice about a value
	// the schema already condemned or found missing.
	cfg.SetDefaults()
	ps := problemsOf(found)
next:
	for _, f := range cfg.check() {
		for _, g := range found {
			if f.path.under(g.path) {
				continue next
			}
		}
		ps = append(ps, f.Problem)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// The config's text-valued types decode from the YAML node itself: for a
// type that only has UnmarshalText the decoder re-formats the node by
// walking every token of the file, once per value.
var (
	_ yaml.InterfaceUnmarshaler = (*drivers.Duration)(nil)
	_ yaml.InterfaceUnmarshaler = (*drivers.Secret)(nil)
)

// decodeOptions make the decoder strict: an unknown key is an error, except
// top-level keys starting with "x-", which hold anchors (the schema refuses
// them anywhere else).
func decodeOptions() []yaml.DecodeOption {
	return []yaml.DecodeOption{yaml.Strict(), yaml.AllowFieldPrefixes("x-")}
}

func problemsOf(fs []finding) Problems {
	ps := make(Problems, len(fs))
	for i, f := range fs {
		ps[i] = f.Problem
	}
	return ps
}

// decodePruned decodes doc into cfg without the values the schema
// condemned, and reports whether that worked.
func decodePruned(doc any, found []finding, cfg *Config) bool {
	for _, f := range found {
		if f.prune {
			doc = prune(doc, f.path)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return false
	}
	return yaml.UnmarshalWithOptions(b, cfg, decodeOptions()...) == nil
}

// Limits on what is parsed at all. The YAML parser takes time quadratic in
// the nesting depth; no commissioning file comes near these.
const (
	maxFileSize  = 4 << 20
	maxFlowDepth = 64  // nested [ and {
	maxColumn    = 256 // column of a block '-' or ':'
)

// tooDeep returns the first token past the nesting limits, or nil.
func tooDeep(tokens token.Tokens) *token.Token {
	depth := 0
	for _, tk := range tokens {
		if tk == nil || tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			if depth++; depth > maxFlowDepth {
				return tk
			}
		case token.SequenceEndType, token.MappingEndType:
			depth = max(depth-1, 0)
		case token.SequenceEntryType, token.MappingValueType:
			if depth == 0 && tk.Position.Column > maxColumn {
				return tk
			}
		}
	}
	return nil
}

// yamlProblem turns an error of the YAML library into a problem at its
// token, worded without the library's Go type names where they are known.
func yamlProblem(name string, src *source, err error) Problem {
	p := Problem{File: name, Line: 1, Col: 1, Msg: err.Error()}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return p
	}
	p.Msg = ye.GetMessage()
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		p.Line, p.Col = tk.Position.Line, tk.Position.Column
	}
	var prefix string
	if at, ok := src.pathAt(p.Line, p.Col); ok && len(at) > 0 {
		prefix = at.String() + ": "
	}
	var (
		te *yaml.TypeError
		oe *yaml.OverflowError
		ue *yaml.UnknownFieldError
		se *yaml.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		p.Msg = prefix + fmt.Sprintf("cannot be used as %s", goTypeWant(te.DstType.String()))
	case errors.As(err, &oe):
		p.Msg = prefix + fmt.Sprintf("%s is too large for %s", oe.SrcNum, goTypeWant(oe.DstType.String()))
	case errors.As(err, &ue):
		p.Msg = prefix + ue.Message
	case errors.As(err, &se):
		p.Msg = prefix + syntaxMessage(se.Message)
	default:
		p.Msg = prefix + p.Msg
	}
	return p
}

func goTypeWant(t string) string {
	switch {
	case strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "int"):
		return "a whole number of type " + t
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "text"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return "this setting"
}

// syntaxMessage adds a hint to the YAML syntax errors technicians meet most.
func syntaxMessage(msg string) string {
	if strings.Contains(msg, "\t") {
		return "found a tab character: indent with spaces, not tabs"
	}
	return "YAML syntax: " + msg
}

// ReadFile reads a file the config names, such as a scripted brain's
// script: relative names are taken from the directory of the config file,
// in the filesystem the config was read from.
func (c *Config) ReadFile(name string) ([]byte, error) {
	if c.fsys != nil {
		return fs.ReadFile(c.fsys, c.fsPath(name))
	}
	b, err := os.ReadFile(c.osPath(name))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}

func (c *Config) osPath(name string) string {
	if filepath.IsAbs(name) || c.Path == "" {
		return name
	}
	return filepath.Join(filepath.Dir(c.Path), name)
}

func (c *Config) fsPath(name string) string {
	return slashpath.Join(slashpath.Dir(c.Path), name)
}

// fileExists reports whether a file the config names exists and is a
// regular file.
func (c *Config) fileExists(name string) bool {
	var (
		info fs.FileInfo
		err  error
	)
	if c.fsys != nil {
		info, err = fs.Stat(c.fsys, c.fsPath(name))
	} else {
		info, err = os.Stat(c.osPath(name))
	}
	return err == nil && info.Mode().IsRegular()
}
