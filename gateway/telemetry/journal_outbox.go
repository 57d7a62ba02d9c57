package telemetry

import (
	"errors"
	"fmt"
	"sync"

	"github.com/femtoclaw/femtoclaw/journal"
)

// JournalOutbox is an Outbox kept in the journal's store: messages survive a
// broker that is away for hours and a restart of the gateway, a SIGKILL
// included. It adapts a journal.Outbox, which bounds it by count and bytes
// and counts its drops persistently.
//
// Before it hands a message to the publisher, JournalOutbox makes it
// durable (journal.Outbox.Sync): a message that reached the broker is never
// lost from the outbox by a power failure, so its seq is never given to
// another message and stays a safe de-duplication key. The cost is at most
// one fsync per batch the publisher sends.
type JournalOutbox struct {
	o *journal.Outbox

	mu     sync.Mutex
	peeked []uint64 // seqs of the last Peek, oldest first
	synced uint64   // highest seq known to be durable
}

// NewJournalOutbox returns an Outbox that keeps its messages in o.
func NewJournalOutbox(o *journal.Outbox) *JournalOutbox {
	return &JournalOutbox{o: o}
}

// Push puts m into the journal's outbox. A full outbox returns an error
// that matches both ErrOutboxFull and journal.ErrOutboxFull.
func (j *JournalOutbox) Push(m Message) error {
	if _, err := j.o.Put(m.Topic, m.Payload, putOptions(m)...); err != nil {
		if errors.Is(err, journal.ErrOutboxFull) {
			return fmt.Errorf("%w: %w", ErrOutboxFull, err)
		}
		return fmt.Errorf("telemetry: outbox: %w", err)
	}
	return nil
}

// putOptions are the journal options that keep what m says of itself:
// retained, and when it was queued.
func putOptions(m Message) []journal.PutOption {
	var opts []journal.PutOption
	if !m.Time.IsZero() {
		opts = append(opts, journal.At(m.Time))
	}
	if m.Retained {
		opts = append(opts, journal.Retained())
	}
	return opts
}

// Peek returns up to n of the oldest messages, made durable first.
func (j *JournalOutbox) Peek(n int) ([]Message, error) {
	out, err := j.peekSynced(n)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.peeked = j.peeked[:0]
	for _, m := range out {
		j.peeked = append(j.peeked, m.Seq)
	}
	return out, err
}

// peekSynced returns up to n of the oldest messages, made durable first.
func (j *JournalOutbox) peekSynced(n int) ([]Message, error) {
	msgs, err := j.o.Peek(n)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if last := msgs[len(msgs)-1].Seq; last > j.synced {
		if err := j.o.Sync(); err != nil {
			return nil, err
		}
		j.synced = last
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{Topic: m.Topic, Payload: m.Payload, Retained: m.Retained, Seq: m.Seq, Time: m.Time}
	}
	return out, nil
}

// Ack removes the n oldest messages of the last Peek.
func (j *JournalOutbox) Ack(n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	n = min(n, len(j.peeked))
	if n <= 0 {
		return nil
	}
	upto := j.peeked[n-1]
	j.peeked = append(j.peeked[:0], j.peeked[n:]...)
	return j.o.Ack(upto)
}

// Len returns the number of messages waiting.
func (j *JournalOutbox) Len() int {
	n, _ := j.o.Len()
	return n
}

// Dropped returns the messages the outbox has dropped since it was first
// created, across restarts.
func (j *JournalOutbox) Dropped() uint64 { return j.o.Dropped() }

var (
	_ Outbox      = (*JournalOutbox)(nil)
	_ DropCounter = (*JournalOutbox)(nil)
)
