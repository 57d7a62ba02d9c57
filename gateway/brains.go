package gateway

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/journal"
)

// MCPPrincipal is the principal every MCP client calls as.
const MCPPrincipal = "mcp"

// newAgent builds one agent from its config: its provider, triggers and
// budget.
func (g *Gateway) newAgent(ac config.Agent, core *agent.Core, j *journal.Journal) (*agent.Agent, error) {
	p, err := g.modelProvider(ac, j)
	if err != nil {
		return nil, err
	}
	o := agent.Options{
		Name: ac.Name, Instructions: ac.Instructions, Provider: p, Core: core, Journal: j,
		Interval: ac.Trigger.Interval.D(),
		Budget: agent.Budget{
			MaxSteps: ac.MaxSteps, MaxTokens: ac.Budget.Tokens,
			MaxWall: ac.Budget.WallTime.D(), MaxInvalid: ac.Budget.InvalidCalls,
		},
		Logger: g.logger.With("agent", ac.Name),
	}
	if ac.Trigger.Condition != "" {
		c, err := agent.CompileCondition(ac.Trigger.Condition, ac.Trigger.Reset, ac.Trigger.Cooldown.D(), 0)
		if err != nil {
			return nil, err
		}
		o.Condition = c
	}
	return agent.New(o), nil
}

// modelProvider builds the provider an agent's brain section names.
func (g *Gateway) modelProvider(ac config.Agent, j *journal.Journal) (brain.Provider, error) {
	b := ac.Brain
	switch b.Provider {
	case "openai", "anthropic":
		key, err := brain.LoadSecret(b.APIKeyEnv, g.relative(b.APIKeyFile))
		if err != nil {
			return nil, err
		}
		o := brain.HTTPOptions{
			BaseURL: b.BaseURL, Model: b.Model, APIKey: key, Timeout: b.Timeout.D(),
			MaxTokens: b.MaxTokens, Logger: g.logger.With("agent", ac.Name, "provider", b.Provider),
		}
		if b.Retries != nil {
			o.Retries = *b.Retries
			if o.Retries == 0 {
				o.Retries = -1
			}
		}
		if b.Provider == "openai" {
			return brain.NewOpenAI(o), nil
		}
		if o.BaseURL == "" {
			o.BaseURL = "https://api.anthropic.com"
		}
		return brain.NewAnthropic(o), nil
	case "replay":
		rs, err := agent.RecordedResponses(j, b.Episode)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		return brain.NewReplay(rs), nil
	}
	return g.provider(ac)
}

// relative resolves a file named in the config against its directory.
func (g *Gateway) relative(path string) string {
	if path == "" || filepath.IsAbs(path) || g.cfg.Path == "" {
		return path
	}
	return filepath.Join(filepath.Dir(g.cfg.Path), path)
}

// mcpToken reads the MCP bearer token; empty when none is configured.
func (g *Gateway) mcpToken() (brain.Secret, error) {
	m := g.cfg.MCP
	if m.TokenEnv == "" && m.TokenFile == "" {
		if m.Listen != "" {
			return brain.Secret{}, fmt.Errorf("gateway: mcp: a listener needs a token")
		}
		return brain.Secret{}, nil
	}
	s, err := brain.LoadSecret(m.TokenEnv, g.relative(m.TokenFile))
	if err != nil {
		return s, fmt.Errorf("gateway: mcp token: %w", err)
	}
	return s, nil
}

// serveMCP builds the MCP server for the principal "mcp", mounts it on the
// local API's socket and, when the config names a listener, returns the
// function that serves it over TCP with the bearer token.
func (g *Gateway) serveMCP(core *agent.Core, apiSrv *api.Server) (func(context.Context) error, error) {
	srv := api.NewMCPServer(core, MCPPrincipal, "femtoclaw")
	apiSrv.SetMCP(srv)
	if g.cfg.MCP.Listen == "" {
		return nil, nil
	}
	token, err := g.mcpToken()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", g.cfg.MCP.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway: mcp: %w", err)
	}
	g.mu.Lock()
	g.mcpAddr = ln.Addr().String()
	g.mu.Unlock()
	return func(ctx context.Context) error { return api.ServeMCP(ctx, ln, srv, token.Reveal()) }, nil
}

// MCPAddr is the MCP listener's address, once Ready; empty without one.
func (g *Gateway) MCPAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mcpAddr
}
