package brain

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// AnthropicVersion is the API version the Anthropic provider speaks.
const AnthropicVersion = "2023-06-01"

// Anthropic is a provider speaking the Anthropic messages protocol with
// tool use: POST {BaseURL}/v1/messages.
//
// Request (what Complete sends):
//
//	{"model":"...","max_tokens":1024,"system":"...",
//	 "messages":[{"role":"user","content":[{"type":"text","text":"..."}]},
//	   {"role":"assistant","content":[{"type":"text","text":"..."},
//	     {"type":"tool_use","id":"toolu_1","name":"set_inlet_pump","input":{"value":60}}]},
//	   {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"{\"ok\":true,...}"}]}],
//	 "tools":[{"name":"...","description":"...","input_schema":{...}}]}
//
// Consecutive tool results go back in one user turn, in call order; a
// result whose call failed carries "is_error":true. The input of a call
// whose argument text is not a JSON object is sent back as {} (the protocol
// admits only objects; the gate has refused the call already).
//
// Response (what it reads): the text and tool_use blocks of "content", and
// usage.input_tokens / output_tokens. A tool_use input is passed on as its
// compact JSON text.
type Anthropic struct {
	o HTTPOptions
}

// NewAnthropic returns an Anthropic messages provider.
func NewAnthropic(o HTTPOptions) *Anthropic { return &Anthropic{o: o.withDefaults()} }

type antRequest struct {
	Model     string       `json:"model"`
	MaxTokens int          `json:"max_tokens"`
	System    string       `json:"system,omitempty"`
	Messages  []antMessage `json:"messages"`
	Tools     []antTool    `json:"tools,omitempty"`
}

type antMessage struct {
	Role    string     `json:"role"`
	Content []antBlock `json:"content"`
}

type antBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

type antTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type antResponse struct {
	Type       string     `json:"type"`
	Content    []antBlock `json:"content"`
	StopReason string     `json:"stop_reason"`
	Usage      struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// Complete sends one messages request.
func (p *Anthropic) Complete(ctx context.Context, req Request) (Response, error) {
	body := antRequest{Model: p.o.Model, MaxTokens: p.o.MaxTokens, System: req.System}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleTool:
			blk := antBlock{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Content, IsError: isFailedResult(m.Content)}
			if n := len(body.Messages); n > 0 && body.Messages[n-1].Role == "user" && body.Messages[n-1].Content[0].Type == "tool_result" {
				body.Messages[n-1].Content = append(body.Messages[n-1].Content, blk)
				continue
			}
			body.Messages = append(body.Messages, antMessage{Role: "user", Content: []antBlock{blk}})
		case RoleAssistant:
			am := antMessage{Role: "assistant"}
			if m.Content != "" {
				am.Content = append(am.Content, antBlock{Type: "text", Text: m.Content})
			}
			for _, c := range m.ToolCalls {
				am.Content = append(am.Content, antBlock{Type: "tool_use", ID: c.ID, Name: c.Name, Input: objectOrEmpty(c.Arguments)})
			}
			if len(am.Content) == 0 {
				am.Content = []antBlock{{Type: "text", Text: "(no answer)"}}
			}
			body.Messages = append(body.Messages, am)
		default:
			body.Messages = append(body.Messages, antMessage{Role: "user", Content: []antBlock{{Type: "text", Text: m.Content}}})
		}
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, antTool{Name: t.Name, Description: t.Description, InputSchema: schemaOrEmpty(t.Parameters)})
	}
	h := http.Header{}
	h.Set("anthropic-version", AnthropicVersion)
	if !p.o.APIKey.Empty() {
		h.Set("x-api-key", p.o.APIKey.Reveal())
	}
	var out antResponse
	if err := post(ctx, &p.o, "anthropic", p.o.BaseURL+"/v1/messages", h, body, &out); err != nil {
		return Response{}, err
	}
	return out.response(), nil
}

// response turns a decoded messages answer into a Response: its text
// blocks joined by newlines, its tool_use blocks as calls, and the usage.
// Other block types (thinking, for one) are dropped.
func (out *antResponse) response() Response {
	resp := Response{Usage: Usage{InputTokens: out.Usage.InputTokens, OutputTokens: out.Usage.OutputTokens}}
	var text []string
	for _, b := range out.Content {
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			resp.ToolCalls = append(resp.ToolCalls, ToolCall{ID: b.ID, Name: b.Name, Arguments: rawArguments(b.Input)})
		}
	}
	resp.Text = strings.Join(text, "\n")
	return resp
}

// objectOrEmpty returns the argument text when it is one JSON object, else {}.
func objectOrEmpty(args string) json.RawMessage {
	b := bytes.TrimSpace([]byte(args))
	var m map[string]json.RawMessage
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &m) != nil {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(b)
}

// isFailedResult reports whether a tool result's JSON says {"ok":false}.
func isFailedResult(content string) bool {
	var r struct {
		OK *bool `json:"ok"`
	}
	return json.Unmarshal([]byte(content), &r) == nil && r.OK != nil && !*r.OK
}

var _ Provider = (*Anthropic)(nil)
