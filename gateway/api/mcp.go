package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// MCPPath is where the local API serves MCP over streamable HTTP.
const MCPPath = "/mcp"

// NewMCPServer returns an MCP server whose tools are the capabilities
// principal p may call. Every tools/call, listed or not, goes through
// core.Call as p: a call to a tool p may not use is decided (and journaled)
// by the gate like any other and answered with the gate's typed refusal,
// {"ok":false,"code":"denied","reason":"not_allowed"}, as an error result.
func NewMCPServer(core *agent.Core, p capability.Principal, version string) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "femtoclaw", Version: version}, nil)
	listed := map[string]bool{}
	for _, t := range core.Gate().Tools(p) {
		listed[t.Name] = true
		srv.AddTool(&mcp.Tool{Name: t.Name, Description: t.Description, InputSchema: json.RawMessage(t.Parameters)},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcpCall(ctx, core, p, req.Params.Name, req.Params.Arguments), nil
			})
	}
	// A tool that is not listed would be refused by the SDK before the
	// gate; send it to the gate instead, so that it is decided and
	// journaled like every other call.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				if params, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && !listed[params.Name] {
					return mcpCall(ctx, core, p, params.Name, params.Arguments), nil
				}
			}
			return next(ctx, method, req)
		}
	})
	return srv
}

// mcpCall takes one MCP tool call through the core.
func mcpCall(ctx context.Context, core *agent.Core, p capability.Principal, name string, args json.RawMessage) *mcp.CallToolResult {
	text := strings.TrimSpace(string(args))
	if text == "" || text == "null" {
		text = "{}"
	}
	res := core.Call(ctx, p, "", capability.Call{ID: "mcp", Capability: name, Args: text}, agent.CallOptions{})
	b, err := json.Marshal(res)
	if err != nil {
		b = []byte(`{"ok":false,"code":"failed","reason":"device_error"}`)
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
		StructuredContent: json.RawMessage(b),
		IsError:           !res.OK,
	}
}

// MCPHandler serves srv over streamable HTTP. A non-empty token is required
// as "Authorization: Bearer TOKEN"; an empty token requires nothing, which
// only the unix socket (mode 0600) may use.
func MCPHandler(srv *mcp.Server, token string) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="femtoclaw"`)
			http.Error(w, "api: mcp: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeMCP serves MCP on a TCP listener until ctx is done; the token must
// not be empty.
func ServeMCP(ctx context.Context, ln net.Listener, srv *mcp.Server, token string) error {
	if token == "" {
		ln.Close()
		return errors.New("api: mcp: refusing to serve on TCP without a bearer token")
	}
	mux := http.NewServeMux()
	mux.Handle(MCPPath, MCPHandler(srv, token))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: mcp: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	return err
}
