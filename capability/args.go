package capability

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on the argument text of one call. A write takes one scalar and a
// read takes nothing, so anything near these bounds is hostile or broken.
const (
	// MaxArgsBytes is the longest argument text the gate will parse.
	MaxArgsBytes = 4096
	// MaxArgsDepth is the deepest nesting of objects and arrays it will
	// parse; the arguments object itself is depth 1.
	MaxArgsDepth = 8
)

// parseArgs parses the argument text of one call as exactly one JSON
// object, more strictly than encoding/json: it refuses duplicate keys at
// any depth (encoding/json would silently keep the last one, so a model
// could show one value and send another), trailing data, numbers that
// overflow float64, nesting deeper than MaxArgsDepth, text longer than
// MaxArgsBytes and invalid UTF-8 (which encoding/json would silently turn
// into U+FFFD). Numbers are kept as json.Number, as the schema validator
// wants them.
func parseArgs(s string) (map[string]any, error) {
	if len(s) > MaxArgsBytes {
		return nil, fmt.Errorf("arguments are %d bytes, more than %d", len(s), MaxArgsBytes)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("arguments are not valid UTF-8")
	}
	// Well-formed text, the common case, is parsed in place without a
	// decoder; anything else goes through the decoder for its exact error.
	if json.Valid([]byte(s)) && len(s) > 0 && s[skipSpace(s, 0)] == '{' {
		return parseValid(s)
	}
	return parseStream(s)
}

// parseStream is parseArgs's parser for text that may not be well-formed
// JSON: it reads tokens from encoding/json's decoder, so that every
// refusal is worded as that decoder words it.
func parseStream(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("arguments are not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("arguments are a JSON %s, not an object", tokenKind(tok))
	}
	obj, err := parseObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("trailing data after the arguments object: %w", err)
		}
		return nil, fmt.Errorf("trailing data after the arguments object: a JSON %s", tokenKind(tok))
	}
	return obj, nil
}

// parseObject reads the members of an object whose '{' has been read, at
// the given depth.
func parseObject(dec *json.Decoder, depth int) (map[string]any, error) {
	obj := make(map[string]any, 1)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("arguments are not JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return obj, nil
		}
		// The decoder only yields a string in key position.
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("arguments are not JSON: object key is not a string")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate key %s", quoteShort(key))
		}
		if tok, err = dec.Token(); err != nil {
			return nil, fmt.Errorf("arguments are not JSON: %w", err)
		}
		v, err := parseValue(dec, tok, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
}

// parseArray reads the elements of an array whose '[' has been read.
func parseArray(dec *json.Decoder, depth int) ([]any, error) {
	var arr []any
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("arguments are not JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			if arr == nil {
				arr = []any{}
			}
			return arr, nil
		}
		v, err := parseValue(dec, tok, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
}

// parseValue turns one token, found inside a container at depth, into a
// value, reading the rest of it when it opens a container.
func parseValue(dec *json.Decoder, tok json.Token, depth int) (any, error) {
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > MaxArgsDepth {
			return nil, fmt.Errorf("arguments nest deeper than %d", MaxArgsDepth)
		}
		if t == '{' {
			return parseObject(dec, depth+1)
		}
		return parseArray(dec, depth+1)
	case json.Number:
		if _, err := strconv.ParseFloat(string(t), 64); err != nil {
			return nil, fmt.Errorf("number %s does not fit a float64", quoteShort(string(t)))
		}
		return t, nil
	default: // string, bool or nil
		return t, nil
	}
}

// tokenKind names the JSON type a token starts.
func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "array"
		}
		return "object"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "null"
}

// quoteShort quotes s for a log detail, cut to a bounded length so that a
// hostile call cannot flood the journal through the detail.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
