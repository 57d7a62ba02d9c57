package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/journal"
)

const journalKeyEnv = "FEMTOCLAW_TEST_JOURNAL_KEY"

// writeJournal writes n notes, signed with key, into dir/journal and
// leaves the journal open (its lock held) until the test ends.
func writeJournal(t *testing.T, dir string, n int, key []byte) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(dir, "journal"), journal.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	for i := range n {
		if _, err := j.Append(journal.Entry{Kind: journal.KindNote, Principal: "operator", Body: map[string]int{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// exportedSeqs parses JSON lines of records and returns their seqs.
func exportedSeqs(t *testing.T, out string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r journal.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

func TestJournalStopped(t *testing.T) {
	dir := t.TempDir()
	key := "0123456789abcdef0123"
	t.Setenv(journalKeyEnv, key)
	writeJournal(t, dir, 5, []byte(key)).Close()

	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"verify"}, ExitOK, "journal ok: 5 records, chain intact; 5 signed, MACs not checked without the key\n"},
		{[]string{"verify", "--key", "env:" + journalKeyEnv}, ExitOK, "journal ok: 5 records, chain intact; 5 signed, MACs checked\n"},
		{[]string{"verify", "--key", "env:" + journalKeyEnv + "_UNSET"}, ExitUsage, ""},
		{[]string{"verify", "--key", "0123456789abcdef0123"}, ExitUsage, ""},
		{[]string{"export", "--since", "yesterday"}, ExitUsage, ""},
	}
	for _, tt := range tests {
		code, out, errOut := run(append([]string{"journal", "--data", dir}, tt.args...)...)
		if code != tt.wantCode || out != tt.want {
			t.Errorf("journal %v: exit %d, output %q (stderr %q); want %d, %q", tt.args, code, out, errOut, tt.wantCode, tt.want)
		}
	}
	for _, tt := range []struct {
		since string
		want  int
	}{{"", 5}, {"3", 3}, {"2000-01-01T00:00:00Z", 5}, {"2999-01-01T00:00:00Z", 0}} {
		code, out, errOut := run("journal", "--data", dir, "export", "--since", tt.since)
		if code != ExitOK {
			t.Fatalf("export --since %q: exit %d, %s", tt.since, code, errOut)
		}
		if got := exportedSeqs(t, out); len(got) != tt.want || (tt.want > 0 && got[len(got)-1] != 5) {
			t.Errorf("export --since %q: got seqs %v, want the last %d", tt.since, got, tt.want)
		}
	}
}

// TestJournalThroughGateway checks that verify, show and export reach a
// running gateway's journal through its socket while the gateway holds the
// journal's lock.
func TestJournalThroughGateway(t *testing.T) {
	dir := t.TempDir()
	j := writeJournal(t, dir, 7, nil)
	srv := api.New(filepath.Join(dir, api.SocketName), "test", agent.NewCore(agent.CoreOptions{Journal: j}), nil)
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	code, out, errOut := run("journal", "--data", dir, "verify")
	if want := "journal ok: 7 records, chain intact (verified by the running gateway)\n"; code != ExitOK || out != want {
		t.Errorf("verify: exit %d, output %q (stderr %q); want 0, %q", code, out, errOut, want)
	}
	code, out, errOut = run("journal", "--data", dir, "export", "--since", "4")
	if got := exportedSeqs(t, out); code != ExitOK || len(got) != 4 || got[0] != 4 || got[3] != 7 {
		t.Errorf("export --since 4: exit %d, seqs %v (stderr %q); want 0, 4..7", code, got, errOut)
	}
	code, out, _ = run("journal", "--data", dir, "show")
	if code != ExitOK || strings.Count(out, "\n") != 7 || !strings.Contains(out, "note") {
		t.Errorf("show: exit %d, output %q; want 7 lines of notes", code, out)
	}
	code, _, errOut = run("journal", "--data", dir, "export", "--since", "yesterday")
	if code != ExitUsage {
		t.Errorf("export --since yesterday: exit %d (%s), want %d", code, errOut, ExitUsage)
	}

	// A record appended while the gateway runs is seen by the next read.
	if _, err := j.Append(journal.Entry{Kind: journal.KindNote, Body: "eighth"}); err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(filepath.Join(dir, api.SocketName))
	var n int
	if err := c.Journal(context.Background(), journal.Since{}, func(journal.Record) error { n++; return nil }); err != nil || n != 8 {
		t.Fatalf("Client.Journal: %d records, %v; want 8, nil", n, err)
	}
}
