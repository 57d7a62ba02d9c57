package brain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/brain/braintest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testTools are the tools the provider tests offer.
var testTools = []brain.Tool{
	{Name: "read_tank", Description: "Read the tank.", Parameters: []byte(`{"type":"object","properties":{},"additionalProperties":false}`)},
	{Name: "set_inlet_pump", Description: "Set the inlet pump in percent, 0 to 100.", Parameters: []byte(`{"type":"object","properties":{"value":{"type":"number"}},"required":["value"],"additionalProperties":false}`)},
}

// newProvider builds the provider a transcript's protocol names, pointed at
// srv, with short timeouts and a recorded sleep.
func newProvider(t *testing.T, protocol, url string, sleep func(context.Context, time.Duration) error) brain.Provider {
	t.Helper()
	o := brain.HTTPOptions{
		BaseURL: url, Model: "test-model", APIKey: brain.NewSecret("sk-test-0123"),
		Timeout: 150 * time.Millisecond, Retries: 2, MaxWait: 5 * time.Second, Sleep: sleep,
	}
	switch protocol {
	case "openai":
		return brain.NewOpenAI(o)
	case "anthropic":
		return brain.NewAnthropic(o)
	}
	t.Fatalf("unknown protocol %q", protocol)
	return nil
}

// stepResult is one Complete call as the golden files record it.
type stepResult struct {
	Response *brain.Response `json:"response,omitempty"`
	Failure  brain.Failure   `json:"failure,omitempty"`
	Status   int             `json:"status,omitempty"`
	Attempts int             `json:"attempts,omitempty"`
}

type golden struct {
	Results  []stepResult      `json:"results"`
	Waits    []string          `json:"waits,omitempty"`
	Requests []json.RawMessage `json:"requests"`
}

// TestTranscripts plays every recorded transcript through its provider in a
// small episode loop (every call answered {"ok":true}) and compares what
// the provider sent and decoded with testdata/transcripts/*.golden.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, err := braintest.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			srv := braintest.Start(tr)
			defer srv.Close()
			var mu sync.Mutex
			var g golden
			sleep := func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				w := d.String() // a Retry-After, honoured exactly
				if d%time.Second != 0 {
					w = "backoff" // jittered
				}
				g.Waits = append(g.Waits, w)
				return nil
			}
			p := newProvider(t, tr.Protocol, srv.URL, sleep)
			req := brain.Request{
				System:   "Keep the level between 40 and 70 percent.",
				Messages: []brain.Message{{Role: brain.RoleUser, Content: `{"tank.level":{"value":35,"unit":"%"}}`}},
				Tools:    testTools,
			}
			for step := 0; step < 6; step++ {
				resp, err := p.Complete(context.Background(), req)
				if err != nil {
					var e *brain.Error
					if !errors.As(err, &e) {
						t.Fatalf("error %v is not a *brain.Error", err)
					}
					if strings.Contains(err.Error(), "sk-test") {
						t.Errorf("error %q shows the API key", err)
					}
					g.Results = append(g.Results, stepResult{Failure: e.Failure, Status: e.Status, Attempts: e.Attempts})
					break
				}
				g.Results = append(g.Results, stepResult{Response: &resp})
				if len(resp.ToolCalls) == 0 || srv.Remaining() == 0 {
					break
				}
				req.Messages = append(req.Messages, brain.Message{Role: brain.RoleAssistant, Content: resp.Text, ToolCalls: resp.ToolCalls})
				for i, c := range resp.ToolCalls {
					content := `{"ok":true,"value":60,"unit":"%"}`
					if i%2 == 1 {
						content = `{"ok":false,"code":"denied","reason":"out_of_range"}`
					}
					req.Messages = append(req.Messages, brain.Message{Role: brain.RoleTool, ToolCallID: c.ID, Content: content})
				}
			}
			if n := srv.Remaining(); n != 0 {
				t.Errorf("got %d exchanges left unplayed, want 0", n)
			}
			if n := srv.Extra(); n != 0 {
				t.Errorf("got %d requests past the transcript's end, want 0", n)
			}
			for _, r := range srv.Requests() {
				checkHeaders(t, tr.Protocol, r)
				var buf bytes.Buffer
				if err := json.Indent(&buf, r.Body, "", " "); err != nil {
					t.Fatalf("request body is not JSON: %v", err)
				}
				g.Requests = append(g.Requests, buf.Bytes())
			}
			got, err := json.MarshalIndent(g, "", " ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, strings.TrimSuffix(file, ".json")+".golden", append(got, '\n'))
		})
	}
}

func checkHeaders(t *testing.T, protocol string, r braintest.Request) {
	t.Helper()
	switch protocol {
	case "openai":
		if got, want := r.Path, "/chat/completions"; got != want {
			t.Errorf("got path %q, want %q", got, want)
		}
		if got, want := r.Header.Get("Authorization"), "Bearer sk-test-0123"; got != want {
			t.Errorf("got Authorization %q, want %q", got, want)
		}
	case "anthropic":
		if got, want := r.Path, "/v1/messages"; got != want {
			t.Errorf("got path %q, want %q", got, want)
		}
		if got, want := r.Header.Get("x-api-key"), "sk-test-0123"; got != want {
			t.Errorf("got x-api-key %q, want %q", got, want)
		}
		if got, want := r.Header.Get("anthropic-version"), brain.AnthropicVersion; got != want {
			t.Errorf("got anthropic-version %q, want %q", got, want)
		}
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./brain -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./brain -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestRetryAfterTooLong checks that a Retry-After beyond MaxWait ends the
// request at once rather than being cut short.
func TestRetryAfterTooLong(t *testing.T) {
	tr := &braintest.Transcript{Protocol: "openai", Exchanges: []braintest.Exchange{
		{Status: 429, Headers: map[string]string{"Retry-After": "120"}, Body: json.RawMessage(`{"error":{"message":"slow down"}}`)},
	}}
	srv := braintest.Start(tr)
	defer srv.Close()
	slept := false
	p := brain.NewOpenAI(brain.HTTPOptions{BaseURL: srv.URL, Model: "m", MaxWait: 10 * time.Second,
		Sleep: func(context.Context, time.Duration) error { slept = true; return nil }})
	_, err := p.Complete(context.Background(), brain.Request{Messages: []brain.Message{{Role: brain.RoleUser, Content: "hi"}}})
	var e *brain.Error
	if !errors.As(err, &e) || e.Failure != brain.FailureStatus || e.Status != 429 || e.Attempts != 1 {
		t.Fatalf("got %v, want a 429 failure after 1 attempt", err)
	}
	if slept {
		t.Error("got a wait, want none")
	}
}

// TestNoRetryOn4xx checks that a refused request (401) is not retried.
func TestNoRetryOn4xx(t *testing.T) {
	tr := &braintest.Transcript{Protocol: "anthropic", Exchanges: []braintest.Exchange{
		{Status: 401, Body: json.RawMessage(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)},
	}}
	srv := braintest.Start(tr)
	defer srv.Close()
	p := brain.NewAnthropic(brain.HTTPOptions{BaseURL: srv.URL, Model: "m"})
	_, err := p.Complete(context.Background(), brain.Request{Messages: []brain.Message{{Role: brain.RoleUser, Content: "hi"}}})
	var e *brain.Error
	if !errors.As(err, &e) || e.Status != 401 || e.Attempts != 1 {
		t.Fatalf("got %v, want a 401 failure after 1 attempt", err)
	}
}

// TestSecretNeverPrints checks every way a Secret could be printed.
func TestSecretNeverPrints(t *testing.T) {
	s := brain.NewSecret("sk-live-secret")
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("key", "api_key", s)
	j, _ := json.Marshal(struct{ Key brain.Secret }{s})
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v %+v", s, s, s, s), string(j), logBuf.String()} {
		if strings.Contains(got, "sk-live") || !strings.Contains(got, "[redacted]") {
			t.Errorf("got %q, want [redacted] and no key", got)
		}
	}
	if got, want := s.Reveal(), "sk-live-secret"; got != want {
		t.Errorf("got Reveal %q, want %q", got, want)
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("  sk-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FEMTOCLAW_TEST_KEY", "sk-env")
	tests := []struct {
		env, file, want string
		fails           bool
	}{
		{env: "FEMTOCLAW_TEST_KEY", want: "sk-env"},
		{file: file, want: "sk-file"},
		{want: ""},
		{env: "FEMTOCLAW_TEST_UNSET", fails: true},
		{file: filepath.Join(dir, "missing"), fails: true},
	}
	for _, tt := range tests {
		s, err := brain.LoadSecret(tt.env, tt.file)
		if (err != nil) != tt.fails {
			t.Errorf("LoadSecret(%q, %q): got error %v, want failure %v", tt.env, tt.file, err, tt.fails)
			continue
		}
		if got := s.Reveal(); got != tt.want {
			t.Errorf("LoadSecret(%q, %q): got %q, want %q", tt.env, tt.file, got, tt.want)
		}
	}
}

func TestReplay(t *testing.T) {
	r := brain.NewReplay([]brain.Response{{Text: "a"}, {ToolCalls: []brain.ToolCall{{ID: "1", Name: "x"}}}})
	for _, want := range []string{"a", ""} {
		got, err := r.Complete(context.Background(), brain.Request{})
		if err != nil || got.Text != want {
			t.Fatalf("got %q, %v, want %q", got.Text, err, want)
		}
	}
	if _, err := r.Complete(context.Background(), brain.Request{}); !errors.Is(err, brain.ErrReplayExhausted) {
		t.Fatalf("got %v, want ErrReplayExhausted", err)
	}
}
