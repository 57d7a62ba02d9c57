package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/gateway/sdnotify"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// health tracks whether the gateway's own loops still turn: every poller
// beats once per cycle, and the publisher must drain its outbox while it is
// connected. It judges the loops, not the plant: a device that does not
// answer or a broker that is away is reported on MQTT, not cured by a
// restart, so neither makes the gateway unhealthy. The service manager's
// watchdog is fed only while check returns nil.
type health struct {
	now func() time.Time

	mu     sync.Mutex
	beats  []*heartbeat
	checks []func(now time.Time) error
}

func newHealth() *health { return &health{now: time.Now} }

// heartbeat is one loop's sign of life.
type heartbeat struct {
	name   string
	maxGap time.Duration

	mu   sync.Mutex
	last time.Time
	now  func() time.Time
}

// heartbeat registers a loop that must beat at least every maxGap. The
// registration counts as its first beat.
func (h *health) heartbeat(name string, maxGap time.Duration) *heartbeat {
	b := &heartbeat{name: name, maxGap: maxGap, now: h.now, last: h.now()}
	h.mu.Lock()
	h.beats = append(h.beats, b)
	h.mu.Unlock()
	return b
}

// beat records that the loop has completed a cycle.
func (b *heartbeat) beat() {
	if b == nil {
		return
	}
	t := b.now()
	b.mu.Lock()
	b.last = t
	b.mu.Unlock()
}

// watchPublisher adds the publisher's check: while connected with messages
// waiting, it must get at least one acknowledged within maxStall.
func (h *health) watchPublisher(stats func() telemetry.Stats, maxStall time.Duration) {
	var lastPublished uint64
	progress := h.now()
	check := func(now time.Time) error {
		s := stats()
		if s.Published != lastPublished || !s.Connected || s.Queued == 0 {
			lastPublished = s.Published
			progress = now
			return nil
		}
		if gap := now.Sub(progress); gap > maxStall {
			return fmt.Errorf("publisher: %d messages waiting, none acknowledged for %s", s.Queued, gap.Round(time.Millisecond))
		}
		return nil
	}
	h.mu.Lock()
	h.checks = append(h.checks, check)
	h.mu.Unlock()
}

// check returns nil when every loop is healthy, or why not.
func (h *health) check() error {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, b := range h.beats {
		b.mu.Lock()
		gap := now.Sub(b.last)
		b.mu.Unlock()
		if gap > b.maxGap {
			errs = append(errs, fmt.Errorf("%s: no cycle for %s", b.name, gap.Round(time.Millisecond)))
		}
	}
	for _, c := range h.checks {
		if err := c(now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pollerMaxGap is how long a poller of the given interval and read timeout
// may take between cycles before it counts as stuck: a cycle is at most
// one interval plus one read (which gives up after twice the timeout).
func pollerMaxGap(interval, timeout time.Duration) time.Duration {
	if interval <= 0 {
		interval = time.Second
	}
	if timeout <= 0 {
		timeout = time.Second
	}
	return 3*(interval+2*timeout) + 5*time.Second
}

// publisherMaxStall is how long a connected publisher may hold messages
// without any being acknowledged: longer than its write timeout and
// keep-alive together, after which a healthy one would have reconnected.
const publisherMaxStall = 2 * time.Minute

// supervise tells the service manager (when there is one) that the gateway
// is ready, feeds its watchdog while h reports healthy, and says that the
// gateway is stopping once ctx is done.
func supervise(ctx context.Context, n *sdnotify.Notifier, h *health, status string, logger *slog.Logger) error {
	if !n.Enabled() {
		return nil
	}
	if err := n.Notify(sdnotify.Ready, sdnotify.Status(status)); err != nil {
		logger.Warn("service manager notification failed", "err", err)
	}
	if err := n.RunWatchdog(ctx, h.check, logger); errors.Is(err, sdnotify.ErrNoWatchdog) {
		<-ctx.Done()
	}
	_ = n.Notify(sdnotify.Stopping)
	return nil
}
