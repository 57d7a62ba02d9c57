package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The MCP endpoint speaks JSON-RPC 2.0. One HTTP body, or one line of the
// stdio bridge, holds one message or (protocol version 2025-03-26 only) a
// batch, a JSON array of messages:
//
//	request        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_tank","arguments":{}}}
//	notification   {"jsonrpc":"2.0","method":"notifications/initialized"}
//	response       {"jsonrpc":"2.0","id":1,"result":{...}}
//	error          {"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"..."}}
//
// An id is a string or a number, never null; a request gets exactly one
// response with its id, a notification and a response get none.

// JSON-RPC error codes the endpoint answers with.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
)

// rpcKind says what a message is.
type rpcKind int

const (
	kindRequest rpcKind = iota + 1
	kindNotification
	kindResponse
)

// rpcMessage is one JSON-RPC message as it arrives. Absent members are nil;
// a member given as null is the four bytes "null".
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`

	kind rpcKind
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error returns the message with its code.
func (e *rpcError) Error() string { return fmt.Sprintf("api: mcp: jsonrpc %d: %s", e.Code, e.Message) }

// rpcResponse is one response the endpoint sends: Result or Error.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// nullID is the id of an error response to a message whose id is unknown.
var nullID = json.RawMessage("null")

// newRPCError returns an error response to id (nil: null).
func newRPCError(id json.RawMessage, code int, format string, args ...any) *rpcResponse {
	if id == nil {
		id = nullID
	}
	return &rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// isBatch reports whether body (trimmed) is a JSON array.
func isBatch(body []byte) bool { return len(body) > 0 && body[0] == '[' }

// decodeBody splits a trimmed body into its messages: one, or the elements
// of a batch. It fails with a parse error for text that is not JSON and an
// invalid request for an empty batch or a body that is neither an object
// nor an array.
func decodeBody(body []byte) ([]json.RawMessage, *rpcResponse) {
	if !json.Valid(body) {
		return nil, newRPCError(nil, codeParseError, "parse error: the body is not JSON")
	}
	if !isBatch(body) {
		if body[0] != '{' {
			return nil, newRPCError(nil, codeInvalidRequest, "invalid request: want a JSON object or array")
		}
		return []json.RawMessage{body}, nil
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, newRPCError(nil, codeParseError, "parse error: %v", err)
	}
	if len(batch) == 0 {
		return nil, newRPCError(nil, codeInvalidRequest, "invalid request: empty batch")
	}
	return batch, nil
}

// decodeMessage decodes and classifies one message. On failure it returns
// an error response with the message's id where that id could be read.
func decodeMessage(raw json.RawMessage) (*rpcMessage, *rpcResponse) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, newRPCError(nil, codeInvalidRequest, "invalid request: want a JSON object")
	}
	var m rpcMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		if !json.Valid(raw) {
			return nil, newRPCError(nil, codeParseError, "parse error: %v", err)
		}
		return nil, newRPCError(nil, codeInvalidRequest, "invalid request: %v", err)
	}
	id := m.ID
	if !validID(id) {
		id = nil
	}
	invalid := func(msg string) (*rpcMessage, *rpcResponse) {
		return nil, newRPCError(id, codeInvalidRequest, "invalid request: %s", msg)
	}
	if m.JSONRPC != "2.0" {
		return invalid(`"jsonrpc" must be "2.0"`)
	}
	switch {
	case m.Method != "":
		if m.Result != nil || m.Error != nil {
			return invalid(`a request has no "result" or "error"`)
		}
		if m.ID == nil {
			m.kind = kindNotification
			return &m, nil
		}
		if !validID(m.ID) {
			return invalid(`"id" must be a string or a number`)
		}
		if p := bytes.TrimSpace(m.Params); len(p) > 0 && p[0] != '{' && !bytes.Equal(p, nullID) {
			return nil, newRPCError(m.ID, codeInvalidParams, `invalid params: "params" must be an object`)
		}
		m.kind = kindRequest
		return &m, nil
	case (m.Result != nil) != (m.Error != nil):
		if m.ID == nil || (!validID(m.ID) && !(m.Error != nil && bytes.Equal(m.ID, nullID))) {
			return invalid(`a response needs the "id" of its request`)
		}
		m.kind = kindResponse
		return &m, nil
	default:
		return invalid(`want "method", or exactly one of "result" and "error"`)
	}
}

// validID reports whether id is a JSON string or number.
func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		return true
	}
	return false
}

// decodeParams decodes a request's params into v; absent or null params
// leave v as it is.
func decodeParams(params json.RawMessage, v any) error {
	if len(params) == 0 || bytes.Equal(params, nullID) {
		return nil
	}
	return json.Unmarshal(params, v)
}
