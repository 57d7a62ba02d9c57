package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/journal"

	_ "github.com/femtoclaw/femtoclaw/drivers/all"
)

// plant is a real gate, journal and core in front of the simulator behind a
// real Modbus TCP server on loopback: the demo gateway without MQTT.
type plant struct {
	sim     *sim.Plant
	core    *agent.Core
	journal *journal.Journal
	cfg     *config.Config
	live    *agent.Live // the values the core's snapshots and the agents' context read
}

// newPlant starts the simulator and builds the demo's gate, journal and core.
func newPlant(t testing.TB) *plant {
	t.Helper()
	p := sim.New(sim.Options{})
	addr, err := p.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), configs.DemoScript(), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	j, err := journal.Open(filepath.Join(dir, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })

	devices := map[string]drivers.Device{}
	resolvers := map[string]capability.Resolver{}
	for _, dc := range cfg.Devices {
		d, err := drivers.Open(dc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		devices[dc.Name], resolvers[dc.Name] = d, d
	}
	allow := map[capability.Principal][]string{"operator": cfg.Operator.Allow}
	for _, a := range cfg.Agents {
		allow[capability.Principal(a.Name)] = a.Allow
	}
	gate, err := capability.New(cfg.Capabilities, allow, cfg.Devices, resolvers)
	if err != nil {
		t.Fatal(err)
	}
	live := agent.NewLive()
	core := agent.NewCore(agent.CoreOptions{Gate: gate, Journal: j, Devices: devices, Configs: cfg.Devices, Live: live})
	return &plant{sim: p, core: core, journal: j, cfg: cfg, live: live}
}

// agent builds the demo's agent (tank_keeper) on provider p.
func (pl *plant) agent(p brain.Provider, b agent.Budget) *agent.Agent {
	ac := pl.cfg.Agents[0]
	return agent.New(agent.Options{
		Name: ac.Name, Instructions: ac.Instructions, Provider: p, Core: pl.core,
		Journal: pl.journal, Budget: b,
	})
}

// decision is the part of a journaled decision a replay must reproduce.
type decision struct {
	Capability string `json:"capability"`
	Args       string `json:"args"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	Action     string `json:"action"`
}

// decisions returns every decision journaled, in order.
func (pl *plant) decisions(t testing.TB) []decision {
	t.Helper()
	var out []decision
	err := pl.journal.Scan(0, func(r journal.Record) error {
		if r.Kind != journal.KindDecision {
			return nil
		}
		var d struct {
			Outcome string          `json:"outcome"`
			Reason  string          `json:"reason"`
			Call    capability.Call `json:"call"`
			Action  rawJSON         `json:"action"`
		}
		if err := jsonUnmarshal(r.Body, &d); err != nil {
			return err
		}
		out = append(out, decision{Capability: d.Call.Capability, Args: d.Call.Args, Outcome: d.Outcome, Reason: d.Reason, Action: string(d.Action)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noSleep stands in for the providers' wait between attempts.
func noSleep(context.Context, time.Duration) error { return nil }
