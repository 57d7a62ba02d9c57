package gateway

import (
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/metrics"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// newMetrics builds the metrics of cfg's devices and agents, with the
// publisher's outbox and connection.
func newMetrics(cfg *config.Config, pub *telemetry.Publisher) *metrics.Metrics {
	devices := make([]string, 0, len(cfg.Devices))
	for _, d := range cfg.Devices {
		devices = append(devices, d.Name)
	}
	agents := make([]string, 0, len(cfg.Agents))
	for _, a := range cfg.Agents {
		agents = append(agents, a.Name)
	}
	m := metrics.New(devices, agents)
	m.WatchPublisher(pub.Stats)
	return m
}
