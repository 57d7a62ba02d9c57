package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The streamable HTTP transport, as the endpoint serves it:
//
//	POST /mcp   one message or batch; Accept application/json and/or text/event-stream
//	            -> 200 application/json (or one text/event-stream event when JSON is not accepted)
//	            -> 202 and no body when the body holds only notifications and responses
//	            initialize issues Mcp-Session-Id; every later request must carry it
//	            (400 without, 404 for an unknown or ended one) and, if it sends
//	            MCP-Protocol-Version, the negotiated version (else 400)
//	GET  /mcp   -> 405: the server never sends requests or notifications of its own
//	DELETE /mcp -> 204: ends the session in Mcp-Session-Id
//
// A request whose Origin is not a loopback host gets 403 (a browser page
// must not reach the endpoint through DNS rebinding), and so does one
// reaching a loopback listener with a Host that is not loopback.

// The transport's headers.
const (
	mcpSessionHeader = "Mcp-Session-Id"
	mcpVersionHeader = "Mcp-Protocol-Version"
)

// maxMCPSessions bounds the sessions one handler keeps; initializing
// another ends the least recently used.
const maxMCPSessions = 64

// mcpSession is one initialized client.
type mcpSession struct {
	version string
	used    time.Time
}

// mcpHandler serves an MCPServer over streamable HTTP.
type mcpHandler struct {
	srv   *MCPServer
	token []byte // "Bearer TOKEN"; nil requires none

	mu       sync.Mutex
	sessions map[string]*mcpSession
}

// MCPHandler serves srv over streamable HTTP. A non-empty token is required
// as "Authorization: Bearer TOKEN"; an empty token requires nothing, which
// only the unix socket (mode 0600) may use. Each handler keeps its own
// sessions.
func MCPHandler(srv *MCPServer, token string) http.Handler {
	h := &mcpHandler{srv: srv, sessions: map[string]*mcpSession{}}
	if token != "" {
		h.token = []byte("Bearer " + token)
	}
	return h
}

// ServeHTTP serves one request of the transport.
func (h *mcpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.token != nil && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), h.token) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="femtoclaw"`)
		http.Error(w, "api: mcp: missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	if msg := checkMCPOrigin(r); msg != "" {
		http.Error(w, "api: mcp: "+msg, http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodDelete:
		id, _, ok := h.session(w, r)
		if !ok {
			return
		}
		h.mu.Lock()
		delete(h.sessions, id)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "api: mcp: method not allowed: the server sends no messages of its own", http.StatusMethodNotAllowed)
	}
}

// post answers one POST: a message or a batch.
func (h *mcpHandler) post(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "api: mcp: Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	sse, ok := acceptsMCP(r.Header.Values("Accept"))
	if !ok {
		http.Error(w, "api: mcp: Accept must allow application/json or text/event-stream", http.StatusNotAcceptable)
		return
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, fmt.Sprintf("api: mcp: body larger than %d bytes", maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "api: mcp: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	out := &mcpWriter{w: w, sse: sse}
	body := bytes.TrimSpace(buf.Bytes())
	msgs, rerr := decodeBody(body)
	if rerr != nil {
		out.write(http.StatusBadRequest, rerr)
		return
	}
	if !isBatch(body) {
		m, rerr := decodeMessage(msgs[0])
		if rerr != nil {
			out.write(http.StatusBadRequest, rerr)
			return
		}
		if m.kind == kindRequest && m.Method == "initialize" {
			h.initialize(out, m)
			return
		}
		_, version, ok := h.session(w, r)
		if !ok {
			return
		}
		if m.kind != kindRequest {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		out.write(http.StatusOK, h.srv.handle(r.Context(), version, m))
		return
	}
	_, version, ok := h.session(w, r)
	if !ok {
		return
	}
	if version != mcpVersion20250326 {
		out.write(http.StatusBadRequest, newRPCError(nil, codeInvalidRequest, "invalid request: protocol version %s has no batches", version))
		return
	}
	var resps []*rpcResponse
	for _, raw := range msgs {
		m, rerr := decodeMessage(raw)
		switch {
		case rerr != nil:
			resps = append(resps, rerr)
		case m.kind != kindRequest:
		case m.Method == "initialize":
			resps = append(resps, newRPCError(m.ID, codeInvalidRequest, "invalid request: initialize must not be part of a batch"))
		default:
			resps = append(resps, h.srv.handle(r.Context(), version, m))
		}
	}
	if len(resps) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	out.write(http.StatusOK, resps)
}

// initialize starts a session and answers with its id.
func (h *mcpHandler) initialize(out *mcpWriter, m *rpcMessage) {
	res, version, rerr := h.srv.initialize(m.Params)
	if rerr != nil {
		out.write(http.StatusOK, &rpcResponse{JSONRPC: "2.0", ID: m.ID, Error: rerr})
		return
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	h.mu.Lock()
	if len(h.sessions) >= maxMCPSessions {
		var oldest string
		for k, s := range h.sessions {
			if oldest == "" || s.used.Before(h.sessions[oldest].used) {
				oldest = k
			}
		}
		delete(h.sessions, oldest)
	}
	h.sessions[id] = &mcpSession{version: version, used: now}
	h.mu.Unlock()
	out.w.Header().Set(mcpSessionHeader, id)
	out.write(http.StatusOK, &rpcResponse{JSONRPC: "2.0", ID: m.ID, Result: res})
}

// session returns the request's session id and the protocol version the
// session negotiated, or answers the request with 400 (no session id, or a
// protocol version header that is not the session's) or 404 (unknown or
// ended session) and returns false.
func (h *mcpHandler) session(w http.ResponseWriter, r *http.Request) (id, version string, ok bool) {
	id = r.Header.Get(mcpSessionHeader)
	if id == "" {
		http.Error(w, "api: mcp: missing "+mcpSessionHeader+": initialize first", http.StatusBadRequest)
		return "", "", false
	}
	h.mu.Lock()
	s, ok := h.sessions[id]
	if ok {
		s.used = time.Now()
		version = s.version
	}
	h.mu.Unlock()
	if !ok {
		http.Error(w, "api: mcp: session not found: initialize again", http.StatusNotFound)
		return "", "", false
	}
	if v := r.Header.Get(mcpVersionHeader); v != "" && v != version {
		if !mcpSupported(v) {
			http.Error(w, fmt.Sprintf("api: mcp: unsupported protocol version %q (supported: %s, %s, %s)", v, mcpVersion20250618, mcpVersion20250326, mcpVersion20241105), http.StatusBadRequest)
		} else {
			http.Error(w, fmt.Sprintf("api: mcp: protocol version %q is not the session's %q", v, version), http.StatusBadRequest)
		}
		return "", "", false
	}
	return id, version, true
}

// mcpWriter writes JSON-RPC answers as JSON, or as one server-sent event
// when the client accepts only text/event-stream.
type mcpWriter struct {
	w   http.ResponseWriter
	sse bool
}

// write sends v with status.
func (o *mcpWriter) write(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(o.w, "api: mcp: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if o.sse {
		o.w.Header().Set("Content-Type", "text/event-stream")
		o.w.Header().Set("Cache-Control", "no-cache")
		o.w.WriteHeader(status)
		fmt.Fprintf(o.w, "event: message\ndata: %s\n\n", b)
		return
	}
	o.w.Header().Set("Content-Type", "application/json")
	o.w.WriteHeader(status)
	o.w.Write(append(b, '\n'))
}

// acceptsMCP reads the Accept headers: ok when the client takes
// application/json (sse false) or else text/event-stream (sse true). No
// Accept header takes anything.
func acceptsMCP(values []string) (sse, ok bool) {
	if len(values) == 0 {
		return false, true
	}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json", "application/*", "*/*":
				return false, true
			case "text/event-stream":
				sse = true
			}
		}
	}
	return sse, sse
}

// checkMCPOrigin returns why a request must be refused with 403, or "": an
// Origin header must name a loopback host, and a request that reached a
// loopback TCP address must name a loopback Host.
func checkMCPOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !loopbackHost(u.Hostname()) {
			return fmt.Sprintf("origin %q not allowed", o)
		}
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && a.IP.IsLoopback() {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !loopbackHost(host) {
			return fmt.Sprintf("host %q not allowed on a loopback listener", r.Host)
		}
	}
	return ""
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeMCP serves MCP on a TCP listener until ctx is done; the token must
// not be empty.
func ServeMCP(ctx context.Context, ln net.Listener, srv *MCPServer, token string) error {
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
