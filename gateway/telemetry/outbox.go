package telemetry

import (
	"errors"
	"sync"
	"time"
)

// Message is one MQTT message waiting to be published.
type Message struct {
	// Topic is the full topic, prefix included.
	Topic   string
	Payload []byte
	// Retained asks the broker to keep the message for later subscribers.
	Retained bool
	// Seq is the message's place in the outbox, set by the outbox: 1, 2, 3,
	// ..., never reused by one outbox (a durable outbox keeps counting
	// across restarts). The publisher stamps it into JSON payloads as
	// msg_seq, the subscribers' de-duplication key.
	Seq uint64
	// Time is when the message was queued; the publisher sets it.
	Time time.Time
}

// ErrOutboxFull is returned by an Outbox that has no room for a message.
var ErrOutboxFull = errors.New("telemetry: outbox full")

// Outbox holds the messages waiting for the broker, oldest first. The
// publisher is its only reader and takes messages out only once the broker
// has acknowledged them, so a message survives a lost connection (and, in a
// durable outbox, a restart). Push may be called from any goroutine.
type Outbox interface {
	// Push appends m. It returns ErrOutboxFull, or another error, when m
	// could not be kept; m is then dropped.
	Push(m Message) error
	// Peek returns up to n of the oldest messages without removing them.
	Peek(n int) ([]Message, error)
	// Ack removes the n oldest messages: the broker has them.
	Ack(n int) error
	// Len returns the number of messages waiting.
	Len() int
}

// MemoryOutbox is a bounded Outbox in memory. Its messages are lost when the
// process ends.
type MemoryOutbox struct {
	mu    sync.Mutex
	limit int
	buf   []Message // ring buffer of capacity limit
	head  int       // index of the oldest message
	n     int       // number of messages held
	next  uint64    // seq of the next message
}

// NewMemoryOutbox returns an empty outbox that holds at most limit messages
// (at least one).
func NewMemoryOutbox(limit int) *MemoryOutbox {
	return &MemoryOutbox{limit: max(limit, 1), next: 1}
}

// Push appends m with the next seq, or returns ErrOutboxFull.
func (o *MemoryOutbox) Push(m Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == o.limit {
		return ErrOutboxFull
	}
	if o.n == len(o.buf) {
		o.grow()
	}
	m.Seq = o.next
	o.next++
	o.buf[(o.head+o.n)%len(o.buf)] = m
	o.n++
	return nil
}

// grow enlarges the ring buffer, up to the limit, keeping the order.
func (o *MemoryOutbox) grow() {
	size := min(max(2*len(o.buf), 64), o.limit)
	buf := make([]Message, size)
	for i := range o.n {
		buf[i] = o.buf[(o.head+i)%len(o.buf)]
	}
	o.buf, o.head = buf, 0
}

// Peek returns up to n of the oldest messages.
func (o *MemoryOutbox) Peek(n int) ([]Message, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, o.n)
	out := make([]Message, n)
	for i := range n {
		out[i] = o.buf[(o.head+i)%len(o.buf)]
	}
	return out, nil
}

// Ack removes the n oldest messages.
func (o *MemoryOutbox) Ack(n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, o.n)
	for i := range n {
		o.buf[(o.head+i)%len(o.buf)] = Message{} // let the payload go
	}
	if n > 0 {
		o.head = (o.head + n) % len(o.buf)
		o.n -= n
	}
	return nil
}

// Len returns the number of messages waiting.
func (o *MemoryOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

var _ Outbox = (*MemoryOutbox)(nil)
