package capability

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"unicode/utf8"
)

// argTexts are argument texts that probe the edges of the two parsers.
var argTexts = []string{
	`{}`, ` { } `, "\t{\"value\":1}\n", `{"value":50}`, `{"value":-0.5e+3}`, `{"value":1E400}`,
	`{"value":1e-400}`, `{"value":true,"x":false,"y":null}`, `{"a":{"b":[1,2,{"c":[]}]}}`,
	`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":[{"b":1,"b":2}]}`, `{"a":"x\"y"}`,
	`{"a":"\ud800"}`, `{"\ud800":1,"\ufffd":2}`, `{"a":"\u00e9","b":"é"}`,
	`{"a":[[[[[[[1]]]]]]]}`, `{"a":[[[[[[[[1]]]]]]]]}`, `{"a":1} `, `{"a":1} {}`, `{"a":1}x`,
	`[1]`, `"x"`, `1`, `null`, `{"a":}`, `{"a" 1}`, `{'a':1}`, `{"a":NaN}`, `{"a":01}`,
	`{"a":1,}`, `{,"a":1}`, `{"a":"\x"}`, `{"a":[1,]}`, `{"a":1`, `{"a":"` + "\x01" + `"}`,
	`{"a":[],"b":{}}`, `{"":1}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`,
}

// TestParseArgsParsers holds the in-place parser to the decoder's: for
// every text both give equal values or equal errors.
func TestParseArgsParsers(t *testing.T) {
	for _, s := range append(argTexts, corpusArgs(t)...) {
		checkParsers(t, s)
	}
}

// FuzzParseArgs compares the two parsers on arbitrary text.
func FuzzParseArgs(f *testing.F) {
	for _, s := range append(argTexts, corpusArgs(f)...) {
		f.Add(s)
	}
	f.Fuzz(checkParsers)
}

func checkParsers(t *testing.T, s string) {
	if len(s) > MaxArgsBytes || !utf8.ValidString(s) {
		return // refused before either parser runs
	}
	want, wantErr := parseStream(s)
	got, gotErr := parseArgs(s)
	if json.Valid([]byte(s)) && s[skipSpace(s, 0)] == '{' {
		got, gotErr = parseValid(s)
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: got error %v, want %v", s, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", s, got, want)
	}
}

// corpusArgs returns the argument texts of the hostile-call corpus.
func corpusArgs(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/calls.jsonl")
	if err != nil {
		t.Fatalf("open corpus: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Args string `json:"args"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("corpus: %v", err)
		}
		out = append(out, c.Args)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return out
}
