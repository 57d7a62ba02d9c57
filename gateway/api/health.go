package api

import (
	"net/http"
	"runtime"
)

// Health is the body of GET /healthz: the process is up and serving, with
// the figures a supervisor or a soak test watches for leaks.
type Health struct {
	OK         bool   `json:"ok"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"` // live heap objects
	SysBytes   uint64 `json:"sys_bytes"`  // memory obtained from the OS
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reasons say why not, one line each: a journal that cannot take a
	// durable intent, a loop that stopped turning.
	Reasons []string `json:"reasons,omitempty"`
}

// SetReadiness sets the function GET /readyz asks: it returns why the
// gateway cannot take actuations now, nothing when it can. Without one the
// gateway is ready as soon as it serves. Call it before Serve.
func (s *Server) SetReadiness(f func() []string) { s.readiness = f }

// healthRoutes registers GET /healthz and GET /readyz.
//
//	GET /healthz -> 200 {"ok":true,"goroutines":41,"heap_bytes":3145728,"sys_bytes":16777216}
//	GET /readyz  -> 200 {"ready":true}
//	             |  503 {"ready":false,"reasons":["journal: 3.1 MiB free on /var/lib/femtoclaw, below the 16 MiB reserve"]}
func (s *Server) healthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeJSON(w, Health{OK: true, Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc, SysBytes: ms.Sys})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var reasons []string
	if s.readiness != nil {
		reasons = s.readiness()
	}
	if len(reasons) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	writeJSON(w, Readiness{Ready: len(reasons) == 0, Reasons: reasons})
}
