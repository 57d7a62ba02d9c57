package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/journal"
)

// TestJournalReplay records a demo run (simulator, broker, gateway and
// scripted brain), replays it cleanly, then replays a copy of its journal
// in which one recorded input was changed, and sees the change reported.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(cfgPath, configs.Demo(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), configs.DemoScript(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := runDemo(ctx, demoOptions{DataDir: data, MQTT: "127.0.0.1:0", Out: io.Discard, Log: io.Discard, LogLevel: "error"}); err != nil {
		t.Fatalf("demo: %v", err)
	}

	code, out, errOut := run("journal", "replay", "--data", data, "-c", cfgPath)
	if code != 0 || !strings.Contains(out, " 0 differ") {
		t.Fatalf("replay of the recorded run: exit %d, stdout %q, stderr %q; want 0 and no difference", code, out, errOut)
	}
	if strings.Contains(out, "replayed 0 decisions") {
		t.Fatalf("the demo run recorded no decisions: %q", out)
	}

	// Copy the journal through the journal API, changing the arguments of
	// the first allowed write to a value out of range.
	src, err := journal.OpenReadOnly(filepath.Join(data, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered")
	dst, err := journal.Open(filepath.Join(tampered, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	err = src.Scan(1, func(r journal.Record) error {
		body := r.Body
		if r.Kind == journal.KindDecision && !changed {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				return err
			}
			if m["outcome"] == "allow" && m["action"].(map[string]any)["kind"] == "write" {
				m["call"].(map[string]any)["args"] = `{"value": 250}`
				body, _ = json.Marshal(m)
				changed = true
			}
		}
		_, err := dst.Append(journal.Entry{Kind: r.Kind, Principal: r.Principal, Episode: r.Episode, Ref: r.Ref, Body: json.RawMessage(body)})
		return err
	})
	src.Close()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("the demo run recorded no allowed write to change")
	}
	code, out, _ = run("journal", "replay", "--data", tampered, "-c", cfgPath)
	if code != 1 || !strings.Contains(out, `outcome: recorded "allow", now "deny"`) || !strings.Contains(out, " 1 differ") {
		t.Fatalf("replay of the changed journal: exit %d, stdout %q; want 1 and the changed decision reported", code, out)
	}
}
