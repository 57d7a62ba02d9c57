package gateway

import (
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestCommissioningStatus parses every testdata/commissioning/*.status and
// compares the payload published for it with the .json golden beside it; a
// file the gateway must not publish has an .err golden instead.
func TestCommissioningStatus(t *testing.T) {
	files, err := filepath.Glob("testdata/commissioning/*.status")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			golden := strings.TrimSuffix(f, ".status")
			if s, err := ParseCommissioningStatus(data); err != nil {
				golden += ".err"
				got = []byte(err.Error() + "\n")
			} else {
				golden += ".json"
				got, _ = json.MarshalIndent(s, "", "  ")
				got = append(got, '\n')
			}
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden: %v (run with -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant (%s)\n%s", got, golden, want)
			}
		})
	}
}

func TestPublishCommissioning(t *testing.T) {
	dir := t.TempDir()
	var topics []string
	var payloads [][]byte
	publish := func(topic string, b []byte) { topics = append(topics, topic); payloads = append(payloads, b) }
	log := slog.New(slog.DiscardHandler)

	publishCommissioning(dir, publish, log)
	if len(topics) != 0 {
		t.Fatalf("without a status file: got %d messages, want 0", len(topics))
	}
	os.WriteFile(filepath.Join(dir, CommissioningFile), []byte("result: maybe\n"), 0o644)
	publishCommissioning(dir, publish, log)
	if len(topics) != 0 {
		t.Fatalf("with a bad status file: got %d messages, want 0", len(topics))
	}
	data, _ := os.ReadFile("testdata/commissioning/refused.status")
	os.WriteFile(filepath.Join(dir, CommissioningFile), data, 0o644)
	publishCommissioning(dir, publish, log)
	if len(topics) != 1 || topics[0] != CommissioningTopic {
		t.Fatalf("got topics %v, want [%s]", topics, CommissioningTopic)
	}
	var s CommissioningStatus
	if err := json.Unmarshal(payloads[0], &s); err != nil {
		t.Fatal(err)
	}
	if s.Result != "refused" || len(s.Problems) != 2 {
		t.Errorf("got %+v, want refused with 2 problems", s)
	}
}
