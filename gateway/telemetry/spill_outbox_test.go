package telemetry

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/journal"
)

// openSpill opens the journal in dir, its telemetry outbox and a
// SpillOutbox over it.
func openSpill(t *testing.T, dir string, opts SpillOptions) (*journal.Journal, *journal.Outbox, *SpillOutbox) {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := j.Outbox("telemetry", journal.OutboxLimit{})
	if err != nil {
		j.Close()
		t.Fatal(err)
	}
	return j, o, NewSpillOutbox(o, opts)
}

func push(t *testing.T, s *SpillOutbox, payload string, at time.Time) {
	t.Helper()
	if err := s.Push(Message{Topic: "t", Payload: []byte(payload), Time: at}); err != nil {
		t.Fatalf("Push(%s): %v", payload, err)
	}
}

func peekSeqs(t *testing.T, s *SpillOutbox, n int) string {
	t.Helper()
	msgs, err := s.Peek(n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
	}
	return fmt.Sprint(out)
}

func diskLen(o *journal.Outbox) int {
	n, _ := o.Len()
	return n
}

// TestSpillOutbox walks the outbox through the broker's comings and goings:
// messages wait in memory while online, go to the journal (in order, the
// ones in memory first) when the publisher goes offline, and stay on the
// journal's path until it is empty again.
func TestSpillOutbox(t *testing.T) {
	j, o, s := openSpill(t, t.TempDir(), SpillOptions{})
	defer j.Close()
	t0 := time.Unix(1000, 0)

	// Offline at first: to the journal.
	push(t, s, "a", t0)
	if diskLen(o) != 1 || s.Len() != 1 {
		t.Fatalf("offline push: journal holds %d, Len %d; want 1, 1", diskLen(o), s.Len())
	}
	s.SetOnline(true)
	// The journal holds a message, so new ones follow it there.
	push(t, s, "b", t0)
	if got, want := peekSeqs(t, s, 10), "[1:a 2:b]"; got != want || diskLen(o) != 2 {
		t.Fatalf("Peek: got %s (journal %d), want %s from the journal", got, diskLen(o), want)
	}
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	// Empty and online: memory only.
	for _, p := range []string{"c", "d", "e"} {
		push(t, s, p, t0)
	}
	if diskLen(o) != 0 || s.Len() != 3 {
		t.Fatalf("online pushes: journal holds %d, Len %d; want 0, 3", diskLen(o), s.Len())
	}
	if got, want := peekSeqs(t, s, 2), "[3:c 4:d]"; got != want {
		t.Fatalf("Peek(2) from memory: got %s, want %s", got, want)
	}
	// The broker goes away before it acknowledges them: all three spill.
	s.SetOnline(false)
	if diskLen(o) != 3 {
		t.Fatalf("after going offline: journal holds %d, want 3", diskLen(o))
	}
	// The acknowledgement of the two peeked arrives after all.
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	push(t, s, "f", t0)
	if got, want := peekSeqs(t, s, 10), "[5:e 6:f]"; got != want {
		t.Fatalf("after the spill and the ack: got %s, want %s", got, want)
	}
	msgs, _ := s.Peek(1)
	if !msgs[0].Time.Equal(t0) {
		t.Errorf("spilled message time: got %v, want %v (when it was queued)", msgs[0].Time, t0)
	}
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	peekSeqs(t, s, 10)
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 || diskLen(o) != 0 {
		t.Fatalf("after acking everything: Len %d, journal %d; want 0, 0", s.Len(), diskLen(o))
	}

	// A message the broker leaves unacknowledged for SpillAfter spills
	// with every message after it.
	s.SetOnline(true)
	push(t, s, "g", t0)
	push(t, s, "h", t0.Add(time.Second))
	if diskLen(o) != 0 {
		t.Fatalf("within SpillAfter: journal holds %d, want 0", diskLen(o))
	}
	push(t, s, "i", t0.Add(3*time.Second))
	if got, want := peekSeqs(t, s, 10), "[7:g 8:h 9:i]"; got != want || diskLen(o) != 3 {
		t.Fatalf("past SpillAfter: got %s (journal %d), want %s in the journal", got, diskLen(o), want)
	}
}

// TestSpillOutboxBounds spills when the memory queue is full.
func TestSpillOutboxBounds(t *testing.T) {
	j, o, s := openSpill(t, t.TempDir(), SpillOptions{MaxCount: 3, MaxBytes: 1 << 20})
	defer j.Close()
	s.SetOnline(true)
	now := time.Now()
	for i := range 3 {
		push(t, s, fmt.Sprint(i), now)
	}
	if diskLen(o) != 0 {
		t.Fatalf("3 of 3: journal holds %d, want 0", diskLen(o))
	}
	push(t, s, "3", now)
	if diskLen(o) != 4 || s.Len() != 4 {
		t.Fatalf("4 of 3: journal %d, Len %d; want 4, 4", diskLen(o), s.Len())
	}
	big := make([]byte, 2<<20)
	if err := s.Push(Message{Topic: "t", Payload: big}); err != nil {
		t.Fatalf("a message larger than MaxBytes: %v, want it in the journal", err)
	}
}

// TestSpillOutboxSeqAcrossRestart: seqs given to messages that waited only
// in memory are never given again after a restart, a crash included.
func TestSpillOutboxSeqAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, _, s := openSpill(t, dir, SpillOptions{})
	s.SetOnline(true)
	push(t, s, "a", time.Now())
	push(t, s, "b", time.Now())
	msgs, _ := s.Peek(2)
	last := msgs[1].Seq
	// No SetOnline(false): as if killed.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, _, s = openSpill(t, dir, SpillOptions{})
	defer j.Close()
	push(t, s, "c", time.Now())
	msgs, _ = s.Peek(1)
	if len(msgs) != 1 || msgs[0].Seq <= last {
		t.Fatalf("after restart: got %v, want a seq above %d", msgs, last)
	}
}

// TestSpillOutboxAcrossOutage publishes through a broker that goes away
// and comes back: live messages pass through memory, the ones of the
// outage through the journal, and the subscriber gets every one once, in
// order, the outage's flagged historical.
func TestSpillOutboxAcrossOutage(t *testing.T) {
	addr := freeAddr(t)
	b := startBroker(t, addr)
	j, o, s := openSpill(t, t.TempDir(), SpillOptions{})
	defer j.Close()
	p := New(Options{Broker: "tcp://" + addr, Prefix: prefix, Outbox: s, Logger: testLogger})
	sub := subscribe(t, b.Addr(), prefix+"/telemetry/#")
	stop := run(t, p)
	defer stop()
	waitFor(t, "the publisher to connect", func() bool { return p.Stats().Connected })

	i := 0
	publish := func(n int) {
		for range n {
			p.Publish(DeviceSubtopic("tank"), fmt.Appendf(nil, `{"i":%d}`, i))
			i++
		}
	}
	publish(10)
	for k := range 10 {
		if m := decodeStamped(t, next(t, sub.C, fmt.Sprintf("live message %d", k))); m.I != k || m.Historical {
			t.Fatalf("live message %d: got %+v", k, m)
		}
	}
	if diskLen(o) != 0 {
		t.Errorf("while the broker took every message: the journal holds %d, want 0", diskLen(o))
	}

	b.Close()
	waitFor(t, "the publisher to notice", func() bool { return !p.Stats().Connected })
	publish(20)
	if n := diskLen(o); n != 20 {
		t.Fatalf("during the outage: the journal holds %d, want 20", n)
	}
	b = startBroker(t, addr)
	sub = subscribe(t, b.Addr(), prefix+"/telemetry/#")
	waitFor(t, "the outbox to drain", func() bool { return p.Stats().Queued == 0 })
	publish(5)
	seen := map[int]bool{}
	lastSeq := uint64(0)
	for len(seen) < 25 {
		m := decodeStamped(t, next(t, sub.C, fmt.Sprintf("message %d after the outage", 10+len(seen))))
		if seen[m.I] {
			continue // a duplicate of one in flight when the broker went
		}
		if m.MsgSeq <= lastSeq {
			t.Fatalf("message i=%d: msg_seq %d after %d, want increasing", m.I, m.MsgSeq, lastSeq)
		}
		lastSeq = m.MsgSeq
		if want := m.I < 30; m.Historical != want {
			t.Errorf("message i=%d: historical %v, want %v", m.I, m.Historical, want)
		}
		seen[m.I] = true
	}
	for k := 10; k < 35; k++ {
		if !seen[k] {
			t.Errorf("message i=%d never arrived", k)
		}
	}
}
