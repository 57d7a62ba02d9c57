package telemetry

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// TestEncodeLikeEncodingJSON checks that the hand-written encoders write
// the bytes encoding/json writes for the same payloads.
func TestEncodeLikeEncodingJSON(t *testing.T) {
	zone := time.FixedZone("plant", 2*3600+30*60)
	tests := []struct {
		name   string
		device string
		t      time.Time
		points []drivers.PointConfig
		values []drivers.Value
		q      []drivers.Quality
	}{
		{
			name:   "numbers",
			device: "tank",
			t:      time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC),
			points: []drivers.PointConfig{{Name: "a", Unit: "%"}, {Name: "b"}, {Name: "c", Unit: "degC"}, {Name: "d"}, {Name: "e"}, {Name: "f"}, {Name: "g"}, {Name: "h"}, {Name: "i"}, {Name: "j"}, {Name: "k"}, {Name: "l"}},
			values: []drivers.Value{drivers.Number(41.5), drivers.Number(0), drivers.Number(-1e-7), drivers.Number(1e21), drivers.Number(65535), drivers.Number(math.MaxFloat64), drivers.Number(math.Copysign(0, -1)), drivers.Number(999999), drivers.Number(-999999), drivers.Number(1e6), drivers.Number(-32768), drivers.Number(2.5e-300)},
		},
		{
			name:   "not numbers",
			device: "tank",
			t:      time.Date(2026, 3, 1, 8, 0, 1, 123456789, zone),
			points: []drivers.PointConfig{{Name: "nan"}, {Name: "inf"}, {Name: "none"}, {Name: "on"}, {Name: "off"}},
			values: []drivers.Value{drivers.Number(math.NaN()), drivers.Number(math.Inf(-1)), {}, drivers.Bool(true), drivers.Bool(false)},
			q:      []drivers.Quality{drivers.QualityBad, drivers.QualityBad, drivers.QualityStale, drivers.QualityGood, drivers.QualityGood},
		},
		{
			name:   "strings to escape",
			device: "tank <1> & \"two\"",
			t:      time.Date(2026, 3, 1, 8, 0, 1, 5000, time.UTC),
			points: []drivers.PointConfig{{Name: "text", Unit: "µm"}, {Name: "tab\there"}, {Name: "zwölf\u2028"}, {Name: "bad\xffutf8"}},
			values: []drivers.Value{drivers.String("line\nbreak \\ \"quoted\""), drivers.String(""), drivers.String("\x00\x1f"), drivers.String("ok")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := drivers.DeviceConfig{Name: tt.device, Points: tt.points}
			rs := make([]drivers.Reading, len(tt.points))
			for i, p := range tt.points {
				rs[i] = drivers.Reading{Point: p.Name, Value: tt.values[i], Quality: drivers.QualityGood}
				if tt.q != nil {
					rs[i].Quality = tt.q[i]
				}
			}
			d := NewDevicePayload(dev, 42, tt.t, rs)
			want, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			// appendPoll keeps the readings' order, encoding/json sorts.
			sorted := slices.Clone(rs)
			slices.SortFunc(sorted, func(a, b drivers.Reading) int { return strings.Compare(a.Point, b.Point) })
			if got := appendPoll(nil, dev, 42, tt.t, sorted); string(got) != string(want) {
				t.Errorf("appendPoll:\ngot  %s\nwant %s", got, want)
			}
			for _, r := range rs {
				pv := d.Values[r.Point]
				want, err := json.Marshal(PointPayload{Device: tt.device, Point: r.Point, Time: tt.t, Value: pv.Value, Quality: pv.Quality, Unit: pv.Unit})
				if err != nil {
					t.Fatal(err)
				}
				if got := appendPointPayload(nil, tt.device, r.Point, tt.t, pv); string(got) != string(want) {
					t.Errorf("appendPointPayload:\ngot  %s\nwant %s", got, want)
				}
			}
		})
	}
}

// TestPublishPoll checks the messages PublishPoll queues: the device's
// values in the readings' order, then one message per point in name order.
func TestPublishPoll(t *testing.T) {
	ob := NewMemoryOutbox(100)
	p := New(Options{Prefix: prefix, Outbox: ob})
	dev := drivers.DeviceConfig{Name: "tank", Points: []drivers.PointConfig{{Name: "level", Unit: "%"}, {Name: "heater"}}}
	ts := time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)
	rs := []drivers.Reading{
		{Point: "level", Value: drivers.Number(41.5), Quality: drivers.QualityGood},
		{Point: "heater", Value: drivers.Bool(true), Quality: drivers.QualityStale},
	}
	p.PublishPoll(dev, 7, ts, rs, true)
	p.PublishPoll(dev, 8, ts, rs[:1], false)
	want := []struct{ topic, payload string }{
		{prefix + "/telemetry/tank", `{"device":"tank","seq":7,"ts":"2026-03-01T08:00:01Z","values":{"level":{"value":41.5,"quality":"good","unit":"%"},"heater":{"value":true,"quality":"stale"}}}`},
		{prefix + "/telemetry/tank/heater", `{"device":"tank","point":"heater","ts":"2026-03-01T08:00:01Z","value":true,"quality":"stale"}`},
		{prefix + "/telemetry/tank/level", `{"device":"tank","point":"level","ts":"2026-03-01T08:00:01Z","value":41.5,"quality":"good","unit":"%"}`},
		{prefix + "/telemetry/tank", `{"device":"tank","seq":8,"ts":"2026-03-01T08:00:01Z","values":{"level":{"value":41.5,"quality":"good","unit":"%"}}}`},
	}
	msgs, err := ob.Peek(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		if msgs[i].Topic != w.topic || string(msgs[i].Payload) != w.payload {
			t.Errorf("message %d:\ngot  %s %s\nwant %s %s", i, msgs[i].Topic, msgs[i].Payload, w.topic, w.payload)
		}
	}
}

// BenchmarkEncodePoll encodes one poll of 10,000 uint16 points, by hand
// and through encoding/json.
func BenchmarkEncodePoll(b *testing.B) {
	const points = 10000
	dev := drivers.DeviceConfig{Name: "dev0"}
	rs := make([]drivers.Reading, points)
	for i := range rs {
		name := "r" + strconv.Itoa(i)
		dev.Points = append(dev.Points, drivers.PointConfig{Name: name})
		rs[i] = drivers.Reading{Point: name, Value: drivers.Number(float64(i)), Quality: drivers.QualityGood}
	}
	ts := time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf = appendPoll(buf[:0], dev, 1, ts, rs)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for range b.N {
			out, err := json.Marshal(NewDevicePayload(dev, 1, ts, rs))
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.SetBytes(int64(n))
	})
}
