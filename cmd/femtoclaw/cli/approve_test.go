package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
)

func TestPendingTable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	digest := "3f1c0e6d4b1a9e8f7c6d5b4a3928171605f4e3d2c1b0a9f8e7d6c5b4a3928171"
	list := []agent.PendingCall{
		{ID: "17", Principal: "tank_keeper", Call: capability.Call{Capability: "set_outlet_valve"},
			Action: json.RawMessage(`{"capability":"set_outlet_valve","kind":"write","device":"tank","point":"outlet_valve","value":{"value":40,"wire":"ACg="}}`),
			Digest: digest, Expires: now.Add(9*time.Minute + 58400*time.Millisecond)},
		{ID: "18", Principal: "operator", Call: capability.Call{Capability: "drain"},
			Action: json.RawMessage(`{"capability":"drain","kind":"sequence","steps":[{"device":"tank","point":"inlet_pump","value":{"value":0,"wire":"AAA="}},{"device":"tank","point":"outlet_valve","value":{"value":80,"wire":"AFA="}}]}`),
			Digest: digest, Expires: now.Add(-time.Second)},
		{ID: "19", Principal: "operator", Call: capability.Call{Capability: "pulse_heater"},
			Action: json.RawMessage(`{"capability":"pulse_heater","kind":"pulse","device":"tank","point":"heater","value":{"value":true,"wire":"AQ=="},"restore":{"value":false,"wire":"AA=="},"duration_ms":2000}`),
			Digest: digest, Expires: now.Add(time.Minute)},
		{ID: "20", Principal: "operator", Call: capability.Call{Capability: "odd"}, Action: json.RawMessage(`"not an action"`), Digest: digest, Expires: now},
	}
	want := `ID  PROPOSED BY  CAPABILITY        ACTION                                       EXPIRES IN  DIGEST
17  tank_keeper  set_outlet_valve  tank.outlet_valve = 40                       9m58s       ` + digest + `
18  operator     drain             tank.inlet_pump = 0; tank.outlet_valve = 80  0s          ` + digest + `
19  operator     pulse_heater      tank.heater = true for 2s, then false        1m0s        ` + digest + `
20  operator     odd               "not an action"                              0s          ` + digest + `
`
	var b bytes.Buffer
	if err := writePendingTable(&b, list, now); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	if err := writePendingTable(&b, nil, now); err != nil || b.String() != "no calls wait for approval\n" {
		t.Errorf("empty: got %q, %v; want %q", b.String(), err, "no calls wait for approval\n")
	}
}
