package api

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// MCPPath is where the local API serves MCP over streamable HTTP.
const MCPPath = "/mcp"

// The MCP protocol versions the endpoint speaks, newest first. A client
// asking for another gets the newest, and may then give up.
const (
	mcpVersion20250618 = "2025-06-18"
	mcpVersion20250326 = "2025-03-26" // the only one with JSON-RPC batches
	mcpVersion20241105 = "2024-11-05"
	mcpLatestVersion   = mcpVersion20250618
)

// mcpSupported reports whether the endpoint speaks protocol version v.
func mcpSupported(v string) bool {
	return v == mcpVersion20250618 || v == mcpVersion20250326 || v == mcpVersion20241105
}

// MCPServer answers MCP requests with the capabilities of one principal as
// its tools. It holds no per-client state (MCPHandler keeps the sessions)
// and is safe for concurrent use.
type MCPServer struct {
	name, version string
	tools         json.RawMessage // the tools/list result, built once
	call          func(ctx context.Context, name string, args string) capability.Result
}

// NewMCPServer returns an MCP server whose tools are the capabilities
// principal p may call. Every tools/call, listed or not, goes through
// core.Call as p: a call to a tool p may not use is decided (and journaled)
// by the gate like any other and answered with the gate's typed refusal,
// {"ok":false,"code":"denied","reason":"not_allowed"}, as an error result.
func NewMCPServer(core *agent.Core, p capability.Principal, version string) *MCPServer {
	return newMCPServer(version, core.Gate().Tools(p), func(ctx context.Context, name, args string) capability.Result {
		return core.Call(ctx, p, "", capability.Call{ID: "mcp", Capability: name, Args: args}, agent.CallOptions{})
	})
}

// mcpTool is one entry of a tools/list result.
type mcpTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// newMCPServer returns a server listing tools and answering tools/call
// with call.
func newMCPServer(version string, tools []capability.Tool, call func(ctx context.Context, name, args string) capability.Result) *MCPServer {
	list := struct {
		Tools []mcpTool `json:"tools"`
	}{Tools: make([]mcpTool, 0, len(tools))}
	for _, t := range tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		list.Tools = append(list.Tools, mcpTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	b, err := json.Marshal(list)
	if err != nil {
		// A schema the gate accepted is valid JSON; should one not be, list
		// nothing rather than fail the gateway: calls still reach the gate.
		b = []byte(`{"tools":[]}`)
	}
	return &MCPServer{name: "femtoclaw", version: version, tools: b, call: call}
}

// mcpImplementation names a client or a server.
type mcpImplementation struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// mcpInitializeParams are the params of initialize that the server reads.
type mcpInitializeParams struct {
	ProtocolVersion string            `json:"protocolVersion"`
	ClientInfo      mcpImplementation `json:"clientInfo"`
}

// mcpInitializeResult is the result of initialize.
type mcpInitializeResult struct {
	ProtocolVersion string            `json:"protocolVersion"`
	Capabilities    mcpCapabilities   `json:"capabilities"`
	ServerInfo      mcpImplementation `json:"serverInfo"`
}

// mcpCapabilities are the server's capabilities: tools, whose list does not
// change while the gateway runs.
type mcpCapabilities struct {
	Tools struct {
		ListChanged bool `json:"listChanged"`
	} `json:"tools"`
}

// mcpCallParams are the params of tools/call.
type mcpCallParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// mcpContent is one text item of a tool result.
type mcpContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// mcpCallResult is the result of tools/call: the gate's typed result as
// text (and, from protocol version 2025-06-18, as structured content);
// IsError when it is not ok.
type mcpCallResult struct {
	Content           []mcpContent    `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError"`
}

// initialize answers an initialize request's params with the result and
// the negotiated protocol version: the client's when the endpoint speaks
// it, else the newest.
func (s *MCPServer) initialize(params json.RawMessage) (*mcpInitializeResult, string, *rpcError) {
	var p mcpInitializeParams
	if err := decodeParams(params, &p); err != nil {
		return nil, "", &rpcError{Code: codeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	if p.ProtocolVersion == "" {
		return nil, "", &rpcError{Code: codeInvalidParams, Message: `invalid params: initialize needs "protocolVersion"`}
	}
	v := mcpLatestVersion
	if mcpSupported(p.ProtocolVersion) {
		v = p.ProtocolVersion
	}
	return &mcpInitializeResult{ProtocolVersion: v, ServerInfo: mcpImplementation{Name: s.name, Version: s.version}}, v, nil
}

// handle answers one request of a session that negotiated version.
// initialize is the transport's (it starts the session).
func (s *MCPServer) handle(ctx context.Context, version string, m *rpcMessage) *rpcResponse {
	ok := func(result any) *rpcResponse { return &rpcResponse{JSONRPC: "2.0", ID: m.ID, Result: result} }
	switch m.Method {
	case "ping":
		return ok(struct{}{})
	case "tools/list":
		return ok(s.tools)
	case "tools/call":
		var p mcpCallParams
		if err := decodeParams(m.Params, &p); err != nil {
			return newRPCError(m.ID, codeInvalidParams, "invalid params: %v", err)
		}
		if p.Name == "" {
			return newRPCError(m.ID, codeInvalidParams, `invalid params: tools/call needs "name"`)
		}
		args := strings.TrimSpace(string(p.Arguments))
		switch {
		case args == "" || args == "null":
			args = "{}"
		case args[0] != '{':
			return newRPCError(m.ID, codeInvalidParams, `invalid params: "arguments" must be an object`)
		}
		return ok(s.callResult(ctx, version, p.Name, args))
	case "initialize":
		return newRPCError(m.ID, codeInvalidRequest, "invalid request: the session is already initialized")
	}
	return newRPCError(m.ID, codeMethodNotFound, "method not found: %q", m.Method)
}

// callResult takes one tool call through the core.
func (s *MCPServer) callResult(ctx context.Context, version, name, args string) *mcpCallResult {
	res := s.call(ctx, name, args)
	b, err := json.Marshal(res)
	if err != nil {
		b = []byte(`{"ok":false,"code":"failed","reason":"device_error"}`)
	}
	out := &mcpCallResult{Content: []mcpContent{{Type: "text", Text: string(b)}}, IsError: !res.OK}
	if version >= mcpVersion20250618 {
		out.StructuredContent = b
	}
	return out
}
