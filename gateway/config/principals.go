package config

import "github.com/femtoclaw/femtoclaw/capability"

// MCPPrincipal is the principal every MCP client calls as.
const MCPPrincipal = "mcp"

// SparkplugPrincipal is the principal every Sparkplug B DCMD calls as.
const SparkplugPrincipal = "sparkplug"

// Principals returns the allow list of every principal the file names:
// "operator", "mcp" and each agent. The gateway builds its gate from it,
// and journal replay rebuilds the same gate from it.
func (c *Config) Principals() map[capability.Principal][]string {
	allow := map[capability.Principal][]string{operatorName: c.Operator.Allow, MCPPrincipal: c.MCP.Allow}
	for _, a := range c.Agents {
		allow[capability.Principal(a.Name)] = a.Allow
	}
	allow["mcp"] = c.MCP.Allow                    // the principal of every MCP client
	allow[SparkplugPrincipal] = c.Sparkplug.Allow // every Sparkplug B host application
	return allow
}
