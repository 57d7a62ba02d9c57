package drivers

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// OPCUAConfig holds the settings of an OPC UA device beyond its URL
// (opc.tcp://host:port/path). Every field may be left out: the gateway then
// takes the most secure endpoint the server offers, logs in anonymously and
// refuses any server whose certificate it cannot verify.
type OPCUAConfig struct {
	// SecurityPolicy is the policy of the endpoint to use: None,
	// Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss.
	// Default: the most secure one the server offers, never None. The
	// deprecated Basic128Rsa15 and Basic256 are always refused.
	SecurityPolicy string `yaml:"security_policy" json:"security_policy,omitempty"`
	// SecurityMode is the message security of the endpoint: None (only
	// with policy None), Sign or SignAndEncrypt. Default: the most secure
	// one offered with the policy.
	SecurityMode string `yaml:"security_mode" json:"security_mode,omitempty"`
	// CertDir is the directory holding the gateway's client certificate
	// (cert.pem, key.pem) for this device. Both are created on first use
	// (RSA-2048, valid ten years, the application URI in the subject
	// alternative name). Default: opcua/<device> inside the gateway's data
	// directory. Give the server's administrator cert.pem to trust.
	CertDir string `yaml:"cert_dir" json:"cert_dir,omitempty"`
	// ApplicationURI names this gateway to the server; it is written into
	// the client certificate. Default urn:femtoclaw:<host name>.
	ApplicationURI string `yaml:"application_uri" json:"application_uri,omitempty"`
	// ServerCert is a file holding the server's certificate (PEM or DER):
	// only a server presenting exactly this certificate is accepted.
	ServerCert string `yaml:"server_cert" json:"server_cert,omitempty"`
	// TrustDir is a directory of trusted certificates (PEM or DER): a
	// server certificate equal to one of them, or issued by one of them,
	// is accepted.
	TrustDir string `yaml:"trust_dir" json:"trust_dir,omitempty"`
	// TrustOnFirstUse pins the certificate the server presents the first
	// time (into server.der in CertDir) and accepts only that one from then
	// on. Use it only on a network you trust at commissioning time.
	TrustOnFirstUse bool `yaml:"trust_on_first_use" json:"trust_on_first_use,omitempty"`
	// Username logs in with a user name and Password; without it the
	// gateway logs in anonymously.
	Username string `yaml:"username" json:"username,omitempty"`
	// Password goes with Username: "env:NAME" reads the environment
	// variable NAME, "file:PATH" the file PATH (one trailing newline
	// dropped). A password is never written in the config itself.
	Password Secret `yaml:"password" json:"password,omitempty"`
	// Subscribe has the server report changes of every point (monitored
	// items) instead of the gateway reading all of them at every poll.
	// Telemetry is still published at the poll interval, from the last
	// values reported; while the subscription is lost the gateway reads
	// the points as usual and re-creates it once the server is back.
	// Default false.
	Subscribe bool `yaml:"subscribe" json:"subscribe,omitempty"`
	// PublishInterval is how often the server sends the changes it saw,
	// with subscribe. Default: the device's poll interval.
	PublishInterval Duration `yaml:"publish_interval" json:"publish_interval,omitempty"`
}

// Secret is a password or key given by reference: "env:NAME" or
// "file:PATH". It prints as [redacted]; Reveal reads the secret itself.
// The model providers' API keys are brain.Secret instead, which holds a key
// already read: brain may not import drivers.
type Secret struct {
	ref string
}

// ErrSecret reports a secret reference that is malformed or cannot be read.
var ErrSecret = errors.New("drivers: secret")

// NewSecret returns the secret that ref ("env:NAME" or "file:PATH") names.
func NewSecret(ref string) (Secret, error) {
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok || rest == "" || (kind != "env" && kind != "file") {
		return Secret{}, fmt.Errorf("%w: want env:NAME or file:PATH, not a password in the config", ErrSecret)
	}
	return Secret{ref: ref}, nil
}

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s.ref == "" }

// Ref returns the reference ("env:NAME" or "file:PATH"), which is not
// itself secret.
func (s Secret) Ref() string { return s.ref }

// Reveal reads the secret from where its reference points.
func (s Secret) Reveal() (string, error) {
	kind, rest, _ := strings.Cut(s.ref, ":")
	switch kind {
	case "env":
		v, ok := os.LookupEnv(rest)
		if !ok {
			return "", fmt.Errorf("%w: environment variable %s is not set", ErrSecret, rest)
		}
		return v, nil
	case "file":
		b, err := os.ReadFile(rest)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrSecret, err)
		}
		v := strings.TrimSuffix(string(b), "\n")
		return strings.TrimSuffix(v, "\r"), nil
	case "":
		return "", fmt.Errorf("%w: none given", ErrSecret)
	}
	return "", fmt.Errorf("%w: want env:NAME or file:PATH", ErrSecret)
}

// String returns [redacted].
func (s Secret) String() string { return "[redacted]" }

// GoString returns [redacted], so %#v does not print the reference either.
func (s Secret) GoString() string { return "[redacted]" }

// Check reports whether the reference has the form env:NAME or
// file:PATH, without reading the secret.
func (s Secret) Check() error {
	_, err := NewSecret(s.ref)
	return err
}

// UnmarshalText keeps the reference as written. A malformed one is kept
// too, for validation to report with its position (never its text: it may
// be a password written where it should not be).
func (s *Secret) UnmarshalText(b []byte) error {
	s.ref = string(b)
	return nil
}

// UnmarshalYAML keeps the reference as written, like UnmarshalText, but
// spares the YAML decoder a walk over the whole file (see
// Duration.UnmarshalYAML).
func (s *Secret) UnmarshalYAML(unmarshal func(any) error) error {
	var ref string
	if err := unmarshal(&ref); err != nil {
		return err
	}
	return s.UnmarshalText([]byte(ref))
}

// MarshalText writes the reference, so a config round-trips; the secret
// itself never appears, nor a malformed reference that may be one.
func (s Secret) MarshalText() ([]byte, error) {
	if s.Check() != nil {
		return []byte("[redacted]"), nil
	}
	return []byte(s.ref), nil
}
