// Package braintest plays recorded model transcripts from a local HTTP
// server, so that the providers, and the agents above them, are tested
// against the real wire formats without a model.
//
// A transcript is a JSON file:
//
//	{ "protocol": "openai" | "anthropic",
//	  "comment": "what the transcript shows",
//	  "exchanges": [
//	    { "status": 200, "body": { ...the response body, verbatim... } },
//	    { "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {...}} },
//	    { "status": 200, "raw": "{\"choices\": [", "truncate": true },
//	    { "delay": "5s", "status": 200, "body": {...} } ] }
//
// Each request is answered with the next exchange: its status, headers and
// body ("raw" is sent as it is, instead of "body"). "truncate" declares a
// Content-Length longer than the body sent, so that the client sees the
// connection end mid-body. "delay" waits that long first, or until the
// client gives up. A request after the last exchange is answered 599 and
// counted in Extra.
package braintest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"time"
)

// Transcript is one recorded conversation.
type Transcript struct {
	Protocol  string     `json:"protocol"`
	Comment   string     `json:"comment,omitempty"`
	Exchanges []Exchange `json:"exchanges"`
}

// Exchange is one recorded answer.
type Exchange struct {
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     json.RawMessage   `json:"body,omitempty"`
	Raw      string            `json:"raw,omitempty"`
	Truncate bool              `json:"truncate,omitempty"`
	Delay    string            `json:"delay,omitempty"`
}

// Load reads a transcript file strictly.
func Load(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("braintest: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var t Transcript
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("braintest: %s: %w", path, err)
	}
	if t.Protocol != "openai" && t.Protocol != "anthropic" {
		return nil, fmt.Errorf("braintest: %s: protocol %q", path, t.Protocol)
	}
	for i, e := range t.Exchanges {
		if e.Delay != "" {
			if _, err := time.ParseDuration(e.Delay); err != nil {
				return nil, fmt.Errorf("braintest: %s: exchange %d: %w", path, i+1, err)
			}
		}
	}
	return &t, nil
}

// Server plays one transcript.
type Server struct {
	*httptest.Server
	t *Transcript

	mu       sync.Mutex
	next     int
	requests []Request
	extra    int
}

// Request is one request the server received.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Start serves t on a loopback port until Close.
func Start(t *Transcript) *Server {
	s := &Server{t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	if s.next >= len(s.t.Exchanges) {
		s.extra++
		s.mu.Unlock()
		http.Error(w, "transcript exhausted", 599)
		return
	}
	e := s.t.Exchanges[s.next]
	s.next++
	s.mu.Unlock()

	if e.Delay != "" {
		d, _ := time.ParseDuration(e.Delay)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	payload := []byte(e.Raw)
	if e.Raw == "" {
		payload = e.Body
	}
	for k, v := range e.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	n := len(payload)
	if e.Truncate {
		n += 64
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
	status := e.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(payload)
	if e.Truncate {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
}

// Requests returns what the server received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Remaining is how many exchanges have not been played.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.t.Exchanges) - s.next
}

// Extra is how many requests arrived after the transcript ended.
func (s *Server) Extra() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extra
}
