package telemetry

import (
	"fmt"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/journal"
)

// SpillOutbox is the outbox of a gateway: messages wait in memory while the
// broker takes them, and in the journal's durable outbox while it does
// not. A poll of 10,000 points is a message of half a megabyte every
// second; written through the journal it would cost an fsync, several
// copies and a write-ahead log entry each time, which on a Raspberry Pi's
// SD card is also wear, all for a message the broker acknowledges a
// millisecond later.
//
// A message goes to the journal (and stays there, in order, until the
// broker has it) when it is pushed while the publisher is offline, while
// the journal already holds messages, when the memory queue is full, or
// when the oldest message in memory has waited SpillAfter without the
// broker acknowledging it; the messages in memory go first. Going offline
// moves every message in memory to the journal at once. Every message,
// wherever it waits, takes its seq from the journal outbox, so msg_seq is
// never reused across restarts. The seqs have no gaps, except after a crash
// while online, when the seqs the journal reserved for messages in memory
// are skipped.
//
// What a crash can lose: the messages in memory, that is those the broker
// has not acknowledged within SpillAfter while it was connected; the
// journal outbox itself may lose the messages put since its last sync
// (see journal.Outbox).
type SpillOutbox struct {
	disk *JournalOutbox
	now  func() time.Time

	maxCount   int
	maxBytes   int
	spillAfter time.Duration

	mu       sync.Mutex
	online   bool
	mem      []Message // taken seqs, oldest first; only while disk is empty
	memBytes int
	peeked   []uint64 // seqs of the last Peek, oldest first
	onDisk   bool     // the last Peek read the journal, or mem spilled since
}

// SpillOptions bounds the memory queue of a SpillOutbox. Zero fields take
// the defaults.
type SpillOptions struct {
	// MaxCount is the most messages kept in memory. Default 1,000.
	MaxCount int
	// MaxBytes is the most payload bytes kept in memory. Default 8 MiB.
	MaxBytes int
	// SpillAfter is how long a message may wait in memory for the broker's
	// acknowledgement. Default 2 s.
	SpillAfter time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// NewSpillOutbox returns an outbox that spills to o. It starts offline:
// the publisher says when it is connected (SetOnline).
func NewSpillOutbox(o *journal.Outbox, opts SpillOptions) *SpillOutbox {
	s := &SpillOutbox{disk: NewJournalOutbox(o), maxCount: opts.MaxCount, maxBytes: opts.MaxBytes, spillAfter: opts.SpillAfter, now: opts.Now}
	if s.maxCount <= 0 {
		s.maxCount = 1000
	}
	if s.maxBytes <= 0 {
		s.maxBytes = 8 << 20
	}
	if s.spillAfter <= 0 {
		s.spillAfter = 2 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Push queues m: in memory when the broker is taking messages, else in the
// journal. The payload is kept, not copied.
func (s *SpillOutbox) Push(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Time.IsZero() {
		m.Time = s.now()
	}
	if s.online && s.diskEmpty() && len(s.mem) < s.maxCount && s.memBytes+len(m.Payload) <= s.maxBytes &&
		(len(s.mem) == 0 || m.Time.Sub(s.mem[0].Time) < s.spillAfter) {
		seq, err := s.disk.o.Take()
		if err != nil {
			return fmt.Errorf("telemetry: outbox: %w", err)
		}
		m.Seq = seq
		s.mem = append(s.mem, m)
		s.memBytes += len(m.Payload)
		return nil
	}
	s.spillLocked()
	return s.disk.Push(m)
}

// diskEmpty reports whether the journal holds no message. s.mu is held.
func (s *SpillOutbox) diskEmpty() bool {
	return s.disk.Len() == 0
}

// spillLocked moves the messages in memory to the journal, in order. A
// message the journal has no room for is dropped there and counted. s.mu
// is held.
func (s *SpillOutbox) spillLocked() {
	if len(s.mem) == 0 {
		return
	}
	for _, m := range s.mem {
		// The only error is a drop, which the journal counts; the
		// messages after it are still kept.
		_ = s.disk.o.PutTaken(m.Seq, m.Topic, m.Payload, putOptions(m)...)
	}
	clear(s.mem)
	s.mem, s.memBytes, s.onDisk = s.mem[:0], 0, true
}

// SetOnline says whether the publisher is connected. Going offline moves
// the messages in memory to the journal.
func (s *SpillOutbox) SetOnline(online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.online = online
	if !online {
		s.spillLocked()
		// Every seq taken is now in the journal or acknowledged: a
		// restart need not skip past the reserved ones. A failed release
		// costs only that skip.
		_ = s.disk.o.Release()
	}
}

// Peek returns up to n of the oldest messages. Those from the journal are
// made durable first, so that a message the broker has is never lost from
// the outbox and its seq never given to another one.
func (s *SpillOutbox) Peek(n int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peeked = s.peeked[:0]
	if !s.diskEmpty() {
		out, err := s.disk.peekSynced(n)
		if err != nil || len(out) == 0 {
			return nil, err
		}
		for _, m := range out {
			s.peeked = append(s.peeked, m.Seq)
		}
		s.onDisk = true
		return out, nil
	}
	n = min(n, len(s.mem))
	if n == 0 {
		return nil, nil
	}
	out := make([]Message, n)
	copy(out, s.mem)
	for _, m := range out {
		s.peeked = append(s.peeked, m.Seq)
	}
	s.onDisk = false
	return out, nil
}

// Ack removes the n oldest messages of the last Peek, wherever they wait
// now.
func (s *SpillOutbox) Ack(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.peeked))
	if n <= 0 {
		return nil
	}
	upto := s.peeked[n-1]
	s.peeked = append(s.peeked[:0], s.peeked[n:]...)
	k := 0
	for k < len(s.mem) && s.mem[k].Seq <= upto {
		s.memBytes -= len(s.mem[k].Payload)
		s.mem[k] = Message{}
		k++
	}
	s.mem = s.mem[k:]
	if len(s.mem) == 0 {
		s.mem = nil // let the array go
	}
	if s.onDisk {
		return s.disk.o.Ack(upto)
	}
	return nil
}

// Len returns the number of messages waiting, in memory and in the journal.
func (s *SpillOutbox) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disk.Len() + len(s.mem)
}

// Dropped returns the messages the journal outbox has dropped since it was
// first created, across restarts. The memory queue drops nothing: it
// spills.
func (s *SpillOutbox) Dropped() uint64 { return s.disk.Dropped() }

// Onliner is an Outbox that wants to know whether the publisher is
// connected.
type Onliner interface {
	SetOnline(online bool)
}

var (
	_ Outbox      = (*SpillOutbox)(nil)
	_ DropCounter = (*SpillOutbox)(nil)
	_ Onliner     = (*SpillOutbox)(nil)
)
