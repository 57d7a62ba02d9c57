package journal

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrNoSpace is wrapped by the errors of Append, AppendSync and
// (*Outbox).Put when the filesystem holding the journal has less free space
// than the journal's reserve (Options.Reserve). Nothing was written: the
// journal refuses before the store is asked to write, because the store
// cannot survive a write-ahead log write that fails for want of space (see
// pebbleLogger.Fatalf). Appends resume once space is freed.
var ErrNoSpace = errors.New("journal: no space")

// DefaultReserve is the free space the journal keeps when Options.Reserve is
// zero. It covers a memtable flush and a new write-ahead log file with room
// to spare.
const DefaultReserve = 16 << 20

const (
	// spaceRefreshInterval is the longest the journal trusts a free-space
	// figure before asking the filesystem again.
	spaceRefreshInterval = 100 * time.Millisecond
	// spaceRefreshBytes is how much the journal writes on one free-space
	// figure before asking the filesystem again, whatever the time.
	spaceRefreshBytes = 1 << 20
	// recordOverhead is what a record costs beyond its body, rounded up: the
	// fixed fields, the hashes, the MAC and the store's own framing.
	recordOverhead = 256
)

// Space is the journal's view of the free space on its filesystem.
type Space struct {
	// Free is the free space, in bytes, an unprivileged process may still
	// write, as last measured less what the journal wrote since.
	Free uint64 `json:"free_bytes"`
	// Reserve is the free space below which the journal refuses writes.
	Reserve uint64 `json:"reserve_bytes"`
	// Full is true while Free is below Reserve or the free space could not
	// be measured: appends and outbox puts are refused.
	Full bool `json:"full"`
	// Known is false when the filesystem cannot tell its free space (an
	// in-memory one, say) or the guard is off: the journal then refuses
	// nothing for want of space.
	Known bool `json:"known"`
	// Err is why the free space could not be measured, nil if it could.
	Err error `json:"-"`
}

// Error describes a Space that is full, and returns "" for one that is not.
func (s Space) Error() string {
	switch {
	case !s.Full:
		return ""
	case s.Err != nil:
		return fmt.Sprintf("free space unknown: %v", s.Err)
	default:
		return fmt.Sprintf("%s free, below the %s reserve", mib(s.Free), mib(s.Reserve))
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// spaceGuard refuses writes once the free space of the journal's filesystem
// falls below the reserve. It asks the filesystem at most every
// spaceRefreshInterval, or sooner after spaceRefreshBytes written, and in
// between deducts what the journal writes from the last figure, so that a
// burst of appends cannot outrun it.
type spaceGuard struct {
	dir     string
	reserve uint64
	free    func() (uint64, error) // nil: the guard is off
	mono    func() time.Time       // clock of the refreshes

	mu       sync.Mutex
	measured bool
	at       time.Time // when free was last asked
	last     uint64    // free bytes then
	written  uint64    // bytes written since
	err      error     // the last measurement's error
}

// newSpaceGuard builds the guard of a journal in dir on fs from opts. A
// negative reserve turns it off, as does a filesystem that cannot tell its
// free space, unless opts.FreeSpace is set.
func newSpaceGuard(dir string, fs vfs.FS, opts Options) *spaceGuard {
	g := &spaceGuard{dir: dir, mono: time.Now}
	switch {
	case opts.Reserve < 0:
		return g
	case opts.Reserve == 0:
		g.reserve = DefaultReserve
	default:
		g.reserve = uint64(opts.Reserve)
	}
	g.free = opts.FreeSpace
	if g.free == nil {
		g.free = func() (uint64, error) {
			u, err := fs.GetDiskUsage(dir)
			return u.AvailBytes, err
		}
	}
	return g
}

// reserveFor returns nil if n more bytes may be written, and an error
// wrapping ErrNoSpace, or saying why the free space is unknown, otherwise.
// A write it allows is counted against the free space.
func (g *spaceGuard) reserveFor(n int) error {
	if g.free == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stateLocked(false)
	if !s.Known && s.Err == nil {
		return nil
	}
	if s.Err != nil {
		return fmt.Errorf("%w: free space of %s unknown: %w", ErrNoSpace, g.dir, s.Err)
	}
	if s.Free < g.reserve+uint64(n) {
		return fmt.Errorf("%w: %s free on %s, below the %s reserve", ErrNoSpace, mib(s.Free), g.dir, mib(g.reserve))
	}
	g.written += uint64(n)
	return nil
}

// state returns the free space, measured now if fresh is set or the last
// figure is stale.
func (g *spaceGuard) state(fresh bool) Space {
	if g.free == nil {
		return Space{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stateLocked(fresh)
}

func (g *spaceGuard) stateLocked(fresh bool) Space {
	now := g.mono()
	if fresh || !g.measured || now.Sub(g.at) >= spaceRefreshInterval || g.written >= spaceRefreshBytes {
		free, err := g.free()
		g.measured, g.at, g.last, g.written, g.err = true, now, free, 0, err
	}
	if errors.Is(g.err, vfs.ErrUnsupported) {
		return Space{Reserve: g.reserve}
	}
	s := Space{Reserve: g.reserve, Known: true, Err: g.err}
	if g.err != nil {
		s.Full = true
		return s
	}
	if g.written < g.last {
		s.Free = g.last - g.written
	}
	s.Full = s.Free < g.reserve
	return s
}

// Space measures the free space of the journal's filesystem, as the journal
// sees it when deciding whether to write. Call it to report the journal's
// state; it asks the filesystem every time.
func (j *Journal) Space() Space {
	return j.space.state(true)
}
