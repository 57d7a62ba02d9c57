//go:build !pprof

package api

import "net/http"

// profileRoutes adds nothing: the profiler is served only by a binary built
// with -tags pprof (see profile_pprof.go).
func profileRoutes(*http.ServeMux) {}
