package gateway_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

// documentedTopic finds the topics of docs/MQTT.md's topic table.
var documentedTopic = regexp.MustCompile("(?m)^\\| `<p>/([^`]+)`")

// TestNodeREDFlow checks the Node-RED dashboard in configs/dashboards: it
// parses, its wires join existing nodes, and every MQTT subscription reads
// a topic docs/MQTT.md documents, under the demo gateway's prefix.
func TestNodeREDFlow(t *testing.T) {
	data, err := os.ReadFile("../configs/dashboards/node-red-flow.json")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []struct {
		ID     string     `json:"id"`
		Type   string     `json:"type"`
		Topic  string     `json:"topic"`
		Broker string     `json:"broker"`
		Wires  [][]string `json:"wires"`
	}
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatalf("node-red-flow.json: %v", err)
	}
	doc, err := os.ReadFile("../docs/MQTT.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range documentedTopic.FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1])
	}
	if len(documented) < 8 {
		t.Fatalf("docs/MQTT.md: found %d topics in the table, want the whole table: %v", len(documented), documented)
	}
	cfg, err := config.Parse("../configs/demo.yaml", configs.Demo())
	if err != nil {
		t.Fatal(err)
	}
	prefix := cfg.MQTT.Prefix + "/"

	ids := map[string]bool{}
	for _, n := range nodes {
		if ids[n.ID] {
			t.Errorf("node id %s twice", n.ID)
		}
		ids[n.ID] = true
	}
	subscriptions := 0
	for _, n := range nodes {
		for _, out := range n.Wires {
			for _, to := range out {
				if !ids[to] {
					t.Errorf("node %s (%s) is wired to %s, which does not exist", n.ID, n.Type, to)
				}
			}
		}
		if n.Type != "mqtt in" {
			continue
		}
		subscriptions++
		if !ids[n.Broker] {
			t.Errorf("node %s: broker %s does not exist", n.ID, n.Broker)
		}
		sub, ok := strings.CutPrefix(n.Topic, prefix)
		if !ok {
			t.Errorf("node %s: topic %q is not under the demo prefix %q", n.ID, n.Topic, prefix)
			continue
		}
		if !matchesDocumented(sub, documented) {
			t.Errorf("node %s: topic %q matches no topic of docs/MQTT.md (%v)", n.ID, n.Topic, documented)
		}
	}
	if subscriptions < 6 {
		t.Errorf("got %d MQTT subscriptions, want status, telemetry, decisions, actuations, episodes and approvals", subscriptions)
	}
}

// matchesDocumented reports whether the subscription filter sub (relative
// to the prefix, with + wildcards) matches one of the documented topics,
// whose <placeholders> match any level.
func matchesDocumented(sub string, documented []string) bool {
	fl := strings.Split(sub, "/")
	for _, d := range documented {
		dl := strings.Split(d, "/")
		if len(dl) != len(fl) {
			continue
		}
		ok := true
		for i := range dl {
			if fl[i] != "+" && !strings.HasPrefix(dl[i], "<") && fl[i] != dl[i] {
				ok = false
			}
			if fl[i] == "+" && !strings.HasPrefix(dl[i], "<") {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}
