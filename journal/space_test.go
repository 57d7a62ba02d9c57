package journal

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const testReserve = 1 << 20

// openSpace opens a journal in memory whose free space is free, and whose
// guard measures it at every write.
func openSpace(t *testing.T, free *atomic.Uint64) *Journal {
	t.Helper()
	j, err := Open("journal", Options{FS: vfs.NewMem(), Now: testClock(), Reserve: testReserve,
		FreeSpace: func() (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	var tick atomic.Int64
	j.space.mono = func() time.Time { return time.Unix(tick.Add(1), 0) }
	return j
}

// walBytes is what Pebble has written to its write-ahead log so far.
func walBytes(j *Journal) uint64 { return j.db.Metrics().WAL.BytesIn }

func TestNoSpaceRefusesEveryWrite(t *testing.T) {
	var free atomic.Uint64
	free.Store(100 << 20)
	j := openSpace(t, &free)
	o := mustOutbox(t, j, "telemetry", OutboxLimit{})
	appendN(t, j, 3)
	mustPut(t, o, "t/a", "one")
	if s := j.Space(); s.Full || !s.Known || s.Free != 100<<20 || s.Reserve != testReserve || s.Error() != "" {
		t.Fatalf("Space with 100 MiB free: got %+v, want known, not full", s)
	}

	free.Store(testReserve - 1)
	seq, head := j.Last()
	wal := walBytes(j)
	writes := []struct {
		name string
		do   func() error
	}{
		{"Append", func() error {
			_, err := j.Append(Entry{Kind: KindNote, Principal: "op", Body: "x"})
			return err
		}},
		{"AppendSync", func() error {
			_, err := j.AppendSync(Entry{Kind: KindIntent, Principal: "op", Body: "x"})
			return err
		}},
		{"episode", func() error {
			_, err := j.Append(Entry{Kind: KindEpisode, Principal: "agent", Episode: "e1", Body: "x"})
			return err
		}},
		{"Put", func() error {
			_, err := o.Put("t/a", []byte("two"))
			return err
		}},
	}
	for _, w := range writes {
		if err := w.do(); !errors.Is(err, ErrNoSpace) {
			t.Errorf("%s below the reserve: got %v, want ErrNoSpace", w.name, err)
		}
	}
	if s, h := j.Last(); s != seq || h != head {
		t.Errorf("head after refused appends: got %d, want %d", s, seq)
	}
	if got := walBytes(j); got != wal {
		t.Errorf("WAL bytes after refused writes: got %d, want %d (nothing written)", got, wal)
	}
	if n, _ := o.Len(); n != 1 {
		t.Errorf("outbox after a refused put: got %d messages, want 1", n)
	}
	if got := o.Dropped(); got != 1 {
		t.Errorf("outbox drops after a refused put: got %d, want 1", got)
	}
	s := j.Space()
	if !s.Full || !strings.Contains(s.Error(), "below the 1.0 MiB reserve") {
		t.Errorf("Space below the reserve: got %+v (%q), want full", s, s.Error())
	}
	// Acks and syncs free space or write next to nothing: they go on.
	if err := o.Ack(1); err != nil {
		t.Errorf("Ack below the reserve: got %v, want nil", err)
	}
	if err := o.Sync(); err != nil {
		t.Errorf("Sync below the reserve: got %v, want nil", err)
	}

	free.Store(50 << 20)
	for _, w := range writes {
		if err := w.do(); err != nil {
			t.Errorf("%s with room again: got %v, want nil", w.name, err)
		}
	}
	mustVerify(t, j, 3+3)
	if got := o.Dropped(); got != 1 {
		t.Errorf("outbox drops after resuming: got %d, want 1", got)
	}
}

// TestNoSpaceBetweenMeasurements checks that the guard deducts what the
// journal writes between two looks at the filesystem, so that a burst of
// appends cannot run past the reserve on a stale figure.
func TestNoSpaceBetweenMeasurements(t *testing.T) {
	var free atomic.Uint64
	free.Store(testReserve + 64<<10)
	j := openSpace(t, &free)
	j.space.mono = func() time.Time { return time.Unix(1, 0) } // never stale by time
	body := strings.Repeat("x", 16<<10)
	n := 0
	for ; n < 100; n++ {
		if _, err := j.Append(Entry{Kind: KindNote, Principal: "op", Body: body}); err != nil {
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("append %d: got %v, want ErrNoSpace", n+1, err)
			}
			break
		}
	}
	// 64 KiB above the reserve holds 3 records of 16 KiB and their overhead.
	if n != 3 {
		t.Errorf("appends before the guard refused: got %d, want 3", n)
	}
}

func TestNoSpaceUnknown(t *testing.T) {
	j, err := Open("journal", Options{FS: vfs.NewMem(), Reserve: testReserve,
		FreeSpace: func() (uint64, error) { return 0, errors.New("statfs: input/output error") }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(Entry{Kind: KindNote, Body: "x"}); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("Append with the free space unknown: got %v, want ErrNoSpace and the cause", err)
	}
	if s := j.Space(); !s.Full || s.Err == nil {
		t.Errorf("Space: got %+v, want full with an error", s)
	}

	// A filesystem that cannot tell its free space leaves the guard off.
	mem, err := Open("journal", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, err := mem.Append(Entry{Kind: KindNote, Body: "x"}); err != nil {
		t.Errorf("Append on a filesystem without disk usage: got %v, want nil", err)
	}
	if s := mem.Space(); s.Full || s.Known {
		t.Errorf("Space on a filesystem without disk usage: got %+v, want unknown, not full", s)
	}
}
