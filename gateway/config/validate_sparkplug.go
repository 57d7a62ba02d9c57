package config

import (
	"strconv"
	"strings"
)

// MQTTSparkplug runs a Sparkplug B edge node beside the plain telemetry, on
// the same broker, under its own client id (the telemetry client id with
// "-sparkplug" appended). Its writes (DCMD) call as the principal
// "sparkplug", whose allow list is the top-level sparkplug section.
type MQTTSparkplug struct {
	// GroupID is the Sparkplug group the node belongs to.
	GroupID string `yaml:"group_id" json:"group_id"`
	// EdgeNodeID names the node within its group. Default: the gateway id.
	EdgeNodeID string `yaml:"edge_node_id" json:"edge_node_id,omitempty"`
}

// SparkplugNodeID is the edge node id, the gateway id when none is given.
func (c *Config) SparkplugNodeID() string {
	if s := c.MQTT.Sparkplug; s != nil && s.EdgeNodeID != "" {
		return s.EdgeNodeID
	}
	return c.Gateway.ID
}

// sparkplug checks the edge node's ids and the sparkplug principal.
func (v *checker) sparkplug(caps map[string]bool) {
	for i, a := range v.c.Agents {
		if a.Name == SparkplugPrincipal {
			v.at(path{"agents", strconv.Itoa(i), "name"}, "%q is reserved for Sparkplug B host applications; choose another name", a.Name)
		}
	}
	if s := v.c.MQTT.Sparkplug; s != nil {
		p := path{"mqtt", "sparkplug"}
		if !validSparkplugID(s.GroupID) {
			v.at(p.add("group_id"), "%q is not a Sparkplug id: 1 to 64 characters, none of '/', '+' or '#'", s.GroupID)
		}
		if s.EdgeNodeID != "" && !validSparkplugID(s.EdgeNodeID) {
			v.at(p.add("edge_node_id"), "%q is not a Sparkplug id: 1 to 64 characters, none of '/', '+' or '#'", s.EdgeNodeID)
		}
	}
	v.allowList(path{"sparkplug", "allow"}, v.c.Sparkplug.Allow, caps)
}

// validSparkplugID reports whether s may name a group, node or device in
// a Sparkplug topic.
func validSparkplugID(s string) bool {
	return len(s) > 0 && len(s) <= 64 && !strings.ContainsAny(s, "/+#")
}
