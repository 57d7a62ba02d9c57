package config

import (
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// path names one value in the document: mapping keys and sequence indexes
// from the root, e.g. devices, 0, points, 2, type.
type path []string

// String formats p the way messages show it: devices[0].points[2].type.
func (p path) String() string {
	var b strings.Builder
	for _, s := range p {
		if isIndex(s) {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// key returns p with the map keys and indexes in segs appended, on a fresh
// backing array so that paths never share storage.
func (p path) add(segs ...any) path {
	q := make(path, len(p), len(p)+len(segs))
	copy(q, p)
	for _, s := range segs {
		switch s := s.(type) {
		case int:
			q = append(q, strconv.Itoa(s))
		case string:
			q = append(q, s)
		}
	}
	return q
}

// pointerPath turns a JSON pointer (/devices/0/type) into a path.
func pointerPath(ptr string) path {
	if ptr == "" || ptr == "/" {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return segs
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// source is the parsed file behind a Config: it maps paths back to the
// line and column of the YAML node that holds them.
type source struct {
	file  string
	nodes map[string]entry // keyed by the path joined with "/"
}

// entry is where one value sits: the token of its key (nil for sequence
// entries and the root) and the value's own first token.
type entry struct {
	key   *token.Token
	value *token.Token
}

// maxIndexed bounds the nodes indexed, so that a hostile file cannot make
// the index large; positions past it fall back to an enclosing node.
const maxIndexed = 100_000

func newSource(file string, body ast.Node) *source {
	s := &source{file: file, nodes: make(map[string]entry)}
	if body != nil {
		s.index(body, nil, nil, 0)
	}
	return s
}

// index records body and everything under it. Aliases are not followed: a
// problem inside aliased content is reported at the alias.
func (s *source) index(n ast.Node, p path, key *token.Token, depth int) {
	if n == nil || len(s.nodes) >= maxIndexed || depth > 200 {
		return
	}
	n = unwrap(n)
	s.nodes[strings.Join(p, "/")] = entry{key: key, value: firstToken(n)}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			s.indexPair(mv, p, depth)
		}
	case *ast.MappingValueNode:
		s.indexPair(n, p, depth)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			s.index(v, p.add(i), firstToken(unwrap(v)), depth+1)
		}
	}
}

func (s *source) indexPair(mv *ast.MappingValueNode, p path, depth int) {
	if mv == nil || mv.Key == nil || mv.Key.IsMergeKey() {
		return
	}
	k := mv.Key.GetToken()
	if k == nil {
		return
	}
	s.index(mv.Value, p.add(k.Value), k, depth+1)
}

// unwrap looks through anchors and tags to the node that holds the value.
func unwrap(n ast.Node) ast.Node {
	for range 16 {
		switch t := n.(type) {
		case *ast.AnchorNode:
			n = t.Value
		case *ast.TagNode:
			n = t.Value
		default:
			return n
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// firstToken is the token a problem about n points at: the first key of a
// block mapping, the dash of a sequence, the scalar itself.
func firstToken(n ast.Node) *token.Token {
	switch t := n.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		if !t.IsFlowStyle && len(t.Values) > 0 && t.Values[0].Key != nil {
			return t.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		if t.Key != nil {
			return t.Key.GetToken()
		}
	}
	return n.GetToken()
}

// has reports whether the file gave a value at p.
func (s *source) has(p path) bool {
	if s == nil {
		return false
	}
	_, ok := s.nodes[strings.Join(p, "/")]
	return ok
}

// at returns the position of the value at p or, when the file has no value
// there, of the nearest enclosing one (its key, where it has one). With key
// set it gives the position of the key that introduced the value.
func (s *source) at(p path, key bool) (line, col int) {
	if s == nil {
		return 0, 0
	}
	for i := len(p); i >= 0; i-- {
		e, ok := s.nodes[strings.Join(p[:i], "/")]
		if !ok {
			continue
		}
		tk := e.value
		if (key || i < len(p)) && e.key != nil || tk == nil {
			tk = e.key
		}
		if tk != nil && tk.Position != nil {
			return tk.Position.Line, tk.Position.Column
		}
	}
	return 1, 1
}

// pathAt returns the path of the value whose token sits at line:col, for
// errors that only know their token.
func (s *source) pathAt(line, col int) (path, bool) {
	if s == nil {
		return nil, false
	}
	var best string
	found := false
	for k, e := range s.nodes {
		for _, tk := range []*token.Token{e.value, e.key} {
			if tk != nil && tk.Position != nil && tk.Position.Line == line && tk.Position.Column == col {
				// Prefer the deepest path: a mapping's first key is also
				// the mapping's own position.
				if !found || len(k) > len(best) {
					best, found = k, true
				}
			}
		}
	}
	if !found {
		return nil, false
	}
	if best == "" {
		return nil, true
	}
	return strings.Split(best, "/"), true
}

// problem makes a Problem for the value at p.
func (s *source) problem(file string, p path, key bool, msg string) Problem {
	line, col := s.at(p, key)
	if prefix := p.String(); prefix != "" {
		msg = prefix + ": " + msg
	}
	return Problem{File: file, Line: line, Col: col, Msg: msg}
}
