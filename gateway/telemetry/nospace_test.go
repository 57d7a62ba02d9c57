package telemetry

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/journal"
)

// TestJournalOutboxNoSpace checks that a journal below its free-space
// reserve drops telemetry, counted, and that the publisher goes on once
// space is back.
func TestJournalOutboxNoSpace(t *testing.T) {
	const reserve = 16 << 20
	var free atomic.Uint64
	free.Store(1 << 30)
	j, err := journal.Open(t.TempDir(), journal.Options{Reserve: reserve, FreeSpace: func() (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	o, err := j.Outbox("telemetry", journal.OutboxLimit{})
	if err != nil {
		t.Fatal(err)
	}
	ob := NewJournalOutbox(o)
	p := New(Options{Broker: "tcp://127.0.0.1:1", Prefix: prefix, Outbox: ob, Logger: testLogger})
	p.Publish("a", []byte(`{"i":1}`))

	free.Store(reserve - 1)
	time.Sleep(150 * time.Millisecond) // past the journal's free-space cache
	err = ob.Push(Message{Topic: "t", Payload: []byte(`{"i":2}`)})
	if !errors.Is(err, ErrOutboxFull) || !errors.Is(err, journal.ErrNoSpace) {
		t.Fatalf("Push below the reserve: got %v, want ErrOutboxFull and journal.ErrNoSpace", err)
	}
	p.Publish("a", []byte(`{"i":3}`))
	if s := p.Stats(); s.Dropped != 2 || s.Queued != 1 {
		t.Errorf("Stats below the reserve: got dropped %d, queued %d, want 2, 1", s.Dropped, s.Queued)
	}

	free.Store(1 << 30)
	time.Sleep(150 * time.Millisecond)
	p.Publish("a", []byte(`{"i":4}`))
	if s := p.Stats(); s.Dropped != 2 || s.Queued != 2 {
		t.Errorf("Stats with room again: got dropped %d, queued %d, want 2, 2", s.Dropped, s.Queued)
	}
}
