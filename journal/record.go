package journal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind says what a record stands for. The zero Kind is invalid: Append
// refuses it.
type Kind uint8

// The kinds of record the gateway writes.
const (
	// KindProposal is a tool call as the model proposed it.
	KindProposal Kind = iota + 1
	// KindDecision is the gate's decision on a proposal.
	KindDecision
	// KindIntent is an allowed action about to be executed. It is written
	// with AppendSync before the device is touched.
	KindIntent
	// KindOutcome is what happened when an intent was executed; its Ref is
	// the intent's seq.
	KindOutcome
	// KindEpisode marks the start or end of an episode.
	KindEpisode
	// KindNote is anything else worth keeping: start-up, shutdown, operator
	// remarks.
	KindNote
	// KindCheckpoint records a pruning of the chain: its body names the last
	// record removed and that record's hash (see Prune). Only Prune writes
	// one; Append refuses it.
	KindCheckpoint

	kindEnd // one past the last valid kind
)

// String returns the lower-case name of k, or "kind(N)" for an invalid kind.
func (k Kind) String() string {
	switch k {
	case KindProposal:
		return "proposal"
	case KindDecision:
		return "decision"
	case KindIntent:
		return "intent"
	case KindOutcome:
		return "outcome"
	case KindEpisode:
		return "episode"
	case KindNote:
		return "note"
	case KindCheckpoint:
		return "checkpoint"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k > 0 && k < kindEnd }

// MarshalText returns the lower-case name of k. It fails for an invalid kind.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("journal: marshal invalid %s", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText sets k from its lower-case name.
func (k *Kind) UnmarshalText(text []byte) error {
	for c := Kind(1); c < kindEnd; c++ {
		if c.String() == string(text) {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("journal: unknown record kind %q", text)
}

// Hash is a SHA-256 digest. It marshals as 64 lower-case hex digits.
type Hash [sha256.Size]byte

// String returns h as lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros, as the Prev of the first record is.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText returns h as lower-case hex.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(out, h[:])
	return out, nil
}

// UnmarshalText sets h from 64 hex digits.
func (h *Hash) UnmarshalText(text []byte) error {
	if len(text) != hex.EncodedLen(len(h)) {
		return fmt.Errorf("journal: hash: got %d hex digits, want %d", len(text), hex.EncodedLen(len(h)))
	}
	var v Hash
	if _, err := hex.Decode(v[:], text); err != nil {
		return fmt.Errorf("journal: hash: %w", err)
	}
	*h = v
	return nil
}

// Entry is what a caller appends. The journal adds the seq, the time and
// the chain hashes and returns the resulting Record.
type Entry struct {
	Kind      Kind
	Principal string // who: agent name, "operator", ...
	Episode   string // episode id, may be empty
	Ref       uint64 // seq of a related record (an outcome refers to its intent), 0 if none
	Body      any    // marshalled with encoding/json
}

// Record is one stored journal record. Its order is its Seq; Time is the
// journal clock's reading when it was appended, non-decreasing unless that
// clock is stepped back.
type Record struct {
	Seq       uint64          `json:"seq"`
	Time      time.Time       `json:"time"`
	Kind      Kind            `json:"kind"`
	Principal string          `json:"principal,omitempty"`
	Episode   string          `json:"episode,omitempty"`
	Ref       uint64          `json:"ref,omitempty"`
	Body      json.RawMessage `json:"body"`
	Prev      Hash            `json:"prev"` // hash of the previous record (zero for seq 1)
	Hash      Hash            `json:"hash"` // SHA-256 over the canonical encoding incl. Prev
	// MAC is HMAC-SHA256 of Hash under the journal's key, for a record
	// appended while the journal had one; nil otherwise.
	MAC *Hash `json:"mac,omitempty"`
}

// Record spaces: the first byte of every key. Later spaces (outbox,
// checkpoints, metadata) take further letters so that each can be iterated
// and truncated on its own.
const (
	spaceRecords    byte = 'r'
	spaceOutbox     byte = 'o'
	spaceCheckpoint byte = 'c'
)

const (
	recordKeyLen = 1 + 8

	// valueVersion1 is the encoding of a record without a MAC.
	valueVersion1 byte = 1
	// valueVersion2 is version 1 followed by the record's MAC.
	valueVersion2 byte = 2

	// fixedLen is the length of a version-1 value without its three
	// variable-length fields.
	fixedLen = 1 + 8 + 8 + 1 + 8 + 4 + 4 + 4 + sha256.Size + sha256.Size
)

// recordKey returns the key of the record with the given seq.
func recordKey(seq uint64) []byte {
	k := make([]byte, recordKeyLen)
	k[0] = spaceRecords
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// parseRecordKey returns the seq in a record key.
func parseRecordKey(k []byte) (uint64, bool) {
	if len(k) != recordKeyLen || k[0] != spaceRecords {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// encodeRecord fills in r.Hash and returns the version-1 value of r,
// which carries no MAC. It fails only if a variable-length field does not
// fit its length prefix.
func encodeRecord(r *Record) ([]byte, error) { return encodeRecordKey(r, nil) }

// encodeRecordKey is encodeRecord with a key: given one, it returns the
// version-2 value, which ends in the MAC of the hash under key, and sets
// r.MAC; given none, the version-1 value.
func encodeRecordKey(r *Record, key []byte) ([]byte, error) {
	if err := r.checkLengths(); err != nil {
		return nil, err
	}
	r.MAC = nil
	if key != nil {
		r.MAC = &Hash{} // selects version 2
	}
	b := r.canonical()
	r.Hash = sha256.Sum256(b)
	b = append(b, r.Hash[:]...)
	if key != nil {
		m := recordMAC(key, r.Hash)
		r.MAC = &m
		b = append(b, m[:]...)
	}
	return b, nil
}

// recordMAC returns HMAC-SHA256(key, h).
func recordMAC(key []byte, h Hash) Hash {
	m := hmac.New(sha256.New, key)
	m.Write(h[:])
	var out Hash
	m.Sum(out[:0])
	return out
}

// macValid reports whether r carries the MAC that key gives its hash.
func macValid(key []byte, r Record) bool {
	m := recordMAC(key, r.Hash)
	return r.MAC != nil && hmac.Equal(r.MAC[:], m[:])
}

// checkLengths fails if a variable-length field does not fit its length
// prefix.
func (r *Record) checkLengths() error {
	for _, f := range []struct {
		name string
		n    int
	}{{"principal", len(r.Principal)}, {"episode", len(r.Episode)}, {"body", len(r.Body)}} {
		if uint64(f.n) > math.MaxUint32 {
			return fmt.Errorf("journal: %s is %d bytes, longer than a record allows", f.name, f.n)
		}
	}
	return nil
}

// canonical returns the canonical encoding of r, every byte from the
// version through Prev: version 2 if r carries a MAC, else version 1.
func (r *Record) canonical() []byte {
	ver := valueVersion1
	if r.MAC != nil {
		ver = valueVersion2
	}
	b := make([]byte, 0, fixedLen+sha256.Size+len(r.Principal)+len(r.Episode)+len(r.Body))
	b = append(b, ver)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = append(b, byte(r.Kind))
	b = binary.BigEndian.AppendUint64(b, r.Ref)
	b = appendBytes(b, r.Principal)
	b = appendBytes(b, r.Episode)
	b = appendBytes(b, r.Body)
	return append(b, r.Prev[:]...)
}

func appendBytes[T ~string | ~[]byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decodeRecord parses a value written by encodeRecord. It checks the
// layout, not the hash: see (Record).computeHash and Verify. The returned
// record does not alias v.
func decodeRecord(v []byte) (Record, error) {
	var r Record
	if len(v) == 0 {
		return r, fmt.Errorf("%w: empty value", ErrCorrupt)
	}
	least := fixedLen
	switch v[0] {
	case valueVersion1:
	case valueVersion2:
		least += sha256.Size
	default:
		return r, fmt.Errorf("%w: unknown value version %d", ErrCorrupt, v[0])
	}
	if len(v) < least {
		return r, fmt.Errorf("%w: value is %d bytes, want at least %d", ErrCorrupt, len(v), least)
	}
	d := decoder{b: v[1:]}
	r.Seq = d.uint64()
	r.Time = time.Unix(0, int64(d.uint64())).UTC()
	r.Kind = Kind(d.byte())
	r.Ref = d.uint64()
	r.Principal = string(d.bytes())
	r.Episode = string(d.bytes())
	r.Body = json.RawMessage(append([]byte(nil), d.bytes()...))
	copy(r.Prev[:], d.next(len(r.Prev)))
	copy(r.Hash[:], d.next(len(r.Hash)))
	if v[0] == valueVersion2 {
		var m Hash
		copy(m[:], d.next(len(m)))
		r.MAC = &m
	}
	if d.short {
		return Record{}, fmt.Errorf("%w: value of %d bytes is truncated", ErrCorrupt, len(v))
	}
	if len(d.b) != 0 {
		return Record{}, fmt.Errorf("%w: %d trailing bytes after the hash", ErrCorrupt, len(d.b))
	}
	return r, nil
}

// computeHash returns the hash r ought to have: SHA-256 over its canonical
// encoding, which is its value without the trailing hash (and MAC).
func (r Record) computeHash() (Hash, error) {
	if err := r.checkLengths(); err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(r.canonical()), nil
}

// decoder reads big-endian fields and remembers whether it ran short.
type decoder struct {
	b     []byte
	short bool
}

func (d *decoder) next(n int) []byte {
	if d.short || n < 0 || n > len(d.b) {
		d.short = true
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	if b := d.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if b := d.next(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) bytes() []byte {
	b := d.next(4)
	if b == nil {
		return nil
	}
	return d.next(int(binary.BigEndian.Uint32(b)))
}
