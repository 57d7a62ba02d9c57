package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/journal"
)

// writeRecorder is a device that records every write and resolves as a Modbus
// driver would: a uint16 register and a coil.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (r *writeRecorder) Read(_ context.Context, points []string) ([]drivers.Reading, error) {
	return nil, nil
}

func (r *writeRecorder) Resolve(point string, v drivers.Value) (drivers.Encoded, error) {
	switch point {
	case "pump":
		if v.Kind != drivers.KindNumber || v.Number < 0 || v.Number > 65535 {
			return drivers.Encoded{}, drivers.ErrValue
		}
		n := uint16(v.Number)
		return drivers.Encoded{Value: drivers.Number(float64(n)), Wire: []byte{byte(n >> 8), byte(n)}}, nil
	case "horn":
		if v.Kind != drivers.KindBool {
			return drivers.Encoded{}, drivers.ErrValue
		}
		b := byte(0)
		if v.Bool {
			b = 1
		}
		return drivers.Encoded{Value: v, Wire: []byte{b}}, nil
	}
	return drivers.Encoded{}, drivers.ErrUnknownPoint
}

func (r *writeRecorder) Write(_ context.Context, point string, e drivers.Encoded) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, point+"="+e.Value.String())
	return nil
}

func (r *writeRecorder) Close() error { return nil }

func (r *writeRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func fptr(f float64) *float64 { return &f }

// approvalRig is a core over a recording device, a real journal and a clock
// the test moves.
type approvalRig struct {
	core *agent.Core
	dev  *writeRecorder
	j    *journal.Journal
	dir  string
	mu   sync.Mutex
	now  time.Time
}

func (r *approvalRig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *approvalRig) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

func rigSpecs() []capability.Spec {
	return []capability.Spec{
		{Name: "set_pump", Kind: capability.KindWrite, Device: "plc", Point: "pump", Min: fptr(0), Max: fptr(100),
			Rate: &capability.Rate{Count: 2, Window: drivers.Duration(time.Minute)}},
		{Name: "guarded_pump", Kind: capability.KindWrite, Device: "plc", Point: "pump", Min: fptr(0), Max: fptr(100), Approval: true},
		{Name: "honk", Kind: capability.KindPulse, Device: "plc", Point: "horn", Duration: drivers.Duration(20 * time.Millisecond)},
		{Name: "prime", Kind: capability.KindSequence, Arguments: []capability.Argument{{Name: "speed", Min: fptr(0), Max: fptr(50)}},
			Steps: []capability.Step{{Device: "plc", Point: "horn", Value: fptr(1)}, {Device: "plc", Point: "pump", Argument: "speed"}, {Device: "plc", Point: "horn", Value: fptr(0)}}},
	}
}

func newApprovalRig(t *testing.T, dir string, start time.Time) *approvalRig {
	t.Helper()
	r := &approvalRig{dev: &writeRecorder{}, dir: dir, now: start}
	devCfg := drivers.DeviceConfig{Name: "plc", Driver: "modbus", Points: []drivers.PointConfig{
		{Name: "pump", Register: "holding", Type: "uint16", Writable: true},
		{Name: "horn", Register: "coil", Type: "bool", Writable: true},
	}}
	all := []string{"set_pump", "guarded_pump", "honk", "prime"}
	gate, err := capability.New(rigSpecs(), map[capability.Principal][]string{"agent": all, "operator": all},
		[]drivers.DeviceConfig{devCfg}, map[string]capability.Resolver{"plc": r.dev})
	if err != nil {
		t.Fatal(err)
	}
	r.j, err = journal.Open(filepath.Join(dir, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.j.Close() })
	r.core = agent.NewCore(agent.CoreOptions{Gate: gate, Journal: r.j, Devices: map[string]drivers.Device{"plc": r.dev},
		Configs: []drivers.DeviceConfig{devCfg}, Now: r.clock, ApprovalTTL: time.Minute})
	return r
}

func gateCall(name, args string) capability.Call {
	return capability.Call{Capability: name, Args: args}
}

func TestCoreRateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := newApprovalRig(t, dir, start)
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		res := r.core.Call(ctx, "agent", "", gateCall("set_pump", fmt.Sprintf(`{"value":%d}`, i)), agent.CallOptions{})
		if res.OK != want {
			t.Fatalf("call %d: got %+v, want ok %v", i, res, want)
		}
		r.advance(time.Second)
	}
	if res := r.core.Call(ctx, "agent", "", gateCall("set_pump", `{"value":9}`), agent.CallOptions{}); res.Reason != capability.ReasonRateLimited {
		t.Fatalf("got %+v, want rate_limited", res)
	}
	r.j.Close()

	// A new core on the same journal remembers the two admissions.
	r2 := newApprovalRig(t, dir, start.Add(10*time.Second))
	if res := r2.core.Call(ctx, "agent", "", gateCall("set_pump", `{"value":9}`), agent.CallOptions{}); res.Reason != capability.ReasonRateLimited {
		t.Fatalf("after restart: got %+v, want rate_limited", res)
	}
	r2.advance(time.Minute)
	if res := r2.core.Call(ctx, "agent", "", gateCall("set_pump", `{"value":9}`), agent.CallOptions{}); !res.OK {
		t.Fatalf("after the window: got %+v, want ok", res)
	}
}

func TestCorePulseAndSequence(t *testing.T) {
	r := newApprovalRig(t, t.TempDir(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()
	if res := r.core.Call(ctx, "agent", "", gateCall("honk", ""), agent.CallOptions{}); !res.OK {
		t.Fatalf("pulse: got %+v", res)
	}
	if res := r.core.Call(ctx, "agent", "", gateCall("prime", `{"speed":30}`), agent.CallOptions{}); !res.OK {
		t.Fatalf("sequence: got %+v", res)
	}
	if res := r.core.Call(ctx, "agent", "", gateCall("prime", `{"speed":60}`), agent.CallOptions{}); res.Reason != capability.ReasonOutOfRange {
		t.Fatalf("sequence out of range: got %+v", res)
	}
	want := []string{"horn=true", "horn=false", "horn=true", "pump=30", "horn=false"}
	if got := r.dev.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got writes %v, want %v", got, want)
	}
	// One intent per action, carrying its steps.
	var intents []string
	r.j.Scan(1, func(rec journal.Record) error {
		if rec.Kind == journal.KindIntent {
			var b struct {
				Action struct {
					Kind  string `json:"kind"`
					Steps []any  `json:"steps"`
				} `json:"action"`
			}
			json.Unmarshal(rec.Body, &b)
			intents = append(intents, fmt.Sprintf("%s/%d", b.Action.Kind, len(b.Action.Steps)))
		}
		return nil
	})
	if fmt.Sprint(intents) != "[pulse/0 sequence/3]" {
		t.Errorf("got intents %v, want [pulse/0 sequence/3]", intents)
	}
	// A cancelled pulse still restores.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r.core.Call(cctx, "agent", "", gateCall("honk", ""), agent.CallOptions{})
	if got := r.dev.got(); got[len(got)-1] != "horn=false" {
		t.Errorf("cancelled pulse: got writes %v, want the horn restored", got)
	}
}

func TestCoreApprovals(t *testing.T) {
	r := newApprovalRig(t, t.TempDir(), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()
	propose := func() string {
		res := r.core.Call(ctx, "agent", "", gateCall("guarded_pump", `{"value":42}`), agent.CallOptions{})
		if res.OK || res.Code != "pending" || res.ID == "" {
			t.Fatalf("got %+v, want pending with an id", res)
		}
		return res.ID
	}
	id := propose()
	if len(r.dev.got()) != 0 {
		t.Fatal("a pending call reached the device")
	}
	if p := r.core.Pending(); len(p) != 1 || p[0].ID != id || p[0].Digest == "" {
		t.Fatalf("got pending %+v, want %s", p, id)
	}
	if res := r.core.Approve(ctx, id, "agent", ""); res.Reason != capability.ReasonSelfApproval {
		t.Fatalf("self-approval: got %+v", res)
	}
	if res := r.core.Approve(ctx, id, "operator", ""); res.Reason != capability.ReasonUnknownApproval {
		t.Fatalf("a refused approval must use the pending call up: got %+v", res)
	}

	id = propose()
	if res := r.core.Approve(ctx, id, "operator", "0000"); res.Reason != capability.ReasonApprovalMismatch {
		t.Fatalf("changed action: got %+v", res)
	}
	id = propose()
	r.advance(2 * time.Minute)
	if res := r.core.Approve(ctx, id, "operator", ""); res.Reason != capability.ReasonUnknownApproval && res.Reason != capability.ReasonApprovalExpired {
		t.Fatalf("expired: got %+v", res)
	}
	if len(r.dev.got()) != 0 {
		t.Fatalf("refused approvals reached the device: %v", r.dev.got())
	}

	id = propose()
	if res := r.core.Reject(id, "operator"); !res.OK {
		t.Fatalf("reject: got %+v", res)
	}
	id = propose()
	if res := r.core.Approve(ctx, id, "operator", ""); !res.OK {
		t.Fatalf("approve: got %+v", res)
	}
	if got := fmt.Sprint(r.dev.got()); got != "[pump=42]" {
		t.Errorf("got writes %s, want [pump=42]", got)
	}
	if p := r.core.Pending(); len(p) != 0 {
		t.Errorf("got pending %+v, want none", p)
	}
}
