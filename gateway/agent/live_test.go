package agent

import (
	"strconv"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers"
)

func TestLive(t *testing.T) {
	l := NewLive()
	if _, ok := l.Get("tank.level"); ok {
		t.Fatalf("got a reading from an empty store, want none")
	}
	l.Update("tank", []drivers.Reading{
		{Point: "level", Value: drivers.Number(1), Quality: drivers.QualityGood},
		{Point: "temp", Value: drivers.Number(2), Quality: drivers.QualityGood},
	})
	// Another order, a new point and a bad reading.
	l.Update("tank", []drivers.Reading{
		{Point: "temp", Value: drivers.Number(3), Quality: drivers.QualityGood},
		{Point: "valve", Value: drivers.Bool(true), Quality: drivers.QualityGood},
		{Point: "level", Quality: drivers.QualityBad},
	})
	l.Update("pump", []drivers.Reading{{Point: "run", Value: drivers.Bool(false), Quality: drivers.QualityGood}})
	l.MarkStale("pump", []string{"run", "speed"})

	tests := []struct {
		key     string
		ok      bool
		value   drivers.Value
		quality drivers.Quality
	}{
		{"tank.level", true, drivers.Value{}, drivers.QualityBad},
		{"tank.temp", true, drivers.Number(3), drivers.QualityGood},
		{"tank.valve", true, drivers.Bool(true), drivers.QualityGood},
		{"pump.run", true, drivers.Bool(false), drivers.QualityStale},
		{"pump.speed", true, drivers.Value{}, drivers.QualityStale},
		{"pump.level", false, drivers.Value{}, 0},
		{"tank", false, drivers.Value{}, 0},
	}
	for _, tt := range tests {
		r, ok := l.Get(tt.key)
		if ok != tt.ok {
			t.Errorf("Get(%q): got found %v, want %v", tt.key, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if r.Value != tt.value || r.Quality != tt.quality {
			t.Errorf("Get(%q): got %v (%v), want %v (%v)", tt.key, r.Value, r.Quality, tt.value, tt.quality)
		}
	}

	vs := l.Values([]string{"tank.level", "tank.temp", "pump.run", "nope.x"})
	if len(vs) != 1 || vs["tank.temp"] != drivers.Number(3) {
		t.Errorf("Values: got %v, want only tank.temp = 3", vs)
	}

	env := l.env()
	tank, _ := env["tank"].(map[string]any)
	if len(env) != 1 || len(tank) != 2 || tank["temp"] != drivers.Number(3).Any() || tank["valve"] != true {
		t.Errorf("env: got %v, want tank with temp 3 and valve true only", env)
	}
}

// BenchmarkLiveUpdate is one poll cycle of a 10,000-tag device.
func BenchmarkLiveUpdate(b *testing.B) {
	rs := make([]drivers.Reading, 10000)
	for i := range rs {
		rs[i] = drivers.Reading{Point: "r" + strconv.Itoa(i), Value: drivers.Number(float64(i)), Quality: drivers.QualityGood}
	}
	l := NewLive()
	l.Update("plc", rs)
	b.ReportAllocs()
	for b.Loop() {
		l.Update("plc", rs)
	}
}
