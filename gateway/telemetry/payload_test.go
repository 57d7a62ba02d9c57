package telemetry

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestDevicePayloadJSON(t *testing.T) {
	dev := drivers.DeviceConfig{
		Name: "tank",
		Points: []drivers.PointConfig{
			{Name: "level", Unit: "%"},
			{Name: "heater", Register: "coil"},
		},
	}
	ts := time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)
	tests := []struct {
		name     string
		readings []drivers.Reading
		want     string
	}{
		{
			name: "number and bool",
			readings: []drivers.Reading{
				{Point: "level", Value: drivers.Number(41.5), Quality: drivers.QualityGood},
				{Point: "heater", Value: drivers.Bool(false), Quality: drivers.QualityGood},
			},
			want: `{"device":"tank","seq":42,"ts":"2026-03-01T08:00:01Z","values":{"heater":{"value":false,"quality":"good"},"level":{"value":41.5,"quality":"good","unit":"%"}}}`,
		},
		{
			name: "bad and stale",
			readings: []drivers.Reading{
				{Point: "level", Quality: drivers.QualityBad},
				{Point: "heater", Value: drivers.Bool(true), Quality: drivers.QualityStale},
			},
			want: `{"device":"tank","seq":42,"ts":"2026-03-01T08:00:01Z","values":{"heater":{"value":true,"quality":"stale"},"level":{"value":null,"quality":"bad","unit":"%"}}}`,
		},
		{
			name:     "not a number",
			readings: []drivers.Reading{{Point: "level", Value: drivers.Number(math.NaN()), Quality: drivers.QualityBad}},
			want:     `{"device":"tank","seq":42,"ts":"2026-03-01T08:00:01Z","values":{"level":{"value":null,"quality":"bad","unit":"%"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(NewDevicePayload(dev, 42, ts, tt.readings))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
			var back DevicePayload
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("decoding the payload again: %v", err)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Status{State: StateOnline, Since: time.Date(2026, 3, 1, 8, 0, 0, 123000000, time.UTC)}, `{"state":"online","since":"2026-03-01T08:00:00.123Z"}`},
		{Status{State: StateOffline}, offlinePayload},
		{Status{State: StateOnline, Since: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Dropped: 7}, `{"state":"online","since":"2026-03-01T08:00:00Z","dropped":7}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.s)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got %s, want %s", b, tt.want)
		}
	}
}
