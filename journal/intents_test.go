package journal

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestOpenIntents(t *testing.T) {
	j := mustOpen(t, "journal", vfs.NewMem())
	add := func(k Kind, ref uint64) uint64 {
		t.Helper()
		r, err := j.AppendSync(Entry{Kind: k, Ref: ref, Body: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Seq
	}
	dec := add(KindDecision, 0)
	closed := add(KindIntent, dec)
	open1 := add(KindIntent, dec)
	add(KindOutcome, closed)
	add(KindOutcome, dec) // a read's outcome refers to its decision
	open2 := add(KindIntent, dec)
	add(KindOutcome, 99) // refers to nothing
	got, err := j.OpenIntents()
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != fmt.Sprint([]uint64{open1, open2}) {
		t.Fatalf("OpenIntents: got %v, want [%d %d]", seqs, open1, open2)
	}
}
