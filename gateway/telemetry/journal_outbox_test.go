package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/femtoclaw/femtoclaw/journal"
)

// openOutbox opens the journal in dir and its telemetry outbox.
func openOutbox(t *testing.T, dir string, limit journal.OutboxLimit) (*journal.Journal, *JournalOutbox) {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := j.Outbox("telemetry", limit)
	if err != nil {
		j.Close()
		t.Fatal(err)
	}
	return j, NewJournalOutbox(o)
}

// stamped is a payload as a subscriber sees it.
type stamped struct {
	MsgSeq     uint64 `json:"msg_seq"`
	Historical bool   `json:"historical"`
	I          int    `json:"i"`
}

func decodeStamped(t *testing.T, m received) stamped {
	t.Helper()
	var s stamped
	if err := json.Unmarshal([]byte(m.payload), &s); err != nil {
		t.Fatalf("payload %q: %v", m.payload, err)
	}
	return s
}

// TestJournalOutboxAcrossRestart queues messages while the broker is away,
// stops the publisher and closes the journal, then starts again with a
// broker: every message arrives once, in order, flagged historical, with
// its msg_seq; then a live message follows, not flagged.
func TestJournalOutboxAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	addr := freeAddr(t)
	const n = 40

	j, ob := openOutbox(t, dir, journal.OutboxLimit{})
	p := New(Options{Broker: "tcp://" + addr, Prefix: prefix, Outbox: ob, Logger: testLogger})
	stop := run(t, p)
	for i := range n {
		p.Publish(DeviceSubtopic("tank"), fmt.Appendf(nil, `{"i":%d}`, i))
	}
	if got := p.Stats().Queued; got != n {
		t.Fatalf("Queued with no broker: got %d, want %d", got, n)
	}
	stop()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	b := startBroker(t, addr)
	sub := subscribe(t, b.Addr(), prefix+"/telemetry/#")
	j, ob = openOutbox(t, dir, journal.OutboxLimit{})
	defer j.Close()
	p = New(Options{Broker: "tcp://" + addr, Prefix: prefix, Outbox: ob, Logger: testLogger})
	stop = run(t, p)
	defer stop()
	for i := range n {
		s := decodeStamped(t, next(t, sub.C, fmt.Sprintf("message %d", i)))
		if want := (stamped{MsgSeq: uint64(i + 1), Historical: true, I: i}); s != want {
			t.Fatalf("message %d: got %+v, want %+v", i, s, want)
		}
	}
	waitFor(t, "the outbox to drain", func() bool { return p.Stats().Queued == 0 })
	p.Publish(DeviceSubtopic("tank"), []byte(`{"i":-1}`))
	if s := decodeStamped(t, next(t, sub.C, "live message")); s != (stamped{MsgSeq: n + 1, I: -1}) {
		t.Errorf("live message: got %+v, want msg_seq %d, not historical", s, n+1)
	}
}

// TestJournalOutboxDropsReported fills a small outbox while the broker is
// away: the drops are counted and the online status reports them.
func TestJournalOutboxDropsReported(t *testing.T) {
	j, ob := openOutbox(t, t.TempDir(), journal.OutboxLimit{MaxCount: 5})
	t.Cleanup(func() { j.Close() }) // after the publisher stops
	for i := range 8 {
		err := ob.Push(Message{Topic: "t", Payload: fmt.Appendf(nil, `{"i":%d}`, i)})
		if i < 5 && err != nil {
			t.Fatalf("Push %d: %v", i, err)
		}
		if i >= 5 && (!errors.Is(err, ErrOutboxFull) || !errors.Is(err, journal.ErrOutboxFull)) {
			t.Fatalf("Push %d: got %v, want an error matching ErrOutboxFull", i, err)
		}
	}

	b := startBroker(t, "127.0.0.1:0")
	statuses := subscribe(t, b.Addr(), prefix+"/status")
	p := New(Options{Broker: "tcp://" + b.Addr(), Prefix: prefix, Outbox: ob, Logger: testLogger})
	run(t, p)
	if s := waitStatus(t, statuses.C, StateOnline); s.Dropped != 3 {
		t.Errorf("online status dropped: got %d, want 3", s.Dropped)
	}
	if got := p.Stats().Dropped; got != 3 {
		t.Errorf("Stats.Dropped: got %d, want 3", got)
	}
}

func TestJournalOutboxAckAfterPeek(t *testing.T) {
	j, ob := openOutbox(t, t.TempDir(), journal.OutboxLimit{})
	defer j.Close()
	for i := range 5 {
		if err := ob.Push(Message{Topic: "t", Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := ob.Peek(3)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Peek(3): got %d messages, %v; want 3", len(msgs), err)
	}
	if err := ob.Ack(2); err != nil {
		t.Fatal(err)
	}
	msgs, err = ob.Peek(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
	}
	if want := "[3:2 4:3 5:4]"; fmt.Sprint(got) != want || ob.Len() != 3 {
		t.Errorf("after Ack(2): got %v (Len %d), want %s", got, ob.Len(), want)
	}
}
