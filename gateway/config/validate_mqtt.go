package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
)

// MQTTTLS secures the connection to a tls://, ssl:// or mqtts:// broker.
// Relative file names are taken from the directory of the config file.
type MQTTTLS struct {
	// CA is a PEM file of the certificate authorities that sign the
	// broker's certificate. Empty: the system's.
	CA string `yaml:"ca" json:"ca,omitempty"`
	// Cert and Key are PEM files of the gateway's client certificate and
	// its private key, for a broker that asks for one. Both or neither.
	Cert string `yaml:"cert" json:"cert,omitempty"`
	Key  string `yaml:"key" json:"key,omitempty"`
	// ServerName is the name the broker's certificate must carry. Empty:
	// the broker URL's host.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`
}

// IsZero reports whether no TLS setting is given.
func (t MQTTTLS) IsZero() bool { return t == MQTTTLS{} }

// MQTTOutbox bounds the messages the gateway keeps on disk, in the journal's
// store, while the broker is away. When it is full, new messages are
// dropped and counted; the count is published in the online status.
type MQTTOutbox struct {
	// MaxMessages is the most messages kept. Default 100000.
	MaxMessages int `yaml:"max_messages" json:"max_messages,omitempty"`
	// MaxBytes is the most topic and payload bytes kept. Default 67108864
	// (64 MiB).
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes,omitempty"`
}

// Defaults of MQTTOutbox.
const (
	DefaultOutboxMessages = 100000
	DefaultOutboxBytes    = 64 << 20
)

// Limits returns the outbox's bounds, defaults applied.
func (o MQTTOutbox) Limits() (messages int, bytes int64) {
	messages, bytes = o.MaxMessages, o.MaxBytes
	if messages <= 0 {
		messages = DefaultOutboxMessages
	}
	if bytes <= 0 {
		bytes = DefaultOutboxBytes
	}
	return messages, bytes
}

// Bounds of the outbox settings.
const (
	maxOutboxMessages = 10_000_000
	minOutboxBytes    = 64 << 10
	maxOutboxBytes    = 4 << 30
)

// MQTTTLSConfig builds the TLS configuration of the broker connection from
// mqtt.tls: nil, nil when the broker URL does not ask for TLS.
func (c *Config) MQTTTLSConfig() (*tls.Config, error) {
	u, err := url.Parse(c.MQTT.Broker)
	if err != nil || !mqttTLSScheme(u.Scheme) {
		return nil, nil
	}
	t := c.MQTT.TLS
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := c.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("config: mqtt.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("config: mqtt.tls.ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		certPEM, err := c.ReadFile(t.Cert)
		if err != nil {
			return nil, fmt.Errorf("config: mqtt.tls.cert: %w", err)
		}
		keyPEM, err := c.ReadFile(t.Key)
		if err != nil {
			return nil, fmt.Errorf("config: mqtt.tls.key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("config: mqtt.tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// MQTTPassword reads the broker password; empty when none is configured.
func (c *Config) MQTTPassword() (string, error) {
	if c.MQTT.Password.IsZero() {
		return "", nil
	}
	pw, err := c.MQTT.Password.Reveal()
	if err != nil {
		return "", fmt.Errorf("config: mqtt.password: %w", err)
	}
	return pw, nil
}

func mqttTLSScheme(s string) bool { return s == "tls" || s == "ssl" || s == "mqtts" }

// mqttOptions checks the login, TLS and outbox settings of the mqtt section.
func (v *checker) mqttOptions() {
	m := v.c.MQTT
	p := path{"mqtt"}
	if !m.Password.IsZero() {
		if m.Password.Check() != nil {
			v.at(p.add("password"), "is not env:NAME or file:PATH: a password is never written in the config itself")
		}
		if m.Username == "" {
			v.at(p.add("password"), "needs mqtt.username")
		}
	}
	if m.Broker == "" && (m.Username != "" || !m.Password.IsZero() || !m.TLS.IsZero()) {
		v.at(p.add("broker"), "is required for a username, password or tls: the embedded broker takes none")
	}
	if !m.TLS.IsZero() {
		if u, err := url.Parse(m.Broker); m.Broker != "" && err == nil && !mqttTLSScheme(u.Scheme) {
			v.at(p.add("tls"), "is set but the broker URL %q does not use TLS: write tls://, ssl:// or mqtts://", m.Broker)
		}
		t := m.TLS
		if (t.Cert == "") != (t.Key == "") {
			v.at(p.add("tls"), "cert and key go together: give both or neither")
		}
		for _, f := range []struct{ key, name string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
			if f.name != "" && !v.c.fileExists(f.name) {
				v.at(p.add("tls", f.key), "%s: no such file", f.name)
			}
		}
	}
	if n := m.Outbox.MaxMessages; n < 0 || n > maxOutboxMessages {
		v.at(p.add("outbox", "max_messages"), "%d is not between 1 and %d (0: the default %d)", n, maxOutboxMessages, DefaultOutboxMessages)
	}
	if n := m.Outbox.MaxBytes; n != 0 && (n < minOutboxBytes || n > maxOutboxBytes) {
		v.at(p.add("outbox", "max_bytes"), "%d is not between %d and %d (0: the default %d)", n, int64(minOutboxBytes), int64(maxOutboxBytes), int64(DefaultOutboxBytes))
	}
}
