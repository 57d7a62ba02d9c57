package opcua

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

// waitLatest waits until Latest reports live (want true) or not, and
// returns the readings by point.
func waitLatest(t *testing.T, d *Device, want bool, within time.Duration, what string) map[string]drivers.Reading {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rs, live := d.Latest()
		if live == want {
			out := make(map[string]drivers.Reading, len(rs))
			for _, r := range rs {
				out[r.Point] = r
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Latest live: got %v after %s, want %v", what, live, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscribe has the simulator's server report changes: the values a
// subscription reports follow writes, the subscription is lost when the
// network is cut (so the gateway polls) and is re-created on the one new
// session once the network returns.
func TestSubscribe(t *testing.T) {
	p, ep := startPlant(t)
	px := startProxy(t, ep[len("opc.tcp://"):])
	cfg := noneConfig(px.url())
	cfg.OPCUA.Subscribe = true
	cfg.OPCUA.PublishInterval = drivers.Duration(100 * time.Millisecond)
	cfg.Points = []drivers.PointConfig{
		{Name: "level", Node: "ns=1;s=tank.level", Type: "float64"},
		{Name: "outlet_valve", Node: "ns=1;s=tank.outlet_valve", Type: "uint16", Writable: true},
		{Name: "heater", Node: "ns=1;s=tank.heater", Type: "bool"},
		// The server has no such node: the point reports, as bad.
		{Name: "ghost", Node: "ns=1;s=tank.ghost", Type: "float64"},
	}
	d := openDevice(t, cfg)
	if _, live := d.Latest(); live {
		t.Fatal("Latest before Subscribe: got live, want not")
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Subscribe(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Subscribe: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Subscribe did not return within 5s of its context's end")
		}
	}()

	got := waitLatest(t, d, true, 5*time.Second, "first subscription")
	if r := got["level"]; r.Quality != drivers.QualityGood || r.Value != drivers.Number(40) {
		t.Errorf("level: got %v %v, want good 40", r.Value, r.Quality)
	}
	if r := got["ghost"]; r.Quality != drivers.QualityBad {
		t.Errorf("ghost: got quality %v, want bad", r.Quality)
	}
	if r, want := got["heater"], drivers.Bool(p.Coil(sim.CoilHeater)); r.Value != want {
		t.Errorf("heater: got %v, want %v", r.Value, want)
	}
	before := p.Holding(sim.RegOutletValve)
	defer func() {
		e, _ := d.Resolve("outlet_valve", drivers.Number(float64(before)))
		d.Write(context.Background(), "outlet_valve", e)
	}()

	// A write shows in the reported values without a read.
	next := (before + 7) % 100
	e, err := d.Resolve("outlet_valve", drivers.Number(float64(next)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(ctx, "outlet_valve", e); err != nil {
		t.Fatalf("Write: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		rs, live := d.Latest()
		if live && rs[1].Value == drivers.Number(float64(next)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outlet_valve after a write of %d: got %v (live %v) after 3s", next, rs, live)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The network goes: the subscription is lost and reads fail fast.
	px.setCut(true)
	waitLatest(t, d, false, 3*time.Second, "after the cut")
	if _, err := d.Read(ctx, nil); !errors.Is(err, drivers.ErrUnavailable) {
		t.Errorf("Read while cut: got %v, want ErrUnavailable", err)
	}

	// It returns: one new session, the subscription on it.
	px.setCut(false)
	got = waitLatest(t, d, true, maxBackoff+5*time.Second, "after the network returned")
	if r := got["outlet_valve"]; r.Value != drivers.Number(float64(next)) {
		t.Errorf("outlet_valve after the return: got %v, want %d", r.Value, next)
	}
	if n := d.Connects(); n != 2 {
		t.Errorf("sessions opened: got %d, want 2 (one before, one after the cut)", n)
	}
}

// TestSubscribeNotConfigured returns at once: the device is polled.
func TestSubscribeNotConfigured(t *testing.T) {
	d := openDevice(t, noneConfig("opc.tcp://127.0.0.1:1"))
	if err := d.Subscribe(t.Context()); err != nil {
		t.Fatalf("Subscribe: got %v, want nil", err)
	}
	if _, live := d.Latest(); live {
		t.Error("Latest: got live, want not")
	}
}
