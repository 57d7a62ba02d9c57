package brain

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is an API key. It prints, marshals and logs as [redacted]; only
// Reveal returns the key itself, and only the providers call it, to set a
// request header.
//
// It is not drivers.Secret on purpose: brain may not import drivers, and
// the two hold different things: drivers.Secret keeps an env:/file:
// reference from the config and reads it on each Reveal; a brain Secret is
// the key itself, already read, held for the life of a provider.
type Secret struct{ s string }

// redacted is what a Secret shows instead of itself.
const redacted = "[redacted]"

// NewSecret wraps a key.
func NewSecret(key string) Secret { return Secret{s: key} }

// Reveal returns the key.
func (s Secret) Reveal() string { return s.s }

// Empty reports whether there is no key.
func (s Secret) Empty() bool { return s.s == "" }

// String returns [redacted].
func (s Secret) String() string { return redacted }

// GoString returns [redacted], so %#v does not show the key either.
func (s Secret) GoString() string { return redacted }

// MarshalText returns [redacted], so JSON and YAML never hold the key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue returns [redacted] for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// LoadSecret reads a key from the environment variable env or, when env is
// empty, from file (its content with surrounding white space removed). Both
// empty gives an empty Secret: a local model server needs no key. A named
// variable that is unset or empty, or a file that cannot be read or is
// empty, is an error; the error never contains the key.
func LoadSecret(env, file string) (Secret, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("brain: api key: environment variable %s is not set", env)
		}
		return NewSecret(strings.TrimSpace(v)), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return Secret{}, fmt.Errorf("brain: api key file %s: %w", file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("brain: api key file %s is empty", file)
		}
		return NewSecret(v), nil
	}
	return Secret{}, nil
}

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ slog.LogValuer = Secret{}
)
