package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func mustOutbox(t testing.TB, j *Journal, name string, l OutboxLimit) *Outbox {
	t.Helper()
	o, err := j.Outbox(name, l)
	if err != nil {
		t.Fatalf("Outbox(%q): %v", name, err)
	}
	return o
}

func mustPut(t testing.TB, o *Outbox, topic, payload string, opts ...PutOption) uint64 {
	t.Helper()
	seq, err := o.Put(topic, []byte(payload), opts...)
	if err != nil {
		t.Fatalf("Put(%q): %v", topic, err)
	}
	return seq
}

// peekSeqs returns the seqs and payloads of up to n messages.
func peekAll(t testing.TB, o *Outbox) []Message {
	t.Helper()
	ms, err := o.Peek(1 << 30)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return ms
}

func payloads(ms []Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
	}
	return strings.Join(s, " ")
}

func TestOutboxOrderAckReopen(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir, fs := st.open(t)
			j := mustOpen(t, dir, fs)
			o := mustOutbox(t, j, "telemetry", OutboxLimit{})
			for i := 1; i <= 5; i++ {
				if seq := mustPut(t, o, "t/x", fmt.Sprint("p", i)); seq != uint64(i) {
					t.Fatalf("Put %d: got seq %d, want %d", i, seq, i)
				}
			}
			mustPut(t, o, "t/r", "ret", Retained(), QoS(1))
			ms, err := o.Peek(2)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := payloads(ms), "1:p1 2:p2"; got != want {
				t.Fatalf("Peek(2): got %s, want %s", got, want)
			}
			if err := o.Ack(3); err != nil {
				t.Fatal(err)
			}
			if n, b := o.Len(); n != 3 || b != 5+5+6 {
				t.Fatalf("Len after ack: got %d, %d, want 3, 16", n, b)
			}
			if err := o.Ack(2); err != nil {
				t.Fatalf("Ack of an acked seq: got %v, want nil", err)
			}
			if err := o.Ack(99); err == nil {
				t.Fatal("Ack(99) of 6 messages: got nil, want an error")
			}
			// The journal's chain is untouched by the outbox.
			appendN(t, j, 3)
			mustVerify(t, j, 3)
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			j = mustOpen(t, dir, fs)
			o = mustOutbox(t, j, "telemetry", OutboxLimit{})
			if o2 := mustOutbox(t, j, "telemetry", OutboxLimit{MaxCount: 1}); o2 != o {
				t.Fatal("second Outbox call with the same name: got a new Outbox, want the same")
			}
			ms = peekAll(t, o)
			if got, want := payloads(ms), "4:p4 5:p5 6:ret"; got != want {
				t.Fatalf("after reopen: got %s, want %s", got, want)
			}
			if m := ms[2]; !m.Retained || m.QoS != 1 || m.Topic != "t/r" || m.Time.IsZero() {
				t.Fatalf("message 6: got %+v, want retained QoS 1 on t/r with a time", m)
			}
			if err := o.Ack(6); err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			// An emptied outbox keeps counting from where it was.
			j = mustOpen(t, dir, fs)
			o = mustOutbox(t, j, "telemetry", OutboxLimit{})
			if n, _ := o.Len(); n != 0 {
				t.Fatalf("Len of an emptied outbox: got %d, want 0", n)
			}
			if seq := mustPut(t, o, "t/x", "p7"); seq != 7 {
				t.Fatalf("first Put after emptying: got seq %d, want 7", seq)
			}
			// Another outbox is independent.
			other := mustOutbox(t, j, "events", OutboxLimit{})
			if seq := mustPut(t, other, "e", "x"); seq != 1 {
				t.Fatalf("first Put in a new outbox: got seq %d, want 1", seq)
			}
			if got, want := payloads(peekAll(t, o)), "7:p7"; got != want {
				t.Fatalf("telemetry outbox: got %s, want %s", got, want)
			}
		})
	}
}

func TestOutboxLimits(t *testing.T) {
	tests := []struct {
		name    string
		limit   OutboxLimit
		puts    []string
		want    string // payloads held afterwards
		dropped uint64
		full    int // Puts that must return ErrOutboxFull
	}{
		{"count drops new", OutboxLimit{MaxCount: 3}, []string{"a", "b", "c", "d", "e"}, "1:a 2:b 3:c", 2, 2},
		{"count drops oldest", OutboxLimit{MaxCount: 3, DropOldest: true}, []string{"a", "b", "c", "d", "e"}, "3:c 4:d 5:e", 2, 0},
		// Sizes count topic ("t", 1 byte) and payload.
		{"bytes drop new", OutboxLimit{MaxBytes: 10}, []string{"aaaa", "bbbb", "cc", "d"}, "1:aaaa 2:bbbb", 2, 2},
		{"bytes drop oldest", OutboxLimit{MaxBytes: 10, DropOldest: true}, []string{"aaaa", "bbbb", "cc", "d"}, "2:bbbb 3:cc 4:d", 1, 0},
		{"too large is always dropped", OutboxLimit{MaxBytes: 8, DropOldest: true}, []string{"aa", "bbbbbbbb", "c"}, "1:aa 2:c", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			j := mustOpen(t, "journal", fs)
			o := mustOutbox(t, j, "q", tt.limit)
			full := 0
			for _, p := range tt.puts {
				if _, err := o.Put("t", []byte(p)); errors.Is(err, ErrOutboxFull) {
					full++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if got := payloads(peekAll(t, o)); got != tt.want {
				t.Fatalf("held: got %s, want %s", got, tt.want)
			}
			if full != tt.full {
				t.Fatalf("ErrOutboxFull: got %d times, want %d", full, tt.full)
			}
			if got := o.Dropped(); got != tt.dropped {
				t.Fatalf("Dropped: got %d, want %d", got, tt.dropped)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j = mustOpen(t, "journal", fs)
			o = mustOutbox(t, j, "q", tt.limit)
			if got := o.Dropped(); got != tt.dropped {
				t.Fatalf("Dropped after reopen: got %d, want %d", got, tt.dropped)
			}
			if got := payloads(peekAll(t, o)); got != tt.want {
				t.Fatalf("held after reopen: got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestOutboxCrash crashes the store with random shares of unsynced data
// kept and checks that every message put before a sync survives, that the
// survivors are in order without holes, and that the outbox goes on.
func TestOutboxCrash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pad := strings.Repeat("x", 700)
	for round := range 8 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			j, err := Open("journal", Options{FS: fs, Now: testClock()})
			if err != nil {
				t.Fatal(err)
			}
			o := mustOutbox(t, j, "q", OutboxLimit{SyncInterval: -1})
			var synced uint64
			for i := 1; i <= 300; i++ {
				mustPut(t, o, "t", fmt.Sprint(i, pad))
				switch {
				case i == 40:
					if err := o.Ack(20); err != nil {
						t.Fatal(err)
					}
				case i%50 == 0 && i <= 200:
					if err := o.Sync(); err != nil {
						t.Fatal(err)
					}
					synced = uint64(i)
				case i == 120:
					// A synced intent syncs the outbox too.
					if _, err := j.AppendSync(Entry{Kind: KindIntent, Body: i}); err != nil {
						t.Fatal(err)
					}
					synced = uint64(i)
				}
			}
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: round * 14, RNG: rng})
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j = mustOpen(t, "journal", crashed)
			o = mustOutbox(t, j, "q", OutboxLimit{})
			ms := peekAll(t, o)
			if len(ms) == 0 || ms[0].Seq != 21 {
				t.Fatalf("after crash: first message %v, want seq 21 (1..20 were acked before a sync)", payloads(ms[:min(1, len(ms))]))
			}
			for i, m := range ms {
				if want := uint64(21 + i); m.Seq != want || !strings.HasPrefix(string(m.Payload), fmt.Sprint(want, "x")) {
					t.Fatalf("after crash: message %d is seq %d %.10q, want seq %d: a hole or a mix-up", i, m.Seq, m.Payload, want)
				}
			}
			last := ms[len(ms)-1].Seq
			if last < synced {
				t.Fatalf("after crash: last message %d, want at least the last synced %d", last, synced)
			}
			t.Logf("crash kept messages up to %d of 300; %d were synced", last, synced)
			if seq := mustPut(t, o, "t", "after"); seq != last+1 {
				t.Fatalf("Put after crash: got seq %d, want %d", seq, last+1)
			}
		})
	}
}

func TestOutboxReadOnlyAndClosed(t *testing.T) {
	fs := vfs.NewMem()
	j := mustOpen(t, "journal", fs)
	o := mustOutbox(t, j, "q", OutboxLimit{})
	mustPut(t, o, "t", "a")
	if _, err := j.Outbox("", OutboxLimit{}); err == nil {
		t.Fatal("Outbox with an empty name: got nil error, want one")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Put("t", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put on a closed journal: got %v, want ErrClosed", err)
	}
	if _, err := o.Peek(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Peek on a closed journal: got %v, want ErrClosed", err)
	}

	ro, err := OpenReadOnly("journal", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	o = mustOutbox(t, ro, "q", OutboxLimit{})
	if got := payloads(peekAll(t, o)); got != "1:a" {
		t.Fatalf("read-only Peek: got %s, want 1:a", got)
	}
	if _, err := o.Put("t", nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only Put: got %v, want ErrReadOnly", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only Ack: got %v, want ErrReadOnly", err)
	}
}

// TestOutboxTake gives out seqs for messages kept elsewhere, stores some of
// them later, and never gives a seq out twice, across a crash included.
func TestOutboxTake(t *testing.T) {
	fs := vfs.NewCrashableMem()
	j, err := Open("journal", Options{FS: fs, Now: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOutbox(t, j, "q", OutboxLimit{SyncInterval: -1})
	take := func() uint64 {
		t.Helper()
		seq, err := o.Take()
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return seq
	}
	if got := mustPut(t, o, "t", "p1"); got != 1 {
		t.Fatalf("Put: got seq %d, want 1", got)
	}
	if err := o.Ack(1); err != nil {
		t.Fatal(err)
	}
	a, b, c := take(), take(), take()
	if a != 2 || b != 3 || c != 4 {
		t.Fatalf("Take: got %d %d %d, want 2 3 4", a, b, c)
	}
	// b and c are stored (the broker went away before it had them); a
	// reached the broker and is never stored.
	for _, seq := range []uint64{b, c} {
		if err := o.PutTaken(seq, "t", []byte(fmt.Sprint("p", seq))); err != nil {
			t.Fatalf("PutTaken(%d): %v", seq, err)
		}
	}
	for _, seq := range []uint64{0, a, c, 99} {
		if err := o.PutTaken(seq, "t", []byte("late")); err == nil {
			t.Errorf("PutTaken(%d): got nil, want an error (out of order or never taken)", seq)
		}
	}
	if got := mustPut(t, o, "t", "p5"); got != 5 {
		t.Fatalf("Put after Take: got seq %d, want 5", got)
	}
	if got, want := payloads(peekAll(t, o)), "3:p3 4:p4 5:p5"; got != want {
		t.Fatalf("Peek: got %s, want %s", got, want)
	}
	d := take()
	// Only the reservation is synced: a crash now keeps none of the
	// messages, yet no seq is given out again.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	j.Close()
	j = mustOpen(t, "journal", crashed)
	o = mustOutbox(t, j, "q", OutboxLimit{})
	if seq := take(); seq <= d || seq < TakeBlock {
		t.Fatalf("Take after a crash: got %d, want past the reserved block (> %d and >= %d)", seq, d, TakeBlock)
	}
	if seq := mustPut(t, o, "t", "after"); seq <= d {
		t.Fatalf("Put after a crash: got %d, want more than %d", seq, d)
	}
}

// TestOutboxRelease: after Release, a reopened outbox continues without a
// gap.
func TestOutboxRelease(t *testing.T) {
	dir, fs := stores[0].open(t)
	j := mustOpen(t, dir, fs)
	o := mustOutbox(t, j, "q", OutboxLimit{})
	for range 3 {
		if _, err := o.Take(); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.PutTaken(3, "t", []byte("p3")); err != nil {
		t.Fatal(err)
	}
	if err := o.Release(); err != nil {
		t.Fatal(err)
	}
	if seq := mustPut(t, o, "t", "p4"); seq != 4 {
		t.Fatalf("Put after Release: got %d, want 4", seq)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, fs)
	defer j.Close()
	o = mustOutbox(t, j, "q", OutboxLimit{})
	if seq, err := o.Take(); err != nil || seq != 5 {
		t.Fatalf("Take after reopen: got %d, %v; want 5", seq, err)
	}
}
