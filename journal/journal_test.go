package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// equalRecords reports whether a and b hold the same records.
func equalRecords(a, b []Record) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// stores are the filesystems every store-level test runs on.
var stores = []struct {
	name string
	open func(t testing.TB) (dir string, fs vfs.FS)
}{
	{"os", func(t testing.TB) (string, vfs.FS) { return t.TempDir() + "/journal", nil }},
	{"mem", func(t testing.TB) (string, vfs.FS) { return "journal", vfs.NewMem() }},
}

// testClock returns a clock that advances one millisecond per call.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func mustOpen(t testing.TB, dir string, fs vfs.FS) *Journal {
	t.Helper()
	j, err := Open(dir, Options{FS: fs, Now: testClock()})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// appendN appends n records of varied kinds, every third one synced, and
// returns them.
func appendN(t testing.TB, j *Journal, n int) []Record {
	t.Helper()
	var out []Record
	for i := range n {
		e := Entry{
			Kind:      Kind(i%int(KindNote) + 1),
			Principal: "agent",
			Episode:   fmt.Sprintf("ep-%d", i/4),
			Body:      map[string]any{"i": i},
		}
		if len(out) > 0 {
			e.Ref = out[len(out)-1].Seq
		}
		appendFn := j.Append
		if i%3 == 0 {
			appendFn = j.AppendSync
		}
		r, err := appendFn(e)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out
}

func scanAll(t testing.TB, j *Journal, from uint64) []Record {
	t.Helper()
	var got []Record
	if err := j.Scan(from, func(r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Scan(%d): %v", from, err)
	}
	return got
}

func mustVerify(t testing.TB, j *Journal, records uint64) {
	t.Helper()
	res, err := j.Verify()
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := (VerifyResult{Records: records, OK: true}); res != want {
		t.Fatalf("Verify() = %+v, want %+v", res, want)
	}
}

func TestAppendScan(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir, fs := st.open(t)
			j := mustOpen(t, dir, fs)
			if seq, h := j.Last(); seq != 0 || !h.IsZero() {
				t.Fatalf("Last() on an empty journal = %d, %s, want 0, zero", seq, h)
			}
			want := appendN(t, j, 20)
			for i, r := range want {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d: got seq %d, want %d", i, r.Seq, i+1)
				}
				var prev Hash
				if i > 0 {
					prev = want[i-1].Hash
				}
				if r.Prev != prev {
					t.Fatalf("record %d: got prev %s, want %s", r.Seq, r.Prev, prev)
				}
				if i > 0 && !r.Time.After(want[i-1].Time) {
					t.Fatalf("record %d: time %v not after %v", r.Seq, r.Time, want[i-1].Time)
				}
			}
			if seq, h := j.Last(); seq != 20 || h != want[19].Hash {
				t.Fatalf("Last() = %d, %s, want 20, %s", seq, h, want[19].Hash)
			}
			for _, from := range []uint64{0, 1, 7, 20, 21} {
				got := scanAll(t, j, from)
				lo := min(max(from, 1)-1, 20)
				if !equalRecords(got, want[lo:]) {
					t.Errorf("Scan(%d): got %d records, want %d equal to the appended ones", from, len(got), len(want[lo:]))
				}
			}
			mustVerify(t, j, 20)
		})
	}
}

func TestScanStops(t *testing.T) {
	dir, fs := stores[1].open(t)
	j := mustOpen(t, dir, fs)
	appendN(t, j, 5)
	stop := errors.New("stop")
	var seen []uint64
	err := j.Scan(2, func(r Record) error {
		seen = append(seen, r.Seq)
		if r.Seq == 3 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("Scan: got error %v, want fn's error returned as is", err)
	}
	if want := []uint64{2, 3}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("Scan saw %v, want %v", seen, want)
	}
}

func TestReopen(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir, fs := st.open(t)
			j, err := Open(dir, Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			first := appendN(t, j, 7)
			if err := j.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			j = mustOpen(t, dir, fs)
			if seq, h := j.Last(); seq != 7 || h != first[6].Hash {
				t.Fatalf("after reopen, Last() = %d, %s, want 7, %s", seq, h, first[6].Hash)
			}
			r, err := j.AppendSync(Entry{Kind: KindNote, Principal: "operator", Body: "restarted"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != 8 || r.Prev != first[6].Hash {
				t.Fatalf("first record after reopen: got seq %d prev %s, want 8, %s", r.Seq, r.Prev, first[6].Hash)
			}
			got := scanAll(t, j, 1)
			if !reflect.DeepEqual(got[:7], first) {
				t.Errorf("records before reopen changed")
			}
			mustVerify(t, j, 8)
		})
	}
}

func TestAppendSyncConcurrent(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir, fs := st.open(t)
			j := mustOpen(t, dir, fs)
			const writers, each = 64, 20
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seqs = map[uint64]Record{}
			)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						r, err := j.AppendSync(Entry{
							Kind:      KindIntent,
							Principal: fmt.Sprintf("agent-%d", w),
							Body:      map[string]int{"writer": w, "i": i},
						})
						if err != nil {
							t.Errorf("writer %d: AppendSync: %v", w, err)
							return
						}
						mu.Lock()
						seqs[r.Seq] = r
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seqs) != writers*each {
				t.Fatalf("got %d distinct seqs, want %d", len(seqs), writers*each)
			}
			got := scanAll(t, j, 1)
			if len(got) != writers*each {
				t.Fatalf("Scan: got %d records, want %d", len(got), writers*each)
			}
			for i, r := range got {
				if r.Seq != uint64(i+1) {
					t.Fatalf("Scan position %d: got seq %d, want %d", i, r.Seq, i+1)
				}
				if !reflect.DeepEqual(r, seqs[r.Seq]) {
					t.Fatalf("record %d: stored %+v, AppendSync returned %+v", r.Seq, r, seqs[r.Seq])
				}
			}
			mustVerify(t, j, writers*each)
		})
	}
}

// slowSyncFS delays and counts every sync of a WAL file, so that a test can
// see whether concurrent AppendSync calls share fsyncs.
type slowSyncFS struct {
	vfs.FS
	delay time.Duration
	syncs atomic.Int64
}

func (fs *slowSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *slowSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

func (fs *slowSyncFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &slowSyncFile{File: f, fs: fs}, nil
}

type slowSyncFile struct {
	vfs.File
	fs *slowSyncFS
}

func (f *slowSyncFile) slow() {
	f.fs.syncs.Add(1)
	time.Sleep(f.fs.delay)
}

func (f *slowSyncFile) Sync() error     { f.slow(); return f.File.Sync() }
func (f *slowSyncFile) SyncData() error { f.slow(); return f.File.SyncData() }
func (f *slowSyncFile) SyncTo(n int64) (bool, error) {
	f.slow()
	return f.File.SyncTo(n)
}

func TestAppendSyncSharesFsyncs(t *testing.T) {
	fs := &slowSyncFS{FS: vfs.NewMem(), delay: 2 * time.Millisecond}
	j := mustOpen(t, "journal", fs)

	// One writer: every AppendSync needs a sync of its own.
	const alone = 10
	before := fs.syncs.Load()
	for range alone {
		if _, err := j.AppendSync(Entry{Kind: KindNote}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fs.syncs.Load() - before; got < alone {
		t.Fatalf("%d sequential AppendSync calls made %d WAL syncs, want at least %d", alone, got, alone)
	}

	// Many writers: they share syncs.
	const writers, each = 64, 10
	before = fs.syncs.Load()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := j.AppendSync(Entry{Kind: KindIntent}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := fs.syncs.Load() - before
	t.Logf("%d concurrent AppendSync calls made %d WAL syncs", writers*each, got)
	if got > writers*each/4 {
		t.Fatalf("%d concurrent AppendSync calls made %d WAL syncs, want at most %d", writers*each, got, writers*each/4)
	}
	mustVerify(t, j, alone+writers*each)
}

// TestCrash appends synced and unsynced records on a filesystem that can
// lose unsynced writes, and checks that a crash keeps every synced record
// and loses at most a suffix of the chain.
func TestCrash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 8 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			j, err := Open("journal", Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			var synced []Record
			for i := range 30 {
				e := Entry{Kind: KindIntent, Body: i}
				if i%7 == 3 {
					r, err := j.AppendSync(e)
					if err != nil {
						t.Fatal(err)
					}
					synced = append(synced, r)
				} else if _, err := j.Append(e); err != nil {
					t.Fatal(err)
				}
			}
			last := synced[len(synced)-1]
			// Enough unsynced data that Pebble writes whole WAL blocks
			// without syncing them, some of which the crash keeps.
			pad := strings.Repeat("x", 1000)
			for i := range 150 {
				if _, err := j.Append(Entry{Kind: KindNote, Body: pad + fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
			}
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: round * 14, RNG: rng})
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			j = mustOpen(t, "journal", crashed)
			seq, _ := j.Last()
			if seq < last.Seq {
				t.Fatalf("after crash, Last() = %d, want at least the last synced seq %d", seq, last.Seq)
			}
			t.Logf("crash kept %d of 180 records; %d were synced", seq, last.Seq)
			mustVerify(t, j, seq)
			got := scanAll(t, j, 1)
			for _, r := range synced {
				if !reflect.DeepEqual(got[r.Seq-1], r) {
					t.Fatalf("synced record %d: got %+v after crash, want %+v", r.Seq, got[r.Seq-1], r)
				}
			}
			if _, err := j.AppendSync(Entry{Kind: KindNote, Body: "recovered"}); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, j, seq+1)
		})
	}
}

func TestFailedAppendKeepsHead(t *testing.T) {
	dir, fs := stores[1].open(t)
	j := mustOpen(t, dir, fs)
	good := appendN(t, j, 3)
	tests := []struct {
		name  string
		entry Entry
	}{
		{"zero kind", Entry{Body: 1}},
		{"unknown kind", Entry{Kind: kindEnd, Body: 1}},
		{"unmarshallable body", Entry{Kind: KindNote, Body: make(chan int)}},
		{"body marshals to invalid JSON", Entry{Kind: KindNote, Body: rawInvalid{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, appendFn := range []func(Entry) (Record, error){j.Append, j.AppendSync} {
				if r, err := appendFn(tt.entry); err == nil {
					t.Fatalf("append succeeded with record %d, want an error", r.Seq)
				}
			}
			if seq, h := j.Last(); seq != 3 || h != good[2].Hash {
				t.Fatalf("after a failed append, Last() = %d, %s, want 3, %s", seq, h, good[2].Hash)
			}
		})
	}
	r, err := j.AppendSync(Entry{Kind: KindNote})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 || r.Prev != good[2].Hash {
		t.Fatalf("next append: got seq %d prev %s, want 4, %s", r.Seq, r.Prev, good[2].Hash)
	}
	mustVerify(t, j, 4)
}

// rawInvalid marshals to bytes that are not JSON.
type rawInvalid struct{}

func (rawInvalid) MarshalJSON() ([]byte, error) { return []byte("{"), nil }

func TestClosed(t *testing.T) {
	dir, fs := stores[1].open(t)
	j, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 2)
	if err := j.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	calls := map[string]func() error{
		"Append":     func() error { _, err := j.Append(Entry{Kind: KindNote}); return err },
		"AppendSync": func() error { _, err := j.AppendSync(Entry{Kind: KindNote}); return err },
		"Scan":       func() error { return j.Scan(1, func(Record) error { return nil }) },
		"Verify":     func() error { _, err := j.Verify(); return err },
		"Close":      j.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
	if seq, _ := j.Last(); seq != 2 {
		t.Errorf("Last() after Close = %d, want 2", seq)
	}
}

func TestCloseWaitsForAppends(t *testing.T) {
	dir, fs := stores[1].open(t)
	j, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		ok atomic.Int64
	)
	for range 16 {
		wg.Go(func() {
			for {
				_, err := j.AppendSync(Entry{Kind: KindNote})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		})
	}
	for ok.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close during appends: %v", err)
	}
	wg.Wait()

	j = mustOpen(t, dir, fs)
	seq, _ := j.Last()
	if seq != uint64(ok.Load()) {
		t.Fatalf("after reopen, Last() = %d, want the %d successful appends", seq, ok.Load())
	}
	mustVerify(t, j, seq)
}

func TestReadOnly(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir, fs := st.open(t)
			if _, err := OpenReadOnly(dir, Options{FS: fs}); err == nil {
				t.Fatal("OpenReadOnly of a missing journal succeeded, want an error")
			}
			j, err := Open(dir, Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			want := appendN(t, j, 9)
			if ro, err := OpenReadOnly(dir, Options{FS: fs}); err == nil {
				_ = ro.Close()
				t.Fatal("OpenReadOnly while the journal is open succeeded, want a lock error")
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			ro, err := OpenReadOnly(dir, Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if seq, h := ro.Last(); seq != 9 || h != want[8].Hash {
				t.Fatalf("Last() = %d, %s, want 9, %s", seq, h, want[8].Hash)
			}
			if got := scanAll(t, ro, 1); !reflect.DeepEqual(got, want) {
				t.Fatalf("Scan on the read-only journal differs from what was appended")
			}
			mustVerify(t, ro, 9)
			for name, appendFn := range map[string]func(Entry) (Record, error){"Append": ro.Append, "AppendSync": ro.AppendSync} {
				if _, err := appendFn(Entry{Kind: KindNote}); !errors.Is(err, ErrReadOnly) {
					t.Errorf("%s on a read-only journal: got %v, want ErrReadOnly", name, err)
				}
			}
		})
	}
}

// TestReadOnlyUnflushed opens read-only a journal whose records are still
// only in the WAL, as after a gateway that crashed.
func TestReadOnlyUnflushed(t *testing.T) {
	fs := vfs.NewCrashableMem()
	j, err := Open("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, j, 4)
	if _, err := j.AppendSync(Entry{Kind: KindNote}); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = j.Close()

	ro, err := OpenReadOnly("journal", Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := scanAll(t, ro, 1); len(got) != 5 || !reflect.DeepEqual(got[:4], want) {
		t.Fatalf("Scan after crash: got %d records, want the 5 appended", len(got))
	}
	mustVerify(t, ro, 5)
}

// store gives a tamper test raw access to stored values.
type store struct {
	t  *testing.T
	db *pebble.DB
}

func (s store) get(seq uint64) []byte {
	v, closer, err := s.db.Get(recordKey(seq))
	if err != nil {
		s.t.Fatalf("get %d: %v", seq, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...)
}

func (s store) set(seq uint64, v []byte) { s.setKey(recordKey(seq), v) }

func (s store) setKey(k, v []byte) {
	if err := s.db.Set(k, v, pebble.Sync); err != nil {
		s.t.Fatalf("set %x: %v", k, err)
	}
}

func (s store) del(seq uint64) {
	if err := s.db.Delete(recordKey(seq), pebble.Sync); err != nil {
		s.t.Fatalf("delete %d: %v", seq, err)
	}
}

// forge stores a record with a correct hash of its own at seq.
func (s store) forge(seq uint64, prev Hash) {
	r := Record{Seq: seq, Time: time.Unix(0, 0).UTC(), Kind: KindOutcome, Body: []byte(`"forged"`), Prev: prev}
	v, err := encodeRecord(&r)
	if err != nil {
		s.t.Fatal(err)
	}
	s.set(seq, v)
}

func TestVerifyTamper(t *testing.T) {
	const n = 10
	flip := func(seq uint64, off func(v []byte) int) func(store, []Record) {
		return func(s store, _ []Record) {
			v := s.get(seq)
			v[off(v)] ^= 0x01
			s.set(seq, v)
		}
	}
	at := func(i int) func([]byte) int { return func([]byte) int { return i } }
	fromEnd := func(i int) func([]byte) int { return func(v []byte) int { return len(v) - i } }
	tests := []struct {
		name    string
		tamper  func(s store, recs []Record)
		badSeq  uint64
		problem string
	}{
		{"flip version byte", flip(4, at(0)), 4, "version"},
		{"flip seq byte", flip(4, at(8)), 4, "holds record"},
		{"flip time byte", flip(4, at(16)), 4, "hash mismatch"},
		{"flip kind byte", flip(4, at(17)), 4, "hash mismatch"},
		{"flip ref byte", flip(4, at(25)), 4, "hash mismatch"},
		{"flip length byte", flip(4, at(29)), 4, "corrupt"},
		{"flip body byte", flip(4, fromEnd(66)), 4, "hash mismatch"},
		{"flip prev byte", flip(4, fromEnd(40)), 4, "hash mismatch"},
		{"flip hash byte", flip(4, fromEnd(1)), 4, "hash mismatch"},
		{"flip first record", flip(1, fromEnd(66)), 1, "hash mismatch"},
		{"flip last record", flip(n, fromEnd(66)), n, "hash mismatch"},
		{"delete record", func(s store, _ []Record) { s.del(6) }, 6, "missing"},
		{"delete first record", func(s store, _ []Record) { s.del(1) }, 1, "missing"},
		{"delete last record", func(s store, _ []Record) { s.del(n) }, n, "missing"},
		{"delete last two records", func(s store, _ []Record) { s.del(n); s.del(n - 1) }, n - 1, "missing"},
		{"swap two records", func(s store, _ []Record) {
			a, b := s.get(3), s.get(7)
			s.set(3, b)
			s.set(7, a)
		}, 3, "holds record 7"},
		{"swap adjacent records", func(s store, _ []Record) {
			a, b := s.get(5), s.get(6)
			s.set(5, b)
			s.set(6, a)
		}, 5, "holds record 6"},
		{"copy record over the next", func(s store, _ []Record) { s.set(8, s.get(7)) }, 8, "holds record 7"},
		{"replace with a forged record", func(s store, recs []Record) { s.forge(5, recs[3].Hash) }, 6, "prev"},
		{"forged record that does not chain", func(s store, _ []Record) { s.forge(5, Hash{}) }, 5, "prev"},
		{"remove a record and renumber", func(s store, _ []Record) {
			for seq := uint64(5); seq < n; seq++ {
				r, err := decodeRecord(s.get(seq + 1))
				if err != nil {
					t.Fatal(err)
				}
				r.Seq = seq
				v, err := encodeRecord(&r)
				if err != nil {
					t.Fatal(err)
				}
				s.set(seq, v)
			}
			s.del(n)
		}, 5, "prev"},
		{"insert beyond the head", func(s store, recs []Record) { s.forge(n+1, recs[n-1].Hash) }, n + 1, "beyond the chain head"},
		{"short key after the records", func(s store, _ []Record) { s.setKey([]byte{spaceRecords, 1}, s.get(1)) }, n + 1, "malformed key"},
		{"short key before the records", func(s store, _ []Record) { s.setKey([]byte{spaceRecords}, s.get(1)) }, 1, "malformed key"},
		{"long key", func(s store, _ []Record) { s.setKey(append(recordKey(3), 0), s.get(3)) }, 4, "malformed key"},
		{"record zero", func(s store, _ []Record) { s.set(0, s.get(1)) }, 1, "out of place"},
		{"truncated value", func(s store, _ []Record) { s.set(2, s.get(2)[:50]) }, 2, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustOpen(t, "journal", vfs.NewMem())
			recs := appendN(t, j, n)
			mustVerify(t, j, n)
			tt.tamper(store{t: t, db: j.db}, recs)
			res, err := j.Verify()
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.OK || res.BadSeq != tt.badSeq || res.Records != tt.badSeq-1 {
				t.Fatalf("Verify() = %+v, want OK false, BadSeq %d, Records %d", res, tt.badSeq, tt.badSeq-1)
			}
			if !strings.Contains(res.Problem, tt.problem) {
				t.Fatalf("Verify() problem = %q, want it to mention %q", res.Problem, tt.problem)
			}
		})
	}
}

// TestOpenCorruptHead checks that Open refuses to chain onto a corrupt last
// record while OpenReadOnly lets Verify report it.
func TestOpenCorruptHead(t *testing.T) {
	fs := vfs.NewMem()
	j, err := Open("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 5)
	s := store{t: t, db: j.db}
	v := s.get(5)
	v[len(v)-50] ^= 0xff
	s.set(5, v)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	if j, err := Open("journal", Options{FS: fs}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			_ = j.Close()
		}
		t.Fatalf("Open with a corrupt last record: got %v, want ErrCorrupt", err)
	}
	ro, err := OpenReadOnly("journal", Options{FS: fs})
	if err != nil {
		t.Fatalf("OpenReadOnly with a corrupt last record: %v", err)
	}
	defer ro.Close()
	res, err := ro.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.BadSeq != 5 {
		t.Fatalf("Verify() = %+v, want BadSeq 5", res)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	j, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 10)
	mustVerify(t, j, 10)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("got %d goroutines after Close, want at most %d:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
