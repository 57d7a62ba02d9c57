// Package brain holds the inference providers: what turns a conversation and
// a list of tools into proposed tool calls. A provider only proposes; it
// knows nothing of devices, capabilities or the journal.
package brain

import "context"

// Provider is one model endpoint (or a script standing in for one).
type Provider interface {
	// Complete sends one request and returns the model's response. It is
	// safe to call from one episode at a time.
	Complete(ctx context.Context, req Request) (Response, error)
}

// Role says who wrote a message.
type Role string

// Message roles.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn of the conversation.
type Message struct {
	Role Role `json:"role"`
	// Content is the text of a user or assistant turn, or the JSON result of
	// a tool call.
	Content string `json:"content,omitempty"`
	// ToolCalls are the calls an assistant turn proposed.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID ties a tool result to the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// Tool is one tool offered to the model.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON schema of the arguments.
	Parameters []byte `json:"parameters"`
}

// ToolCall is one call the model proposed, exactly as it arrived.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the raw argument text; it need not be valid JSON.
	Arguments string `json:"arguments"`
}

// Request is what a provider sends to the model.
type Request struct {
	System   string    `json:"system,omitempty"`
	Messages []Message `json:"messages"`
	Tools    []Tool    `json:"tools,omitempty"`
}

// Usage counts tokens, where the provider reports them.
type Usage struct {
	InputTokens  int `json:"input_tokens,omitempty"`
	OutputTokens int `json:"output_tokens,omitempty"`
}

// Response is what the model answered.
type Response struct {
	// Text is any prose the model wrote. It is logged and journaled, never
	// executed.
	Text      string     `json:"text,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	Usage     Usage      `json:"usage,omitempty"`
}
