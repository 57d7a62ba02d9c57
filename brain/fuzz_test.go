package brain

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// addTranscriptSeeds seeds f with every response body of the recorded
// transcripts (both protocols: each decoder must also survive the other's
// bodies) and a few malformed ones.
func addTranscriptSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/transcripts/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var tr struct {
			Exchanges []struct {
				Body json.RawMessage `json:"body"`
				Raw  string          `json:"raw"`
			} `json:"exchanges"`
		}
		if err := json.Unmarshal(data, &tr); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		for _, e := range tr.Exchanges {
			if len(e.Body) > 0 {
				f.Add([]byte(e.Body))
			}
			if e.Raw != "" {
				f.Add([]byte(e.Raw))
			}
		}
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"choices":[]}`, `{"choices":[{}]}`, `{"choices":null}`,
		`{"choices":[{"message":{"content":"x","tool_calls":[{"id":"a","function":{"name":"n","arguments":{"value":1}}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"arguments":null}}]}}]}`,
		`{"content":[{"type":"tool_use","id":"t","name":"n","input":"{\"value\":"}]}`,
		`{"content":[{"type":"text","text":"a"},{"type":"thinking"},{"type":"text","text":"b"}]}`,
		`{"content":[{"type":"tool_use","input":[1,2]}],"usage":{"input_tokens":-1}}`,
		"{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":{\"v\":\"\xff\"}}}]}}]}",
		"{\"content\":[{\"type\":\"tool_use\",\"input\":{\"v\":\"\xfe\"}}]}",
	} {
		f.Add([]byte(s))
	}
}

// checkJournalRoundTrip checks that a response survives the journal: the
// replay provider re-runs an episode from the JSON the agent journaled, so
// what comes back must be exactly what was decoded.
func checkJournalRoundTrip(t *testing.T, resp Response) {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatalf("marshal the decoded response: %v", err)
	}
	var back Response
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if !reflect.DeepEqual(normalize(back), normalize(resp)) {
		t.Fatalf("journal round trip: got %+v, want %+v", back, resp)
	}
}

// normalize makes an empty call list nil, as JSON's omitempty does.
func normalize(r Response) Response {
	if len(r.ToolCalls) == 0 {
		r.ToolCalls = nil
	}
	return r
}

// FuzzOpenAIResponse decodes arbitrary chat completion bodies. A body
// either fails to decode (the provider reports malformed_response) or
// yields one call per wire call with its argument text verbatim, which
// goes back to the model unchanged in the next request and survives the
// journal unchanged.
func FuzzOpenAIResponse(f *testing.F) {
	addTranscriptSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var out oaiResponse
		if json.Unmarshal(body, &out) != nil {
			return
		}
		resp, err := out.response()
		if len(out.Choices) == 0 {
			var be *Error
			if !errors.As(err, &be) || be.Failure != FailureMalformed {
				t.Fatalf("no choices: got error %v, want a malformed_response", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("got error %v for %d choices", err, len(out.Choices))
		}
		wire := out.Choices[0].Message.ToolCalls
		if got, want := len(resp.ToolCalls), len(wire); got != want {
			t.Fatalf("got %d calls, want %d", got, want)
		}
		for i, c := range resp.ToolCalls {
			var s string
			if raw := wire[i].Function.Arguments; len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && c.Arguments != s {
				t.Fatalf("call %d: got arguments %q, want the string's text %q", i, c.Arguments, s)
			}
			if !utf8.ValidString(c.Arguments) {
				t.Fatalf("call %d: arguments %q are not valid UTF-8", i, c.Arguments)
			}
			// The next request carries the text as a JSON string.
			enc, err := json.Marshal(oaiFunction{Name: c.Name, Arguments: mustMarshal(t, c.Arguments)})
			if err != nil {
				t.Fatal(err)
			}
			var dec oaiFunction
			if err := json.Unmarshal(enc, &dec); err != nil {
				t.Fatal(err)
			}
			if got := rawArguments(dec.Arguments); got != c.Arguments {
				t.Fatalf("call %d: next request carries %q, want %q", i, got, c.Arguments)
			}
		}
		checkJournalRoundTrip(t, resp)
	})
}

// FuzzAnthropicResponse decodes arbitrary messages bodies: one call per
// tool_use block, the text blocks joined, an object input passed back to
// the model as it came, and the response survives the journal unchanged.
func FuzzAnthropicResponse(f *testing.F) {
	addTranscriptSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var out antResponse
		if json.Unmarshal(body, &out) != nil {
			return
		}
		resp := out.response()
		var uses, texts []antBlock
		for _, b := range out.Content {
			switch b.Type {
			case "tool_use":
				uses = append(uses, b)
			case "text":
				texts = append(texts, b)
			}
		}
		if got, want := len(resp.ToolCalls), len(uses); got != want {
			t.Fatalf("got %d calls, want %d", got, want)
		}
		if len(texts) > 0 && !strings.HasPrefix(resp.Text, texts[0].Text) {
			t.Fatalf("got text %q, want it to start with %q", resp.Text, texts[0].Text)
		}
		for i, c := range resp.ToolCalls {
			if !utf8.ValidString(c.Arguments) {
				t.Fatalf("call %d: arguments %q are not valid UTF-8", i, c.Arguments)
			}
			if in := strings.TrimSpace(string(uses[i].Input)); strings.HasPrefix(in, "{") {
				if got := string(objectOrEmpty(c.Arguments)); got != c.Arguments {
					t.Fatalf("call %d: input sent back as %s, want %s", i, got, c.Arguments)
				}
			}
		}
		checkJournalRoundTrip(t, resp)
	})
}

func mustMarshal(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
