package agent

import (
	"strings"
	"sync"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Live holds the latest reading of every polled point, keyed "device.point".
// Pollers write it; the gate's snapshots and the agents' context read it.
//
// The readings of a device sit in a slice indexed by the point's position,
// and each "device.point" key is built once, when the point is first seen:
// a poll cycle that reports its points in the same order as the last one
// (as the pollers do) updates the store without allocating or hashing.
type Live struct {
	mu      sync.RWMutex
	devices map[string]*liveDevice
}

// liveDevice is the readings of one device, in the order its points were
// first seen.
type liveDevice struct {
	name     string
	points   []string
	index    map[string]int // point -> position
	readings []drivers.Reading
}

// NewLive returns an empty store.
func NewLive() *Live {
	return &Live{devices: make(map[string]*liveDevice)}
}

// device returns the readings of name, creating them. l.mu is held.
func (l *Live) device(name string) *liveDevice {
	d := l.devices[name]
	if d == nil {
		d = &liveDevice{name: name, index: make(map[string]int)}
		l.devices[name] = d
	}
	return d
}

// slot returns the position of point in d, adding it on first sight; hint
// is the position where it is expected. l.mu is held.
func (l *Live) slot(d *liveDevice, point string, hint int) int {
	if hint < len(d.points) && d.points[hint] == point {
		return hint
	}
	if i, ok := d.index[point]; ok {
		return i
	}
	i := len(d.points)
	d.points = append(d.points, point)
	d.readings = append(d.readings, drivers.Reading{Point: point})
	d.index[point] = i
	return i
}

// Update records readings of one device.
func (l *Live) Update(device string, rs []drivers.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	for j := range rs {
		d.readings[l.slot(d, rs[j].Point, j)] = rs[j]
	}
}

// MarkStale keeps the last known values of a device but flags them stale.
func (l *Live) MarkStale(device string, points []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	for j, p := range points {
		d.readings[l.slot(d, p, j)].Quality = drivers.QualityStale
	}
}

// Get returns the latest reading of one point.
func (l *Live) Get(key string) (drivers.Reading, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	d, i, ok := l.find(key)
	if !ok {
		return drivers.Reading{}, false
	}
	return d.readings[i], true
}

// find returns where the reading of key, "device.point", is kept. Device
// names have no '.'. l.mu is held.
func (l *Live) find(key string) (*liveDevice, int, bool) {
	device, point, ok := strings.Cut(key, ".")
	if !ok {
		return nil, 0, false
	}
	d := l.devices[device]
	if d == nil {
		return nil, 0, false
	}
	i, ok := d.index[point]
	return d, i, ok
}

// Values returns the good values of the given keys, for a snapshot.
func (l *Live) Values(keys []string) map[string]drivers.Value {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]drivers.Value, len(keys))
	for _, k := range keys {
		if d, i, ok := l.find(k); ok {
			if r := d.readings[i]; r.Quality == drivers.QualityGood {
				out[k] = r.Value
			}
		}
	}
	return out
}
