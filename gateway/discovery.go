package gateway

import (
	"log/slog"

	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// publishDiscovery queues the Home Assistant discovery messages of cfg's
// numeric points when mqtt.home_assistant is set. They are retained, so
// queuing them again at every start only refreshes them.
func publishDiscovery(cfg *config.Config, pub *telemetry.Publisher, log *slog.Logger) {
	if !cfg.MQTT.HomeAssistant {
		return
	}
	ds, err := telemetry.HomeAssistant(cfg.Gateway.ID, cfg.MQTT.Prefix, cfg.Devices)
	if err != nil {
		log.Error("home assistant discovery", "err", err)
		return
	}
	pub.PublishDiscovery(ds)
	log.Info("home assistant discovery queued", "sensors", len(ds))
}
