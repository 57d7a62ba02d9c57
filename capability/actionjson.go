package capability

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// appendJSON appends the journal form of the action to b: byte for byte
// what encoding/json makes of
//
//	{"capability","kind","device","point","value","restore","duration_ms","steps","reads"}
//
// with the empty ones left out, as the struct in a test declares it. It is
// written out by hand because every decision hashes it for its Digest;
// the test holds it to encoding/json's output.
func (a *Authorized) appendJSON(b []byte) []byte {
	b = append(b, `{"capability":`...)
	b = appendString(b, a.capability)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(a.kind))
	if a.device != "" {
		b = append(b, `,"device":`...)
		b = appendString(b, a.device)
	}
	if a.point != "" {
		b = append(b, `,"point":`...)
		b = appendString(b, a.point)
	}
	switch a.kind {
	case KindWrite:
		b = append(b, `,"value":`...)
		b = appendEncoded(b, a.value)
	case KindPulse:
		b = append(b, `,"value":`...)
		b = appendEncoded(b, a.value)
		b = append(b, `,"restore":`...)
		b = appendEncoded(b, a.restore)
		if ms := a.duration.Milliseconds(); ms != 0 {
			b = append(b, `,"duration_ms":`...)
			b = strconv.AppendInt(b, ms, 10)
		}
	}
	if len(a.steps) > 0 {
		b = append(b, `,"steps":[`...)
		for i, s := range a.steps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"device":`...)
			b = appendString(b, s.Device)
			b = append(b, `,"point":`...)
			b = appendString(b, s.Point)
			b = append(b, `,"value":`...)
			b = appendEncoded(b, s.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(a.reads) > 0 {
		b = append(b, `,"reads":[`...)
		for i, r := range a.reads {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"device":`...)
			b = appendString(b, r.Device)
			b = append(b, `,"point":`...)
			b = appendString(b, r.Point)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendEncoded appends e as encoding/json writes a drivers.Encoded.
func appendEncoded(b []byte, e drivers.Encoded) []byte {
	b = append(b, `{"value":`...)
	switch v := e.Value; v.Kind {
	case drivers.KindNumber, drivers.KindBool:
		// Value.MarshalJSON's own encoding, without its allocation.
		if v.Kind == drivers.KindBool {
			b = strconv.AppendBool(b, v.Bool)
		} else if v.Number-v.Number != 0 { // NaN or an infinity
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, v.Number, 'g', -1, 64)
		}
	default:
		m, err := v.MarshalJSON()
		if err != nil {
			m = []byte("null")
		}
		b = append(b, m...)
	}
	b = append(b, `,"wire":`...)
	if e.Wire == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, e.Wire)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, as encoding/json quotes it.
// Printable ASCII that needs no escape, all a name holds, is copied; any
// other string is left to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			m, err := json.Marshal(s)
			if err != nil {
				return append(b, `""`...)
			}
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// digestOf is the hex SHA-256 of the action's journal form.
func (a *Authorized) digestOf() string {
	var buf [512]byte
	sum := sha256.Sum256(a.appendJSON(buf[:0]))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}
