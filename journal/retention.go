package journal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Retention says which of the oldest records Prune removes. The zero value
// removes nothing.
type Retention struct {
	// MaxAge removes records appended longer ago than this. 0: no limit.
	MaxAge time.Duration
	// MaxBytes removes the oldest records until the keys and values of
	// those left total at most this many bytes. It bounds the records'
	// logical size; the store's files shrink once Pebble has compacted the
	// removed range, which Prune asks it to do. 0: no limit.
	MaxBytes int64
}

// IsZero reports whether r removes nothing.
func (r Retention) IsZero() bool { return r.MaxAge <= 0 && r.MaxBytes <= 0 }

// PruneResult is what Prune did.
type PruneResult struct {
	// Through is the last seq removed, 0 if nothing was.
	Through uint64
	// Records and Bytes count what was removed.
	Records uint64
	Bytes   int64
	// Checkpoint is the seq of the checkpoint record written, 0 if nothing
	// was removed.
	Checkpoint uint64
	// HeldBy is the seq of the oldest intent without an outcome when it
	// stopped the pruning short, else 0.
	HeldBy uint64
}

// checkpoint is the stored state of the last pruning. The same facts are
// in the body of the checkpoint record at Seq, which the chain protects.
//
//	key   | 'c' |
//	value | ver | through (8) | hash of record through (32) | checkpoint seq (8) |
type checkpoint struct {
	Through uint64 // last seq removed
	Hash    Hash   // that record's hash: the Prev of record Through+1
	Seq     uint64 // seq of the checkpoint record
}

// checkpointBody is the body of a checkpoint record.
type checkpointBody struct {
	Through uint64 `json:"through"`
	Hash    Hash   `json:"hash"`
	Records uint64 `json:"records"`
	Bytes   int64  `json:"bytes"`
	Reason  string `json:"reason"`
}

const (
	checkpointVersion1 byte = 1
	checkpointLen           = 1 + 8 + 32 + 8
)

var checkpointKey = []byte{spaceCheckpoint}

func (c checkpoint) encode() []byte {
	b := make([]byte, 0, checkpointLen)
	b = append(b, checkpointVersion1)
	b = binary.BigEndian.AppendUint64(b, c.Through)
	b = append(b, c.Hash[:]...)
	return binary.BigEndian.AppendUint64(b, c.Seq)
}

// matches returns what is wrong with r as the checkpoint record of c, or
// "" if nothing is.
func (c checkpoint) matches(r Record) string {
	if r.Kind != KindCheckpoint {
		return fmt.Sprintf("the stored checkpoint names record %d, a %s, as its checkpoint record", r.Seq, r.Kind)
	}
	var b checkpointBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return fmt.Sprintf("checkpoint record %d: body: %v", r.Seq, err)
	}
	if b.Through != c.Through || b.Hash != c.Hash {
		return fmt.Sprintf("checkpoint record %d says records up to %d (%s) were pruned, the stored checkpoint says up to %d (%s)",
			r.Seq, b.Through, b.Hash, c.Through, c.Hash)
	}
	return ""
}

// reader is what both a DB and a snapshot offer.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// readCheckpoint returns the stored checkpoint, if there is one.
func readCheckpoint(r reader) (checkpoint, bool, error) {
	v, closer, err := r.Get(checkpointKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	defer closer.Close()
	if len(v) != checkpointLen || v[0] != checkpointVersion1 {
		return checkpoint{}, false, fmt.Errorf("%w: checkpoint of %d bytes, version %d", ErrCorrupt, len(v), v[0])
	}
	var c checkpoint
	c.Through = binary.BigEndian.Uint64(v[1:])
	copy(c.Hash[:], v[9:41])
	c.Seq = binary.BigEndian.Uint64(v[41:])
	if c.Seq <= c.Through {
		return checkpoint{}, false, fmt.Errorf("%w: checkpoint record %d is not after the pruned records (up to %d)", ErrCorrupt, c.Seq, c.Through)
	}
	return c, true, nil
}

// Prune removes the oldest records that ret does not keep, and never an
// intent that has no outcome yet, nor anything after one: recovery needs
// it. It first appends, synced, a checkpoint record naming the last record
// it will remove and that record's hash; then, in one synced batch, stores
// the same checkpoint and deletes the records up to it. Verify then starts
// from the checkpoint, so the chain stays verifiable; a crash between the
// two steps leaves the records in place and the checkpoint record unused.
// A checkpoint record removed by a later pruning is replaced by that
// pruning's own.
//
// Prune reads every record once, and those to remove a second time when
// MaxBytes applies. It is meant to run every few minutes or hours (see
// Pruner), not per append.
func (j *Journal) Prune(ctx context.Context, ret Retention) (PruneResult, error) {
	if err := j.enter(); err != nil {
		return PruneResult{}, err
	}
	defer j.exit()
	if j.readOnly {
		return PruneResult{}, ErrReadOnly
	}
	if ret.IsZero() {
		return PruneResult{}, nil
	}
	j.pruneMu.Lock()
	defer j.pruneMu.Unlock()

	plan, err := j.planPrune(ret)
	if err != nil {
		return PruneResult{}, fmt.Errorf("journal: prune: %w", err)
	}
	res := PruneResult{HeldBy: plan.heldBy}
	if plan.through == 0 {
		return res, nil
	}
	body := checkpointBody{Through: plan.through, Hash: plan.hash, Records: plan.records, Bytes: plan.bytes, Reason: plan.reason}
	// The checkpoint record is durable before the records go.
	r, err := j.append(Entry{Kind: KindCheckpoint, Principal: "journal", Body: body}, true)
	if err != nil {
		return res, fmt.Errorf("journal: prune: %w", err)
	}
	cp := checkpoint{Through: plan.through, Hash: plan.hash, Seq: r.Seq}
	b := j.db.NewBatch()
	defer b.Close()
	if err := b.Set(checkpointKey, cp.encode(), nil); err != nil {
		return res, fmt.Errorf("journal: prune: %w", err)
	}
	if err := b.DeleteRange([]byte{spaceRecords}, recordKey(plan.through+1), nil); err != nil {
		return res, fmt.Errorf("journal: prune: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return res, fmt.Errorf("journal: prune: delete records up to %d: %w", plan.through, err)
	}
	res.Through, res.Records, res.Bytes, res.Checkpoint = plan.through, plan.records, plan.bytes, r.Seq
	if err := j.db.Compact(ctx, []byte{spaceRecords}, recordKey(plan.through+1), false); err != nil && ctx.Err() == nil {
		return res, fmt.Errorf("journal: prune: compact: %w", err)
	}
	return res, nil
}

// prunePlan is what Prune is about to remove.
type prunePlan struct {
	through uint64 // last seq to remove, 0 for nothing
	hash    Hash   // its hash
	records uint64
	bytes   int64
	reason  string // "max_age", "max_bytes" or both
	heldBy  uint64 // the open intent that stopped the plan short, 0 if none
}

// planPrune reads the records and picks the last one to remove.
func (j *Journal) planPrune(ret Retention) (prunePlan, error) {
	j.mu.Lock()
	head := j.seq
	snap := j.db.NewSnapshot()
	j.mu.Unlock()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{spaceRecords}, UpperBound: recordKey(head + 1)})
	if err != nil {
		return prunePlan{}, err
	}
	defer it.Close()

	// One pass: the total size, the last record old enough to go, and the
	// intents still open.
	var (
		total  int64
		ageEnd uint64
		young  bool // a record young enough to keep was seen
		open   = map[uint64]bool{}
		cutoff = j.now().Add(-ret.MaxAge)
	)
	for valid := it.First(); valid; valid = it.Next() {
		seq, ok := parseRecordKey(it.Key())
		if !ok {
			return prunePlan{}, fmt.Errorf("%w: malformed key %x", ErrCorrupt, it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return prunePlan{}, fmt.Errorf("read record %d: %w", seq, err)
		}
		total += int64(len(it.Key()) + len(v))
		r, err := decodeRecord(v)
		if err != nil {
			return prunePlan{}, fmt.Errorf("record %d: %w", seq, err)
		}
		if ret.MaxAge > 0 && !young {
			if r.Time.Before(cutoff) {
				ageEnd = seq
			} else {
				young = true // a clock stepped back later does not matter
			}
		}
		switch r.Kind {
		case KindIntent:
			open[seq] = true
		case KindOutcome:
			delete(open, r.Ref)
		}
	}
	if err := it.Error(); err != nil {
		return prunePlan{}, err
	}

	var p prunePlan
	var oldestOpen uint64
	for seq := range open {
		if oldestOpen == 0 || seq < oldestOpen {
			oldestOpen = seq
		}
	}
	limit := head
	if oldestOpen > 0 {
		limit = oldestOpen - 1
	}

	// A second pass removes the records older than MaxAge, and more until
	// the rest fits MaxBytes, and adds up what it removes.
	var byAge, bySize bool
	for valid := it.First(); valid; valid = it.Next() {
		seq, _ := parseRecordKey(it.Key())
		old := seq <= ageEnd
		big := ret.MaxBytes > 0 && total-p.bytes > ret.MaxBytes
		if !old && !big {
			break
		}
		if seq > limit {
			p.heldBy = oldestOpen
			break
		}
		byAge = byAge || old
		bySize = bySize || !old
		v, err := it.ValueAndErr()
		if err != nil {
			return prunePlan{}, fmt.Errorf("read record %d: %w", seq, err)
		}
		r, err := decodeRecord(v)
		if err != nil {
			return prunePlan{}, fmt.Errorf("record %d: %w", seq, err)
		}
		p.through, p.hash = seq, r.Hash
		p.bytes += int64(len(it.Key()) + len(v))
		p.records++
	}
	switch {
	case byAge && bySize:
		p.reason = "max_age,max_bytes"
	case byAge:
		p.reason = "max_age"
	default:
		p.reason = "max_bytes"
	}
	if err := it.Error(); err != nil {
		return prunePlan{}, err
	}
	if p.records == 0 {
		return prunePlan{heldBy: p.heldBy}, nil
	}
	return p, nil
}

// Pruner applies a Retention to a journal at start and then at every
// interval. It is a component of the gateway: run it under the gateway's
// errgroup.
type Pruner struct {
	j        *Journal
	ret      Retention
	interval time.Duration
	logger   *slog.Logger
}

// DefaultPruneInterval is how often a Pruner prunes when no interval is
// given.
const DefaultPruneInterval = time.Hour

// NewPruner returns a Pruner that prunes j by ret every interval (at most
// DefaultPruneInterval apart when interval is 0). A nil logger discards.
func NewPruner(j *Journal, ret Retention, interval time.Duration, logger *slog.Logger) *Pruner {
	if interval <= 0 {
		interval = DefaultPruneInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{j: j, ret: ret, interval: interval, logger: logger}
}

// Run prunes until ctx is done. A failed pruning is logged as an error and
// tried again at the next interval: the journal must keep taking intents,
// and a full disk shows in their failures, so Run returns nil, never the
// pruning's error.
func (p *Pruner) Run(ctx context.Context) error {
	if p.ret.IsZero() {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Pruner) once(ctx context.Context) {
	res, err := p.j.Prune(ctx, p.ret)
	switch {
	case err != nil && ctx.Err() == nil:
		p.logger.Error("journal pruning failed", "err", err)
	case res.Records > 0:
		p.logger.Info("journal pruned", "through", res.Through, "records", res.Records, "bytes", res.Bytes, "checkpoint", res.Checkpoint)
	}
	if res.HeldBy > 0 {
		p.logger.Warn("journal pruning held back by an intent without outcome", "intent", res.HeldBy)
	}
}
