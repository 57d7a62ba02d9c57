package gateway

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHealthHeartbeats(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	h := &health{now: clk.now}
	plc := h.heartbeat("poller plc", 10*time.Second)
	rio := h.heartbeat("poller rio", 30*time.Second)

	steps := []struct {
		advance time.Duration
		beat    []*heartbeat
		want    string // substring of the error; empty: healthy
	}{
		{0, nil, ""},
		{9 * time.Second, []*heartbeat{plc}, ""},
		{9 * time.Second, nil, ""},
		{2 * time.Second, nil, "poller plc: no cycle for 11s"},
		{0, []*heartbeat{plc}, ""},
		{11 * time.Second, []*heartbeat{plc}, "poller rio: no cycle for 31s"},
		{0, []*heartbeat{rio}, ""},
	}
	for i, s := range steps {
		clk.add(s.advance)
		for _, b := range s.beat {
			b.beat()
		}
		err := h.check()
		switch {
		case s.want == "" && err != nil:
			t.Errorf("step %d: got %v, want healthy", i, err)
		case s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Errorf("step %d: got %v, want an error with %q", i, err, s.want)
		}
	}
	var nilBeat *heartbeat
	nilBeat.beat() // a poller built without health does not crash
}

func TestHealthPublisher(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	h := &health{now: clk.now}
	var st telemetry.Stats
	h.watchPublisher(func() telemetry.Stats { return st }, time.Minute)

	steps := []struct {
		name    string
		advance time.Duration
		stats   telemetry.Stats
		healthy bool
	}{
		{"connected, idle", 0, telemetry.Stats{Connected: true}, true},
		{"idle for long", 5 * time.Minute, telemetry.Stats{Connected: true}, true},
		{"waiting briefly", 30 * time.Second, telemetry.Stats{Connected: true, Queued: 3}, true},
		{"stuck", 31 * time.Second, telemetry.Stats{Connected: true, Queued: 5}, false},
		{"progress again", 0, telemetry.Stats{Connected: true, Queued: 5, Published: 1}, true},
		{"broker away for long", 10 * time.Minute, telemetry.Stats{Queued: 900, Published: 1}, true},
		{"reconnected, draining", 30 * time.Second, telemetry.Stats{Connected: true, Queued: 800, Published: 101}, true},
		{"reconnected, stuck", 61 * time.Second, telemetry.Stats{Connected: true, Queued: 800, Published: 101}, false},
	}
	for _, s := range steps {
		clk.add(s.advance)
		st = s.stats
		err := h.check()
		if got := err == nil; got != s.healthy {
			t.Errorf("%s: got healthy %v (%v), want %v", s.name, got, err, s.healthy)
		}
	}
}

func TestPollerMaxGap(t *testing.T) {
	tests := []struct {
		interval, timeout, want time.Duration
	}{
		{500 * time.Millisecond, 800 * time.Millisecond, 3*(500*time.Millisecond+1600*time.Millisecond) + 5*time.Second},
		{0, 0, 3*(3*time.Second) + 5*time.Second},
	}
	for _, tt := range tests {
		if got := pollerMaxGap(tt.interval, tt.timeout); got != tt.want {
			t.Errorf("pollerMaxGap(%v, %v): got %v, want %v", tt.interval, tt.timeout, got, tt.want)
		}
	}
}
