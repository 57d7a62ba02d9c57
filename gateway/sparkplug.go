package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/sparkplug"
)

// newSparkplug builds the Sparkplug B edge node of cfg, nil when the config
// has none. Its DCMD writes go through core as the principal "sparkplug".
func newSparkplug(cfg *config.Config, brokerURL string, core *agent.Core, log *slog.Logger) (*sparkplug.Node, error) {
	sc := cfg.MQTT.Sparkplug
	if sc == nil {
		return nil, nil
	}
	tlsCfg, err := cfg.MQTTTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("gateway: sparkplug: %w", err)
	}
	password, err := cfg.MQTTPassword()
	if err != nil {
		return nil, fmt.Errorf("gateway: sparkplug: %w", err)
	}
	return sparkplug.New(sparkplug.Options{
		Broker: brokerURL, ClientID: cfg.MQTT.ClientID + "-sparkplug",
		TLS: tlsCfg, Username: cfg.MQTT.Username, Password: password,
		GroupID: sc.GroupID, EdgeNodeID: cfg.SparkplugNodeID(),
		Devices: cfg.Devices, Capabilities: cfg.Capabilities,
		Call: func(ctx context.Context, call capability.Call) capability.Result {
			return core.Call(ctx, config.SparkplugPrincipal, "", call, agent.CallOptions{})
		},
		Logger: log,
	}), nil
}
