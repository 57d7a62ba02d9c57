// Package api is the gateway's local API: HTTP over a unix socket in the data
// dir, readable and writable only by the gateway's own user (0600). The
// command line's `call` talks to a running gateway through it.
//
//	POST /v1/call     {"principal":"operator","capability":"set_inlet_pump","args":"{\"value\":60}","dry_run":false}
//	                  -> 200 {"ok":true,"value":60,"unit":"%"} | {"ok":false,"code":"denied","reason":"out_of_range"}
//	GET  /v1/status   -> 200 {"gateway":"demo","started":"..."}
//
// Every call takes the same path as a model's: agent.Core.Call.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// SocketName is the socket's file name inside the data dir.
const SocketName = "femtoclaw.sock"

// maxBody bounds a request body.
const maxBody = 64 << 10

// CallRequest is the body of POST /v1/call.
type CallRequest struct {
	Principal  string `json:"principal"`
	Capability string `json:"capability"`
	Args       string `json:"args"`
	DryRun     bool   `json:"dry_run,omitempty"`
}

// Server serves the local API.
type Server struct {
	path    string
	core    *agent.Core
	gateway string
	started time.Time
	logger  *slog.Logger
	agents  map[string]*agent.Agent // POST /v1/ask; see ask.go
	mcp     http.Handler            // MCPPath, when set

	readiness func() []string // GET /readyz; see health.go
	metrics   http.Handler    // GET /metrics; see metrics.go
}

// New returns a server for the socket at path.
func New(path, gatewayID string, core *agent.Core, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{path: path, core: core, gateway: gatewayID, started: time.Now().UTC(), logger: logger}
}

// Listen binds the socket with mode 0600. A stale socket left by a crashed
// gateway is removed; a live one (another gateway answering) is an error.
func (s *Server) Listen() (net.Listener, error) {
	if c, err := net.DialTimeout("unix", s.path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("api: %s: another gateway is running on this data dir", s.path)
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if err := os.Chmod(s.path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down and removes the socket.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	os.Remove(s.path)
	return err
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/call", s.call)
	mux.HandleFunc("GET /v1/status", s.status)
	s.brainRoutes(mux)
	s.approvalRoutes(mux)
	s.journalRoutes(mux)
	s.healthRoutes(mux)
	s.metricsRoutes(mux)
	profileRoutes(mux)
	return mux
}

func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	var req CallRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "api: bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Principal == "" {
		req.Principal = "operator"
	}
	call := capability.Call{ID: "api", Capability: req.Capability, Args: req.Args}
	res := s.core.Call(r.Context(), capability.Principal(req.Principal), "", call, agent.CallOptions{DryRun: req.DryRun})
	writeJSON(w, res)
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"gateway": s.gateway, "started": s.started})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Client calls a running gateway's local API.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Call sends one call and returns the gateway's result.
func (c *Client) Call(ctx context.Context, req CallRequest) (capability.Result, error) {
	var res capability.Result
	body, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://femtoclaw/v1/call", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return res, fmt.Errorf("api: is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("api: gateway answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, fmt.Errorf("api: decode result: %w", err)
	}
	return res, nil
}
