package config

import (
	"net"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

// brain checks the settings of the model providers.
func (v *checker) brain(p path, b *Brain) {
	switch b.Provider {
	case "openai", "anthropic":
		if b.Model == "" {
			v.at(p.add("provider"), "the %s provider needs a model", b.Provider)
		}
		if b.Provider == "openai" && b.BaseURL == "" {
			v.at(p.add("provider"), "the openai provider needs a base_url")
		}
		if b.APIKeyEnv != "" && b.APIKeyFile != "" {
			v.at(p.add("api_key_file"), "give api_key_env or api_key_file, not both")
		}
		if b.APIKeyFile != "" && !v.c.fileExists(b.APIKeyFile) {
			v.at(p.add("api_key_file"), "%q does not exist (relative names are taken from the directory of this file)", b.APIKeyFile)
		}
	case "replay":
		if b.Episode == "" {
			v.at(p.add("provider"), "the replay provider needs an episode")
		}
	}
}

// trigger checks that condition expressions compile.
func (v *checker) trigger(p path, t *Trigger) {
	for _, e := range []struct{ key, src string }{{"condition", t.Condition}, {"reset", t.Reset}} {
		if e.src == "" {
			continue
		}
		if _, err := expr.Compile(e.src, expr.AsBool(), expr.AllowUndefinedVariables()); err != nil {
			v.at(p.add(e.key), "not a boolean expression: %s", strings.SplitN(err.Error(), "\n", 2)[0])
		}
	}
	if t.Reset != "" && t.Condition == "" {
		v.at(p.add("reset"), "needs a condition")
	}
}

// mcp checks the MCP endpoint: a TCP listener needs a bearer token.
func (v *checker) mcp(caps map[string]bool) {
	m := &v.c.MCP
	p := path{"mcp"}
	for i, a := range v.c.Agents {
		if a.Name == "mcp" {
			v.at(path{"agents", strconv.Itoa(i), "name"}, "%q is reserved for MCP clients; choose another name", a.Name)
		}
	}
	if m.Listen != "" {
		if _, _, err := net.SplitHostPort(m.Listen); err != nil {
			v.at(p.add("listen"), "%q is not host:port", m.Listen)
		}
		if m.TokenEnv == "" && m.TokenFile == "" {
			v.at(p.add("listen"), "an MCP listener needs token_env or token_file: clients must send a bearer token")
		}
	}
	if m.TokenEnv != "" && m.TokenFile != "" {
		v.at(p.add("token_file"), "give token_env or token_file, not both")
	}
	if m.TokenFile != "" && !v.c.fileExists(m.TokenFile) {
		v.at(p.add("token_file"), "%q does not exist (relative names are taken from the directory of this file)", m.TokenFile)
	}
	v.allowList(p.add("allow"), m.Allow, caps)
}
