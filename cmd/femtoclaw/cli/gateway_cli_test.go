package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

// cliTTL is how long a pending call waits in the gateway these tests
// start: short enough to see one expire, long enough for a loaded machine
// to approve the others in time.
const cliTTL = 3 * time.Second

// cliConfig is the gateway these tests drive: the inlet pump is written
// freely, the outlet valve only with an operator's approval; the agent
// may propose and approve, "viewer" may only read.
const cliConfig = `
gateway: {id: clitest, data_dir: DATA}
mqtt: {listen: "127.0.0.1:0"}
devices:
  - name: tank
    driver: modbus
    url: tcp://ADDR
    unit: 1
    poll: 200ms
    timeout: 2s
    points:
      - {name: level, register: holding, address: 0, type: float32, order: ABCD, unit: "%"}
      - {name: inlet_pump, register: holding, address: 4, type: uint16, unit: "%", writable: true}
      - {name: outlet_valve, register: holding, address: 5, type: uint16, unit: "%", writable: true}
capabilities:
  - {name: read_tank, kind: read, points: [tank.level, tank.inlet_pump]}
  - {name: set_inlet_pump, kind: write, device: tank, point: inlet_pump, min: 0, max: 100}
  - {name: set_outlet_valve, kind: write, device: tank, point: outlet_valve, min: 0, max: 100, approval: true}
approvals: {ttl: TTL}
agents:
  - name: tank_keeper
    brain: {provider: scripted, script: script.json}
    allow: [read_tank, set_inlet_pump, set_outlet_valve]
    trigger: {interval: 1h}
  - name: viewer
    brain: {provider: scripted, script: script.json}
    allow: [read_tank]
    trigger: {interval: 1h}
operator:
  allow: [read_tank, set_inlet_pump, set_outlet_valve]
`

// cliGateway starts the simulator and a gateway on a fresh data dir and
// returns the plant and the data dir; both stop when the test ends.
func cliGateway(t *testing.T) (*sim.Plant, string) {
	t.Helper()
	dir := t.TempDir()
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- plant.Run(ctx) }()

	text := strings.NewReplacer("DATA", dir, "ADDR", addr.String(), "TTL", cliTTL.String()).Replace(cliConfig)
	if err := os.WriteFile(filepath.Join(dir, "script.json"), []byte(`{"loop": false, "episodes": [{"turns": [{"text": "nothing to do"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "femtoclaw.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw := gateway.New(cfg, nil)
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		<-simDone
	})
	select {
	case <-gw.Ready():
	case err := <-runDone:
		runDone <- nil // for the cleanup
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("gateway not ready after 15s")
	}
	return plant, dir
}

// cliResult runs one command against the gateway in dir and decodes the
// one JSON result it prints.
func cliResult(t *testing.T, dir string, args ...string) (int, capability.Result) {
	t.Helper()
	code, out, errOut := run(append(args, "--data", dir)...)
	var res capability.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: exit %d, stdout %q is not a result (%v); stderr %q", args, code, out, err, errOut)
	}
	return code, res
}

// pendingList returns the pending calls as femtoclaw pending --json prints
// them.
func pendingList(t *testing.T, dir string) []agent.PendingCall {
	t.Helper()
	code, out, errOut := run("pending", "--json", "--data", dir)
	if code != ExitOK {
		t.Fatalf("pending --json: exit %d, stderr %q", code, errOut)
	}
	var list []agent.PendingCall
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p agent.PendingCall
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("pending --json: %v in %q", err, out)
		}
		list = append(list, p)
	}
	return list
}

// propose asks for the outlet valve at v as principal p: the call must be
// pending with an id, and pending must list it.
func propose(t *testing.T, dir, p string, v int) agent.PendingCall {
	t.Helper()
	code, res := cliResult(t, dir, "call", "--as", p, "set_outlet_valve", `{"value":`+itoa(v)+`}`)
	if code != ExitDenied || res.Code != "pending" || res.Reason != capability.ReasonPendingApproval || res.ID == "" {
		t.Fatalf("proposal: got exit %d %+v, want exit %d, pending_approval with an id", code, res, ExitDenied)
	}
	code, table, _ := run("pending", "--data", dir)
	row := regexp.MustCompile(`(?m)^` + res.ID + ` +` + p + ` +set_outlet_valve +tank\.outlet_valve = ` + itoa(v) + ` +\d+s +[0-9a-f]{64}$`)
	if code != ExitOK || !row.MatchString(table) {
		t.Fatalf("pending: got exit %d and\n%s\nwant exit 0 and a row for %s", code, table, res.ID)
	}
	for _, pc := range pendingList(t, dir) {
		if pc.ID == res.ID {
			if pc.Principal != capability.Principal(p) || pc.Call.Capability != "set_outlet_valve" || pc.Digest == "" {
				t.Fatalf("pending %s: got %+v, want %s's set_outlet_valve with a digest", res.ID, pc, p)
			}
			return pc
		}
	}
	t.Fatalf("pending does not list %s", res.ID)
	return agent.PendingCall{}
}

func itoa(v int) string { b, _ := json.Marshal(v); return string(b) }

// TestCallThroughRunningGateway drives call, pending, approve and reject
// through cli.Main against a running gateway, and checks each against the
// writes the simulated plant received.
func TestCallThroughRunningGateway(t *testing.T) {
	plant, dir := cliGateway(t)
	writes := func() int { return len(plant.Writes()) }
	const pump, valve = 4, 5 // holding addresses

	// Allowed: done, and the plant changed.
	code, res := cliResult(t, dir, "call", "set_inlet_pump", `{"value":37}`)
	if code != ExitOK || !res.OK {
		t.Fatalf("allowed call: got exit %d %+v, want exit 0 ok", code, res)
	}
	if got := plant.Holding(pump); got != 37 {
		t.Fatalf("after the allowed call: got inlet pump %d, want 37", got)
	}
	base := writes()

	// Denied: exit 3 with a typed reason, and nothing written.
	for _, tt := range []struct {
		args []string
		want capability.Reason
	}{
		{[]string{"call", "set_inlet_pump", `{"value":250}`}, capability.ReasonOutOfRange},
		{[]string{"call", "set_inlet_pump", `{"value":"50"}`}, capability.ReasonInvalidArguments},
		{[]string{"call", "set_inlet_pump", `{"value":50,"confirm":true}`}, capability.ReasonInvalidArguments},
		{[]string{"call", "Set_Inlet_Pump", `{"value":50}`}, capability.ReasonUnknownCapability},
		{[]string{"call", "--as", "viewer", "set_inlet_pump", `{"value":50}`}, capability.ReasonNotAllowed},
		{[]string{"call", "--as", "stranger", "read_tank"}, capability.ReasonNotAllowed},
	} {
		code, res := cliResult(t, dir, tt.args...)
		if code != ExitDenied || res.OK || res.Code != "denied" || res.Reason != tt.want {
			t.Errorf("%v: got exit %d %+v, want exit %d denied %s", tt.args, code, res, ExitDenied, tt.want)
		}
	}
	if got := plant.Holding(pump); got != 37 || writes() != base {
		t.Fatalf("after denied calls: got inlet pump %d and %d new writes, want 37 and none", got, writes()-base)
	}

	// Dry run: decided and allowed, nothing written.
	code, res = cliResult(t, dir, "call", "--dry-run", "set_inlet_pump", `{"value":55}`)
	if code != ExitOK || !res.OK || !res.DryRun {
		t.Fatalf("dry run: got exit %d %+v, want exit 0 ok dry_run", code, res)
	}
	if got := plant.Holding(pump); got != 37 || writes() != base {
		t.Fatalf("after the dry run: got inlet pump %d and %d new writes, want 37 and none", got, writes()-base)
	}

	// A read is done and carries values.
	if code, res := cliResult(t, dir, "call", "read_tank"); code != ExitOK || !res.OK || res.Value == nil {
		t.Fatalf("read: got exit %d %+v, want exit 0 ok with values", code, res)
	}

	valve0 := plant.Holding(valve)
	unchanged := func(what string) {
		t.Helper()
		if got := plant.Holding(valve); got != valve0 || writes() != base {
			t.Fatalf("%s: got outlet valve %d and %d new writes, want %d and none", what, got, writes()-base, valve0)
		}
	}

	// Pending, then approved by its own proposer: refused, and used up.
	pc := propose(t, dir, "operator", 40)
	unchanged("pending call")
	if code, res := cliResult(t, dir, "approve", pc.ID); code != ExitDenied || res.Reason != capability.ReasonSelfApproval {
		t.Fatalf("self-approval: got exit %d %+v, want exit %d self_approval", code, res, ExitDenied)
	}
	unchanged("self-approval")
	if code, res := cliResult(t, dir, "approve", "--as", "tank_keeper", pc.ID); code != ExitDenied || res.Reason != capability.ReasonUnknownApproval {
		t.Fatalf("approval after a refused one: got exit %d %+v, want exit %d unknown_approval", code, res, ExitDenied)
	}

	// A principal that may not call the capability may not approve it.
	pc = propose(t, dir, "operator", 40)
	if code, res := cliResult(t, dir, "approve", "--as", "viewer", pc.ID); code != ExitDenied || res.Reason != capability.ReasonNotAllowed {
		t.Fatalf("approval by viewer: got exit %d %+v, want exit %d not_allowed", code, res, ExitDenied)
	}
	unchanged("approval by a principal without the capability")

	// Approval of a changed action: the operator saw another digest.
	pc = propose(t, dir, "tank_keeper", 40)
	other := propose(t, dir, "tank_keeper", 41)
	if code, res := cliResult(t, dir, "approve", "--digest", other.Digest, pc.ID); code != ExitDenied || res.Reason != capability.ReasonApprovalMismatch {
		t.Fatalf("approval of another action: got exit %d %+v, want exit %d approval_mismatch", code, res, ExitDenied)
	}
	unchanged("approval of another action")

	// Reject: done, and the call can no longer be approved.
	if code, res := cliResult(t, dir, "reject", other.ID); code != ExitOK || !res.OK {
		t.Fatalf("reject: got exit %d %+v, want exit 0 ok", code, res)
	}
	if code, res := cliResult(t, dir, "approve", other.ID); code != ExitDenied || res.Reason != capability.ReasonUnknownApproval {
		t.Fatalf("approval after reject: got exit %d %+v, want exit %d unknown_approval", code, res, ExitDenied)
	}
	if code, res := cliResult(t, dir, "reject", other.ID); code != ExitDenied || res.Reason != capability.ReasonUnknownApproval {
		t.Fatalf("second reject: got exit %d %+v, want exit %d unknown_approval", code, res, ExitDenied)
	}
	unchanged("reject")

	// Expiry: a call left waiting longer than the TTL is refused.
	pc = propose(t, dir, "tank_keeper", 42)
	time.Sleep(time.Until(pc.Expires) + 100*time.Millisecond)
	if code, res := cliResult(t, dir, "approve", pc.ID); code != ExitDenied || res.Reason != capability.ReasonApprovalExpired {
		t.Fatalf("expired approval: got exit %d %+v, want exit %d approval_expired", code, res, ExitDenied)
	}
	unchanged("expired approval")

	// Approval by another principal carries out exactly the bound action:
	// one write of 43 to the outlet valve, and nothing else.
	pc = propose(t, dir, "tank_keeper", 43)
	code, res = cliResult(t, dir, "approve", "--digest", pc.Digest, pc.ID)
	if code != ExitOK || !res.OK {
		t.Fatalf("approval: got exit %d %+v, want exit 0 ok", code, res)
	}
	all := plant.Writes()
	if got := all[base:]; len(got) != 1 || got[0].Table != "holding" || got[0].Address != valve || len(got[0].Values) != 1 || got[0].Values[0] != 43 {
		t.Fatalf("after the approval: got writes %+v, want one write of 43 to holding %d", got, valve)
	}
	if code, res := cliResult(t, dir, "approve", "--as", "tank_keeper", pc.ID); code != ExitDenied || res.Reason != capability.ReasonUnknownApproval {
		t.Fatalf("second approval: got exit %d %+v, want exit %d unknown_approval", code, res, ExitDenied)
	}
	// Every decision, refusals included, used its pending call up.
	if list := pendingList(t, dir); len(list) != 0 {
		t.Fatalf("pending at the end: got %+v, want none", list)
	}
}
