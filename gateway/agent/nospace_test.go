package agent_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/journal"
)

// TestCoreRefusesWithoutSpace checks that a journal below its free-space
// reserve fails the core closed: a write is refused as journal_unavailable,
// nothing is journaled and the device sees no write; once space is back,
// calls go through again.
func TestCoreRefusesWithoutSpace(t *testing.T) {
	const reserve = 16 << 20
	var free atomic.Uint64
	free.Store(1 << 30)
	pl := newPlantWith(t, journal.Options{Reserve: reserve, FreeSpace: func() (uint64, error) { return free.Load(), nil }})
	ctx := context.Background()
	call := func(v string) capability.Result {
		return pl.core.Call(ctx, "operator", "", capability.Call{Capability: "set_inlet_pump", Args: `{"value":` + v + `}`}, agent.CallOptions{})
	}
	if res := call("40"); !res.OK {
		t.Fatalf("write with room: got %+v, want ok", res)
	}
	writes := len(pl.sim.Writes())
	if writes != 1 {
		t.Fatalf("simulator writes after one call: got %d, want 1", writes)
	}

	free.Store(reserve - 1)
	time.Sleep(150 * time.Millisecond) // past the journal's free-space cache
	seq, _ := pl.journal.Last()
	if res := call("60"); res.OK || res.Reason != capability.ReasonJournalUnavailable {
		t.Fatalf("write below the reserve: got %+v, want %s", res, capability.ReasonJournalUnavailable)
	}
	if got := len(pl.sim.Writes()); got != writes {
		t.Errorf("simulator writes after a refused call: got %d, want %d", got, writes)
	}
	if got, _ := pl.journal.Last(); got != seq {
		t.Errorf("journal head after a refused call: got %d, want %d", got, seq)
	}

	free.Store(1 << 30)
	time.Sleep(150 * time.Millisecond)
	if res := call("60"); !res.OK {
		t.Fatalf("write with room again: got %+v, want ok", res)
	}
	if got := len(pl.sim.Writes()); got != writes+1 {
		t.Errorf("simulator writes after space came back: got %d, want %d", got, writes+1)
	}
}
