package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/femtoclaw/femtoclaw/capability"
)

// testMCP is an MCP server with one tool, read_tank, whose calls succeed;
// a call to any other name is refused as the gate refuses one.
type testMCP struct {
	mu    sync.Mutex
	calls []string // "name args"
}

func (tm *testMCP) server() *MCPServer {
	tools := []capability.Tool{{Name: "read_tank", Description: "Reads the tank.", Parameters: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)}}
	return newMCPServer("test", tools, func(_ context.Context, name, args string) capability.Result {
		tm.mu.Lock()
		tm.calls = append(tm.calls, name+" "+args)
		tm.mu.Unlock()
		if name != "read_tank" {
			return capability.Result{Code: "denied", Reason: "not_allowed"}
		}
		return capability.Result{OK: true, Value: 42.5, Unit: "%"}
	})
}

// mcpPost sends one request to the endpoint at url and returns the status,
// the headers and the body.
func mcpPost(t *testing.T, method, url string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// mcpInit initializes a session with protocol version v and returns its id.
func mcpInit(t *testing.T, url, v string) string {
	t.Helper()
	status, h, body := mcpPost(t, http.MethodPost, url, map[string]string{
		"Authorization": "Bearer tok", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
	}, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+v+`","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if status != http.StatusOK || h.Get(mcpSessionHeader) == "" {
		t.Fatalf("initialize %s: got %d %q (session %q), want 200 and a session", v, status, body, h.Get(mcpSessionHeader))
	}
	return h.Get(mcpSessionHeader)
}

// TestMCPHTTP drives the streamable HTTP transport through its edge cases:
// authentication, methods, media types, sessions and protocol versions,
// JSON-RPC errors, notifications and batches.
func TestMCPHTTP(t *testing.T) {
	tm := &testMCP{}
	ts := httptest.NewServer(MCPHandler(tm.server(), "tok"))
	defer ts.Close()
	url := ts.URL + MCPPath

	const (
		list = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
		ping = `{"jsonrpc":"2.0","id":"p","method":"ping"}`
	)
	for _, c := range []struct {
		name   string
		init   string            // protocol version of a session to start first; "" none
		method string            // default POST
		header map[string]string // over the defaults; "" removes one
		body   string
		status int
		code   int    // the JSON-RPC error code wanted; 0 none
		want   string // in the body
		nowant string // not in the body
	}{
		{name: "no token", header: map[string]string{"Authorization": ""}, body: list, status: 401},
		{name: "wrong token", header: map[string]string{"Authorization": "Bearer nope"}, body: list, status: 401},
		{name: "GET has no stream", init: mcpLatestVersion, method: http.MethodGet, status: 405},
		{name: "PUT", init: mcpLatestVersion, method: http.MethodPut, body: ping, status: 405},
		{name: "text body", init: mcpLatestVersion, header: map[string]string{"Content-Type": "text/plain"}, body: ping, status: 415},
		{name: "no content type", init: mcpLatestVersion, header: map[string]string{"Content-Type": ""}, body: ping, status: 415},
		{name: "accept html", init: mcpLatestVersion, header: map[string]string{"Accept": "text/html"}, body: ping, status: 406},
		{name: "accept json only", init: mcpLatestVersion, header: map[string]string{"Accept": "application/json"}, body: ping, status: 200, want: `"result":{}`},
		{name: "accept anything", init: mcpLatestVersion, header: map[string]string{"Accept": ""}, body: ping, status: 200, want: `"result":{}`},
		{name: "accept event stream only", init: mcpLatestVersion, header: map[string]string{"Accept": "text/event-stream"}, body: ping, status: 200, want: "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}\n\n"},
		{name: "parse error", init: mcpLatestVersion, body: `{"jsonrpc":`, status: 400, code: codeParseError},
		{name: "not an object", init: mcpLatestVersion, body: `42`, status: 400, code: codeInvalidRequest},
		{name: "wrong jsonrpc", init: mcpLatestVersion, body: `{"jsonrpc":"1.0","id":7,"method":"ping"}`, status: 400, code: codeInvalidRequest, want: `"id":7`},
		{name: "no jsonrpc", init: mcpLatestVersion, body: `{"id":7,"method":"ping"}`, status: 400, code: codeInvalidRequest},
		{name: "null id", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, status: 400, code: codeInvalidRequest},
		{name: "object id", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":{},"method":"ping"}`, status: 400, code: codeInvalidRequest, want: `"id":null`},
		{name: "method not a string", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":5}`, status: 400, code: codeInvalidRequest},
		{name: "method and result", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, status: 400, code: codeInvalidRequest},
		{name: "no session", body: list, status: 400, want: mcpSessionHeader},
		{name: "unknown session", body: list, header: map[string]string{mcpSessionHeader: "feedface"}, status: 404},
		{name: "unsupported version header", init: mcpLatestVersion, header: map[string]string{mcpVersionHeader: "1999-01-01"}, body: ping, status: 400, want: "unsupported"},
		{name: "version header not the session's", init: mcpVersion20250326, header: map[string]string{mcpVersionHeader: mcpVersion20250618}, body: ping, status: 400},
		{name: "version header of the session", init: mcpVersion20250326, header: map[string]string{mcpVersionHeader: mcpVersion20250326}, body: ping, status: 200},
		{name: "initialize 2025-06-18", body: initBody("2025-06-18"), status: 200, want: `"protocolVersion":"2025-06-18"`},
		{name: "initialize 2025-03-26", body: initBody("2025-03-26"), status: 200, want: `"protocolVersion":"2025-03-26"`},
		{name: "initialize 2024-11-05", body: initBody("2024-11-05"), status: 200, want: `"protocolVersion":"2024-11-05"`},
		{name: "initialize a newer version", body: initBody("2099-01-01"), status: 200, want: `"protocolVersion":"2025-06-18"`},
		{name: "initialize answers its server", body: initBody("2025-06-18"), status: 200, want: `"serverInfo":{"name":"femtoclaw","version":"test"}`},
		{name: "initialize without version", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, status: 200, code: codeInvalidParams},
		{name: "initialize with array params", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":[]}`, status: 400, code: codeInvalidParams},
		{name: "initialize again", init: mcpLatestVersion, body: initBody(mcpLatestVersion), status: 200, want: `"protocolVersion"`},
		{name: "ping", init: mcpLatestVersion, body: ping, status: 200, want: `{"jsonrpc":"2.0","id":"p","result":{}}`},
		{name: "tools/list", init: mcpLatestVersion, body: list, status: 200, want: `"tools":[{"name":"read_tank","description":"Reads the tank.","inputSchema":{"type":"object"`},
		{name: "unknown method", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"resources/list"}`, status: 200, code: codeMethodNotFound},
		{name: "call without name", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`, status: 200, code: codeInvalidParams},
		{name: "call with array arguments", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_tank","arguments":[1]}}`, status: 200, code: codeInvalidParams},
		{name: "call with a numeric name", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":3}}`, status: 200, code: codeInvalidParams},
		{name: "call", init: mcpLatestVersion, body: callBody("read_tank", `{}`), status: 200,
			want: `"result":{"content":[{"type":"text","text":"{\"ok\":true,\"value\":42.5,\"unit\":\"%\"}"}],"structuredContent":{"ok":true,"value":42.5,"unit":"%"},"isError":false}`},
		{name: "call without arguments", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_tank"}}`, status: 200, want: `"isError":false`},
		{name: "call under 2025-03-26", init: mcpVersion20250326, body: callBody("read_tank", `{}`), status: 200, want: `"isError":false`, nowant: "structuredContent"},
		{name: "refused call", init: mcpLatestVersion, body: callBody("set_heater", `{"value":true}`), status: 200,
			want: `"text":"{\"ok\":false,\"code\":\"denied\",\"reason\":\"not_allowed\"}"}],"structuredContent":{"ok":false,"code":"denied","reason":"not_allowed"},"isError":true}`},
		{name: "notification", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, status: 202},
		{name: "unknown notification", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}`, status: 202},
		{name: "client response", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":9,"result":{}}`, status: 202},
		{name: "client error response", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}`, status: 202},
		{name: "batch under 2025-06-18", init: mcpLatestVersion, body: "[" + ping + "]", status: 400, code: codeInvalidRequest, want: "no batches"},
		{name: "batch under 2024-11-05", init: mcpVersion20241105, body: "[" + ping + "]", status: 400, code: codeInvalidRequest},
		{name: "batch", init: mcpVersion20250326, body: `[` + ping + `,{"jsonrpc":"2.0","method":"notifications/initialized"},` + list + `,{"jsonrpc":"2.0","id":3,"method":"nope"},{"x":1}]`, status: 200,
			want: `[{"jsonrpc":"2.0","id":"p","result":{}},{"jsonrpc":"2.0","id":1,"result":{"tools":[`},
		{name: "batch of notifications", init: mcpVersion20250326, body: `[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":1,"result":{}}]`, status: 202},
		{name: "batch with initialize", init: mcpVersion20250326, body: "[" + initBody(mcpVersion20250326) + "]", status: 200, code: codeInvalidRequest, want: "must not be part of a batch"},
		{name: "empty batch", init: mcpVersion20250326, body: `[]`, status: 400, code: codeInvalidRequest},
		{name: "batch without session", body: "[" + ping + "]", status: 400, want: mcpSessionHeader},
		{name: "foreign origin", init: mcpLatestVersion, header: map[string]string{"Origin": "http://evil.example"}, body: ping, status: 403},
		{name: "null origin", init: mcpLatestVersion, header: map[string]string{"Origin": "null"}, body: ping, status: 403},
		{name: "loopback origin", init: mcpLatestVersion, header: map[string]string{"Origin": "http://localhost:6274"}, body: ping, status: 200},
		{name: "foreign host on loopback", init: mcpLatestVersion, header: map[string]string{"Host": "evil.example:8931"}, body: ping, status: 403},
		{name: "too large", init: mcpLatestVersion, body: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", maxBody) + `"}}`, status: 413},
		{name: "DELETE without session", method: http.MethodDelete, status: 400},
		{name: "DELETE", init: mcpLatestVersion, method: http.MethodDelete, status: 204},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
			if c.init != "" {
				h[mcpSessionHeader] = mcpInit(t, url, c.init)
			}
			for k, v := range c.header {
				h[k] = v
			}
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			status, _, body := mcpPost(t, method, url, h, c.body)
			if status != c.status {
				t.Errorf("got status %d, want %d (body %q)", status, c.status, body)
			}
			if c.status == 202 && body != "" {
				t.Errorf("got body %q, want none", body)
			}
			if c.code != 0 && !strings.Contains(body, `"code":`+itoa(c.code)) {
				t.Errorf("got %q, want error code %d", body, c.code)
			}
			if c.want != "" && !strings.Contains(body, c.want) {
				t.Errorf("got %q, want it to contain %q", body, c.want)
			}
			if c.nowant != "" && strings.Contains(body, c.nowant) {
				t.Errorf("got %q, want no %q", body, c.nowant)
			}
		})
	}
}

func initBody(v string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + v + `","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
}

func callBody(name, args string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestMCPSessions checks that DELETE ends a session, that each handler
// keeps its own sessions and that the oldest session goes when too many
// are open.
func TestMCPSessions(t *testing.T) {
	tm := &testMCP{}
	srv := tm.server()
	a := httptest.NewServer(MCPHandler(srv, "tok"))
	defer a.Close()
	b := httptest.NewServer(MCPHandler(srv, "tok"))
	defer b.Close()
	h := func(id string) map[string]string {
		return map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json", mcpSessionHeader: id}
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`

	id := mcpInit(t, a.URL+MCPPath, mcpLatestVersion)
	if status, _, _ := mcpPost(t, http.MethodPost, b.URL+MCPPath, h(id), ping); status != http.StatusNotFound {
		t.Errorf("another handler's session: got %d, want 404", status)
	}
	if status, _, _ := mcpPost(t, http.MethodDelete, a.URL+MCPPath, h(id), ""); status != http.StatusNoContent {
		t.Errorf("DELETE: got %d, want 204", status)
	}
	if status, _, _ := mcpPost(t, http.MethodPost, a.URL+MCPPath, h(id), ping); status != http.StatusNotFound {
		t.Errorf("after DELETE: got %d, want 404", status)
	}

	first := mcpInit(t, a.URL+MCPPath, mcpLatestVersion)
	var last string
	for range maxMCPSessions {
		last = mcpInit(t, a.URL+MCPPath, mcpLatestVersion)
	}
	if status, _, _ := mcpPost(t, http.MethodPost, a.URL+MCPPath, h(first), ping); status != http.StatusNotFound {
		t.Errorf("the oldest of %d sessions: got %d, want 404", maxMCPSessions+1, status)
	}
	if status, _, _ := mcpPost(t, http.MethodPost, a.URL+MCPPath, h(last), ping); status != http.StatusOK {
		t.Errorf("the newest session: got %d, want 200", status)
	}
}

// TestMCPBridge runs the stdio bridge against the API on a unix socket:
// every request line gets one answer line with its id, notifications get
// none, the session is ended when the input ends.
func TestMCPBridge(t *testing.T) {
	tm := &testMCP{}
	dir := t.TempDir()
	s := New(filepath.Join(dir, SocketName), "gw", nil, nil)
	s.SetMCP(tm.server())
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	in := strings.Join([]string{
		initBody(mcpVersion20250326),
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		"",
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"read_tank","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"set_heater","arguments":{"value":true}}}`,
		`[{"jsonrpc":"2.0","id":3,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":4,`,
		`{"jsonrpc":"2.0","id":5,"method":"nope"}`,
	}, "\n")
	var out bytes.Buffer
	c := NewClient(filepath.Join(dir, SocketName))
	if err := c.BridgeMCP(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for line := range strings.Lines(out.String()) {
		var m struct {
			ID json.RawMessage `json:"id"`
		}
		raw := json.RawMessage(line)
		if strings.HasPrefix(line, "[") {
			var batch []json.RawMessage
			if err := json.Unmarshal(raw, &batch); err != nil || len(batch) != 1 {
				t.Fatalf("batch answer %q: %v", line, err)
			}
			raw = batch[0]
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("answer %q: %v", line, err)
		}
		got[string(m.ID)] = strings.TrimSpace(line)
	}
	for id, want := range map[string]string{
		"1":    `"protocolVersion":"2025-03-26"`,
		"2":    `"name":"read_tank"`,
		`"x"`:  `"isError":true`,
		"3":    `[{"jsonrpc":"2.0","id":3,"result":{}}]`,
		"null": `"code":-32700`,
		"5":    `"code":-32601`,
		"6":    `"isError":false`,
	} {
		if !strings.Contains(got[id], want) {
			t.Errorf("answer to id %s: got %q, want it to contain %q", id, got[id], want)
		}
	}
	if len(got) != 7 {
		t.Errorf("got %d answers, want 7:\n%s", len(got), out.String())
	}
	// The read_tank call carries the session, and the session is gone.
	tm.mu.Lock()
	calls := strings.Join(tm.calls, ";")
	tm.mu.Unlock()
	if got, want := calls, "read_tank {}"; !strings.Contains(got, want) {
		t.Errorf("got calls %q, want %q", got, want)
	}
	mh := s.mcp.(*mcpHandler)
	mh.mu.Lock()
	n := len(mh.sessions)
	mh.mu.Unlock()
	if n != 0 {
		t.Errorf("got %d sessions after the input ended, want 0", n)
	}
}

// TestMCPBridgeReinitialize checks that the bridge starts a new session
// with the client's initialize when the gateway lost the old one, as after
// a restart, and answers the message that found it gone.
func TestMCPBridgeReinitialize(t *testing.T) {
	tm := &testMCP{}
	dir := t.TempDir()
	s := New(filepath.Join(dir, SocketName), "gw", nil, nil)
	s.SetMCP(tm.server())
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	mh := s.mcp.(*mcpHandler)
	sessions := func() []string {
		mh.mu.Lock()
		defer mh.mu.Unlock()
		var ids []string
		for id := range mh.sessions {
			ids = append(ids, id)
		}
		return ids
	}

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	bridged := make(chan error, 1)
	go func() {
		bridged <- NewClient(filepath.Join(dir, SocketName)).BridgeMCP(context.Background(), inR, outW)
		outW.Close()
	}()
	answers := bufio.NewScanner(outR)
	ask := func(line string) string {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
		if !answers.Scan() {
			t.Fatalf("%s: no answer: %v", line, answers.Err())
		}
		return answers.Text()
	}
	if got := ask(initBody(mcpVersion20241105)); !strings.Contains(got, `"protocolVersion":"2024-11-05"`) {
		t.Fatalf("initialize: got %s", got)
	}
	first := sessions()
	mh.mu.Lock()
	clear(mh.sessions) // the gateway restarted
	mh.mu.Unlock()
	if got, want := ask(`{"jsonrpc":"2.0","id":2,"method":"ping"}`), `{"jsonrpc":"2.0","id":2,"result":{}}`; got != want {
		t.Errorf("ping after the session was lost: got %s, want %s", got, want)
	}
	second := sessions()
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] {
		t.Errorf("got sessions %v, then %v, want one, then another", first, second)
	}
	inW.Close()
	if err := <-bridged; err != nil {
		t.Errorf("bridge: %v", err)
	}
	if n := len(sessions()); n != 0 {
		t.Errorf("got %d sessions after the input ended, want 0", n)
	}
}

// TestMCPBridgeNoGateway checks that the bridge fails at once when no
// gateway answers on the socket.
func TestMCPBridgeNoGateway(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), SocketName))
	err := c.BridgeMCP(context.Background(), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is the gateway running") {
		t.Errorf("got %v, want an error asking whether the gateway runs", err)
	}
}

// TestMCPBridgeLongLine checks that a line longer than the body limit is
// refused with a parse error and the lines after it still get through.
func TestMCPBridgeLongLine(t *testing.T) {
	tm := &testMCP{}
	dir := t.TempDir()
	s := New(filepath.Join(dir, SocketName), "gw", nil, nil)
	s.SetMCP(tm.server())
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	long := `{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"` + strings.Repeat("x", 3*maxBody) + `"}}`
	in := initBody(mcpLatestVersion) + "\n" + long + "\n" + `{"jsonrpc":"2.0","id":3,"method":"ping"}` + "\n"
	var out bytes.Buffer
	if err := NewClient(filepath.Join(dir, SocketName)).BridgeMCP(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`"id":null,"error":{"code":-32700`, `{"jsonrpc":"2.0","id":3,"result":{}}`} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q, want it to contain %q", got, want)
		}
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("got %d answers, want 3", n)
	}
}
