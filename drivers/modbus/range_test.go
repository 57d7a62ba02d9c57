package modbus

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

// TestRangeAgainstBulk reads and writes the points of ranges on a bulk
// simulator device, whose holding register i holds i.
func TestRangeAgainstBulk(t *testing.T) {
	b, err := sim.ListenBulk(sim.BulkOptions{Devices: 1, Registers: 400, Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg := drivers.DeviceConfig{
		Name: "bulk", URL: "tcp://" + b.Addrs()[0].String(), Unit: 1, Timeout: drivers.Duration(time.Second),
		Points: []drivers.PointConfig{
			{Name: "r", Register: "holding", Address: 0, Type: "uint16", Count: 150, Writable: true},
			{Name: "w_", Register: "holding", Address: 200, Type: "uint32", Order: "ABCD", Count: 10},
			{Name: "single", Register: "input", Address: 399, Type: "uint16"},
		},
	}
	d := openDevice(t, cfg)
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 161 {
		t.Fatalf("Read: got %d readings, want 161", len(rs))
	}
	for k := range 150 {
		if r := rs[k]; r.Point != fmt.Sprintf("r%d", k) || r.Value.Number != float64(k) || r.Quality != drivers.QualityGood {
			t.Errorf("reading %d: got %s=%v (%v), want r%d=%d", k, r.Point, r.Value, r.Quality, k, k)
		}
	}
	for k := range 10 {
		a := 200 + 2*k
		want := float64(uint32(a)<<16 | uint32(a+1))
		if r := rs[150+k]; r.Point != fmt.Sprintf("w_%d", k) || r.Value.Number != want {
			t.Errorf("reading %d: got %s=%v, want w_%d=%v", 150+k, r.Point, r.Value, k, want)
		}
	}
	if r := rs[160]; r.Point != "single" || r.Value.Number != 399 {
		t.Errorf("reading 160: got %s=%v, want single=399", r.Point, r.Value)
	}
	// One point of a range is read and written by its name.
	m := readMap(t, d, "r149", "w_9")
	if m["r149"].Value.Number != 149 || m["w_9"].Value.Number != float64(uint32(218)<<16|219) {
		t.Errorf("Read(r149, w_9): got %v", m)
	}
	enc, err := d.Resolve("r42", drivers.Number(4242))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), "r42", enc); err != nil {
		t.Fatal(err)
	}
	if got := b.Holding(0, 42); got != 4242 {
		t.Errorf("after writing r42: holding 42 = %d, want 4242", got)
	}
	if _, err := d.Resolve("w_3", drivers.Number(1)); err == nil {
		t.Errorf("Resolve(w_3): a point of a range that is not writable took a value")
	}
	if _, err := d.Resolve("r150", drivers.Number(1)); err == nil {
		t.Errorf("Resolve(r150): a point past the range took a value")
	}
}

func TestRangePastTheEnd(t *testing.T) {
	cfg := drivers.DeviceConfig{Name: "x", URL: "tcp://127.0.0.1:502", Points: []drivers.PointConfig{
		{Name: "f_", Register: "holding", Address: 65000, Type: "float32", Count: 300},
	}}
	_, err := newDevice(cfg, nil)
	if err == nil {
		t.Fatal("newDevice: a range running past address 65535 was accepted")
	}
	t.Log(err)
}

// TestPointSize guards the driver's footprint: 100,000 points take 48
// bytes each.
func TestPointSize(t *testing.T) {
	if n := unsafe.Sizeof(point{}); n > 48 {
		t.Errorf("point takes %d bytes, want at most 48", n)
	}
	if n := unsafe.Sizeof(drivers.Value{}); n > 32 {
		t.Errorf("drivers.Value takes %d bytes, want at most 32", n)
	}
}

// TestReadInto reads every point into the caller's slice, again and again,
// and into a new one when it is too small.
func TestReadInto(t *testing.T) {
	b, err := sim.ListenBulk(sim.BulkOptions{Devices: 1, Registers: 300, Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d := openDevice(t, drivers.DeviceConfig{
		Name: "bulk", URL: "tcp://" + b.Addrs()[0].String(), Unit: 1, Timeout: drivers.Duration(time.Second),
		Points: []drivers.PointConfig{{Name: "r", Register: "holding", Type: "uint16", Count: 300}},
	})
	small := make([]drivers.Reading, 10)
	rs, err := d.ReadInto(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 300 || &rs[0] == &small[0] {
		t.Fatalf("ReadInto a slice of 10: got %d readings in it, want 300 in a new one", len(rs))
	}
	buf := make([]drivers.Reading, 300)
	for i := range buf {
		buf[i] = drivers.Reading{Point: "stale", Quality: drivers.QualityStale}
	}
	for range 3 {
		rs, err = d.ReadInto(context.Background(), buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 300 || &rs[0] != &buf[0] {
			t.Fatalf("ReadInto a slice of 300: got %d readings, in it %v; want 300 in it", len(rs), &rs[0] == &buf[0])
		}
		for k, r := range rs {
			if r.Point != fmt.Sprintf("r%d", k) || r.Value.Number != float64(k) || r.Quality != drivers.QualityGood {
				t.Fatalf("reading %d: got %+v", k, r)
			}
		}
	}
}
