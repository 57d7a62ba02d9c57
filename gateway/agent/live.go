package agent

import (
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Live holds the latest reading of every polled point, keyed "device.point".
// Pollers write it; the gate's snapshots and the agents' context read it.
//
// The readings of a device sit in a slice indexed by the point's position.
// For a device it was told of (NewLive's configs) the positions are those
// of the configuration and its points are found through a drivers.Index,
// which keeps no key for the points of a range: 100,000 points cost the
// store their readings and nothing more. A poll cycle that reports its
// points in order (as the pollers do) updates the store without allocating
// or hashing. Points of devices it was not told of get a position when
// first seen.
type Live struct {
	mu      sync.RWMutex
	devices map[string]*liveDevice
}

// liveDevice is the readings of one device.
type liveDevice struct {
	name     string
	known    *drivers.Index // the configured points; nil: none
	extra    map[string]int // point -> position, for points known is not told of
	readings []drivers.Reading
}

// NewLive returns a store for the devices of configs (more may report
// later).
func NewLive(configs ...drivers.DeviceConfig) *Live {
	l := &Live{devices: make(map[string]*liveDevice, len(configs))}
	for _, c := range configs {
		x := drivers.NewIndex(c)
		l.devices[c.Name] = &liveDevice{name: c.Name, known: x, readings: make([]drivers.Reading, x.Len())}
	}
	return l
}

// device returns the readings of name, creating them. l.mu is held.
func (l *Live) device(name string) *liveDevice {
	d := l.devices[name]
	if d == nil {
		d = &liveDevice{name: name}
		l.devices[name] = d
	}
	return d
}

// position returns where the reading of point is kept, if it has a place.
func (d *liveDevice) position(point string) (int, bool) {
	if d.known != nil {
		if i, ok := d.known.Lookup(point); ok {
			return i, true
		}
	}
	i, ok := d.extra[point]
	return i, ok
}

// slot returns the position of point in d, giving it one on first sight;
// hint is the position where it is expected. l.mu is held.
func (d *liveDevice) slot(point string, hint int) int {
	if hint < len(d.readings) && d.readings[hint].Point == point {
		return hint
	}
	if i, ok := d.position(point); ok {
		return i
	}
	if d.extra == nil {
		d.extra = make(map[string]int)
	}
	i := len(d.readings)
	d.readings = append(d.readings, drivers.Reading{Point: point})
	d.extra[point] = i
	return i
}

// Update records readings of one device.
func (l *Live) Update(device string, rs []drivers.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	for j := range rs {
		d.readings[d.slot(rs[j].Point, j)] = rs[j]
	}
}

// MarkStale keeps the last known values of a device's points but flags
// them stale, and returns them as readings taken at t (a point never read
// has no value).
func (l *Live) MarkStale(device string, points []string, t time.Time) []drivers.Reading {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	out := make([]drivers.Reading, len(points))
	for j, p := range points {
		r := &d.readings[d.slot(p, j)]
		r.Point = p
		r.Quality = drivers.QualityStale
		out[j] = drivers.Reading{Point: p, Value: r.Value, Quality: drivers.QualityStale, Time: t}
	}
	return out
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
// names have no '.'. A configured point that has not been read yet has no
// reading. l.mu is held.
func (l *Live) find(key string) (*liveDevice, int, bool) {
	device, point, ok := strings.Cut(key, ".")
	if !ok {
		return nil, 0, false
	}
	d := l.devices[device]
	if d == nil {
		return nil, 0, false
	}
	i, ok := d.position(point)
	if !ok || d.readings[i].Point == "" {
		return nil, 0, false
	}
	return d, i, true
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
