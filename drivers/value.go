package drivers

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind says which field of a Value holds it.
type Kind uint8

// The kinds of value a point can hold.
const (
	KindInvalid Kind = iota
	KindNumber
	KindBool
	KindString
)

// Value is one point value in engineering units: a number (after scale and
// offset), a boolean or a string. The zero Value is invalid.
//
// Its fields are laid out so that it takes 32 bytes, not 40: a gateway
// keeps one for each of 100,000 points, twice.
type Value struct {
	Number float64
	Text   string
	Kind   Kind
	Bool   bool
}

// Number returns a numeric value.
func Number(f float64) Value { return Value{Kind: KindNumber, Number: f} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// String returns a string value.
func String(s string) Value { return Value{Kind: KindString, Text: s} }

// Valid reports whether v holds a value.
func (v Value) Valid() bool { return v.Kind != KindInvalid }

// Float returns v as a number: booleans are 0 or 1, strings 0.
func (v Value) Float() float64 {
	if v.Kind == KindBool {
		if v.Bool {
			return 1
		}
		return 0
	}
	return v.Number
}

// Any returns v as float64, bool, string or nil, for expressions and JSON.
func (v Value) Any() any {
	switch v.Kind {
	case KindNumber:
		return v.Number
	case KindBool:
		return v.Bool
	case KindString:
		return v.Text
	}
	return nil
}

// String formats v for logs.
func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Number, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindString:
		return strconv.Quote(v.Text)
	}
	return "invalid"
}

// MarshalJSON writes v as a JSON number, boolean, string or null.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case KindNumber:
		if math.IsNaN(v.Number) || math.IsInf(v.Number, 0) {
			return []byte("null"), nil
		}
		return strconv.AppendFloat(nil, v.Number, 'g', -1, 64), nil
	case KindBool:
		return strconv.AppendBool(nil, v.Bool), nil
	case KindString:
		return json.Marshal(v.Text)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads a JSON number, boolean, string or null.
func (v *Value) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch t := x.(type) {
	case nil:
		*v = Value{}
	case float64:
		*v = Number(t)
	case bool:
		*v = Bool(t)
	case string:
		*v = String(t)
	default:
		return fmt.Errorf("drivers: value must be a number, boolean, string or null, got %s", b)
	}
	return nil
}

// Quality says whether a reading can be trusted.
type Quality uint8

// Reading qualities.
const (
	QualityGood  Quality = iota
	QualityBad           // the device answered with an error for this point
	QualityStale         // the device did not answer; the value is the last known
)

// String names the quality as it appears in telemetry.
func (q Quality) String() string {
	switch q {
	case QualityGood:
		return "good"
	case QualityBad:
		return "bad"
	case QualityStale:
		return "stale"
	}
	return "unknown"
}

// MarshalText writes the quality's name.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// Reading is one point value read from a device.
type Reading struct {
	Point   string    `json:"point"`
	Value   Value     `json:"value"`
	Quality Quality   `json:"quality"`
	Time    time.Time `json:"ts"`
}

// Encoded is a value resolved to what goes on the wire. The gate authorises
// an Encoded, not the model's text.
type Encoded struct {
	// Value is the engineering value the wire form decodes back to; it may
	// differ from the requested one by rounding.
	Value Value `json:"value"`
	// Wire is exactly what is written: register words big-endian as sent, or
	// one byte 0 or 1 for a coil.
	Wire []byte `json:"wire"`
}

// String shows the wire form in hex.
func (e Encoded) String() string { return e.Value.String() + " (0x" + hex.EncodeToString(e.Wire) + ")" }

// Errors a driver returns, so callers can branch without parsing text.
var (
	// ErrUnavailable means the device could not be reached.
	ErrUnavailable = errors.New("drivers: device unavailable")
	// ErrUnknownPoint means the device has no such point.
	ErrUnknownPoint = errors.New("drivers: unknown point")
	// ErrNotWritable means the point cannot be written.
	ErrNotWritable = errors.New("drivers: point not writable")
	// ErrValue means a value cannot be represented by the point's type.
	ErrValue = errors.New("drivers: value not representable")
)
