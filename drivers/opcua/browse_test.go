package opcua

import (
	"testing"
)

func TestBrowsePlant(t *testing.T) {
	_, ep := startPlant(t)
	cfg := noneConfig(ep)
	cfg.Points = nil
	d := openDevice(t, cfg)
	nodes, err := d.Browse(t.Context(), "", 3)
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	got := map[string]NodeInfo{}
	for _, n := range nodes {
		got[n.NodeID] = n
	}
	want := []NodeInfo{
		{NodeID: "ns=1;s=tank.level", Type: "float64", DataType: "Double", Readable: true},
		{NodeID: "ns=1;s=tank.inlet_pump", Type: "uint16", DataType: "UInt16", Readable: true, Writable: true},
		{NodeID: "ns=1;s=tank.heater", Type: "bool", DataType: "Boolean", Readable: true, Writable: true},
		{NodeID: "ns=1;s=tank.total_inflow", Type: "uint32", DataType: "UInt32", Readable: true},
	}
	for _, w := range want {
		g, ok := got[w.NodeID]
		g.Path = ""
		if !ok || g != w {
			t.Errorf("Browse %s: got %+v, want %+v", w.NodeID, g, w)
		}
	}
}

func TestPointName(t *testing.T) {
	for in, want := range map[string]string{
		"urn:femtoclaw:sim/tank.level": "urn_femtoclaw_sim_tank_level",
		"Tank 1/Level (%)":             "tank_1_level",
		"":                             "point",
	} {
		if got := PointName(in); got != want {
			t.Errorf("PointName(%q): got %q, want %q", in, got, want)
		}
	}
}
