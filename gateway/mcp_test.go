package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/internal/lint"
)

// bearer adds a token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// startMCPGateway runs the demo gateway with an MCP listener that allows
// read_tank and set_inlet_pump, and no agent interval.
func startMCPGateway(t *testing.T) (*gateway.Gateway, *sim.Plant, string) {
	t.Helper()
	dir := t.TempDir()
	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plant.Close() })
	text := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	text = strings.Replace(text, "    trigger:\n      interval: 2s\n", "", 1)
	text += "\nmcp:\n  listen: 127.0.0.1:0\n  token_env: FEMTOCLAW_TEST_MCP_TOKEN\n  allow: [read_tank, set_inlet_pump]\n"
	t.Setenv("FEMTOCLAW_TEST_MCP_TOKEN", "t0ken")
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), configs.DemoScript(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Gateway.DataDir = dir
	cfg.MQTT.Listen = "127.0.0.1:0"
	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	select {
	case <-gw.Ready():
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready")
	}
	return gw, plant, dir
}

// TestMCP drives the MCP endpoint with the SDK's client over TCP: the
// token is required, the allowed tools are listed, an allowed call moves
// the plant and a denied one gets the gate's typed refusal.
func TestMCP(t *testing.T) {
	gw, plant, _ := startMCPGateway(t)
	url := "http://" + gw.MCPAddr() + api.MCPPath

	resp, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Errorf("without a token: got %d, want %d", got, want)
	}

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url,
		HTTPClient: &http.Client{Transport: bearer{"t0ken", http.DefaultTransport}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	if got, want := strings.Join(names, ","), "read_tank,set_inlet_pump"; got != want {
		t.Errorf("got tools %s, want %s", got, want)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "set_inlet_pump", Arguments: map[string]any{"value": 70}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Errorf("allowed call: got an error result %v", text(res))
	}
	if got, want := plant.Holding(4), uint16(70); got != want {
		t.Errorf("got inlet pump %d, want %d", got, want)
	}

	for _, c := range []struct {
		name   string
		args   map[string]any
		reason string
	}{
		{"set_heater", map[string]any{"value": true}, "not_allowed"},
		{"set_inlet_pump", map[string]any{"value": 250}, "out_of_range"},
		{"open_drain", nil, "unknown_capability"},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.name, Arguments: c.args})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var r struct {
			OK           bool
			Code, Reason string
		}
		if err := json.Unmarshal([]byte(text(res)), &r); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !res.IsError || r.OK || r.Code != "denied" || r.Reason != c.reason {
			t.Errorf("%s: got %s (error %v), want denied %s", c.name, text(res), res.IsError, c.reason)
		}
	}
	if got, want := plant.Holding(4), uint16(70); got != want {
		t.Errorf("after the refusals: got inlet pump %d, want %d", got, want)
	}
}

// TestMCPBridge drives the stdio bridge (femtoclaw mcp) with the SDK's
// client over a pipe: it lists the gateway's tools and its calls reach the
// plant through the gate.
func TestMCPBridge(t *testing.T) {
	_, plant, dir := startMCPGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := api.NewClient(filepath.Join(dir, api.SocketName)).BridgeMCP(ctx, inR, outW)
		outW.Close()
		done <- err
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tools.Tools), 2; got != want {
		t.Errorf("got %d tools, want %d", got, want)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "set_inlet_pump", Arguments: map[string]any{"value": 55}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Errorf("allowed call: got an error result %v", text(res))
	}
	if got, want := plant.Holding(4), uint16(55); got != want {
		t.Errorf("got inlet pump %d, want %d", got, want)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "set_heater", Arguments: map[string]any{"value": true}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), `"reason":"not_allowed"`) {
		t.Errorf("denied call: got %s (error %v), want not_allowed", text(res), res.IsError)
	}
	cs.Close()
	if err := <-done; err != nil {
		t.Errorf("bridge: %v", err)
	}
}

// TestMCPNotInBinary proves that the binary serves MCP with its own
// implementation: neither the MCP SDK (a test peer only) nor what it
// alone pulls in is linked into cmd/femtoclaw.
func TestMCPNotInBinary(t *testing.T) {
	banned := []string{"github.com/modelcontextprotocol/", "github.com/google/jsonschema-go", "github.com/yosida95/uritemplate",
		"github.com/segmentio/encoding"}
	for _, tags := range []string{"", "nosimopcua,nogpio"} {
		for _, pkg := range lint.Deps(t, tags, lint.Module+"/cmd/femtoclaw") {
			for _, b := range banned {
				if strings.HasPrefix(pkg, b) {
					t.Errorf("tags %q: cmd/femtoclaw links %s, want no package under %s", tags, pkg, b)
				}
			}
		}
	}
}

func text(r *mcp.CallToolResult) string {
	if len(r.Content) == 0 {
		return ""
	}
	if tc, ok := r.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// TestAsk runs an episode through the local API, as femtoclaw ask does.
func TestAsk(t *testing.T) {
	_, plant, dir := startMCPGateway(t)
	c := api.NewClient(filepath.Join(dir, api.SocketName))
	sum, err := c.Ask(context.Background(), api.AskRequest{Agent: "tank_keeper", Text: "check the level"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != "done" || sum.Trigger != "ask" || len(sum.Calls) == 0 {
		t.Errorf("got %+v, want a done ask episode with calls", sum)
	}
	if len(plant.Writes()) == 0 {
		t.Error("got no writes at the plant, want the scripted ones")
	}
	if _, err := c.Ask(context.Background(), api.AskRequest{Agent: "nobody"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown agent: got %v, want a 404", err)
	}
}
