package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKindText(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
	}{
		{KindProposal, "proposal"},
		{KindDecision, "decision"},
		{KindIntent, "intent"},
		{KindOutcome, "outcome"},
		{KindEpisode, "episode"},
		{KindNote, "note"},
		{KindCheckpoint, "checkpoint"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.name {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.kind), got, tt.name)
		}
		text, err := tt.kind.MarshalText()
		if err != nil || string(text) != tt.name {
			t.Errorf("Kind(%d).MarshalText() = %q, %v, want %q, nil", uint8(tt.kind), text, err, tt.name)
		}
		var k Kind
		if err := k.UnmarshalText([]byte(tt.name)); err != nil || k != tt.kind {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v, nil", tt.name, k, err, tt.kind)
		}
	}
}

func TestKindInvalid(t *testing.T) {
	for _, k := range []Kind{0, kindEnd, 255} {
		if k.Valid() {
			t.Errorf("Kind(%d).Valid() = true, want false", uint8(k))
		}
		if _, err := k.MarshalText(); err == nil {
			t.Errorf("Kind(%d).MarshalText() succeeded, want an error", uint8(k))
		}
		if got := k.String(); !strings.HasPrefix(got, "kind(") {
			t.Errorf("Kind(%d).String() = %q, want kind(N)", uint8(k), got)
		}
	}
	for _, name := range []string{"", "Intent", "intents", "kind(3)"} {
		var k Kind
		if err := k.UnmarshalText([]byte(name)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, nil, want an error", name, k)
		}
	}
}

func TestHashText(t *testing.T) {
	var h Hash
	for i := range h {
		h[i] = byte(i * 7)
	}
	text, err := h.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 64 || string(text) != h.String() {
		t.Fatalf("MarshalText() = %q, want 64 hex digits equal to String() %q", text, h.String())
	}
	var back Hash
	if err := back.UnmarshalText(text); err != nil || back != h {
		t.Fatalf("UnmarshalText(%q) = %x, %v, want %x, nil", text, back, err, h)
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", 64), strings.Repeat("0", 66)} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded, want an error", bad)
		}
	}
}

func testRecord() Record {
	r := Record{
		Seq:       42,
		Time:      time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Kind:      KindOutcome,
		Principal: "agent-boiler",
		Episode:   "ep-7",
		Ref:       41,
		Body:      json.RawMessage(`{"ok":true,"value":21.5}`),
	}
	r.Prev[0], r.Prev[31] = 0xaa, 0x55
	return r
}

func TestEncodeDecode(t *testing.T) {
	r := testRecord()
	v, err := encodeRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixedLen + len(r.Principal) + len(r.Episode) + len(r.Body); len(v) != want {
		t.Errorf("value length = %d, want %d", len(v), want)
	}
	if r.Hash.IsZero() {
		t.Fatal("encodeRecord left Hash zero")
	}
	got, err := decodeRecord(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("decodeRecord = %+v, want %+v", got, r)
	}
	if h, err := got.computeHash(); err != nil || h != r.Hash {
		t.Errorf("computeHash() = %s, %v, want %s, nil", h, err, r.Hash)
	}
	// The hash covers every field: changing any one changes it.
	changes := map[string]func(*Record){
		"seq":       func(r *Record) { r.Seq++ },
		"time":      func(r *Record) { r.Time = r.Time.Add(time.Nanosecond) },
		"kind":      func(r *Record) { r.Kind = KindIntent },
		"principal": func(r *Record) { r.Principal += "x" },
		"episode":   func(r *Record) { r.Episode = "" },
		"ref":       func(r *Record) { r.Ref = 0 },
		"body":      func(r *Record) { r.Body = json.RawMessage(`{"ok":false}`) },
		"prev":      func(r *Record) { r.Prev[5] ^= 1 },
		// Moving bytes between adjacent fields must change the encoding too.
		"boundary": func(r *Record) { r.Principal, r.Episode = "agent-boiler"+"e", "p-7" },
	}
	for name, change := range changes {
		c := testRecord()
		change(&c)
		h, err := c.computeHash()
		if err != nil {
			t.Fatal(err)
		}
		if h == r.Hash {
			t.Errorf("changing %s left the hash unchanged", name)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	r := testRecord()
	v, err := encodeRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	withLen := func(off int, n uint32) []byte {
		c := bytes.Clone(v)
		c[off], c[off+1], c[off+2], c[off+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return c
	}
	const principalLen = 1 + 8 + 8 + 1 + 8
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{2}, v[1:]...)},
		{"too short", v[:fixedLen-1]},
		{"truncated hash", v[:len(v)-1]},
		{"trailing byte", append(bytes.Clone(v), 0)},
		{"length past end", withLen(principalLen, 1<<20)},
		{"huge length", withLen(principalLen, 0xffffffff)},
		{"short length", withLen(principalLen, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRecord(tt.value)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeRecord: got error %v, want one wrapping ErrCorrupt", err)
			}
		})
	}
}

func TestRecordJSON(t *testing.T) {
	r := testRecord()
	if _, err := encodeRecord(&r); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"outcome"`, `"hash":"` + r.Hash.String() + `"`, `"body":{"ok":true,"value":21.5}`, `"time":"2026-03-01T12:00:00.123456789Z"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("json.Marshal(record) = %s, want it to contain %s", b, want)
		}
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip: got %+v, want %+v", back, r)
	}
}
