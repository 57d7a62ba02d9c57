package telemetry

import (
	"errors"
	"strconv"
	"testing"
)

func TestMemoryOutbox(t *testing.T) {
	// Each step pushes some messages (numbered on from the last) or acks
	// some, then checks what Peek(100) returns.
	tests := []struct {
		name  string
		limit int
		steps []struct{ push, ack int }
		want  []string
		drops int
	}{
		{"empty", 3, nil, []string{}, 0},
		{"in order", 5, []struct{ push, ack int }{{push: 3}}, []string{"0", "1", "2"}, 0},
		{"ack oldest", 5, []struct{ push, ack int }{{push: 3}, {ack: 2}}, []string{"2"}, 0},
		{"full drops newest", 2, []struct{ push, ack int }{{push: 4}}, []string{"0", "1"}, 2},
		{"wraps around", 3, []struct{ push, ack int }{{push: 3}, {ack: 2}, {push: 2}}, []string{"2", "3", "4"}, 0},
		{"ack more than held", 3, []struct{ push, ack int }{{push: 2}, {ack: 5}, {push: 1}}, []string{"2"}, 0},
		{"grows past first buffer", 200, []struct{ push, ack int }{{push: 70}, {ack: 60}, {push: 100}}, seq(60, 170), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewMemoryOutbox(tt.limit)
			n, drops := 0, 0
			for _, st := range tt.steps {
				for range st.push {
					if err := o.Push(Message{Payload: []byte(strconv.Itoa(n))}); err != nil {
						if !errors.Is(err, ErrOutboxFull) {
							t.Fatalf("Push: got %v, want nil or %v", err, ErrOutboxFull)
						}
						drops++
					}
					n++
				}
				if err := o.Ack(st.ack); err != nil {
					t.Fatal(err)
				}
			}
			msgs, err := o.Peek(1000)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(msgs))
			for i, m := range msgs {
				got[i] = string(m.Payload)
			}
			if len(got) != len(tt.want) || o.Len() != len(tt.want) {
				t.Fatalf("Peek: got %q (Len %d), want %q", got, o.Len(), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Peek: got %q, want %q", got, tt.want)
				}
			}
			if drops != tt.drops {
				t.Errorf("drops: got %d, want %d", drops, tt.drops)
			}
		})
	}
}

func seq(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}
