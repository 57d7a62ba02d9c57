package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// AskRequest is the body of POST /v1/ask.
type AskRequest struct {
	Agent string `json:"agent"`
	Text  string `json:"text"`
}

// SetAgents makes the agents reachable through POST /v1/ask. Call it before
// Serve.
func (s *Server) SetAgents(as []*agent.Agent) {
	s.agents = make(map[string]*agent.Agent, len(as))
	for _, a := range as {
		s.agents[a.Name()] = a
	}
}

// SetMCP serves srv at MCPPath on the socket, without a token: the socket
// is the gateway user's alone. Call it before Serve.
func (s *Server) SetMCP(srv *MCPServer) { s.mcp = MCPHandler(srv, "") }

// brainRoutes registers the routes of agents and MCP.
func (s *Server) brainRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ask", s.ask)
	if s.mcp != nil {
		mux.Handle(MCPPath, s.mcp)
	}
}

// ask runs one episode of an agent and answers its summary: 404 for an
// unknown agent, 409 while it is in an episode.
func (s *Server) ask(w http.ResponseWriter, r *http.Request) {
	var req AskRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "api: bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	a, ok := s.agents[req.Agent]
	if !ok {
		http.Error(w, fmt.Sprintf("api: no agent %q", req.Agent), http.StatusNotFound)
		return
	}
	sum, err := a.Ask(r.Context(), req.Text)
	if errors.Is(err, agent.ErrBusy) {
		http.Error(w, "api: "+err.Error(), http.StatusConflict)
		return
	}
	writeJSON(w, sum)
}

// Ask runs one episode of an agent through a running gateway.
func (c *Client) Ask(ctx context.Context, req AskRequest) (agent.Summary, error) {
	var sum agent.Summary
	body, err := json.Marshal(req)
	if err != nil {
		return sum, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://femtoclaw/v1/ask", bytes.NewReader(body))
	if err != nil {
		return sum, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTPClient().Do(hreq) // an episode may outlast the call timeout
	if err != nil {
		return sum, fmt.Errorf("api: is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		msg.ReadFrom(http.MaxBytesReader(nil, resp.Body, 512))
		return sum, fmt.Errorf("api: gateway answered %s: %s", resp.Status, bytes.TrimSpace(msg.Bytes()))
	}
	if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
		return sum, fmt.Errorf("api: decode summary: %w", err)
	}
	return sum, nil
}

// HTTPClient returns an HTTP client dialling the socket, without the
// client's timeout: for episodes and the MCP bridge.
func (c *Client) HTTPClient() *http.Client {
	hc := *c.hc
	hc.Timeout = 0
	return &hc
}
