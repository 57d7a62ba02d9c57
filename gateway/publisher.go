package gateway

import (
	"fmt"
	"log/slog"

	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
	"github.com/femtoclaw/femtoclaw/journal"
)

// telemetryOutbox names the journal outbox that keeps the MQTT messages the
// broker does not have yet.
const telemetryOutbox = "telemetry"

// newPublisher builds the MQTT publisher of cfg, sending to brokerURL
// through an outbox that spills to a durable outbox in j: messages survive
// a broker that is away and a restart of the gateway, and cost the journal
// nothing while the broker takes them.
func newPublisher(cfg *config.Config, brokerURL string, j *journal.Journal, log *slog.Logger) (*telemetry.Publisher, error) {
	count, bytes := cfg.MQTT.Outbox.Limits()
	ob, err := j.Outbox(telemetryOutbox, journal.OutboxLimit{MaxCount: count, MaxBytes: bytes})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	tlsCfg, err := cfg.MQTTTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	password, err := cfg.MQTTPassword()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return telemetry.New(telemetry.Options{
		Broker:            brokerURL,
		ClientID:          cfg.MQTT.ClientID,
		Prefix:            cfg.MQTT.Prefix,
		Logger:            log,
		Outbox:            telemetry.NewSpillOutbox(ob, telemetry.SpillOptions{}),
		TLS:               tlsCfg,
		Username:          cfg.MQTT.Username,
		Password:          password,
		PersistentSession: !cfg.MQTT.CleanSession,
	}), nil
}
