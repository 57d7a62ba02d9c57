package brain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Script is a fixed list of model responses, grouped into episodes, that the
// scripted provider replays. It stands in for a model while a gateway is
// commissioned and in the demo.
//
// A script is a JSON document:
//
//	{ "loop": false,
//	  "episodes": [
//	    { "turns": [
//	        { "text": "Level is low, raising the inlet pump.",
//	          "tool_calls": [ {"id": "c1", "name": "set_inlet_pump", "arguments": {"value": 60}} ] },
//	        { "tool_calls": [ {"name": "set_inlet_pump", "arguments": "{\"value\": \"lots\"}"} ] } ] } ] }
//
// Each turn is one response: optional prose ("text") and the tool calls it
// proposes ("tool_calls"). A call's "arguments" is either a JSON string,
// whose contents are used verbatim as the raw argument text (so that
// malformed arguments can be scripted), or any other JSON value, whose
// compact text is used; without "arguments" the call has "{}". A call
// without an "id" is given "call-<episode>-<turn>-<n>", all counted from 1.
// Unknown keys are errors, every call needs a name, and a script has at
// least one episode, each with at least one turn.
//
// Replay: each request is answered with the next turn of the current
// episode. After an episode's last turn the next request is answered with an
// empty response (no tool calls, which ends the episode) and the script moves
// on to the next episode. After the last episode the script starts again
// when "loop" is true; otherwise every later request gets an empty response.
type Script struct {
	// Loop replays the episodes again from the first after the last.
	Loop bool `json:"loop"`
	// Episodes are replayed in order.
	Episodes []ScriptEpisode `json:"episodes"`
}

// ScriptEpisode is the responses of one episode, in order.
type ScriptEpisode struct {
	Turns []ScriptTurn `json:"turns"`
}

// ScriptTurn is one scripted response.
type ScriptTurn struct {
	// Text is the prose of the response.
	Text string `json:"text,omitempty"`
	// ToolCalls are the calls the response proposes.
	ToolCalls []ScriptCall `json:"tool_calls,omitempty"`
}

// ScriptCall is one scripted tool call.
type ScriptCall struct {
	// ID is the call's id; ParseScript fills in a deterministic one.
	ID string `json:"id,omitempty"`
	// Name is the tool the call names.
	Name string `json:"name"`
	// Arguments is the raw argument text sent with the call. It need not be
	// valid JSON.
	Arguments string `json:"-"`
}

// scriptCallJSON is ScriptCall as written in a script file.
type scriptCallJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// UnmarshalJSON reads a call, turning its arguments into raw argument text.
func (c *ScriptCall) UnmarshalJSON(b []byte) error {
	var raw scriptCallJSON
	if err := strictUnmarshal(b, &raw); err != nil {
		return err
	}
	args, err := argumentText(raw.Arguments)
	if err != nil {
		return err
	}
	*c = ScriptCall{ID: raw.ID, Name: raw.Name, Arguments: args}
	return nil
}

// MarshalJSON writes a call as a script file holds it; the arguments are
// always written as a JSON string.
func (c ScriptCall) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID        string `json:"id,omitempty"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}{c.ID, c.Name, c.Arguments})
}

// argumentText returns the raw argument text that a script's "arguments"
// value stands for.
func argumentText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "{}", nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// strictUnmarshal decodes one JSON value, refusing unknown fields and
// trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the script")
	}
	return nil
}

// ParseScript reads a script. It is strict: unknown keys, trailing data,
// calls without a name and empty episodes are errors.
func ParseScript(data []byte) (*Script, error) {
	var s Script
	if err := strictUnmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("brain: script: %w", err)
	}
	if len(s.Episodes) == 0 {
		return nil, errors.New("brain: script: no episodes")
	}
	for e, ep := range s.Episodes {
		if len(ep.Turns) == 0 {
			return nil, fmt.Errorf("brain: script: episode %d: no turns", e+1)
		}
		for t, turn := range ep.Turns {
			for n := range turn.ToolCalls {
				call := &s.Episodes[e].Turns[t].ToolCalls[n]
				if call.Name == "" {
					return nil, fmt.Errorf("brain: script: episode %d turn %d call %d: no name", e+1, t+1, n+1)
				}
				if call.ID == "" {
					call.ID = "call-" + strconv.Itoa(e+1) + "-" + strconv.Itoa(t+1) + "-" + strconv.Itoa(n+1)
				}
			}
		}
	}
	return &s, nil
}

// Scripted is the provider that replays a Script. It is safe for concurrent
// use; concurrent requests take consecutive turns.
type Scripted struct {
	script *Script

	mu      sync.Mutex
	episode int  // index of the current episode
	turn    int  // index of the next turn in the current episode
	done    bool // the script has ended and does not loop
}

// NewScripted returns a provider that replays s from its first turn. The
// script must not be changed afterwards.
func NewScripted(s *Script) *Scripted {
	if s == nil || len(s.Episodes) == 0 {
		return &Scripted{script: &Script{}, done: true}
	}
	return &Scripted{script: s}
}

// Complete returns the next scripted response; the request is not looked
// at. It fails only when ctx is done, and then does not advance the script.
func (s *Scripted) Complete(ctx context.Context, req Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("brain: scripted: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return Response{}, nil
	}
	turns := s.script.Episodes[s.episode].Turns
	if s.turn < len(turns) {
		t := turns[s.turn]
		s.turn++
		return turnResponse(t), nil
	}
	// The episode has had all its turns: answer with nothing and move on.
	s.turn = 0
	s.episode++
	if s.episode == len(s.script.Episodes) {
		s.episode = 0
		s.done = !s.script.Loop
	}
	return Response{}, nil
}

// turnResponse builds the response for a turn; it shares nothing with the
// script, so a caller may change it.
func turnResponse(t ScriptTurn) Response {
	r := Response{Text: t.Text}
	if len(t.ToolCalls) > 0 {
		r.ToolCalls = make([]ToolCall, len(t.ToolCalls))
		for i, c := range t.ToolCalls {
			r.ToolCalls[i] = ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments}
		}
	}
	return r
}

var _ Provider = (*Scripted)(nil)
