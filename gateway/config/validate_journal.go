package config

import (
	"fmt"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Journal says how the journal keeps its records.
type Journal struct {
	// Retention says which of the oldest records are removed. Default:
	// none is; the journal grows until the disk is full.
	Retention Retention `yaml:"retention" json:"retention"`
	// HMACKey, env:NAME or file:PATH, is a key of at least 16 bytes with
	// which every record is signed (HMAC-SHA256), so that rewriting the
	// whole journal needs the key too; journal verify checks the MACs when
	// given the same config. Once set, the gateway refuses to start without
	// it. Empty: records carry only the hash chain.
	HMACKey drivers.Secret `yaml:"hmac_key" json:"hmac_key"`
}

// Key reads the HMAC key; nil if none is configured.
func (j Journal) Key() ([]byte, error) {
	if j.HMACKey.IsZero() {
		return nil, nil
	}
	k, err := j.HMACKey.Reveal()
	if err != nil {
		return nil, fmt.Errorf("config: journal.hmac_key: %w", err)
	}
	return []byte(k), nil
}

// Retention removes the oldest journal records while keeping the chain
// verifiable: a checkpoint record keeps the hash of the last one removed.
// An intent that has no outcome yet is never removed, nor anything after
// it.
type Retention struct {
	// MaxAge removes records older than this, for example 2160h (90 days).
	// At least 1h. Empty: no limit by age.
	MaxAge drivers.Duration `yaml:"max_age" json:"max_age"`
	// MaxBytes removes the oldest records until the rest total at most this
	// many bytes (keys and values as stored, before compression). At least
	// 1048576 (1 MiB). 0: no limit by size.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// CheckInterval is how often the gateway looks for records to remove,
	// between 1m and 24h. Default 1h.
	CheckInterval drivers.Duration `yaml:"check_interval" json:"check_interval"`
}

// Bounds of the journal settings.
const (
	minRetentionAge   = time.Hour
	minRetentionBytes = 1 << 20
	minCheckInterval  = time.Minute
	maxCheckInterval  = 24 * time.Hour
)

// journal checks the journal section.
func (v *checker) journal() {
	r := &v.c.Journal.Retention
	p := path{"journal", "retention"}
	if d := r.MaxAge.D(); d != 0 && d < minRetentionAge {
		v.at(p.add("max_age"), "%s is less than %s: records would go before anyone could read them", r.MaxAge, minRetentionAge)
	}
	if r.MaxBytes != 0 && r.MaxBytes < minRetentionBytes {
		v.at(p.add("max_bytes"), "%d is less than %d (1 MiB)", r.MaxBytes, minRetentionBytes)
	}
	if d := r.CheckInterval.D(); d != 0 && (d < minCheckInterval || d > maxCheckInterval) {
		v.at(p.add("check_interval"), "%s is not between %s and %s", r.CheckInterval, minCheckInterval, maxCheckInterval)
	}
	if k := v.c.Journal.HMACKey; !k.IsZero() && k.Check() != nil {
		v.at(path{"journal", "hmac_key"}, "is not env:NAME or file:PATH: a key is never written in the config itself")
	}
}
