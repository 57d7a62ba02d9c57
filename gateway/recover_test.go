package gateway_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/journal"
)

const recoverConfig = `gateway:
  id: recover
  data_dir: /nonexistent
mqtt:
  listen: 127.0.0.1:0
devices:
  - name: tank
    driver: modbus
    url: tcp://ADDR
    unit: 1
    points:
      - {name: inlet_pump, register: holding, address: 4, type: uint16, writable: true}
      - {name: outlet_valve, register: holding, address: 5, type: uint16, writable: true}
      - {name: heater_setpoint, register: holding, address: 6, type: int16, scale: 0.1, writable: true}
      - {name: heater, register: coil, address: 0, writable: true}
capabilities:
  - {name: set_inlet_pump, description: pump, kind: write, device: tank, point: inlet_pump, min: 0, max: 100}
  - {name: set_outlet_valve, description: valve, kind: write, device: tank, point: outlet_valve, min: 0, max: 100}
  - {name: set_heater_setpoint, description: setpoint, kind: write, device: tank, point: heater_setpoint, min: 20, max: 60}
  - {name: set_heater, description: heater, kind: write, device: tank, point: heater, min: 0, max: 1}
operator:
  allow: [set_inlet_pump, set_outlet_valve, set_heater_setpoint, set_heater]
`

// TestRecover journals intents the way the core does, as a crash would leave
// them (some written to the plant, some not, one for a device that is gone,
// one already with its outcome), and checks how Recover resolves each
// against the real simulator, and that it writes nothing to the plant.
func TestRecover(t *testing.T) {
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plant.Close()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "gateway.yaml"), []byte(strings.ReplaceAll(recoverConfig, "ADDR", addr.String())))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	devices := map[string]drivers.Device{}
	resolvers := map[string]capability.Resolver{}
	for _, dc := range cfg.Devices {
		d, err := drivers.Open(dc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		devices[dc.Name], resolvers[dc.Name] = d, d
	}
	gate, err := capability.New(cfg.Capabilities, map[capability.Principal][]string{"operator": cfg.Operator.Allow}, cfg.Devices, resolvers)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(dir, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	ctx := context.Background()
	// intent journals an allowed call's intent as the core does and, if
	// apply, writes it to the plant as the core would have before the crash.
	intent := func(capName, args string, apply, outcome bool) uint64 {
		t.Helper()
		d := gate.Decide("operator", capability.Call{Capability: capName, Args: args}, capability.Snapshot{Time: time.Now()})
		if d.Action == nil {
			t.Fatalf("%s %s: %s %s, want allow", capName, args, d.Outcome, d.Reason)
		}
		r, err := j.AppendSync(journal.Entry{Kind: journal.KindIntent, Principal: "operator", Body: map[string]any{"decision": 0, "action": d.Action}})
		if err != nil {
			t.Fatal(err)
		}
		if apply {
			if err := devices[d.Action.Device()].Write(ctx, d.Action.Point(), d.Action.Value()); err != nil {
				t.Fatal(err)
			}
		}
		if outcome {
			if _, err := j.AppendSync(journal.Entry{Kind: journal.KindOutcome, Ref: r.Seq, Body: map[string]any{"ok": true}}); err != nil {
				t.Fatal(err)
			}
		}
		return r.Seq
	}
	applied := intent("set_inlet_pump", `{"value": 70}`, true, false)
	notApplied := intent("set_outlet_valve", `{"value": 55}`, false, false)
	done := intent("set_outlet_valve", `{"value": 60}`, true, true)
	scaled := intent("set_heater_setpoint", `{"value": 41.5}`, true, false)
	coil := intent("set_heater", `{"value": true}`, true, false)
	ghost, err := j.AppendSync(journal.Entry{Kind: journal.KindIntent, Body: json.RawMessage(
		`{"decision":0,"action":{"capability":"x","kind":"write","device":"gone","point":"p","value":{"value":1,"wire":"AAE="}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	garbled, err := j.AppendSync(journal.Entry{Kind: journal.KindIntent, Body: "not an action"})
	if err != nil {
		t.Fatal(err)
	}
	writes := len(plant.Writes())

	got, err := gateway.Recover(ctx, j, devices, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{
		applied:     gateway.RecoveredApplied,
		notApplied:  gateway.RecoveredNotApplied,
		scaled:      gateway.RecoveredApplied,
		coil:        gateway.RecoveredApplied,
		ghost.Seq:   gateway.RecoveredInDoubt,
		garbled.Seq: gateway.RecoveredInDoubt,
	}
	if len(got) != len(want) {
		t.Fatalf("Recover resolved %d intents, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		if r.Intent == done {
			t.Fatalf("intent %d already had an outcome but was resolved again", done)
		}
		if r.As != want[r.Intent] {
			t.Errorf("intent %d: got %s, want %s", r.Intent, r.As, want[r.Intent])
		}
	}
	if n := len(plant.Writes()); n != writes {
		t.Fatalf("plant writes during recovery: got %d, want 0", n-writes)
	}
	// Every outcome is journaled and refers to its intent.
	outcomes := map[uint64]string{}
	if err := j.Scan(1, func(r journal.Record) error {
		if r.Kind == journal.KindOutcome {
			var b struct {
				Recovered string `json:"recovered"`
			}
			_ = json.Unmarshal(r.Body, &b)
			outcomes[r.Ref] = b.Recovered
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for seq, as := range want {
		if outcomes[seq] != as {
			t.Errorf("journaled outcome of intent %d: got recovered=%q, want %q", seq, outcomes[seq], as)
		}
	}
	if open, err := j.OpenIntents(); err != nil || len(open) != 0 {
		t.Fatalf("OpenIntents after recovery: got %d, %v, want none", len(open), err)
	}
	if again, err := gateway.Recover(ctx, j, devices, nil); err != nil || len(again) != 0 {
		t.Fatalf("second Recover: got %+v, %v, want nothing to do", again, err)
	}
	if res, err := j.Verify(); err != nil || !res.OK {
		t.Fatalf("Verify: %+v, %v", res, err)
	}
}
