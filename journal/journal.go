// Package journal keeps femtoclaw's append-only, hash-chained record of
// everything the gateway saw, decided and did, in a Pebble store.
//
// For each tool call the gateway appends a proposal, a decision and, for an
// allowed action, an intent and then an outcome. The intent is appended with
// AppendSync, which returns only once the record is on stable storage, and
// before the device is touched: after a crash the journal tells which
// actions may have happened.
//
// # Records and the chain
//
// Every record gets the next sequence number (1, 2, 3, ... with no gaps), the
// time it was appended, and two hashes: Prev, the hash of the record before
// it (zero for seq 1), and Hash, the SHA-256 of the record's canonical
// encoding, which includes Prev. Changing, removing, inserting or reordering
// records therefore breaks the chain at the first record affected, and
// Verify reports that seq.
//
// # On-disk format
//
// Keys start with one byte naming a space, so that each space can be
// iterated, and truncated, on its own: 'r' holds the chain's records, 'o'
// the outboxes and 'c' the checkpoint of the last pruning (see below). A
// record's key is the space byte followed by its seq as 8 bytes
// big-endian, so key order is seq order:
//
//	+-----+-------------------------------+
//	| 'r' | seq (uint64, big-endian)      |
//	+-----+-------------------------------+
//	   1                  8                  bytes
//
// A record's value starts with a version byte. Version 1 is laid out as
// follows (offsets in bytes); integers are big-endian, time is Unix
// nanoseconds, and the three variable-length fields each carry a uint32
// length prefix (plen, elen, blen):
//
//	0     1         9         17     18        26
//	+-----+---------+---------+------+---------+
//	| ver | seq     | time    | kind | ref     |
//	+-----+---------+---------+------+---------+
//	| plen | principal | elen | episode | blen | body (JSON) |
//	|  4   |   plen    |  4   |  elen   |  4   |    blen     |
//	+------+-----------+------+---------+------+-------------+
//	| prev                     | hash                     |
//	| 32                       | 32                       |
//	+--------------------------+--------------------------+
//
//	canonical encoding = every byte from ver through prev
//	hash               = SHA-256(canonical encoding)
//
// The canonical encoding is therefore the value without its last 32 bytes:
// the hash covers every field of the record, the version byte and the seq
// (repeated from the key, so that a value moved to another key is caught)
// included. Body is the encoding/json marshalling of Entry.Body, stored as
// marshalled. A value that is not exactly this long is corrupt.
//
// A journal opened with an HMAC key (Options.Key) writes version 2: the
// version-1 layout with the version byte 2, followed by a MAC over the
// hash, so that only a holder of the key can rewrite the chain:
//
//	+-----+-- ... --+------+------+
//	|  2  | as v1   | hash | mac  |
//	+-----+-- ... --+------+------+
//	                   32     32
//
//	mac = HMAC-SHA256(key, hash)
//
// As the hash covers Prev, a valid MAC vouches for every record before it.
// The canonical encoding starts with the version byte 2, so that a MAC
// cannot be stripped without changing the hash.
//
// # Outboxes
//
// An outbox (see Outbox) is a queue of MQTT messages outside the chain: its
// messages are transient, acknowledged and deleted once a broker has them,
// so they are not hashed. Each outbox has its own key prefix: 'o', the
// length of its name and its name. Below it, 'm' and a message seq (8 bytes
// big-endian) key a message, and 's' keys the outbox's state:
//
//	message key  | 'o' | n | name (n bytes) | 'm' | seq (8) |
//	message      | ver | time (8) | flags (1) | tlen (4) | topic | payload |
//	state key    | 'o' | n | name (n bytes) | 's' |
//	state        | ver | acked seq (8) | dropped count (8) |
//
// Flags hold the retained bit (bit 0) and the QoS (bits 1 and 2).
//
// # Retention and checkpoints
//
// Prune removes the oldest records by age or total size. It first appends,
// synced, a checkpoint record (kind checkpoint) whose JSON body names the
// last record it removes and that record's hash, then in one synced batch
// stores the same facts under the checkpoint key and deletes the records:
//
//	checkpoint key | 'c' |
//	checkpoint     | ver | through (8) | hash of record through (32) | checkpoint seq (8) |
//
// Verify starts after through, from the kept hash, and checks that the
// record at checkpoint seq is a checkpoint naming the same through and
// hash. A prefix removed without a checkpoint shows as missing records; a
// checkpoint forged to cover a removal contradicts the checkpoint record
// the chain protects.
//
// # Durability and group commit
//
// Append and AppendSync assign the seq, compute the hash and write the
// record to Pebble's write-ahead log under one mutex, without syncing, so the
// log holds records in seq order and a crash can only lose a suffix of the
// chain. AppendSync then waits, outside the mutex, for a WAL sync that covers
// its record; concurrent callers share those syncs. See (*Journal).AppendSync.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	// ErrClosed is returned by every method of a closed Journal.
	ErrClosed = errors.New("journal: closed")
	// ErrReadOnly is returned by Append and AppendSync on a journal opened
	// with OpenReadOnly.
	ErrReadOnly = errors.New("journal: read-only")
	// ErrCorrupt is wrapped by errors about a stored record that cannot be
	// decoded or whose hash does not match.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrKey is wrapped by Open's errors about the HMAC key: too short,
	// not the key the journal's records were signed with, or missing for a
	// journal whose records are signed.
	ErrKey = errors.New("journal: hmac key")
)

// MinKeyLen is the least number of bytes of an HMAC key.
const MinKeyLen = 16

// Options configures Open and OpenReadOnly. The zero value is ready to use.
type Options struct {
	// Logger receives the journal's own logs and Pebble's, the latter at
	// debug level except for errors. Nil discards them.
	Logger *slog.Logger
	// FS is the filesystem the store lives on. Nil means the operating
	// system's; tests pass vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS
	// Now is the clock that stamps records. Nil means time.Now.
	Now func() time.Time
	// Key, if not empty, is the HMAC key: every record appended carries
	// HMAC-SHA256(Key, its hash), and Verify checks the MACs, so that
	// rewriting the whole chain needs the key too. At least MinKeyLen
	// bytes. Never log it.
	Key []byte
}

// Journal is an open journal. It is safe for concurrent use.
type Journal struct {
	db       *pebble.DB
	logger   *slog.Logger
	now      func() time.Time
	readOnly bool
	key      []byte // HMAC key, nil if none

	// life guards closed; inflight counts the calls that use db, so that
	// Close waits for them before closing the store.
	life     sync.Mutex
	closed   bool
	inflight sync.WaitGroup

	// mu serialises appends and guards the chain head.
	mu     sync.Mutex
	seq    uint64 // seq of the last record written, 0 if none
	hash   Hash   // hash of that record
	broken error  // set when a WAL sync failed; no append is accepted after it

	// pruneMu serialises Prune.
	pruneMu sync.Mutex

	// obMu guards outboxes, the outboxes opened so far by name.
	obMu     sync.Mutex
	outboxes map[string]*Outbox
}

// Open opens the journal in dir, creating dir and an empty journal if need
// be, and recovers the chain head (last seq and hash) from the store. It
// fails with an error wrapping ErrCorrupt if the last record is corrupt:
// appending to a chain whose head cannot be trusted would hide the damage.
// Inspect such a journal with OpenReadOnly and Verify.
func Open(dir string, opts Options) (*Journal, error) {
	return open(dir, opts, false)
}

// OpenReadOnly opens an existing journal for reading, as the CLI does to
// inspect the journal of a stopped gateway. It takes the store's lock, so
// it fails while a gateway has the journal open. Append and AppendSync on
// the returned Journal return ErrReadOnly. Unlike Open it accepts a corrupt
// last record, so that Verify can report it.
func OpenReadOnly(dir string, opts Options) (*Journal, error) {
	return open(dir, opts, true)
}

func open(dir string, opts Options, readOnly bool) (*Journal, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var key []byte
	if len(opts.Key) > 0 {
		if len(opts.Key) < MinKeyLen {
			return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrKey, len(opts.Key), MinKeyLen)
		}
		key = append([]byte(nil), opts.Key...)
	}
	po := &pebble.Options{
		FS:       fs,
		Logger:   pebbleLogger{logger: logger},
		ReadOnly: readOnly,
	}
	if !readOnly {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("journal: create %s: %w", dir, err)
		}
		// New stores get the newest format this Pebble writes; existing
		// stores are ratcheted up to it.
		po.FormatMajorVersion = pebble.FormatNewest
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	j := &Journal{db: db, logger: logger, now: now, readOnly: readOnly, key: key}
	if err := j.recoverHead(); err != nil {
		if !readOnly {
			_ = db.Close()
			return nil, fmt.Errorf("journal: open %s: %w", dir, err)
		}
		logger.Warn("journal head unreadable", "dir", dir, "err", err)
	}
	logger.Debug("journal opened", "dir", dir, "read_only", readOnly, "seq", j.seq)
	return j, nil
}

// recoverHead sets the chain head from the last record in the store. On a
// corrupt last record it sets what it could read and returns an error.
func (j *Journal) recoverHead() error {
	it, err := j.db.NewIter(spaceBounds())
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	seq, ok := parseRecordKey(it.Key())
	if !ok {
		return fmt.Errorf("%w: malformed key %x", ErrCorrupt, it.Key())
	}
	j.seq = seq
	v, err := it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("read record %d: %w", seq, err)
	}
	r, err := decodeRecord(v)
	if err != nil {
		return fmt.Errorf("record %d: %w", seq, err)
	}
	j.hash = r.Hash
	if r.Seq != seq {
		return fmt.Errorf("%w: key %d holds record %d", ErrCorrupt, seq, r.Seq)
	}
	if h, err := r.computeHash(); err != nil || h != r.Hash {
		return fmt.Errorf("%w: record %d: hash mismatch", ErrCorrupt, seq)
	}
	switch {
	case j.readOnly:
	case r.MAC != nil && j.key == nil:
		return fmt.Errorf("%w: the records are signed; appending without the key would break their MACs", ErrKey)
	case r.MAC != nil && !macValid(j.key, r):
		return fmt.Errorf("%w: record %d was signed with another key", ErrKey, seq)
	}
	return nil
}

// spaceBounds returns iterator options over the whole record space,
// malformed keys included.
func spaceBounds() *pebble.IterOptions {
	return &pebble.IterOptions{
		LowerBound: []byte{spaceRecords},
		UpperBound: []byte{spaceRecords + 1},
	}
}

// recordBounds returns iterator options over the record space from seq on.
func recordBounds(from uint64) *pebble.IterOptions {
	return &pebble.IterOptions{
		LowerBound: recordKey(from),
		UpperBound: []byte{spaceRecords + 1},
	}
}

// enter registers a call that uses the store; exit ends it.
func (j *Journal) enter() error {
	j.life.Lock()
	defer j.life.Unlock()
	if j.closed {
		return ErrClosed
	}
	j.inflight.Add(1)
	return nil
}

func (j *Journal) exit() { j.inflight.Done() }

// Append appends e and returns the stored record. The record is in Pebble's
// write-ahead log but not synced: a crash may lose it, together with every
// record after it, but never a record before it. Use AppendSync for an
// intent.
//
// If Append fails, the chain head is unchanged: the next record chains to
// the last one written.
func (j *Journal) Append(e Entry) (Record, error) {
	if e.Kind == KindCheckpoint {
		return Record{}, errCheckpointKind
	}
	return j.append(e, false)
}

// AppendSync appends e like Append and returns only once the record, and
// therefore every record before it, is durable (the WAL fsynced).
//
// Concurrent callers share fsyncs. The record is written to the WAL under
// the journal's mutex without a sync, which keeps WAL order equal to seq
// order; then, outside the mutex, AppendSync commits an empty LogData batch
// to Pebble with pebble.Sync. Pebble writes that batch to the WAL after our
// record and returns only after an fsync of the WAL file that holds it
// (record.LogWriter queues the request and its flush loop syncs the file
// once for every request queued so far). Because an fsync covers all data
// written to the file before it, and a WAL file is synced when Pebble rotates
// to the next one, that fsync covers our record. Callers arriving while a
// sync is in flight are served together by the next one. Pebble's
// Batch.SyncWait with DB.ApplyNoSyncWait would save the LogData record, but
// Pebble marks it experimental.
//
// A failed WAL sync is fatal. Pebble reports it through its logger's
// Fatalf, where the journal's logger panics (see pebbleLogger.Fatalf), so
// the process dies before AppendSync returns and no caller goes on to touch
// a device. On restart, Open recovers the durable part of the chain; whether
// the record being synced survived is what recovery has to find out. Should
// Pebble ever return the error instead, the journal refuses every later
// append.
func (j *Journal) AppendSync(e Entry) (Record, error) {
	if e.Kind == KindCheckpoint {
		return Record{}, errCheckpointKind
	}
	return j.append(e, true)
}

// errCheckpointKind refuses a checkpoint appended from outside Prune.
var errCheckpointKind = errors.New("journal: append: only Prune writes checkpoint records")

func (j *Journal) append(e Entry, durable bool) (Record, error) {
	if err := j.enter(); err != nil {
		return Record{}, err
	}
	defer j.exit()
	if j.readOnly {
		return Record{}, ErrReadOnly
	}
	if !e.Kind.Valid() {
		return Record{}, fmt.Errorf("journal: append: invalid %s", e.Kind)
	}
	body, err := json.Marshal(e.Body)
	if err != nil {
		return Record{}, fmt.Errorf("journal: append %s: marshal body: %w", e.Kind, err)
	}
	r, err := j.write(e, body)
	if err != nil || !durable {
		return r, err
	}
	if err := j.db.LogData(nil, pebble.Sync); err != nil {
		j.mu.Lock()
		if j.broken == nil {
			j.broken = err
		}
		j.mu.Unlock()
		return Record{}, fmt.Errorf("journal: sync record %d: %w", r.Seq, err)
	}
	return r, nil
}

// write assigns e the next seq, chains it to the head and writes it to the
// WAL without syncing. The head moves only if the write succeeded.
func (j *Journal) write(e Entry, body []byte) (Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return Record{}, fmt.Errorf("journal: unusable after a failed sync: %w", j.broken)
	}
	r := Record{
		Seq:       j.seq + 1,
		Time:      time.Unix(0, j.now().UnixNano()).UTC(),
		Kind:      e.Kind,
		Principal: e.Principal,
		Episode:   e.Episode,
		Ref:       e.Ref,
		Body:      body,
		Prev:      j.hash,
	}
	v, err := encodeRecordKey(&r, j.key)
	if err != nil {
		return Record{}, err
	}
	if err := j.db.Set(recordKey(r.Seq), v, pebble.NoSync); err != nil {
		return Record{}, fmt.Errorf("journal: write record %d: %w", r.Seq, err)
	}
	j.seq, j.hash = r.Seq, r.Hash
	return r, nil
}

// Last returns the seq and hash of the last record written, or zeros for an
// empty journal.
func (j *Journal) Last() (seq uint64, h Hash) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq, j.hash
}

// Scan calls fn with every record from seq from on (from 0 means 1), in seq
// order, until fn returns an error, which Scan returns as is. Scan sees the
// journal as it was when Scan started. It decodes records but does not check
// their hashes; Verify does. fn must not call Close.
func (j *Journal) Scan(from uint64, fn func(Record) error) error {
	if err := j.enter(); err != nil {
		return err
	}
	defer j.exit()
	it, err := j.db.NewIter(recordBounds(max(from, 1)))
	if err != nil {
		return fmt.Errorf("journal: scan: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		seq, ok := parseRecordKey(it.Key())
		if !ok {
			return fmt.Errorf("journal: scan: %w: malformed key %x", ErrCorrupt, it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("journal: scan: read record %d: %w", seq, err)
		}
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("journal: scan: record %d: %w", seq, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("journal: scan: %w", err)
	}
	return nil
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	// Records is the number of records that verified, from seq Pruned+1 up
	// to the first break (all of them when OK).
	Records uint64 `json:"records"`
	// OK is true if the whole chain verified.
	OK bool `json:"ok"`
	// BadSeq is the first seq at which the chain breaks, 0 when OK: the
	// record that is corrupt, out of place or does not chain to its
	// predecessor, or the first missing one.
	BadSeq uint64 `json:"bad_seq,omitempty"`
	// Problem says what is wrong at BadSeq, empty when OK.
	Problem string `json:"problem,omitempty"`
	// Pruned is the last seq that retention removed (see Prune), 0 if none
	// was: the chain is verified from the record after it, which must chain
	// to the hash the checkpoint kept.
	Pruned uint64 `json:"pruned,omitempty"`
	// Signed is the number of verified records that carry a MAC. They were
	// checked against the key if the journal was opened with one.
	Signed uint64 `json:"signed,omitempty"`
}

// Verify walks the whole chain and reports the first break: a missing
// record (a gap in the seqs, or records missing after the last one
// stored), a value that does not decode, a value stored under another
// record's key, a hash that does not match the record, or a Prev that does
// not match the hash of the record before. It also reports records beyond
// the chain head the journal knows.
//
// If records were pruned, the walk starts after the last pruned one, from
// the hash the checkpoint kept, and the checkpoint record in the chain must
// name the same seq and hash as the stored checkpoint: a prefix removed
// without a checkpoint is reported as missing records, and a checkpoint
// forged to cover a removal breaks the chain at its record.
//
// Opened with a key, Verify also checks the MAC of every signed record. As
// each hash covers the record before, a valid MAC vouches for every record
// up to it; so after a signed record, an unsigned one is a break, and so is
// a journal with records none of which is signed (rewritten, or never
// written with this key). Records written before the key was configured
// are accepted as long as a signed record follows them.
//
// The error is for failures to read the store; a broken chain is reported
// in the result.
func (j *Journal) Verify() (VerifyResult, error) {
	if err := j.enter(); err != nil {
		return VerifyResult{}, err
	}
	defer j.exit()

	// Take the head and the snapshot together, so that appends and prunes
	// running meanwhile are neither seen nor reported missing.
	j.mu.Lock()
	head := j.seq
	snap := j.db.NewSnapshot()
	j.mu.Unlock()
	defer snap.Close()
	it, err := snap.NewIter(spaceBounds())
	if err != nil {
		return VerifyResult{}, fmt.Errorf("journal: verify: %w", err)
	}
	defer it.Close()

	var (
		res  VerifyResult
		prev Hash
	)
	bad := func(seq uint64, format string, args ...any) (VerifyResult, error) {
		res.BadSeq, res.Problem = seq, fmt.Sprintf(format, args...)
		return res, nil
	}
	cp, found, err := readCheckpoint(snap)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return VerifyResult{}, fmt.Errorf("journal: verify: %w", err)
		}
		first := uint64(1)
		if it.First() {
			first, _ = parseRecordKey(it.Key())
		}
		return bad(first, "%v", err)
	}
	if found {
		res.Pruned, prev = cp.Through, cp.Hash
	}
	for valid := it.First(); valid; valid = it.Next() {
		want := res.Pruned + res.Records + 1
		seq, ok := parseRecordKey(it.Key())
		if !ok {
			return bad(want, "malformed key %x", it.Key())
		}
		if found && seq <= res.Pruned {
			return bad(seq, "record %d is stored although checkpoint %d pruned the records up to %d", seq, cp.Seq, cp.Through)
		}
		if seq > want {
			return bad(want, "record %d missing (next stored is %d)", want, seq)
		}
		if seq < want {
			return bad(want, "record %d out of place before record %d", seq, want)
		}
		if seq > head {
			return bad(seq, "record %d is beyond the chain head %d", seq, head)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return VerifyResult{}, fmt.Errorf("journal: verify: read record %d: %w", seq, err)
		}
		r, err := decodeRecord(v)
		if err != nil {
			return bad(seq, "%v", err)
		}
		if r.Seq != seq {
			return bad(seq, "key %d holds record %d", seq, r.Seq)
		}
		h, err := r.computeHash()
		if err != nil {
			return bad(seq, "%v", err)
		}
		if h != r.Hash {
			return bad(seq, "hash mismatch: stored %s, computed %s", r.Hash, h)
		}
		if r.Prev != prev {
			return bad(seq, "prev %s does not match the hash of record %d (%s)", r.Prev, seq-1, prev)
		}
		switch {
		case r.MAC != nil && j.key != nil && !macValid(j.key, r):
			return bad(seq, "MAC does not match: signed with another key, or rewritten")
		case r.MAC == nil && j.key != nil && res.Signed > 0:
			return bad(seq, "record %d carries no MAC after %d signed records", seq, res.Signed)
		}
		if r.MAC != nil {
			res.Signed++
		}
		if found && seq == cp.Seq {
			if problem := cp.matches(r); problem != "" {
				return bad(seq, "%s", problem)
			}
		}
		prev = r.Hash
		res.Records++
	}
	if err := it.Error(); err != nil {
		return VerifyResult{}, fmt.Errorf("journal: verify: %w", err)
	}
	if last := res.Pruned + res.Records; last < head {
		return bad(last+1, "records %d to %d missing", last+1, head)
	}
	if found && cp.Seq > head {
		return bad(cp.Seq, "checkpoint record %d is beyond the chain head %d", cp.Seq, head)
	}
	if j.key != nil && res.Records > 0 && res.Signed == 0 {
		return bad(res.Pruned+res.Records, "no record carries a MAC: the chain was not written with this key, or was rewritten")
	}
	res.OK = true
	return res, nil
}

// Close waits for calls in progress and closes the store. Later calls
// return ErrClosed.
func (j *Journal) Close() error {
	j.life.Lock()
	if j.closed {
		j.life.Unlock()
		return ErrClosed
	}
	j.closed = true
	j.life.Unlock()
	j.inflight.Wait()
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

// pebbleLogger routes Pebble's logging to slog: its chatty information at
// debug level, its errors at error level.
type pebbleLogger struct {
	logger *slog.Logger
}

// Infof logs at debug level.
func (l pebbleLogger) Infof(format string, args ...any) {
	l.logger.Debug("pebble", "detail", sprintf(format, args...))
}

// Errorf logs at error level.
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.logger.Error("pebble error", "detail", sprintf(format, args...))
}

// Fatalf logs at error level and panics. Pebble calls it where it cannot
// carry on safely and relies on it not returning: after a failed WAL sync
// DB.Apply would otherwise report the write durable, and after a failed
// MANIFEST sync Pebble would go on deleting files the durable MANIFEST still
// names. Pebble's own default logger exits the process; panicking does the
// same with a stack trace. This is the one runtime condition on which the
// journal brings the process down, as databases do when fsync fails: the
// state on disk is sound, the state in memory is not.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := sprintf(format, args...)
	l.logger.Error("pebble fatal", "detail", msg)
	panic("journal: pebble: " + msg)
}

func sprintf(format string, args ...any) string {
	return strings.TrimRight(fmt.Sprintf(format, args...), "\n")
}

var _ pebble.Logger = pebbleLogger{}
