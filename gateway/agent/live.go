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
// The values of a device sit in a slice indexed by the point's position.
// For a device it was told of (NewLive's configs) the positions are those
// of the configuration, its points are found through a drivers.Index and
// their names are not stored: a value takes 48 bytes, and a device of
// 100,000 points costs the store 4.8 MB. A poll cycle that reports its
// points in order (as the pollers do) updates the store without allocating
// or hashing. Points of devices it was not told of get a position, and a
// stored name, when first seen.
type Live struct {
	mu      sync.RWMutex
	devices map[string]*liveDevice
}

// liveDevice is the values of one device.
type liveDevice struct {
	name  string
	cfg   drivers.DeviceConfig // its configuration, if known
	known *drivers.Index       // the configured points; nil: none
	extra map[string]int       // point -> position, for points known is not told of
	names []string             // the names of the extra points, from position known.Len()
	vals  []liveValue
}

// liveValue is one point's latest reading, without its name.
type liveValue struct {
	value   drivers.Value
	at      int64 // Unix nanoseconds
	quality drivers.Quality
	seen    bool // read at least once
}

// NewLive returns a store for the devices of configs (more may report
// later).
func NewLive(configs ...drivers.DeviceConfig) *Live {
	l := &Live{devices: make(map[string]*liveDevice, len(configs))}
	for _, c := range configs {
		x := drivers.NewIndex(c)
		l.devices[c.Name] = &liveDevice{name: c.Name, cfg: c, known: x, vals: make([]liveValue, x.Len())}
	}
	return l
}

// device returns the values of name, creating them. l.mu is held.
func (l *Live) device(name string) *liveDevice {
	d := l.devices[name]
	if d == nil {
		d = &liveDevice{name: name}
		l.devices[name] = d
	}
	return d
}

// nKnown returns how many positions the configuration takes.
func (d *liveDevice) nKnown() int {
	if d.known == nil {
		return 0
	}
	return d.known.Len()
}

// position returns where the value of point is kept, if it has a place.
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
// hint is the position where it is expected, found by cu without a lookup.
// l.mu is held.
func (d *liveDevice) slot(cu *drivers.Cursor, point string, hint int) int {
	if hint < d.nKnown() {
		if _, _, ok := cu.Match(hint, point); ok {
			return hint
		}
	}
	if i, ok := d.position(point); ok {
		return i
	}
	if d.extra == nil {
		d.extra = make(map[string]int)
	}
	i := len(d.vals)
	d.vals = append(d.vals, liveValue{})
	d.names = append(d.names, point)
	d.extra[point] = i
	return i
}

// Update records readings of one device.
func (l *Live) Update(device string, rs []drivers.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	cu := d.cfg.Cursor()
	for j := range rs {
		r := &rs[j]
		d.vals[d.slot(&cu, r.Point, j)] = liveValue{value: r.Value, at: r.Time.UnixNano(), quality: r.Quality, seen: true}
	}
}

// MarkStale keeps the last known values of a device's points but flags
// them stale, and returns them as readings taken at t (a point never read
// has no value).
func (l *Live) MarkStale(device string, points []string, t time.Time) []drivers.Reading {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.device(device)
	cu := d.cfg.Cursor()
	out := make([]drivers.Reading, len(points))
	for j, p := range points {
		v := &d.vals[d.slot(&cu, p, j)]
		if !v.seen {
			v.seen, v.at = true, t.UnixNano()
		}
		v.quality = drivers.QualityStale
		out[j] = drivers.Reading{Point: p, Value: v.value, Quality: drivers.QualityStale, Time: t}
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
	v := d.vals[i]
	_, point, _ := strings.Cut(key, ".")
	return drivers.Reading{Point: point, Value: v.value, Quality: v.quality, Time: time.Unix(0, v.at).UTC()}, true
}

// find returns where the value of key, "device.point", is kept. Device
// names have no '.'. A configured point that has not been read yet has no
// value. l.mu is held.
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
	if !ok || !d.vals[i].seen {
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
			if v := d.vals[i]; v.quality == drivers.QualityGood {
				out[k] = v.value
			}
		}
	}
	return out
}

// each calls fn with the name and value of every point of d that has a
// good value, in position order. l.mu is held.
func (d *liveDevice) each(fn func(name string, v drivers.Value)) {
	i := 0
	for _, e := range d.cfg.Points {
		var names []string // made only if one of the entry's points is good
		for k := range e.Span() {
			if v := d.vals[i+k]; v.seen && v.quality == drivers.QualityGood {
				if names == nil {
					names = e.Names()
				}
				fn(names[k], v.value)
			}
		}
		i += e.Span()
	}
	for j, name := range d.names {
		if v := d.vals[i+j]; v.seen && v.quality == drivers.QualityGood {
			fn(name, v.value)
		}
	}
}
