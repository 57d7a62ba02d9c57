package api

import "net/http"

// SetMetrics serves h on GET /metrics: the gateway's Prometheus metrics
// (see gateway/metrics). Without it, /metrics answers 404.
func (s *Server) SetMetrics(h http.Handler) { s.metrics = h }

func (s *Server) metricsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.metrics == nil {
			http.NotFound(w, r)
			return
		}
		s.metrics.ServeHTTP(w, r)
	})
}
