package brain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// summary renders a response compactly: the text, then each call as
// id:name args, separated by " | "; an empty response is "".
func summary(r Response) string {
	parts := []string{}
	if r.Text != "" {
		parts = append(parts, r.Text)
	}
	for _, c := range r.ToolCalls {
		parts = append(parts, c.ID+":"+c.Name+" "+c.Arguments)
	}
	return strings.Join(parts, " | ")
}

func mustParseFile(t *testing.T, name string) *Script {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseScript(data)
	if err != nil {
		t.Fatalf("ParseScript(%s): %v", name, err)
	}
	return s
}

func TestScriptedSequence(t *testing.T) {
	const (
		turn1 = `Level is low, raising the inlet pump. | c1:set_inlet_pump {"value":60}`
		turn2 = `call-1-2-1:set_inlet_pump {"value": "lots"}`
		turn3 = `call-2-1-1:read_tank {} | call-2-1-2:set_outlet_valve {"value":35}`
	)
	tests := []struct {
		name string
		loop bool
		want []string
	}{
		{
			name: "once",
			want: []string{turn1, turn2, "", turn3, "", "", "", ""},
		},
		{
			name: "loop",
			loop: true,
			want: []string{turn1, turn2, "", turn3, "", turn1, turn2, "", turn3, ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParseFile(t, filepath.Join("testdata", "two-episodes.json"))
			s.Loop = tt.loop
			p := NewScripted(s)
			for i, want := range tt.want {
				r, err := p.Complete(context.Background(), Request{})
				if err != nil {
					t.Fatalf("Complete #%d: %v", i+1, err)
				}
				if got := summary(r); got != want {
					t.Errorf("Complete #%d: got %q, want %q", i+1, got, want)
				}
			}
		})
	}
}

func TestParseScriptArguments(t *testing.T) {
	tests := []struct {
		name     string
		call     string
		wantID   string
		wantArgs string
	}{
		{"object is compacted", `{"id":"a","name":"x","arguments":{ "value" : 60 }}`, "a", `{"value":60}`},
		{"string is verbatim", `{"name":"x","arguments":"{\"value\": \"lots\""}`, "call-1-1-1", `{"value": "lots"`},
		{"string that is not JSON", `{"name":"x","arguments":"open it"}`, "call-1-1-1", `open it`},
		{"empty string", `{"name":"x","arguments":""}`, "call-1-1-1", ``},
		{"number", `{"name":"x","arguments":5}`, "call-1-1-1", `5`},
		{"array", `{"name":"x","arguments":[1, 2]}`, "call-1-1-1", `[1,2]`},
		{"null", `{"name":"x","arguments":null}`, "call-1-1-1", `null`},
		{"missing", `{"name":"x"}`, "call-1-1-1", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseScript([]byte(`{"episodes":[{"turns":[{"tool_calls":[` + tt.call + `]}]}]}`))
			if err != nil {
				t.Fatalf("ParseScript: %v", err)
			}
			c := s.Episodes[0].Turns[0].ToolCalls[0]
			if c.ID != tt.wantID {
				t.Errorf("id: got %q, want %q", c.ID, tt.wantID)
			}
			if c.Arguments != tt.wantArgs {
				t.Errorf("arguments: got %q, want %q", c.Arguments, tt.wantArgs)
			}
		})
	}
}

func TestParseScriptRefuses(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr string
	}{
		{"unknown top-level key", `{"loops":true,"episodes":[{"turns":[{}]}]}`, `unknown field "loops"`},
		{"unknown episode key", `{"episodes":[{"turns":[{}],"name":"e"}]}`, `unknown field "name"`},
		{"unknown turn key", `{"episodes":[{"turns":[{"txt":"hi"}]}]}`, `unknown field "txt"`},
		{"unknown call key", `{"episodes":[{"turns":[{"tool_calls":[{"name":"x","args":{}}]}]}]}`, `unknown field "args"`},
		{"call without name", `{"episodes":[{"turns":[{},{"tool_calls":[{"arguments":{}}]}]}]}`, `episode 1 turn 2 call 1: no name`},
		{"no episodes", `{"loop":true}`, `no episodes`},
		{"episode without turns", `{"episodes":[{"turns":[{}]},{"turns":[]}]}`, `episode 2: no turns`},
		{"trailing data", `{"episodes":[{"turns":[{}]}]} {}`, `after the script`},
		{"not JSON", `episodes: []`, `invalid character`},
		{"wrong type", `{"loop":"yes","episodes":[{"turns":[{}]}]}`, `cannot unmarshal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseScript([]byte(tt.script))
			if err == nil {
				t.Fatalf("ParseScript: got script %+v, want error containing %q", s, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "brain: ") {
				t.Errorf("ParseScript: got error %q, want one starting %q and containing %q", err, "brain: ", tt.wantErr)
			}
		})
	}
}

func TestScriptedRespectsContext(t *testing.T) {
	p := NewScripted(mustParseFile(t, filepath.Join("testdata", "two-episodes.json")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Complete(ctx, Request{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Complete with cancelled context: got error %v, want %v", err, context.Canceled)
	}
	r, err := p.Complete(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(r), `Level is low, raising the inlet pump. | c1:set_inlet_pump {"value":60}`; got != want {
		t.Errorf("first turn after a cancelled request: got %q, want %q", got, want)
	}
}

func TestScriptedResponsesAreCopies(t *testing.T) {
	p := NewScripted(mustParseFile(t, filepath.Join("testdata", "two-episodes.json")))
	p.script.Loop = true
	r, _ := p.Complete(context.Background(), Request{})
	r.ToolCalls[0].Name = "changed"
	for range 5 { // turn 2, end, episode 2, end, turn 1 again
		r, _ = p.Complete(context.Background(), Request{})
	}
	if got, want := summary(r), `Level is low, raising the inlet pump. | c1:set_inlet_pump {"value":60}`; got != want {
		t.Errorf("replayed first turn: got %q, want %q", got, want)
	}
}

func TestScriptedConcurrent(t *testing.T) {
	p := NewScripted(mustParseFile(t, filepath.Join("testdata", "two-episodes.json")))
	var (
		mu  sync.Mutex
		got []string
		wg  sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 4 {
				r, err := p.Complete(context.Background(), Request{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, summary(r))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every turn is handed out exactly once; the rest are empty.
	nonEmpty := slices.DeleteFunc(got, func(s string) bool { return s == "" })
	slices.Sort(nonEmpty)
	want := []string{
		`Level is low, raising the inlet pump. | c1:set_inlet_pump {"value":60}`,
		`call-1-2-1:set_inlet_pump {"value": "lots"}`,
		`call-2-1-1:read_tank {} | call-2-1-2:set_outlet_valve {"value":35}`,
	}
	slices.Sort(want)
	if !slices.Equal(nonEmpty, want) {
		t.Errorf("non-empty responses: got %q, want %q", nonEmpty, want)
	}
}

// TestDemoScript checks the demo agent's script: what it proposes, in order,
// is what the demo's capabilities are meant to allow and deny.
func TestDemoScript(t *testing.T) {
	s := mustParseFile(t, filepath.Join("..", "configs", "demo-script.json"))
	if !s.Loop {
		t.Errorf("loop: got false, want true")
	}
	want := [][]string{
		{`read_tank {}`, `set_inlet_pump {"value":70}`}, // allowed
		{`set_inlet_pump {"value":250}`},                // out_of_range
		{`set_heater {"value":true}`},                   // not_allowed
		{`open_drain_valve {"value":100}`},              // unknown_capability
		{`set_outlet_valve {"value": "wide open"}`},     // invalid_arguments
		{`set_outlet_valve {"value":35}`},               // allowed
	}
	var got [][]string
	for _, ep := range s.Episodes {
		var calls []string
		for _, turn := range ep.Turns {
			if turn.Text == "" {
				t.Errorf("a turn calling %s has no text", turn.ToolCalls[0].Name)
			}
			for _, c := range turn.ToolCalls {
				calls = append(calls, c.Name+" "+c.Arguments)
			}
		}
		got = append(got, calls)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("episodes:\ngot  %q\nwant %q", got, want)
	}
}
