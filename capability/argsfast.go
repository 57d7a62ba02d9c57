package capability

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// parseValid parses argument text that json.Valid accepts and that opens
// with '{', walking the bytes in place: keys and strings without escapes
// and the text of numbers are slices of s, not copies. It makes the same
// checks as parseStream in the same document order (duplicate keys,
// nesting depth, numbers that overflow float64) with the same words, so
// the two parsers return equal results for every such text; a fuzz test
// holds them to that.
func parseValid(s string) (map[string]any, error) {
	p := validParser{s: s, i: skipSpace(s, 0) + 1}
	return p.object(1)
}

// validParser walks well-formed JSON text.
type validParser struct {
	s string
	i int
}

// object reads the members of an object whose '{' has been read.
func (p *validParser) object(depth int) (map[string]any, error) {
	obj := make(map[string]any, 1)
	for {
		p.i = skipSpace(p.s, p.i)
		switch p.s[p.i] {
		case '}':
			p.i++
			return obj, nil
		case ',':
			p.i = skipSpace(p.s, p.i+1)
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate key %s", quoteShort(key))
		}
		p.i = skipSpace(p.s, p.i)
		p.i = skipSpace(p.s, p.i+1) // the ':'
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
}

// array reads the elements of an array whose '[' has been read.
func (p *validParser) array(depth int) ([]any, error) {
	arr := []any{}
	for {
		p.i = skipSpace(p.s, p.i)
		switch p.s[p.i] {
		case ']':
			p.i++
			return arr, nil
		case ',':
			p.i = skipSpace(p.s, p.i+1)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
}

// value reads the value that starts at p.i, inside a container at depth.
func (p *validParser) value(depth int) (any, error) {
	switch c := p.s[p.i]; c {
	case '{', '[':
		if depth+1 > MaxArgsDepth {
			return nil, fmt.Errorf("arguments nest deeper than %d", MaxArgsDepth)
		}
		p.i++
		if c == '{' {
			return p.object(depth + 1)
		}
		return p.array(depth + 1)
	case '"':
		return p.str()
	case 't':
		p.i += len("true")
		return true, nil
	case 'f':
		p.i += len("false")
		return false, nil
	case 'n':
		p.i += len("null")
		return nil, nil
	}
	start := p.i
	for p.i < len(p.s) && isNumberByte(p.s[p.i]) {
		p.i++
	}
	n := p.s[start:p.i]
	if _, err := strconv.ParseFloat(n, 64); err != nil {
		return nil, fmt.Errorf("number %s does not fit a float64", quoteShort(n))
	}
	return json.Number(n), nil
}

// str reads the string that starts at p.i. One without escapes is a slice
// of the text; one with escapes is unquoted by encoding/json, so that
// invalid surrogates become U+FFFD exactly as the decoder makes them.
func (p *validParser) str() (string, error) {
	start := p.i
	p.i++
	escaped := false
	for {
		switch p.s[p.i] {
		case '\\':
			escaped = true
			p.i += 2
			continue
		case '"':
			p.i++
			if !escaped {
				return p.s[start+1 : p.i-1], nil
			}
			var out string
			if err := json.Unmarshal([]byte(p.s[start:p.i]), &out); err != nil {
				// Unreachable for text json.Valid accepted.
				return "", errors.New("arguments are not JSON: " + err.Error())
			}
			return out, nil
		}
		p.i++
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// isNumberByte reports whether c can appear in a JSON number.
func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
