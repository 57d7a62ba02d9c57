package capability_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
)

// TestReplay records decisions as the journal does (JSON), re-decides them
// from the recorded inputs and finds no difference; a changed input is
// reported.
func TestReplay(t *testing.T) {
	g := newLimitGate(t)
	live := values("tank.inlet_pump", 40.0, "tank.level", 50.0, "tank.heater", false)
	snaps := []capability.Snapshot{
		{Time: t0, Values: live},
		{Time: t0, Values: live, Admitted: admitted("agent", 10*time.Second, 5*time.Second)},
		{Time: t0.Add(time.Second), Values: values("tank.level", 95.0, "tank.heater", true)},
	}
	var recs [][]byte
	for _, s := range limitSpecs() {
		for _, args := range []string{`{"value":45}`, `{"value":50}`, `{"speed":30}`, ``, `{}`} {
			for _, snap := range snaps {
				d := g.Decide("agent", capability.Call{Capability: s.Name, Args: args}, snap)
				b, err := json.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, b)
			}
		}
	}
	outcomes := map[string]int{}
	for _, b := range recs {
		var r capability.Recorded
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		d, diffs := g.Replay(r)
		if len(diffs) > 0 {
			t.Errorf("%s: replay differs: %v", b, diffs)
		}
		outcomes[d.Outcome.String()+"/"+string(d.Reason)]++
	}
	for _, want := range []string{"allow/", "pending/pending_approval", "deny/step_too_large", "deny/interlock", "deny/out_of_range", "deny/invalid_arguments"} {
		if outcomes[want] == 0 {
			t.Errorf("no %s among the replayed decisions (%v)", want, outcomes)
		}
	}

	// Change one recorded input: the level the interlock read.
	var r capability.Recorded
	d := g.Decide("agent", capability.Call{Capability: "pump_lock", Args: `{"value":10}`}, snaps[0])
	b, _ := json.Marshal(d)
	json.Unmarshal(b, &r)
	r.Snapshot.Values = values("tank.level", 99.0, "tank.heater", false)
	_, diffs := g.Replay(r)
	if len(diffs) == 0 || !strings.Contains(strings.Join(diffs, "\n"), `outcome: recorded "allow", now "deny"`) {
		t.Errorf("got differences %q, want the outcome reported", diffs)
	}
}
