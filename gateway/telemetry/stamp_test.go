package telemetry

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	up := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	before, after := up.Add(-time.Second), up.Add(time.Second)
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"live", Message{Payload: []byte(`{"a":1}`), Seq: 7, Time: after}, `{"msg_seq":7,"a":1}`},
		{"historical", Message{Payload: []byte(`{"a":1}`), Seq: 7, Time: before}, `{"msg_seq":7,"historical":true,"a":1}`},
		{"retained is never historical", Message{Payload: []byte(`{"a":1}`), Seq: 7, Time: before, Retained: true}, `{"msg_seq":7,"a":1}`},
		{"empty object", Message{Payload: []byte(`{ }`), Seq: 1, Time: before}, `{"msg_seq":1,"historical":true }`},
		{"leading space", Message{Payload: []byte(" \n{\"a\":1}"), Seq: 2, Time: after}, `{"msg_seq":2,"a":1}`},
		{"not an object", Message{Payload: []byte(`[1,2]`), Seq: 3, Time: before}, `[1,2]`},
		{"not JSON", Message{Payload: []byte(`42`), Seq: 3, Time: before}, `42`},
		{"empty payload", Message{Seq: 3, Time: before}, ``},
		{"no seq", Message{Payload: []byte(`{"a":1}`), Time: before}, `{"a":1}`},
		{"no time", Message{Payload: []byte(`{"a":1}`), Seq: 9}, `{"msg_seq":9,"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := string(tt.m.Payload)
			got := stamp(tt.m, up)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if string(tt.m.Payload) != stored {
				t.Errorf("stored payload: got %s, want %s unchanged", tt.m.Payload, stored)
			}
			if len(tt.want) > 0 && tt.want[0] == '{' && !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
		})
	}
}

func BenchmarkStamp(b *testing.B) {
	m := Message{Payload: []byte(`{"device":"tank","seq":42,"ts":"2026-03-01T08:00:01Z","values":{"level":{"value":41.5,"quality":"good","unit":"%"}}}`), Seq: 123456, Time: time.Now()}
	up := m.Time.Add(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		stamp(m, up)
	}
}
