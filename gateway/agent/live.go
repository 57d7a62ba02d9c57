package agent

import (
	"sync"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Live holds the latest reading of every polled point, keyed "device.point".
// Pollers write it; the gate's snapshots and the agents' context read it.
type Live struct {
	mu     sync.RWMutex
	values map[string]drivers.Reading
}

// NewLive returns an empty store.
func NewLive() *Live { return &Live{values: make(map[string]drivers.Reading)} }

// Update records readings of one device.
func (l *Live) Update(device string, rs []drivers.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		l.values[device+"."+r.Point] = r
	}
}

// MarkStale keeps the last known values of a device but flags them stale.
func (l *Live) MarkStale(device string, points []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range points {
		k := device + "." + p
		r, ok := l.values[k]
		if !ok {
			r = drivers.Reading{Point: p}
		}
		r.Quality = drivers.QualityStale
		l.values[k] = r
	}
}

// Get returns the latest reading of one point.
func (l *Live) Get(key string) (drivers.Reading, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r, ok := l.values[key]
	return r, ok
}

// Values returns the good values of the given keys, for a snapshot.
func (l *Live) Values(keys []string) map[string]drivers.Value {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]drivers.Value, len(keys))
	for _, k := range keys {
		if r, ok := l.values[k]; ok && r.Quality == drivers.QualityGood {
			out[k] = r.Value
		}
	}
	return out
}
