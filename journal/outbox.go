package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ErrOutboxFull is returned by (*Outbox).Put when a message was dropped
// because the outbox had no room for it. The drop is counted in Dropped.
var ErrOutboxFull = errors.New("journal: outbox full")

// Default outbox limits, used where an OutboxLimit field is zero.
const (
	DefaultOutboxCount        = 10000
	DefaultOutboxBytes        = 16 << 20
	DefaultOutboxSyncInterval = time.Second
)

// OutboxLimit bounds an outbox. The zero value takes the defaults.
type OutboxLimit struct {
	// MaxCount is the most messages the outbox holds; 0 means
	// DefaultOutboxCount.
	MaxCount int
	// MaxBytes is the most topic and payload bytes the outbox holds; 0 means
	// DefaultOutboxBytes.
	MaxBytes int64
	// DropOldest makes a full outbox drop its oldest messages to make room
	// for a new one. By default the new message is dropped instead and Put
	// returns ErrOutboxFull. Either way every dropped message is counted.
	DropOldest bool
	// SyncInterval is how often Put syncs the write-ahead log, so that a
	// power loss loses at most the messages put in the last interval. 0 means
	// DefaultOutboxSyncInterval; a negative interval leaves syncing to Sync
	// and to the journal's synced appends.
	SyncInterval time.Duration
}

func (l OutboxLimit) withDefaults() OutboxLimit {
	if l.MaxCount <= 0 {
		l.MaxCount = DefaultOutboxCount
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultOutboxBytes
	}
	if l.SyncInterval == 0 {
		l.SyncInterval = DefaultOutboxSyncInterval
	}
	return l
}

// Message is one message held by an outbox.
type Message struct {
	// Seq orders the messages of one outbox: 1, 2, 3, ... It never goes back,
	// across restarts included. A message refused by Put takes no seq; one
	// dropped to make room for newer ones leaves its seq unused.
	Seq      uint64
	Time     time.Time // when it was put, by the journal's clock
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// size is what a message counts against OutboxLimit.MaxBytes.
func (m *Message) size() int64 { return int64(len(m.Topic) + len(m.Payload)) }

// PutOption sets a property of a message given to Put.
type PutOption func(*Message)

// Retained marks the message to be retained by the broker.
func Retained() PutOption { return func(m *Message) { m.Retained = true } }

// At sets the time the message is recorded with, instead of the journal's
// clock at Put: when it was first queued elsewhere.
func At(t time.Time) PutOption {
	return func(m *Message) { m.Time = time.Unix(0, t.UnixNano()).UTC() }
}

// QoS sets the message's MQTT quality of service (0, 1 or 2).
func QoS(q byte) PutOption { return func(m *Message) { m.QoS = q & 3 } }

// Outbox is a durable, ordered, bounded queue of messages in the journal's
// store, for messages that must survive a restart until a broker has them.
// It is safe for concurrent use. Get one with (*Journal).Outbox.
//
// Durability: Put returns once the message is in the store's write-ahead
// log, without waiting for an fsync. It survives a restart of the process,
// and a crash, once the log has been synced: by a synced journal append
// (every intent and outcome), by Sync, or by the first Put after
// SyncInterval has passed since the last sync that Put or Sync did. A crash
// (process killed, power lost) can therefore lose the messages put since the
// last such sync, and only a suffix of them: never a message while keeping a
// later one. Ack is not synced either: after a crash, acknowledged messages
// may come back (delivery is at least once).
type Outbox struct {
	j      *Journal
	name   string
	prefix []byte // spaceOutbox, len(name), name
	limit  OutboxLimit

	mu       sync.Mutex
	next     uint64    // seq of the next Put
	acked    uint64    // highest seq acknowledged
	dropped  uint64    // messages dropped since the outbox was created
	held     []held    // seqs and sizes of the messages held, oldest first
	bytes    int64     // sum of held sizes
	lastSync time.Time // when Put or Sync last synced
	reserved uint64    // seqs below this may have been given out by Take
}

// held is what the outbox remembers in memory of a stored message.
type held struct {
	seq  uint64
	size int64
}

// Outbox opens the outbox called name (1 to 255 bytes), creating it if it is
// new, and returns it. A second call with the same name returns the same
// Outbox, with the limit of the first call. On a read-only journal the
// outbox can be peeked at but Put and Ack return ErrReadOnly.
func (j *Journal) Outbox(name string, limit OutboxLimit) (*Outbox, error) {
	if len(name) == 0 || len(name) > 255 {
		return nil, fmt.Errorf("journal: outbox name %q: want 1 to 255 bytes", name)
	}
	if err := j.enter(); err != nil {
		return nil, err
	}
	defer j.exit()
	j.obMu.Lock()
	defer j.obMu.Unlock()
	if o, ok := j.outboxes[name]; ok {
		return o, nil
	}
	o := &Outbox{j: j, name: name, limit: limit.withDefaults(), lastSync: j.now()}
	o.prefix = append([]byte{spaceOutbox, byte(len(name))}, name...)
	if err := o.load(); err != nil {
		return nil, fmt.Errorf("journal: outbox %q: %w", name, err)
	}
	if j.outboxes == nil {
		j.outboxes = make(map[string]*Outbox)
	}
	j.outboxes[name] = o
	return o, nil
}

// load reads the outbox's state and the seqs and sizes of its messages.
func (o *Outbox) load() error {
	v, closer, err := o.j.db.Get(o.stateKey())
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		acked, dropped, derr := decodeOutboxState(v)
		closer.Close()
		if derr != nil {
			return derr
		}
		o.acked, o.dropped = acked, dropped
	}
	it, err := o.j.db.NewIter(&pebble.IterOptions{LowerBound: o.msgKey(0), UpperBound: o.msgEnd()})
	if err != nil {
		return err
	}
	defer it.Close()
	last := o.acked
	for valid := it.First(); valid; valid = it.Next() {
		seq, ok := o.parseMsgKey(it.Key())
		if !ok {
			return fmt.Errorf("%w: malformed outbox key %x", ErrCorrupt, it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		m, err := decodeMessage(seq, v)
		if err != nil {
			return fmt.Errorf("message %d: %w", seq, err)
		}
		o.held = append(o.held, held{seq, m.size()})
		o.bytes += m.size()
		last = max(last, seq)
	}
	if err := it.Error(); err != nil {
		return err
	}
	o.next = last + 1
	switch v, closer, err := o.j.db.Get(o.reserveKey()); {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		ok := len(v) == 9 && v[0] == valueVersion1
		if ok {
			o.reserved = binary.BigEndian.Uint64(v[1:])
		}
		closer.Close()
		if !ok {
			return fmt.Errorf("%w: outbox reservation of %d bytes", ErrCorrupt, len(v))
		}
		// Take may have given out every seq below the reservation.
		o.next = max(o.next, o.reserved)
	}
	return nil
}

// lockWrite enters the journal for a change to the outbox and locks the
// outbox; done unlocks it and leaves the journal.
func (o *Outbox) lockWrite() (done func(), err error) {
	if err := o.j.enter(); err != nil {
		return nil, err
	}
	if o.j.readOnly {
		o.j.exit()
		return nil, ErrReadOnly
	}
	o.mu.Lock()
	return func() {
		o.mu.Unlock()
		o.j.exit()
	}, nil
}

// TakeBlock is how many seqs one synced write reserves for Take.
const TakeBlock = 1 << 16

// Take gives out the next seq for a message that is not put (yet): one a
// publisher hands to a broker that is there, keeping the outbox for when
// it is not. The seq is never given out again, across restarts included:
// Take reserves seqs in blocks of TakeBlock with a synced write, and a
// reopened outbox starts after the last block. A message taken may later
// be stored with PutTaken.
func (o *Outbox) Take() (uint64, error) {
	done, err := o.lockWrite()
	if err != nil {
		return 0, err
	}
	defer done()
	if o.next >= o.reserved {
		if err := o.reserve(o.next+TakeBlock, pebble.Sync); err != nil {
			return 0, err
		}
	}
	seq := o.next
	o.next++
	return seq, nil
}

// Release says that every seq Take gave out has been put or is done with,
// so that a reopened outbox continues from the next seq instead of skipping
// to the end of the reserved block: the seqs stay without gaps across a
// restart after the publisher went offline or stopped cleanly. It is
// written without a sync; lost in a crash, the outbox skips as it would
// have.
func (o *Outbox) Release() error {
	done, err := o.lockWrite()
	if err != nil {
		return err
	}
	defer done()
	if o.reserved <= o.next {
		return nil
	}
	return o.reserve(o.next, pebble.NoSync)
}

// reserve records that seqs below upto may have been given out by Take.
// o.mu is held.
func (o *Outbox) reserve(upto uint64, wo *pebble.WriteOptions) error {
	v := binary.BigEndian.AppendUint64([]byte{valueVersion1}, upto)
	if err := o.j.db.Set(o.reserveKey(), v, wo); err != nil {
		return fmt.Errorf("journal: outbox %q: reserve seqs up to %d: %w", o.name, upto, err)
	}
	o.reserved = upto
	return nil
}

// PutTaken stores a message whose seq came from Take, as Put does. It must
// come after every message the outbox holds: a seq taken before the newest
// message put is refused.
func (o *Outbox) PutTaken(seq uint64, topic string, payload []byte, opts ...PutOption) error {
	if seq == 0 {
		return fmt.Errorf("journal: outbox %q: put taken: seq 0 was never taken", o.name)
	}
	_, err := o.put(seq, topic, payload, opts)
	return err
}

// Put appends a message for topic and returns its seq. See Outbox for the
// durability it gives. When the outbox is full, Put drops the new message
// and returns ErrOutboxFull, or, with OutboxLimit.DropOldest, drops the
// oldest messages to make room. A message larger than MaxBytes is always
// dropped. Every drop is counted in Dropped, persistently.
func (o *Outbox) Put(topic string, payload []byte, opts ...PutOption) (seq uint64, err error) {
	return o.put(0, topic, payload, opts)
}

// put stores a message under seq, or under the next seq when seq is 0.
func (o *Outbox) put(seq uint64, topic string, payload []byte, opts []PutOption) (uint64, error) {
	if err := o.j.enter(); err != nil {
		return 0, err
	}
	defer o.j.exit()
	if o.j.readOnly {
		return 0, ErrReadOnly
	}
	now := o.j.now()
	m := Message{Time: time.Unix(0, now.UnixNano()).UTC(), Topic: topic, Payload: payload}
	for _, opt := range opts {
		opt(&m)
	}
	size := m.size()

	o.mu.Lock()
	defer o.mu.Unlock()
	if seq != 0 && (seq >= o.next || seq <= o.acked || len(o.held) > 0 && seq <= o.held[len(o.held)-1].seq) {
		return 0, fmt.Errorf("journal: outbox %q: put taken: seq %d is not after the messages held and before %d", o.name, seq, o.next)
	}
	b := o.j.db.NewBatch()
	defer b.Close()

	drop := 0 // oldest messages to drop
	fits := func() bool {
		return len(o.held)-drop+1 <= o.limit.MaxCount && o.bytesAfter(drop)+size <= o.limit.MaxBytes
	}
	if size > o.limit.MaxBytes || (!o.limit.DropOldest && !fits()) {
		o.dropped++
		err := b.Set(o.stateKey(), encodeOutboxState(o.acked, o.dropped), nil)
		if err == nil {
			err = o.commit(b, now)
		}
		if err != nil {
			return 0, fmt.Errorf("journal: outbox %q: count a drop: %w", o.name, err)
		}
		return 0, fmt.Errorf("%w: %q holds %d messages, %d bytes", ErrOutboxFull, o.name, len(o.held), o.bytes)
	}
	for !fits() {
		drop++
	}
	m.Seq = seq
	if seq == 0 {
		m.Seq = o.next
	}
	for _, h := range o.held[:drop] {
		if err := b.Delete(o.msgKey(h.seq), nil); err != nil {
			return 0, fmt.Errorf("journal: outbox %q: %w", o.name, err)
		}
	}
	if drop > 0 {
		if err := b.Set(o.stateKey(), encodeOutboxState(o.acked, o.dropped+uint64(drop)), nil); err != nil {
			return 0, fmt.Errorf("journal: outbox %q: %w", o.name, err)
		}
	}
	if err := b.Set(o.msgKey(m.Seq), encodeMessage(&m), nil); err != nil {
		return 0, fmt.Errorf("journal: outbox %q: %w", o.name, err)
	}
	if err := o.commit(b, now); err != nil {
		return 0, fmt.Errorf("journal: outbox %q: put: %w", o.name, err)
	}
	o.bytes = o.bytesAfter(drop) + size
	o.held = append(o.held[drop:], held{m.Seq, size})
	o.dropped += uint64(drop)
	if seq == 0 {
		o.next++
	}
	return m.Seq, nil
}

// bytesAfter returns the bytes held without the drop oldest messages.
func (o *Outbox) bytesAfter(drop int) int64 {
	n := o.bytes
	for _, h := range o.held[:drop] {
		n -= h.size
	}
	return n
}

// commit commits b, synced if the sync interval has passed. Call with o.mu
// held.
func (o *Outbox) commit(b *pebble.Batch, now time.Time) error {
	wo := pebble.NoSync
	if o.limit.SyncInterval > 0 && now.Sub(o.lastSync) >= o.limit.SyncInterval {
		wo = pebble.Sync
	}
	if err := b.Commit(wo); err != nil {
		return err
	}
	if wo == pebble.Sync {
		o.lastSync = now
	}
	return nil
}

// Peek returns up to n of the oldest messages, in seq order, without
// removing them.
func (o *Outbox) Peek(n int) ([]Message, error) {
	if err := o.j.enter(); err != nil {
		return nil, err
	}
	defer o.j.exit()
	o.mu.Lock()
	if len(o.held) == 0 || n <= 0 {
		o.mu.Unlock()
		return nil, nil
	}
	first := o.held[0].seq
	o.mu.Unlock()
	it, err := o.j.db.NewIter(&pebble.IterOptions{LowerBound: o.msgKey(first), UpperBound: o.msgEnd()})
	if err != nil {
		return nil, fmt.Errorf("journal: outbox %q: peek: %w", o.name, err)
	}
	defer it.Close()
	var out []Message
	for valid := it.First(); valid && len(out) < n; valid = it.Next() {
		seq, ok := o.parseMsgKey(it.Key())
		if !ok {
			return out, fmt.Errorf("journal: outbox %q: %w: malformed key %x", o.name, ErrCorrupt, it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return out, fmt.Errorf("journal: outbox %q: peek: %w", o.name, err)
		}
		m, err := decodeMessage(seq, v)
		if err != nil {
			return out, fmt.Errorf("journal: outbox %q: message %d: %w", o.name, seq, err)
		}
		out = append(out, m)
	}
	if err := it.Error(); err != nil {
		return out, fmt.Errorf("journal: outbox %q: peek: %w", o.name, err)
	}
	return out, nil
}

// Ack removes every message up to and including seq upto: the broker has
// them. Acknowledging a seq already acknowledged or dropped does nothing.
// Ack is not synced; see Outbox.
func (o *Outbox) Ack(upto uint64) error {
	done, err := o.lockWrite()
	if err != nil {
		return err
	}
	defer done()
	if upto >= o.next {
		return fmt.Errorf("journal: outbox %q: ack %d: only %d messages were ever put", o.name, upto, o.next-1)
	}
	if upto <= o.acked {
		return nil
	}
	b := o.j.db.NewBatch()
	defer b.Close()
	k := 0
	var freed int64
	for ; k < len(o.held) && o.held[k].seq <= upto; k++ {
		if err := b.Delete(o.msgKey(o.held[k].seq), nil); err != nil {
			return fmt.Errorf("journal: outbox %q: ack: %w", o.name, err)
		}
		freed += o.held[k].size
	}
	if err := b.Set(o.stateKey(), encodeOutboxState(upto, o.dropped), nil); err != nil {
		return fmt.Errorf("journal: outbox %q: ack: %w", o.name, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("journal: outbox %q: ack: %w", o.name, err)
	}
	o.acked = upto
	o.held = o.held[k:]
	o.bytes -= freed
	return nil
}

// Sync makes every message put so far durable.
func (o *Outbox) Sync() error {
	if err := o.j.enter(); err != nil {
		return err
	}
	defer o.j.exit()
	if o.j.readOnly {
		return nil
	}
	now := o.j.now()
	if err := o.j.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("journal: outbox %q: sync: %w", o.name, err)
	}
	o.mu.Lock()
	o.lastSync = now
	o.mu.Unlock()
	return nil
}

// Len returns the number of messages held and their topic and payload bytes.
func (o *Outbox) Len() (count int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held), o.bytes
}

// Dropped returns the number of messages dropped since the outbox was first
// created, across restarts (as far as the last sync before a crash).
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Name returns the outbox's name.
func (o *Outbox) Name() string { return o.name }

// Outbox keys: the space byte, the name's length and the name, then 'm' and
// the message seq (8 bytes big-endian), 'r' for the seqs Take reserved, or
// 's' for the outbox's state.
const (
	outboxMsg     byte = 'm'
	outboxReserve byte = 'r' // the seqs Take reserved, 8 bytes big-endian
	outboxState   byte = 's'
)

func (o *Outbox) msgKey(seq uint64) []byte {
	k := make([]byte, 0, len(o.prefix)+9)
	k = append(append(k, o.prefix...), outboxMsg)
	return binary.BigEndian.AppendUint64(k, seq)
}

func (o *Outbox) msgEnd() []byte {
	return append(append([]byte(nil), o.prefix...), outboxMsg+1)
}

func (o *Outbox) reserveKey() []byte {
	return append(append([]byte(nil), o.prefix...), outboxReserve)
}

func (o *Outbox) stateKey() []byte {
	return append(append([]byte(nil), o.prefix...), outboxState)
}

func (o *Outbox) parseMsgKey(k []byte) (uint64, bool) {
	n := len(o.prefix)
	if len(k) != n+9 || string(k[:n]) != string(o.prefix) || k[n] != outboxMsg {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[n+1:]), true
}

// encodeOutboxState returns the state value: version, acked, dropped.
func encodeOutboxState(acked, dropped uint64) []byte {
	v := []byte{valueVersion1}
	v = binary.BigEndian.AppendUint64(v, acked)
	return binary.BigEndian.AppendUint64(v, dropped)
}

func decodeOutboxState(v []byte) (acked, dropped uint64, err error) {
	if len(v) != 17 || v[0] != valueVersion1 {
		return 0, 0, fmt.Errorf("%w: outbox state of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v[1:]), binary.BigEndian.Uint64(v[9:]), nil
}

// encodeMessage returns a message value: version, time (Unix ns), flags
// (bit 0 retained, bits 1-2 QoS), topic length (uint32), topic, payload.
func encodeMessage(m *Message) []byte {
	v := make([]byte, 0, 1+8+1+4+len(m.Topic)+len(m.Payload))
	v = append(v, valueVersion1)
	v = binary.BigEndian.AppendUint64(v, uint64(m.Time.UnixNano()))
	flags := m.QoS << 1
	if m.Retained {
		flags |= 1
	}
	v = append(v, flags)
	v = appendBytes(v, m.Topic)
	return append(v, m.Payload...)
}

func decodeMessage(seq uint64, v []byte) (Message, error) {
	if len(v) < 14 || v[0] != valueVersion1 {
		return Message{}, fmt.Errorf("%w: outbox message of %d bytes", ErrCorrupt, len(v))
	}
	d := decoder{b: v[1:]}
	m := Message{Seq: seq}
	m.Time = time.Unix(0, int64(d.uint64())).UTC()
	flags := d.byte()
	m.Retained, m.QoS = flags&1 != 0, flags>>1&3
	m.Topic = string(d.bytes())
	if d.short {
		return Message{}, fmt.Errorf("%w: outbox message of %d bytes is truncated", ErrCorrupt, len(v))
	}
	m.Payload = append([]byte{}, d.b...)
	return m, nil
}
