package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/journal"
)

// JournalReserve is the free space the journal's filesystem must keep. The
// journal itself (journal.Options.Reserve) refuses every append and outbox
// put below it with journal.ErrNoSpace before anything is written, so that
// no write, and no actuation without a durable intent, ever meets a full
// disk (the store cannot survive a failed write-ahead log write): calls are
// refused as journal_unavailable, telemetry messages are dropped and
// counted, and polling goes on. It covers a memtable flush and a new
// write-ahead log file with room to spare.
const JournalReserve = journal.DefaultReserve

// JournalStatusSubtopic carries the journal's retained state:
//
//	<prefix>/status/journal  retained  {"state":"ok","free_bytes":104857600,"reserve_bytes":16777216,"ts":"..."}
//	                                   {"state":"disk_full","free_bytes":3276800,"reserve_bytes":16777216,"ts":"..."}
const JournalStatusSubtopic = "status/journal"

// journalSpaceInterval is how often the watcher looks at the free space.
const journalSpaceInterval = 500 * time.Millisecond

// journalStatus is the payload of JournalStatusSubtopic.
type journalStatus struct {
	State        string    `json:"state"` // "ok" or "disk_full"
	FreeBytes    uint64    `json:"free_bytes"`
	ReserveBytes uint64    `json:"reserve_bytes"`
	Time         time.Time `json:"ts"`
}

// journalSpace reports whether the journal has room: it asks the journal,
// which keeps the reserve, and says so loudly when that changes.
type journalSpace struct {
	space  func() journal.Space // (*journal.Journal).Space; a seam for tests
	logger *slog.Logger

	mu   sync.Mutex
	full bool
}

func newJournalSpace(j *journal.Journal, logger *slog.Logger) *journalSpace {
	return &journalSpace{space: j.Space, logger: logger}
}

// check returns nil while the journal has its reserve, and why not
// otherwise. It costs one statfs.
func (s *journalSpace) check() error {
	if st := s.space(); st.Full {
		return fmt.Errorf("journal: %s", st.Error())
	}
	return nil
}

// Run watches the free space until ctx is done and publishes the journal's
// state, retained, whenever it changes (and once at the start).
func (s *journalSpace) Run(ctx context.Context, publishRetained func(subtopic string, payload []byte)) error {
	t := time.NewTicker(journalSpaceInterval)
	defer t.Stop()
	first := true
	for {
		sp := s.space()
		if sp.Known {
			full, free := sp.Full, sp.Free
			s.mu.Lock()
			wasFirst := first
			changed := first || full != s.full
			s.full, first = full, false
			s.mu.Unlock()
			if changed {
				st := journalStatus{State: "ok", FreeBytes: free, ReserveBytes: sp.Reserve, Time: time.Now().UTC()}
				if full {
					st.State = "disk_full"
					s.logger.Error("journal disk full: refusing actuations and dropping telemetry until space is freed; polling goes on", "state", sp.Error(), "free", mib(free), "reserve", mib(sp.Reserve))
				} else if !wasFirst {
					s.logger.Info("journal has room again: accepting actuations", "free", mib(free))
				}
				if b, err := json.Marshal(st); err == nil {
					publishRetained(JournalStatusSubtopic, b)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readiness says why the gateway cannot take actuations now: a journal
// without its reserve, a loop that stopped turning. Empty: ready.
func readiness(space *journalSpace, hl *health) []string {
	var reasons []string
	if err := space.check(); err != nil {
		reasons = append(reasons, err.Error())
	}
	if err := hl.check(); err != nil {
		reasons = append(reasons, err.Error())
	}
	return reasons
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
