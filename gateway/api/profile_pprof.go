//go:build pprof

package api

import (
	"net/http"
	"net/http/pprof"
)

// profileRoutes serves the Go profiler under /debug/pprof/ in a binary
// built with -tags pprof, for measuring the gateway on a bench. Release
// builds leave it out.
func profileRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
