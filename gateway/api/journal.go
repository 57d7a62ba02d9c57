package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/femtoclaw/femtoclaw/journal"
)

// The journal routes, for the command line while the gateway holds the
// journal's lock:
//
//	GET /v1/journal?since=SEQ|RFC3339  -> 200 one record per line (JSON lines), oldest first
//	GET /v1/journal/verify             -> 200 {"records":120,"ok":true,"signed":120}
//
// A bad since is 400. The stream ends with the last record; a record that
// cannot be read ends it early with a final line {"error":"..."}.

func (s *Server) journalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/journal", s.journalRecords)
	mux.HandleFunc("GET /v1/journal/verify", s.journalVerify)
}

// streamError is the last line of a journal stream cut short.
type streamError struct {
	Error string `json:"error"`
}

func (s *Server) journalRecords(w http.ResponseWriter, r *http.Request) {
	since, err := journal.ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		http.Error(w, "api: "+err.Error(), http.StatusBadRequest)
		return
	}
	j := s.core.Journal()
	w.Header().Set("Content-Type", "application/jsonl")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err = j.ScanSince(since, func(rec journal.Record) error {
		if err := r.Context().Err(); err != nil {
			return err
		}
		return enc.Encode(rec)
	})
	if err != nil && r.Context().Err() == nil {
		s.logger.Error("journal stream cut short", "err", err)
		enc.Encode(streamError{Error: err.Error()})
	}
	bw.Flush()
}

func (s *Server) journalVerify(w http.ResponseWriter, _ *http.Request) {
	res, err := s.core.Journal().Verify()
	if err != nil {
		http.Error(w, "api: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, res)
}

// Journal calls fn with every record since selects, oldest first, as the
// running gateway reads them. It returns fn's error as is.
func (c *Client) Journal(ctx context.Context, since journal.Since, fn func(journal.Record) error) error {
	path := "/v1/journal"
	if s := since.String(); s != "" {
		path += "?since=" + url.QueryEscape(s)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://femtoclaw"+path, nil)
	if err != nil {
		return err
	}
	// The stream takes as long as the journal is long: no overall timeout.
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("api: is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("api: gateway answered %s: %s", resp.Status, bytesTrim(msg))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var line struct {
			journal.Record
			Error string `json:"error"`
		}
		if err := dec.Decode(&line); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("api: journal stream: %w", err)
		}
		if line.Error != "" {
			return fmt.Errorf("api: journal stream: %s", line.Error)
		}
		if err := fn(line.Record); err != nil {
			return err
		}
	}
}

// VerifyJournal has the running gateway verify its journal.
func (c *Client) VerifyJournal(ctx context.Context) (journal.VerifyResult, error) {
	var res journal.VerifyResult
	err := c.do(ctx, http.MethodGet, "/v1/journal/verify", nil, &res)
	return res, err
}

func bytesTrim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
