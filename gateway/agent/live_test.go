package agent

import (
	"fmt"
	"strconv"
	"testing"
	"time"
	"unsafe"

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
	stale := l.MarkStale("pump", []string{"run", "speed"}, time.Unix(7, 0))
	if len(stale) != 2 || stale[0].Value != drivers.Bool(false) || stale[0].Quality != drivers.QualityStale || !stale[1].Time.Equal(time.Unix(7, 0)) || stale[1].Value.Valid() {
		t.Errorf("MarkStale: got %v, want run=false and speed with no value, both stale at 7s", stale)
	}

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

	env := l.env(reads{"tank": nil, "pump": nil})
	tank, _ := env["tank"].(map[string]any)
	if len(env) != 1 || len(tank) != 2 || tank["temp"] != drivers.Number(3).Any() || tank["valve"] != true {
		t.Errorf("env: got %v, want tank with temp 3 and valve true only", env)
	}
	env = l.env(reads{"tank": {"temp": true, "level": true}, "nope": {"x": true}})
	tank, _ = env["tank"].(map[string]any)
	if len(env) != 1 || len(tank) != 1 || tank["temp"] != drivers.Number(3).Any() {
		t.Errorf("env of tank.temp, tank.level and nope.x: got %v, want tank with temp 3 only", env)
	}
}

// TestReadsOf finds the values an expression reads.
func TestReadsOf(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string
	}{
		{"tank.level < 20 || tank.temperature > 70", "map[tank:map[level:true temperature:true]]"},
		{"tank.level < 20 && pump.run", "map[pump:map[run:true] tank:map[level:true]]"},
		{`tank["level"] > 1`, "map[tank:map[level:true]]"},
		{"len(tank) > 2 || tank.level > 1", "map[tank:all]"}, // the whole device
		{"1 < 2", "map[]"},
	} {
		p, err := CompileExpr(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		r := readsOf(p)
		shown := make(map[string]any, len(r))
		for dev, pts := range r {
			shown[dev] = pts
			if pts == nil {
				shown[dev] = "all"
			}
		}
		if got := fmt.Sprint(shown); got != tc.want {
			t.Errorf("readsOf(%s): got %s, want %s", tc.src, got, tc.want)
		}
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

// TestLiveConfigured stores the readings of configured devices, ranges
// included, by the configuration's positions, and still takes points it
// was not told of.
func TestLiveConfigured(t *testing.T) {
	cfg := drivers.DeviceConfig{Name: "plc", Points: []drivers.PointConfig{
		{Name: "level", Register: "holding", Type: "float32"},
		{Name: "r", Register: "holding", Type: "uint16", Count: 1000},
	}}
	l := NewLive(cfg)
	if _, ok := l.Get("plc.r5"); ok {
		t.Fatalf("Get(plc.r5) before any reading: got one, want none")
	}
	rs := make([]drivers.Reading, 0, 1001)
	rs = append(rs, drivers.Reading{Point: "level", Value: drivers.Number(-1), Quality: drivers.QualityGood})
	for k := range 1000 {
		rs = append(rs, drivers.Reading{Point: "r" + strconv.Itoa(k), Value: drivers.Number(float64(k)), Quality: drivers.QualityGood})
	}
	l.Update("plc", rs)
	// A read of a few points out of order, and a point of no entry.
	l.Update("plc", []drivers.Reading{
		{Point: "r999", Value: drivers.Number(9990), Quality: drivers.QualityGood},
		{Point: "level", Value: drivers.Number(50), Quality: drivers.QualityGood},
		{Point: "ghost", Value: drivers.Number(1), Quality: drivers.QualityGood},
	})
	for key, want := range map[string]float64{"plc.level": 50, "plc.r0": 0, "plc.r998": 998, "plc.r999": 9990, "plc.ghost": 1} {
		if r, ok := l.Get(key); !ok || r.Value.Number != want {
			t.Errorf("Get(%q): got %v %v, want %v", key, r.Value, ok, want)
		}
	}
	if _, ok := l.Get("plc.r1000"); ok {
		t.Errorf("Get(plc.r1000): a point past the range has a reading")
	}
	// The poller's update in order allocates nothing.
	if n := testing.AllocsPerRun(10, func() { l.Update("plc", rs) }); n != 0 {
		t.Errorf("Update of 1,001 readings in order: %v allocations, want 0", n)
	}
}

// TestLiveValueSize guards the store's footprint: 100,000 points take 48
// bytes each.
func TestLiveValueSize(t *testing.T) {
	if n := unsafe.Sizeof(liveValue{}); n > 48 {
		t.Errorf("liveValue takes %d bytes, want at most 48", n)
	}
}
