// Package config is the commissioning file: one YAML document that says what
// this gateway is, which devices it talks to, what the model may do to them
// and who may ask. It is decoded strictly (an unknown key is an error),
// checked against the JSON schema in package configs, given its defaults and
// validated as a whole; every problem is reported as FILE:LINE:COL: message.
package config

import (
	"io/fs"
	"strconv"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// Config is the whole commissioning file.
type Config struct {
	// Gateway identifies this gateway and says where it keeps its state.
	Gateway Gateway `yaml:"gateway" json:"gateway"`
	// MQTT says where telemetry, decisions and status are published.
	MQTT MQTT `yaml:"mqtt" json:"mqtt"`
	// Devices are the field devices this gateway polls and may write.
	Devices []drivers.DeviceConfig `yaml:"devices" json:"devices"`
	// Capabilities are the only actions anyone may ask for.
	Capabilities []capability.Spec `yaml:"capabilities" json:"capabilities"`
	// Approvals says how calls that need an operator's approval wait.
	Approvals Approvals `yaml:"approvals" json:"approvals"`
	// Agents are the model-driven loops, each with its own allow list.
	Agents []Agent `yaml:"agents" json:"agents"`
	// Operator is the allow list of the local command line (femtoclaw call).
	// Empty: the operator may call nothing.
	Operator Principal `yaml:"operator" json:"operator"`
	// MCP serves the capabilities to MCP clients as the principal "mcp".
	MCP MCP `yaml:"mcp" json:"mcp"`
	// Sparkplug is the allow list of Sparkplug B host applications, whose
	// DCMD writes call as the principal "sparkplug". Empty: every DCMD is
	// refused (and journaled).
	Sparkplug Principal `yaml:"sparkplug" json:"sparkplug"`
	// Journal says how long the journal keeps its records.
	Journal Journal `yaml:"journal" json:"journal"`

	// Path is the file the config was read from; relative paths inside it
	// are taken from its directory.
	Path string `yaml:"-" json:"-"`

	src  *source // positions of the parsed file; nil for a config built in code
	fsys fs.FS   // where named files are read; nil: the operating system
}

// Gateway identifies the gateway.
type Gateway struct {
	// ID names this gateway in MQTT topics and the journal. Letters, digits,
	// '-' and '_'.
	ID string `yaml:"id" json:"id"`
	// DataDir holds the journal. Default /var/lib/femtoclaw.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level" json:"log_level"`
}

// MQTT is the broker connection.
type MQTT struct {
	// Broker is the broker URL, tcp://host:1883. Empty: an embedded broker
	// is started on Listen.
	Broker string `yaml:"broker" json:"broker"`
	// Listen is the embedded broker's address when Broker is empty.
	// Default 127.0.0.1:1883.
	Listen string `yaml:"listen" json:"listen"`
	// Prefix starts every topic. Default femtoclaw/<gateway id>.
	Prefix string `yaml:"prefix" json:"prefix"`
	// ClientID is the MQTT client id. Default femtoclaw-<gateway id>. It
	// stays the same across restarts, so the broker keeps the session.
	ClientID string `yaml:"client_id" json:"client_id"`
	// Username logs in to the broker. Empty: anonymous.
	Username string `yaml:"username" json:"username,omitempty"`
	// Password is the broker password, as env:NAME or file:PATH; never the
	// password itself. Needs Username.
	Password drivers.Secret `yaml:"password" json:"password,omitempty"`
	// TLS configures the connection to a tls://, ssl:// or mqtts:// broker.
	TLS MQTTTLS `yaml:"tls" json:"tls,omitzero"`
	// CleanSession makes the broker forget the gateway's session at every
	// connection. Default false: a persistent session under ClientID.
	CleanSession bool `yaml:"clean_session" json:"clean_session,omitempty"`
	// Outbox bounds the messages kept on disk while the broker is away.
	Outbox MQTTOutbox `yaml:"outbox" json:"outbox,omitzero"`
	// PointTopics also publishes every point on its own topic,
	// <prefix>/telemetry/<device>/<point>, for dashboards that want one
	// value per topic. Default false.
	PointTopics bool `yaml:"point_topics" json:"point_topics,omitempty"`
	// HomeAssistant publishes a retained Home Assistant discovery message
	// for every numeric point, under homeassistant/sensor/. Default false.
	HomeAssistant bool `yaml:"home_assistant" json:"home_assistant,omitempty"`
	// Sparkplug also runs a Sparkplug B edge node on the same broker.
	// Absent: none.
	Sparkplug *MQTTSparkplug `yaml:"sparkplug" json:"sparkplug,omitempty"`
}

// Agent is one model-driven loop.
type Agent struct {
	// Name is the agent's principal in decisions and the journal.
	Name string `yaml:"name" json:"name"`
	// Instructions are given to the model at the start of every episode.
	Instructions string `yaml:"instructions" json:"instructions"`
	// Brain is the model (or script) that proposes calls.
	Brain Brain `yaml:"brain" json:"brain"`
	// Allow lists the capabilities this agent may call. Empty: none.
	Allow []string `yaml:"allow" json:"allow"`
	// Trigger says when an episode starts.
	Trigger Trigger `yaml:"trigger" json:"trigger"`
	// MaxSteps bounds the model requests in one episode. Default 8.
	MaxSteps int `yaml:"max_steps" json:"max_steps"`
	// Budget bounds one episode beyond MaxSteps.
	Budget Budget `yaml:"budget" json:"budget"`
}

// Budget bounds one episode of an agent.
type Budget struct {
	// Tokens bounds the input and output tokens the model reports, summed
	// over the episode. Zero: no bound.
	Tokens int `yaml:"tokens" json:"tokens"`
	// WallTime bounds the episode's duration. Zero: no bound.
	WallTime drivers.Duration `yaml:"wall_time" json:"wall_time"`
	// InvalidCalls ends the episode after this many invalid calls in a row
	// (unknown tool, not allowed, bad arguments, reused call id). Default 3.
	InvalidCalls int `yaml:"invalid_calls" json:"invalid_calls"`
}

// Brain selects an inference provider.
type Brain struct {
	// Provider is "openai" (any OpenAI-compatible server: OpenAI, Ollama,
	// llama.cpp, vLLM, LM Studio), "anthropic", "scripted" or "replay".
	Provider string `yaml:"provider" json:"provider"`
	// Script is the scripted provider's file, relative to the config file.
	Script string `yaml:"script" json:"script"`
	// BaseURL is the API root of openai and anthropic; required for openai.
	// Default for anthropic: https://api.anthropic.com.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// Model names the model; required for openai and anthropic.
	Model string `yaml:"model" json:"model"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env"`
	// APIKeyFile is a file holding the API key, relative to the config
	// file. The key itself is never written in the config.
	APIKeyFile string `yaml:"api_key_file" json:"api_key_file"`
	// Timeout bounds one model request. Default 60s.
	Timeout drivers.Duration `yaml:"timeout" json:"timeout"`
	// Retries is how many further attempts follow a 429, a 5xx or a
	// timeout. Default 2.
	Retries *int `yaml:"retries" json:"retries"`
	// MaxTokens bounds the tokens of one response. Default 1024.
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
	// Episode is the recorded episode the replay provider re-runs, read
	// from this gateway's journal.
	Episode string `yaml:"episode" json:"episode"`
}

// MCP is the MCP endpoint.
type MCP struct {
	// Listen is the TCP address of the streamable HTTP endpoint,
	// 127.0.0.1:8931. Empty: MCP is served only on the local socket (and
	// through femtoclaw mcp).
	Listen string `yaml:"listen" json:"listen"`
	// TokenEnv names the environment variable holding the bearer token
	// clients must send; required with Listen.
	TokenEnv string `yaml:"token_env" json:"token_env"`
	// TokenFile is a file holding the bearer token, relative to the config
	// file.
	TokenFile string `yaml:"token_file" json:"token_file"`
	// Allow lists the capabilities MCP clients may call. Empty: none.
	Allow []string `yaml:"allow" json:"allow"`
}

// Trigger says when an agent's episode starts.
type Trigger struct {
	// Interval starts an episode this often; at least 100ms. Zero: the
	// agent runs only when an operator asks it to or its condition fires.
	Interval drivers.Duration `yaml:"interval" json:"interval"`
	// Condition starts an episode when it becomes true: an expression over
	// device.point values, e.g. "tank.level < 20 || tank.temperature > 70".
	Condition string `yaml:"condition" json:"condition"`
	// Reset re-arms the condition once true, e.g. "tank.level > 25"
	// (hysteresis). Empty: the condition re-arms as soon as it is false.
	Reset string `yaml:"reset" json:"reset"`
	// Cooldown is the least time between two episodes the condition starts.
	Cooldown drivers.Duration `yaml:"cooldown" json:"cooldown"`
}

// Principal is an allow list for a caller that is not an agent.
type Principal struct {
	// Allow lists the capabilities this principal may call. Empty: none.
	Allow []string `yaml:"allow" json:"allow"`
}

// The defaults SetDefaults fills in.
const (
	DefaultDataDir  = "/var/lib/femtoclaw"
	DefaultLogLevel = "info"
	DefaultListen   = "127.0.0.1:1883"
	DefaultUnit     = 1
	DefaultPoll     = drivers.Duration(time.Second)
	DefaultTimeout  = drivers.Duration(time.Second)
	DefaultType     = "uint16"
	DefaultOrder    = "ABCD"
	DefaultMaxSteps = 8
	DefaultArgument = "value"
)

// SetDefaults fills in every setting the file left out. Load and Parse call
// it before Validate; a config built in code calls it itself. A Modbus unit
// of 0 written in the file is kept (some devices answer only to 0); in a
// config built in code, 0 means "not set".
func (c *Config) SetDefaults() {
	g := &c.Gateway
	if g.DataDir == "" {
		g.DataDir = DefaultDataDir
	}
	if g.LogLevel == "" {
		g.LogLevel = DefaultLogLevel
	}
	m := &c.MQTT
	if m.Broker == "" && m.Listen == "" {
		m.Listen = DefaultListen
	}
	if m.Prefix == "" && g.ID != "" {
		m.Prefix = "femtoclaw/" + g.ID
	}
	if m.ClientID == "" && g.ID != "" {
		m.ClientID = "femtoclaw-" + g.ID
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Driver == "opcua" {
			c.opcuaDefaults(d)
			continue
		}
		if d.Driver == "gpio" {
			c.gpioDefaults(d)
			continue
		}
		if d.Unit == 0 && !c.src.has(path{"devices", strconv.Itoa(i), "unit"}) {
			d.Unit = DefaultUnit
		}
		if d.Poll == 0 {
			d.Poll = DefaultPoll
		}
		if d.Timeout == 0 {
			d.Timeout = DefaultTimeout
		}
		for j := range d.Points {
			p := &d.Points[j]
			if p.Register == "coil" || p.Register == "discrete" {
				// Bits have no byte order and no scale.
				if p.Type == "" {
					p.Type = "bool"
				}
				continue
			}
			if p.Type == "" {
				p.Type = DefaultType
			}
			if p.Order == "" {
				p.Order = DefaultOrder
			}
			if p.Scale == 0 {
				p.Scale = 1
			}
		}
	}
	for i := range c.Capabilities {
		s := &c.Capabilities[i]
		if s.Argument == "" && s.Kind == capability.KindWrite {
			s.Argument = DefaultArgument
		}
	}
	for i := range c.Agents {
		if c.Agents[i].MaxSteps == 0 {
			c.Agents[i].MaxSteps = DefaultMaxSteps
		}
	}
}
