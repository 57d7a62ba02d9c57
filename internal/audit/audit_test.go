package audit

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	const journal = `{"seq":1,"time":"2026-01-01T00:00:01Z","kind":"decision","body":{"outcome":"allow"}}
{"seq":2,"time":"2026-01-01T00:00:01Z","kind":"intent","ref":1,"body":{"action":{"kind":"write","device":"tank","point":"pump","value":{"wire":"ABQ="}}}}
{"seq":3,"time":"2026-01-01T00:00:02Z","kind":"outcome","ref":2,"body":{"ok":true}}
{"seq":4,"time":"2026-01-01T00:00:03Z","kind":"intent","ref":1,"body":{"action":{"kind":"write","device":"tank","point":"pump","value":{"wire":"ABU="}}}}
{"seq":5,"time":"2026-01-01T00:00:05Z","kind":"outcome","ref":4,"body":{"ok":false,"recovered":"not_applied"}}
`
	points := map[Register]string{{"holding", 4}: "pump"}
	write := func(at string, v uint64) string {
		return `{"time":"2026-01-01T00:00:` + at + `Z","table":"holding","address":4,"values":[` + string(rune('0'+v/10)) + string(rune('0'+v%10)) + `]}` + "\n"
	}
	tests := []struct {
		name   string
		writes string
		acks   []Ack
		want   string // a substring of the one violation, "" for none
	}{
		{"consistent", write("01", 20), []Ack{{"pump", []byte{0, 20}}}, ""},
		{"write without intent", write("01", 20) + write("04", 33), nil, "no journaled intent"},
		{"write before its intent", write("00", 20), nil, "after the plant received"},
		{"recovered as not applied but written", write("01", 20) + write("04", 21), nil, "recovered as not_applied"},
		{"ok outcome never written", "", nil, "never received"},
		{"acknowledged but not journaled", write("01", 20), []Ack{{"pump", []byte{0, 20}}, {"pump", []byte{0, 22}}}, "no intent with an ok outcome"},
		{"unknown register", write("01", 20) + `{"time":"2026-01-01T00:00:01Z","table":"coil","address":0,"values":[1]}` + "\n", nil, "which no point maps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ReadJournal(strings.NewReader(journal))
			if err != nil {
				t.Fatal(err)
			}
			ws, err := ReadWriteLog(strings.NewReader(tt.writes))
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(j, ws, points, tt.acks)
			all := strings.Join(append(append(append(append(rep.Unresolved, rep.WritesWithoutIntent...), rep.RecoveredWrong...), rep.AckedMissing...), rep.Other...), "\n")
			switch {
			case tt.want == "" && rep.Violations() != 0:
				t.Errorf("got violations %q, want none", all)
			case tt.want != "" && (rep.Violations() != 1 || !strings.Contains(all, tt.want)):
				t.Errorf("got %d violations %q, want one with %q", rep.Violations(), all, tt.want)
			}
		})
	}
}
