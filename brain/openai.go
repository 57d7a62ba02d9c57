package brain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// OpenAI is a provider speaking the OpenAI chat completions protocol with
// tools: POST {BaseURL}/chat/completions. OpenAI, Ollama, llama.cpp's
// server, vLLM and LM Studio all serve it.
//
// Request (what Complete sends):
//
//	{"model":"...","max_tokens":1024,
//	 "messages":[{"role":"system","content":"..."},{"role":"user","content":"..."},
//	   {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
//	     "function":{"name":"set_inlet_pump","arguments":"{\"value\":60}"}}]},
//	   {"role":"tool","tool_call_id":"c1","content":"{\"ok\":true,...}"}],
//	 "tools":[{"type":"function","function":{"name":"...","description":"...","parameters":{...}}}]}
//
// Response (what it reads): choices[0].message.content and .tool_calls, and
// usage.prompt_tokens / completion_tokens. A call's "arguments" is a string
// holding JSON text, passed on verbatim even when it is not valid JSON (the
// gate refuses it); a server that sends an object instead has its compact
// text passed on.
type OpenAI struct {
	o HTTPOptions
}

// NewOpenAI returns an OpenAI-compatible provider.
func NewOpenAI(o HTTPOptions) *OpenAI { return &OpenAI{o: o.withDefaults()} }

type oaiRequest struct {
	Model     string       `json:"model"`
	MaxTokens int          `json:"max_tokens,omitempty"`
	Messages  []oaiMessage `json:"messages"`
	Tools     []oaiTool    `json:"tools,omitempty"`
}

type oaiMessage struct {
	Role       string        `json:"role"`
	Content    *string       `json:"content"`
	ToolCalls  []oaiToolCall `json:"tool_calls,omitempty"`
	ToolCallID string        `json:"tool_call_id,omitempty"`
}

type oaiToolCall struct {
	ID       string      `json:"id"`
	Type     string      `json:"type"`
	Function oaiFunction `json:"function"`
}

type oaiFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type oaiTool struct {
	Type     string          `json:"type"`
	Function oaiToolFunction `json:"function"`
}

type oaiToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

type oaiResponse struct {
	Choices []struct {
		Message struct {
			Content   *string       `json:"content"`
			ToolCalls []oaiToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// Complete sends one chat completion request.
func (p *OpenAI) Complete(ctx context.Context, req Request) (Response, error) {
	body := oaiRequest{Model: p.o.Model, MaxTokens: p.o.MaxTokens}
	if req.System != "" {
		body.Messages = append(body.Messages, oaiMessage{Role: "system", Content: strPtr(req.System)})
	}
	for _, m := range req.Messages {
		om := oaiMessage{Role: string(m.Role), ToolCallID: m.ToolCallID}
		if m.Content != "" || m.Role != RoleAssistant {
			om.Content = strPtr(m.Content)
		}
		for _, c := range m.ToolCalls {
			args, _ := json.Marshal(c.Arguments) // a JSON string holding the raw text
			om.ToolCalls = append(om.ToolCalls, oaiToolCall{ID: c.ID, Type: "function", Function: oaiFunction{Name: c.Name, Arguments: args}})
		}
		body.Messages = append(body.Messages, om)
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, oaiTool{Type: "function", Function: oaiToolFunction{Name: t.Name, Description: t.Description, Parameters: schemaOrEmpty(t.Parameters)}})
	}
	h := http.Header{}
	if !p.o.APIKey.Empty() {
		h.Set("Authorization", "Bearer "+p.o.APIKey.Reveal())
	}
	var out oaiResponse
	if err := post(ctx, &p.o, "openai", p.o.BaseURL+"/chat/completions", h, body, &out); err != nil {
		return Response{}, err
	}
	return out.response()
}

// response turns a decoded chat completion into a Response: the first
// choice's prose and tool calls, and the usage. No choice at all is a
// malformed response.
func (out *oaiResponse) response() (Response, error) {
	if len(out.Choices) == 0 {
		return Response{}, &Error{Provider: "openai", Failure: FailureMalformed, Status: 200, Attempts: 1, Err: errors.New("no choices")}
	}
	msg := out.Choices[0].Message
	resp := Response{Usage: Usage{InputTokens: out.Usage.PromptTokens, OutputTokens: out.Usage.CompletionTokens}}
	if msg.Content != nil {
		resp.Text = *msg.Content
	}
	for _, c := range msg.ToolCalls {
		resp.ToolCalls = append(resp.ToolCalls, ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: rawArguments(c.Function.Arguments)})
	}
	return resp, nil
}

// rawArguments turns the wire's "arguments" into raw argument text: the
// contents of a JSON string, or the compact text of any other value. Bytes
// that are not UTF-8 become U+FFFD, one for each, as a JSON string's would:
// the text the gate decides on is then exactly the text the journal keeps
// and a replay returns.
func rawArguments(v json.RawMessage) string {
	return validUTF8(compactArguments(v))
}

func compactArguments(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

// validUTF8 replaces each byte of s that is not part of a UTF-8 sequence
// with U+FFFD, as encoding/json does when it writes a string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func schemaOrEmpty(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return json.RawMessage(b)
}

func strPtr(s string) *string { return &s }

var _ Provider = (*OpenAI)(nil)
