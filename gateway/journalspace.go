package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// JournalReserve is the free space the journal's filesystem must keep for
// the gateway to accept actuations. Below it, calls are refused as
// journal_unavailable before anything is journaled, so that no append, and
// no actuation without a durable intent, ever meets a full disk (the store
// cannot survive a failed write-ahead log write). It covers a memtable flush
// and a new write-ahead log file with room to spare. Polling and telemetry go
// on.
const JournalReserve = 16 << 20

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

// journalSpace tells whether the filesystem holding the journal has room
// for it.
type journalSpace struct {
	dir     string
	reserve uint64
	free    func(dir string) (uint64, error) // seam for tests
	logger  *slog.Logger

	mu   sync.Mutex
	full bool
}

func newJournalSpace(dir string, reserve uint64, logger *slog.Logger) *journalSpace {
	return &journalSpace{dir: dir, reserve: reserve, free: freeBytes, logger: logger}
}

// freeBytes is the space an unprivileged process may still write in dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// check returns nil while the journal has its reserve, and why not
// otherwise. It is cheap enough (one statfs) to be asked before every call.
func (s *journalSpace) check() error {
	free, err := s.free(s.dir)
	if err != nil {
		return fmt.Errorf("journal: free space of %s: %w", s.dir, err)
	}
	if free < s.reserve {
		return fmt.Errorf("journal: %s free on %s, below the %s reserve", mib(free), s.dir, mib(s.reserve))
	}
	return nil
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Run watches the free space until ctx is done and publishes the journal's
// state, retained, whenever it changes (and once at the start).
func (s *journalSpace) Run(ctx context.Context, publishRetained func(subtopic string, payload []byte)) error {
	t := time.NewTicker(journalSpaceInterval)
	defer t.Stop()
	first := true
	for {
		free, err := s.free(s.dir)
		if err == nil {
			full := free < s.reserve
			s.mu.Lock()
			wasFirst := first
			changed := first || full != s.full
			s.full, first = full, false
			s.mu.Unlock()
			if changed {
				st := journalStatus{State: "ok", FreeBytes: free, ReserveBytes: s.reserve, Time: time.Now().UTC()}
				if full {
					st.State = "disk_full"
					s.logger.Error("journal disk full: refusing actuations until space is freed; polling and telemetry go on", "free", mib(free), "reserve", mib(s.reserve))
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
