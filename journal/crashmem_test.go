package journal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashRoundsEnv raises the number of rounds TestCrashClassify runs, for a
// longer search than make test affords: FEMTOCLAW_JOURNAL_CRASH_ROUNDS=2000.
const crashRoundsEnv = "FEMTOCLAW_JOURNAL_CRASH_ROUNDS"

// TestCrashClassify crashes a journal while concurrent writers append to
// it, on a filesystem that keeps a random share of the data not yet synced,
// and classifies every record written before the crash:
//
//   - surely present: at or before the highest seq that AppendSync had
//     acknowledged when the crash was taken. An acknowledged record is
//     durable, and so is every record before it, since the chain reaches
//     the WAL in seq order;
//   - surely absent: a seq assigned after the crash, which no crash clone
//     can hold;
//   - maybe present: anything in between, written but not yet acknowledged.
//
// After the crash the reopened journal must hold every surely present
// record exactly as it was appended, maybe-present records only as an
// unbroken prefix and exactly as appended, no surely absent one, and a
// chain that verifies. Zero acknowledged records may be lost.
func TestCrashClassify(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	if v := os.Getenv(crashRoundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashRoundsEnv, v, err)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	var totals crashTally
	for round := range rounds {
		tally := crashRound(t, round, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
		totals.add(tally)
	}
	t.Logf("%d rounds: %d records surely present, %d maybe present (%d survived), %d surely absent; 0 acknowledged lost",
		rounds, totals.sure, totals.maybe, totals.maybeKept, totals.absent)
	if totals.sure == 0 || totals.maybe == 0 {
		t.Fatalf("classes: %d surely present, %d maybe present, want both non-zero for the test to mean something", totals.sure, totals.maybe)
	}
}

// crashTally counts the records of each class.
type crashTally struct {
	sure, maybe, maybeKept, absent int
}

func (c *crashTally) add(o crashTally) {
	c.sure += o.sure
	c.maybe += o.maybe
	c.maybeKept += o.maybeKept
	c.absent += o.absent
}

// crashRound runs one round: writers append until after the crash clone is
// taken at a random moment; then the clone is opened and checked.
func crashRound(t *testing.T, round int, rng *rand.Rand) crashTally {
	fs := vfs.NewCrashableMem()
	j, err := Open("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	var (
		written  sync.Map      // seq -> Record, every record appended
		acked    atomic.Uint64 // highest seq AppendSync has returned
		stop     atomic.Bool
		wg       sync.WaitGroup
		writers  = 1 + rng.IntN(16)
		syncEach = 1 + rng.IntN(4) // a writer syncs every syncEach-th append
		padLen   = rng.IntN(2000)  // larger records fill WAL blocks sooner
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				e := Entry{Kind: KindIntent, Principal: fmt.Sprintf("w%d", w), Body: map[string]any{"i": i, "pad": padding(padLen)}}
				durable := i%syncEach == 0
				var r Record
				var err error
				if durable {
					r, err = j.AppendSync(e)
				} else {
					r, err = j.Append(e)
				}
				if err != nil {
					t.Errorf("writer %d: append %d: %v", w, i, err)
					return
				}
				written.Store(r.Seq, r)
				if durable {
					for {
						cur := acked.Load()
						if r.Seq <= cur || acked.CompareAndSwap(cur, r.Seq) {
							break
						}
					}
				}
			}
		})
	}
	// Crash at a random moment while the writers run.
	time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
	sure := acked.Load() // acknowledged before the crash point
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
	assigned, _ := j.Last() // every seq above this was assigned after the crash
	// Let some surely absent records be written too.
	time.Sleep(time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return crashTally{}
	}

	after, err := Open("journal", Options{FS: crashed})
	if err != nil {
		t.Fatalf("round %d: open after crash: %v", round, err)
	}
	defer after.Close()
	head, _ := after.Last()
	if head < sure {
		t.Errorf("round %d: after crash the chain ends at %d, want at least %d: %d acknowledged records lost", round, head, sure, sure-head)
	}
	if head > assigned {
		t.Errorf("round %d: after crash the chain ends at %d, beyond %d, the last seq assigned before the crash", round, head, assigned)
	}
	res, err := after.Verify()
	if err != nil {
		t.Fatalf("round %d: Verify: %v", round, err)
	}
	if !res.OK || res.Records != head {
		t.Errorf("round %d: Verify() = %+v, want OK with %d records", round, res, head)
	}
	var next uint64 = 1
	if err := after.Scan(1, func(r Record) error {
		if r.Seq != next {
			return fmt.Errorf("record %d where %d was due", r.Seq, next)
		}
		next++
		w, ok := written.Load(r.Seq)
		if !ok {
			return fmt.Errorf("record %d was never appended", r.Seq)
		}
		if !reflect.DeepEqual(r, w.(Record)) {
			return fmt.Errorf("record %d: got %+v after crash, want %+v", r.Seq, r, w)
		}
		return nil
	}); err != nil {
		t.Errorf("round %d: %v", round, err)
	}
	last, _ := j.Last()
	tally := crashTally{
		sure:      int(sure),
		maybe:     int(assigned - sure),
		maybeKept: int(head - min(head, sure)),
		absent:    int(last - assigned),
	}
	t.Logf("round %d: %d writers, sync every %d, pad %d: %d surely present, %d maybe (%d kept), %d surely absent",
		round, writers, syncEach, padLen, tally.sure, tally.maybe, tally.maybeKept, tally.absent)

	// The recovered journal goes on where the crash left it.
	if _, err := after.AppendSync(Entry{Kind: KindNote, Body: "recovered"}); err != nil {
		t.Fatalf("round %d: append after crash: %v", round, err)
	}
	if res, err := after.Verify(); err != nil || !res.OK || res.Records != head+1 {
		t.Errorf("round %d: Verify() after an append = %+v, %v, want OK with %d records", round, res, err, head+1)
	}
	return tally
}

// padding returns n bytes of filler.
func padding(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}
