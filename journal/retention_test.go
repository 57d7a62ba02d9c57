package journal

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// manualClock is a clock a test sets.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openClocked opens a journal on a fresh in-memory filesystem with clock.
func openClocked(t *testing.T, fs vfs.FS, clock *manualClock) *Journal {
	t.Helper()
	j, err := Open("journal", Options{FS: fs, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// appendNotes appends n notes, each one minute after the one before.
func appendNotes(t *testing.T, j *Journal, clock *manualClock, n int) []Record {
	t.Helper()
	var out []Record
	for i := range n {
		r, err := j.Append(Entry{Kind: KindNote, Body: map[string]any{"i": i, "pad": strings.Repeat("x", 100)}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		clock.advance(time.Minute)
	}
	return out
}

// verifyPruned checks that the chain verifies from pruned+1 with records
// records.
func verifyPruned(t *testing.T, j *Journal, pruned, records uint64) {
	t.Helper()
	res, err := j.Verify()
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := (VerifyResult{Records: records, OK: true, Pruned: pruned}); res != want {
		t.Fatalf("Verify() = %+v, want %+v", res, want)
	}
}

func TestPruneByAge(t *testing.T) {
	fs := vfs.NewMem()
	clock := newManualClock()
	j := openClocked(t, fs, clock)
	recs := appendNotes(t, j, clock, 30) // times t0 .. t0+29m; now t0+30m

	// Records appended more than 10m ago: seqs 1..20 (t0+19m is 11m old).
	res, err := j.Prune(context.Background(), Retention{MaxAge: 10*time.Minute + 30*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Through != 20 || res.Records != 20 || res.Checkpoint != 31 || res.HeldBy != 0 {
		t.Fatalf("Prune() = %+v, want through 20, 20 records, checkpoint 31", res)
	}
	verifyPruned(t, j, 20, 11)
	got := scanAll(t, j, 0)
	if len(got) != 11 || got[0].Seq != 21 || got[0].Prev != recs[19].Hash {
		t.Fatalf("after pruning, Scan(0) starts at %d (prev %s), %d records; want 21 chained to %s, 11 records",
			got[0].Seq, got[0].Prev, len(got), recs[19].Hash)
	}
	cp := got[len(got)-1]
	var body checkpointBody
	if err := json.Unmarshal(cp.Body, &body); err != nil {
		t.Fatal(err)
	}
	if cp.Kind != KindCheckpoint || body.Through != 20 || body.Hash != recs[19].Hash || body.Records != 20 || body.Reason != "max_age" {
		t.Fatalf("checkpoint record: got %s %+v, want a checkpoint through 20 with hash %s, reason max_age", cp.Kind, body, recs[19].Hash)
	}

	// Nothing more is old enough.
	if res, err := j.Prune(context.Background(), Retention{MaxAge: time.Hour}); err != nil || res != (PruneResult{}) {
		t.Fatalf("second Prune() = %+v, %v, want nothing removed", res, err)
	}

	// The pruned chain survives a reopen, and appends go on.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openClocked(t, fs, clock)
	verifyPruned(t, j, 20, 11)
	clock.advance(time.Hour)
	appendNotes(t, j, clock, 3)
	res, err = j.Prune(context.Background(), Retention{MaxAge: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Through != 31 || res.Checkpoint != 35 {
		t.Fatalf("third Prune() = %+v, want through 31 (the old checkpoint), checkpoint 35", res)
	}
	verifyPruned(t, j, 31, 4)
}

func TestPruneBySize(t *testing.T) {
	clock := newManualClock()
	j := openClocked(t, vfs.NewMem(), clock)
	appendNotes(t, j, clock, 50)
	size := func() (n int64) {
		if err := j.Scan(0, func(r Record) error {
			v, err := encodeRecord(&r)
			n += int64(len(v) + recordKeyLen)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := size()
	limit := before / 3
	res, err := j.Prune(context.Background(), Retention{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	kept := 50 - res.Records
	if res.Records == 0 || res.Bytes+size() > before+300 {
		t.Fatalf("Prune() = %+v with %d bytes before, want records removed", res, before)
	}
	// What is left, less the new checkpoint record, fits; one record more
	// would not have.
	if after := size(); after-300 > limit {
		t.Fatalf("after pruning to %d bytes, %d bytes are left", limit, after)
	}
	verifyPruned(t, j, res.Through, kept+1)
}

func TestPruneKeepsOpenIntents(t *testing.T) {
	clock := newManualClock()
	j := openClocked(t, vfs.NewMem(), clock)
	appendNotes(t, j, clock, 3)
	closed, err := j.AppendSync(Entry{Kind: KindIntent, Body: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	open, err := j.AppendSync(Entry{Kind: KindIntent, Body: "open"}) // seq 5
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.AppendSync(Entry{Kind: KindOutcome, Ref: closed.Seq, Body: "done"}); err != nil {
		t.Fatal(err)
	}
	appendNotes(t, j, clock, 3)
	clock.advance(24 * time.Hour)
	res, err := j.Prune(context.Background(), Retention{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Through != open.Seq-1 || res.HeldBy != open.Seq {
		t.Fatalf("Prune() = %+v, want through %d, held by the open intent %d", res, open.Seq-1, open.Seq)
	}
	verifyPruned(t, j, open.Seq-1, 6)
	if got, err := j.OpenIntents(); err != nil || len(got) != 1 || got[0].Seq != open.Seq {
		t.Fatalf("OpenIntents() = %v, %v, want the intent %d", got, err, open.Seq)
	}
}

func TestPruneRefusals(t *testing.T) {
	clock := newManualClock()
	j := openClocked(t, vfs.NewMem(), clock)
	for _, fn := range []func(Entry) (Record, error){j.Append, j.AppendSync} {
		if _, err := fn(Entry{Kind: KindCheckpoint}); err == nil {
			t.Fatal("appending a checkpoint from outside Prune succeeded, want an error")
		}
	}
	if res, err := j.Prune(context.Background(), Retention{}); err != nil || res != (PruneResult{}) {
		t.Fatalf("Prune(zero Retention) = %+v, %v, want nothing done", res, err)
	}
}

// TestVerifyTamperPruned checks that tampering with a pruned journal is
// caught at the right seq, the checkpoint included.
func TestVerifyTamperPruned(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(s store, cp checkpoint)
		wantSeq uint64
		want    string
	}{
		{"delete the first kept record", func(s store, cp checkpoint) { s.del(cp.Through + 1) }, 21, "missing"},
		{"delete the checkpoint", func(s store, cp checkpoint) {
			if err := s.db.Delete(checkpointKey, pebble.Sync); err != nil {
				s.t.Fatal(err)
			}
		}, 1, "record 1 missing"},
		{"move the checkpoint on and delete a record", func(s store, cp checkpoint) {
			next, err := decodeRecord(s.get(cp.Through + 1))
			if err != nil {
				s.t.Fatal(err)
			}
			s.del(cp.Through + 1)
			s.setKey(checkpointKey, checkpoint{Through: cp.Through + 1, Hash: next.Hash, Seq: cp.Seq}.encode())
		}, 31, "checkpoint record 31 says records up to 20"},
		{"restore a pruned record", func(s store, cp checkpoint) { s.forge(cp.Through, Hash{}) }, 20, "although checkpoint 31 pruned"},
		{"garble the checkpoint", func(s store, cp checkpoint) { s.setKey(checkpointKey, []byte{1, 2, 3}) }, 21, "checkpoint of 3 bytes"},
		{"point the checkpoint at a note", func(s store, cp checkpoint) {
			s.setKey(checkpointKey, checkpoint{Through: cp.Through, Hash: cp.Hash, Seq: 25}.encode())
		}, 25, "a note"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock()
			fs := vfs.NewMem()
			j := openClocked(t, fs, clock)
			appendNotes(t, j, clock, 30)
			if _, err := j.Prune(context.Background(), Retention{MaxAge: 10*time.Minute + 30*time.Second}); err != nil {
				t.Fatal(err)
			}
			cp, ok, err := readCheckpoint(j.db)
			if err != nil || !ok {
				t.Fatalf("readCheckpoint: %v, %v", ok, err)
			}
			tt.tamper(store{t: t, db: j.db}, cp)
			res, err := j.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.BadSeq != tt.wantSeq || !strings.Contains(res.Problem, tt.want) {
				t.Fatalf("Verify() = %+v, want a break at %d: %q", res, tt.wantSeq, tt.want)
			}
		})
	}
}

func TestPrunerRun(t *testing.T) {
	clock := newManualClock()
	j := openClocked(t, vfs.NewMem(), clock)
	appendNotes(t, j, clock, 10)
	clock.advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- NewPruner(j, Retention{MaxAge: time.Minute}, time.Millisecond, nil).Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := j.Verify()
		if err != nil {
			t.Fatal(err)
		}
		if res.Pruned == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify() = %+v after 10s of pruning, want records up to 10 pruned", res)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: got %v, want nil", err)
	}
	if seq, _ := j.Last(); seq != 11 {
		t.Fatalf("Last() = %d, want 11: one checkpoint, as nothing more grew old", seq)
	}
}
