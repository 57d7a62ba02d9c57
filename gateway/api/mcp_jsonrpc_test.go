package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rpcCases are messages and what decodeMessage makes of them: their kind,
// or the error code and the id of the error response. They seed
// FuzzDecodeMessage.
var rpcCases = []struct {
	in   string
	kind rpcKind
	code int
	id   string // of the error response
}{
	{in: `{"jsonrpc":"2.0","id":1,"method":"ping"}`, kind: kindRequest},
	{in: `{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}`, kind: kindRequest},
	{in: `{"jsonrpc":"2.0","id":-1.5e3,"method":"ping","params":null}`, kind: kindRequest},
	{in: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, kind: kindNotification},
	{in: `{"jsonrpc":"2.0","id":1,"result":{}}`, kind: kindResponse},
	{in: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}`, kind: kindResponse},
	{in: ` {"jsonrpc":"2.0","id":1,"method":"ping"} `, kind: kindRequest},
	{in: `{"jsonrpc":"2.0","id":1,"method":"ping"`, code: codeParseError, id: "null"},
	{in: `[]`, code: codeInvalidRequest, id: "null"},
	{in: `"ping"`, code: codeInvalidRequest, id: "null"},
	{in: ``, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"1.0","id":1,"method":"ping"}`, code: codeInvalidRequest, id: "1"},
	{in: `{"jsonrpc":2,"id":1,"method":"ping"}`, code: codeInvalidRequest, id: "null"},
	{in: `{"id":1,"method":"ping"}`, code: codeInvalidRequest, id: "1"},
	{in: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"2.0","id":true,"method":"ping"}`, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"2.0","id":[1],"method":"ping"}`, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"2.0","id":1,"method":""}`, code: codeInvalidRequest, id: "1"},
	{in: `{"jsonrpc":"2.0","id":1,"method":"ping","error":{}}`, code: codeInvalidRequest, id: "1"},
	{in: `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, code: codeInvalidRequest, id: "1"},
	{in: `{"jsonrpc":"2.0","result":{}}`, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"2.0","id":null,"result":{}}`, code: codeInvalidRequest, id: "null"},
	{in: `{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}`, code: codeInvalidParams, id: "1"},
	{in: `{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}`, code: codeInvalidParams, id: "1"},
}

// TestDecodeMessage checks how each message is classified or refused.
func TestDecodeMessage(t *testing.T) {
	for _, c := range rpcCases {
		m, rerr := decodeMessage(json.RawMessage(c.in))
		switch {
		case c.kind != 0 && (rerr != nil || m.kind != c.kind):
			t.Errorf("%s: got %+v, %+v, want kind %d", c.in, m, rerr, c.kind)
		case c.kind == 0 && rerr == nil:
			t.Errorf("%s: got kind %d, want error %d", c.in, m.kind, c.code)
		case c.kind == 0 && (rerr.Error.Code != c.code || string(rerr.ID) != c.id):
			t.Errorf("%s: got error %d with id %s, want %d with id %s", c.in, rerr.Error.Code, rerr.ID, c.code, c.id)
		}
	}
}

// FuzzDecodeMessage checks that any body decodes to messages of a kind or
// to an error response that encodes, and never panics.
func FuzzDecodeMessage(f *testing.F) {
	for _, c := range rpcCases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"x":1}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, rerr := decodeBody(body)
		if rerr != nil {
			if _, err := json.Marshal(rerr); err != nil {
				t.Fatalf("error response does not encode: %v", err)
			}
			return
		}
		for _, raw := range msgs {
			m, rerr := decodeMessage(raw)
			if rerr != nil {
				b, err := json.Marshal(rerr)
				if err != nil || !json.Valid(b) {
					t.Fatalf("error response does not encode: %v", err)
				}
				if !validID(rerr.ID) && string(rerr.ID) != "null" {
					t.Fatalf("error response has id %s", rerr.ID)
				}
				continue
			}
			if m.kind == 0 || m.JSONRPC != "2.0" {
				t.Fatalf("got %+v, want a kind", m)
			}
			if m.kind == kindRequest && !validID(m.ID) {
				t.Fatalf("request with id %s", m.ID)
			}
		}
	})
}

// FuzzMCPHandler posts any body to an initialized session of each protocol
// version: the handler answers with a status the transport knows, and a
// JSON answer is valid JSON-RPC.
func FuzzMCPHandler(f *testing.F) {
	for _, c := range rpcCases {
		f.Add([]byte(c.in), uint8(0))
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_tank","arguments":{}}}`), uint8(0))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"n"}]`), uint8(1))
	tm := &testMCP{}
	h := MCPHandler(tm.server(), "")
	versions := []string{mcpVersion20250618, mcpVersion20250326, mcpVersion20241105}
	sessions := make([]string, len(versions))
	for i, v := range versions {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, MCPPath, strings.NewReader(initBody(v)))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		sessions[i] = w.Header().Get(mcpSessionHeader)
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, MCPPath, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(mcpSessionHeader, sessions[int(which)%len(sessions)])
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("got status %d, want 200, 202, 400 or 413", w.Code)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			return
		}
		var one struct {
			JSONRPC string `json:"jsonrpc"`
		}
		var many []json.RawMessage
		out := bytes.TrimSpace(w.Body.Bytes())
		if json.Unmarshal(out, &one) == nil && one.JSONRPC == "2.0" {
			return
		}
		if err := json.Unmarshal(out, &many); err != nil || len(many) == 0 {
			t.Fatalf("got answer %q, want a JSON-RPC message or batch", out)
		}
	})
}
