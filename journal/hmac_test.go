package journal

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	testKey  = []byte("0123456789abcdef-journal-key")
	otherKey = []byte("fedcba9876543210-another-key")
)

func openKeyed(t *testing.T, fs vfs.FS, key []byte) *Journal {
	t.Helper()
	j, err := Open("journal", Options{FS: fs, Now: testClock(), Key: key})
	if err != nil {
		t.Fatalf("Open with a key: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func verifyKeyed(t *testing.T, j *Journal, want VerifyResult) {
	t.Helper()
	res, err := j.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if res != want {
		t.Fatalf("Verify() = %+v, want %+v", res, want)
	}
}

func TestHMACSigned(t *testing.T) {
	fs := vfs.NewMem()
	j := openKeyed(t, fs, testKey)
	recs := appendN(t, j, 10)
	for _, r := range recs {
		if !macValid(testKey, r) {
			t.Fatalf("record %d: MAC %v, want HMAC-SHA256 of its hash", r.Seq, r.MAC)
		}
	}
	if got := scanAll(t, j, 1); !equalRecords(got, recs) {
		t.Fatalf("Scan: got %+v, want the appended records with their MACs", got)
	}
	b, err := json.Marshal(recs[0])
	if err != nil || !strings.Contains(string(b), `"mac":"`+recs[0].MAC.String()+`"`) {
		t.Fatalf("json: got %s, %v, want the mac in hex", b, err)
	}
	verifyKeyed(t, j, VerifyResult{Records: 10, OK: true, Signed: 10})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	// Without the key the chain still verifies; the MACs are not checked.
	ro, err := OpenReadOnly("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	verifyKeyed(t, ro, VerifyResult{Records: 10, OK: true, Signed: 10})
	ro.Close()

	// Appending needs the key, and the right one.
	for _, tt := range []struct {
		name string
		key  []byte
	}{{"no key", nil}, {"another key", otherKey}, {"short key", []byte("short")}} {
		if _, err := Open("journal", Options{FS: fs, Key: tt.key}); !errors.Is(err, ErrKey) {
			t.Errorf("Open with %s: got %v, want an error wrapping ErrKey", tt.name, err)
		}
	}
	if _, err := OpenReadOnly("journal", Options{FS: fs, Key: []byte("short")}); !errors.Is(err, ErrKey) {
		t.Errorf("OpenReadOnly with a short key: got %v, want an error wrapping ErrKey", err)
	}
}

// TestHMACKeyAdded checks a journal that had no key at first: the records
// written before are vouched for by the first signed one.
func TestHMACKeyAdded(t *testing.T) {
	fs := vfs.NewMem()
	j, err := Open("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 4)
	j.Close()
	j = openKeyed(t, fs, testKey)
	appendN(t, j, 3)
	verifyKeyed(t, j, VerifyResult{Records: 7, OK: true, Signed: 3})
}

// TestHMACRewrite rewrites the chain the ways someone without the key can,
// and checks that Verify with the key names the right seq.
func TestHMACRewrite(t *testing.T) {
	const n = 8
	// rechain re-encodes the records from seq from on, with body changed
	// at from, chaining each to the one before and signing with key (nil:
	// unsigned).
	rechain := func(s store, recs []Record, from uint64, key []byte) {
		prev := Hash{}
		if from > 1 {
			prev = recs[from-2].Hash
		}
		for _, r := range recs[from-1:] {
			r.Prev = prev
			if r.Seq == from {
				r.Body = json.RawMessage(`"rewritten"`)
			}
			v, err := encodeRecordKey(&r, key)
			if err != nil {
				s.t.Fatal(err)
			}
			s.set(r.Seq, v)
			prev = r.Hash
		}
	}
	tests := []struct {
		name    string
		tamper  func(s store, recs []Record)
		wantSeq uint64
		want    string
	}{
		{"whole chain rewritten unsigned", func(s store, recs []Record) { rechain(s, recs, 1, nil) }, n, "no record carries a MAC"},
		{"whole chain signed with another key", func(s store, recs []Record) { rechain(s, recs, 1, otherKey) }, 1, "MAC does not match"},
		{"tail rewritten with another key", func(s store, recs []Record) { rechain(s, recs, 5, otherKey) }, 5, "MAC does not match"},
		{"tail rewritten unsigned", func(s store, recs []Record) { rechain(s, recs, 5, nil) }, 5, "carries no MAC after 4 signed records"},
		{"MAC flipped", func(s store, recs []Record) {
			v := s.get(3)
			v[len(v)-1] ^= 1
			s.set(3, v)
		}, 3, "MAC does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			j := openKeyed(t, fs, testKey)
			recs := appendN(t, j, n)
			tt.tamper(store{t: t, db: j.db}, recs)
			res, err := j.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.BadSeq != tt.wantSeq || !strings.Contains(res.Problem, tt.want) {
				t.Fatalf("Verify() = %+v, want a break at %d: %q", res, tt.wantSeq, tt.want)
			}
			// Without the key, only what breaks the hashes is seen.
			j.key = nil
			res, err = j.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tt.name, "rewritten") || strings.Contains(tt.name, "another key") {
				if !res.OK {
					t.Fatalf("Verify() without the key = %+v, want OK: a consistent rewrite needs the key to be caught", res)
				}
			}
		})
	}
}

func TestHMACPrune(t *testing.T) {
	clock := newManualClock()
	fs := vfs.NewMem()
	j, err := Open("journal", Options{FS: fs, Now: clock.now, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendNotes(t, j, clock, 20)
	res, err := j.Prune(context.Background(), Retention{MaxAge: 5*time.Minute + time.Second})
	if err != nil {
		t.Fatal(err)
	}
	verifyKeyed(t, j, VerifyResult{Records: 20 - res.Records + 1, OK: true, Pruned: res.Through, Signed: 20 - res.Records + 1})
}
