package telemetry

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestPublishDevicePoints(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	sub := subscribe(t, b.Addr(), prefix+"/telemetry/#")
	p := New(Options{Broker: "tcp://" + b.Addr(), Prefix: prefix, Logger: testLogger})
	run(t, p)

	dev := drivers.DeviceConfig{Name: "tank", Points: []drivers.PointConfig{{Name: "level", Unit: "%"}, {Name: "heater"}}}
	ts := time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)
	d := NewDevicePayload(dev, 7, ts, []drivers.Reading{
		{Point: "level", Value: drivers.Number(41.5), Quality: drivers.QualityGood},
		{Point: "heater", Value: drivers.Bool(true), Quality: drivers.QualityGood},
	})
	if err := p.PublishDevice(d, true); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishDevice(d, false); err != nil {
		t.Fatal(err)
	}
	want := []struct{ topic, payload string }{
		{prefix + "/telemetry/tank", ""},
		{prefix + "/telemetry/tank/heater", `{"device":"tank","point":"heater","ts":"2026-03-01T08:00:01Z","value":true,"quality":"good"}`},
		{prefix + "/telemetry/tank/level", `{"device":"tank","point":"level","ts":"2026-03-01T08:00:01Z","value":41.5,"quality":"good","unit":"%"}`},
		{prefix + "/telemetry/tank", ""},
	}
	for i, w := range want {
		m := next(t, sub.C, w.topic)
		if m.topic != w.topic {
			t.Fatalf("message %d: topic got %q, want %q", i, m.topic, w.topic)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(m.payload), &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got["msg_seq"] != float64(i+1) {
			t.Errorf("message %d: msg_seq got %v, want %d", i, got["msg_seq"], i+1)
		}
		if w.payload == "" {
			continue
		}
		delete(got, "msg_seq")
		delete(got, "historical")
		var wantObj map[string]any
		json.Unmarshal([]byte(w.payload), &wantObj)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(wantObj)
		if string(gb) != string(wb) {
			t.Errorf("message %d: got %s, want %s", i, gb, wb)
		}
	}
}
