package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

// The approval routes:
//
//	GET  /v1/pending  -> 200 [{"id":"17","principal":"tank_keeper","call":{...},"action":{...},"digest":"...","expires":"..."}]
//	POST /v1/approve  {"id":"17","principal":"operator","digest":"..."} -> 200 a call's result
//	POST /v1/reject   {"id":"17","principal":"operator"}                -> 200 {"ok":true} | {"ok":false,"code":"denied","reason":"unknown_approval"}
//
// The approver is the principal named in the request, "operator" when
// none is; the gate refuses the proposer and anyone who may not call the
// capability. digest, when given, must be the digest of the pending
// action: the operator approves exactly what was shown.

// ApprovalRequest is the body of POST /v1/approve and /v1/reject.
type ApprovalRequest struct {
	ID        string `json:"id"`
	Principal string `json:"principal,omitempty"`
	Digest    string `json:"digest,omitempty"`
}

func (s *Server) approvalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/pending", s.pending)
	mux.HandleFunc("POST /v1/approve", s.approve)
	mux.HandleFunc("POST /v1/reject", s.reject)
}

func (s *Server) pending(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.core.Pending())
}

func decodeApproval(w http.ResponseWriter, r *http.Request) (ApprovalRequest, bool) {
	var req ApprovalRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "api: bad request: want {\"id\": ...}", http.StatusBadRequest)
		return req, false
	}
	if req.Principal == "" {
		req.Principal = "operator"
	}
	return req, true
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeApproval(w, r)
	if !ok {
		return
	}
	writeJSON(w, s.core.Approve(r.Context(), req.ID, capability.Principal(req.Principal), req.Digest))
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeApproval(w, r)
	if !ok {
		return
	}
	writeJSON(w, s.core.Reject(req.ID, capability.Principal(req.Principal)))
}

// Pending lists the calls waiting for approval.
func (c *Client) Pending(ctx context.Context) ([]agent.PendingCall, error) {
	var out []agent.PendingCall
	err := c.do(ctx, http.MethodGet, "/v1/pending", nil, &out)
	return out, err
}

// Approve approves a pending call.
func (c *Client) Approve(ctx context.Context, req ApprovalRequest) (capability.Result, error) {
	var res capability.Result
	err := c.do(ctx, http.MethodPost, "/v1/approve", req, &res)
	return res, err
}

// Reject rejects a pending call.
func (c *Client) Reject(ctx context.Context, req ApprovalRequest) (capability.Result, error) {
	var res capability.Result
	err := c.do(ctx, http.MethodPost, "/v1/reject", req, &res)
	return res, err
}

// do sends one request with an optional JSON body and decodes the JSON
// answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, "http://femtoclaw"+path, rd)
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("api: is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("api: gateway answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: decode answer: %w", err)
	}
	return nil
}
