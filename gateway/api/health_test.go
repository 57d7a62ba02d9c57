package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	s := New(t.TempDir()+"/x.sock", "test", nil, nil)
	var reasons []string
	s.SetReadiness(func() []string { return reasons })
	h := s.Handler()
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: body %q: %v", path, rec.Body.String(), err)
		}
		return rec.Code, body
	}
	if code, body := get("/healthz"); code != 200 || body["ok"] != true || body["goroutines"].(float64) < 1 {
		t.Errorf("healthz: got %d %v, want 200 ok with goroutines", code, body)
	}
	tests := []struct {
		reasons []string
		code    int
		ready   bool
	}{
		{nil, 200, true},
		{[]string{"journal: 1.0 MiB free on /data, below the 16.0 MiB reserve"}, 503, false},
	}
	for _, tt := range tests {
		reasons = tt.reasons
		code, body := get("/readyz")
		if code != tt.code || body["ready"] != tt.ready {
			t.Errorf("readyz with reasons %q: got %d %v, want %d ready=%v", tt.reasons, code, body, tt.code, tt.ready)
		}
	}
}
