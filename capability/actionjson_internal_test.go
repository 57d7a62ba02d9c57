package capability

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// reflectJSON is the journal form of an action as encoding/json makes it
// of the declared struct: what appendJSON must reproduce byte for byte.
func reflectJSON(a *Authorized) ([]byte, error) {
	var value, restore *drivers.Encoded
	var ms int64
	switch a.kind {
	case KindWrite:
		value = &a.value
	case KindPulse:
		value, restore, ms = &a.value, &a.restore, a.duration.Milliseconds()
	}
	return json.Marshal(struct {
		Capability string           `json:"capability"`
		Kind       Kind             `json:"kind"`
		Device     string           `json:"device,omitempty"`
		Point      string           `json:"point,omitempty"`
		Value      *drivers.Encoded `json:"value,omitempty"`
		Restore    *drivers.Encoded `json:"restore,omitempty"`
		DurationMS int64            `json:"duration_ms,omitempty"`
		Steps      []WriteStep      `json:"steps,omitempty"`
		Reads      []PointRef       `json:"reads,omitempty"`
	}{a.capability, a.kind, a.device, a.point, value, restore, ms, a.steps, a.reads})
}

func TestActionJSON(t *testing.T) {
	enc := func(v drivers.Value, wire ...byte) drivers.Encoded { return drivers.Encoded{Value: v, Wire: wire} }
	odd := "tank <1> & \"x\"\\\n\u2028é\xff"
	tests := []struct {
		name string
		a    *Authorized
	}{
		{"write", &Authorized{capability: "set_pump", kind: KindWrite, device: "tank", point: "inlet_pump", value: enc(drivers.Number(42.5), 0, 42)}},
		{"write boolean", &Authorized{capability: "heat", kind: KindWrite, device: "tank", point: "heater", value: enc(drivers.Bool(true), 1)}},
		{"write huge and tiny", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: enc(drivers.Number(1e21), 1, 2, 3, 4)}},
		{"write tiny", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: enc(drivers.Number(-1e-7))}},
		{"write NaN", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: enc(drivers.Number(math.NaN()), 0)}},
		{"write infinity", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: enc(drivers.Number(math.Inf(-1)), 0)}},
		{"write empty wire", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: drivers.Encoded{Value: drivers.Number(0), Wire: []byte{}}}},
		{"write text value", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p", value: enc(drivers.Value{Kind: drivers.KindString, Text: odd}, 9)}},
		{"write invalid value", &Authorized{capability: "k", kind: KindWrite, device: "d", point: "p"}},
		{"odd names", &Authorized{capability: odd, kind: KindWrite, device: odd, point: odd, value: enc(drivers.Number(1), 0, 1)}},
		{"pulse", &Authorized{capability: "pulse_heater", kind: KindPulse, device: "tank", point: "heater", value: enc(drivers.Bool(true), 1),
			restore: enc(drivers.Bool(false), 0), duration: 2 * time.Second}},
		{"pulse under a millisecond", &Authorized{capability: "p", kind: KindPulse, device: "tank", point: "heater", value: enc(drivers.Bool(true), 1),
			restore: enc(drivers.Bool(false), 0), duration: time.Microsecond}},
		{"sequence", &Authorized{capability: "fill", kind: KindSequence, steps: []WriteStep{
			{Device: "tank", Point: "heater", Value: enc(drivers.Bool(false), 0)},
			{Device: "tank", Point: "inlet_pump", Value: enc(drivers.Number(30), 0, 30)},
			{Device: odd, Point: "", Value: drivers.Encoded{}}}}},
		{"sequence without steps", &Authorized{capability: "fill", kind: KindSequence, steps: []WriteStep{}}},
		{"read", &Authorized{capability: "read_tank", kind: KindRead, reads: []PointRef{{"tank", "level"}, {odd, "x"}}}},
		{"read of nothing", &Authorized{capability: "r", kind: KindRead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := reflectJSON(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := tt.a.MarshalJSON()
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			sum := sha256.Sum256(want)
			if got, want := tt.a.Digest(), hex.EncodeToString(sum[:]); got != want {
				t.Errorf("got digest %s, want %s", got, want)
			}
		})
	}
}
