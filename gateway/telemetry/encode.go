package telemetry

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// The payloads of a poll are encoded by hand, with strconv's Append
// functions into one buffer, instead of by encoding/json: a poll of 10,000
// points through encoding/json built a map, sorted its keys by reflection
// and allocated for every value. The bytes are those encoding/json writes
// for the same members in the same order (the tests compare them).

// appendPoll appends the JSON of one poll of dev, as DevicePayload
// describes it, with the values in the order of readings.
func appendPoll(b []byte, dev drivers.DeviceConfig, seq uint64, t time.Time, readings []drivers.Reading) []byte {
	b = appendHead(b, dev.Name, seq, t)
	cu := dev.Cursor()
	for i, r := range readings {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r.Point)
		b = append(b, ':')
		b = appendPointValue(b, r.Value, r.Quality.String(), pointUnit(&cu, dev, i, r.Point))
	}
	return append(b, '}', '}')
}

// appendHead appends the members of a device payload before its values,
// and opens the values' object.
func appendHead(b []byte, device string, seq uint64, t time.Time) []byte {
	b = append(b, `{"device":`...)
	b = appendString(b, device)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = appendTime(b, t)
	return append(b, `,"values":{`...)
}

// appendPointValue appends the JSON of a PointValue.
func appendPointValue(b []byte, v drivers.Value, quality, unit string) []byte {
	b = append(b, `{"value":`...)
	b = appendValue(b, v)
	b = append(b, `,"quality":`...)
	b = appendString(b, quality)
	if unit != "" {
		b = append(b, `,"unit":`...)
		b = appendString(b, unit)
	}
	return append(b, '}')
}

// appendPointPayload appends the JSON of a PointPayload.
func appendPointPayload(b []byte, device, point string, t time.Time, v PointValue) []byte {
	b = append(b, `{"device":`...)
	b = appendString(b, device)
	b = append(b, `,"point":`...)
	b = appendString(b, point)
	b = append(b, `,"ts":`...)
	b = appendTime(b, t)
	b = append(b, `,"value":`...)
	b = appendValue(b, v.Value)
	b = append(b, `,"quality":`...)
	b = appendString(b, v.Quality)
	if v.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendString(b, v.Unit)
	}
	return append(b, '}')
}

// appendValue appends v as drivers.Value.MarshalJSON writes it.
func appendValue(b []byte, v drivers.Value) []byte {
	switch v.Kind {
	case drivers.KindNumber:
		f := v.Number
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		// Whole numbers below a million, most register values, print the
		// same as integers and five times faster; 'g' writes 1e+06 from
		// there on, and -0 keeps its sign.
		if f > -1e6 && f < 1e6 && f == math.Trunc(f) && (f != 0 || !math.Signbit(f)) {
			return strconv.AppendInt(b, int64(f), 10)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case drivers.KindBool:
		return strconv.AppendBool(b, v.Bool)
	case drivers.KindString:
		return appendString(b, v.Text)
	}
	return append(b, "null"...)
}

// appendTime appends t as time.Time.MarshalJSON writes it.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it. Names, units and qualities are plain ASCII and are copied as
// they are; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
