package drivers

import (
	"iter"
	"strconv"
)

// A range is one point entry that declares Count consecutive points of the
// same kind, so that a device of 10,000 registers is commissioned with one
// line instead of 10,000. Its points are named by appending their index,
// counted from 0, to the entry's name ("r" with count 3 gives r0, r1 and
// r2), and each starts where the one before ends (Stride addresses later).
// The rest of the entry (register, type, order, scale, unit, writable)
// applies to every one of them.

// MaxRange is the most points one entry may declare: every address of a
// Modbus table.
const MaxRange = 1 << 16

// Span returns how many points p declares: its Count, or 1.
func (p PointConfig) Span() int {
	if p.Count > 1 {
		return p.Count
	}
	return 1
}

// Stride returns how many addresses one point of p's kind takes: one coil
// or discrete input, or the registers of its type (four for a 64-bit
// value, two for a 32-bit one, half the length of a string, rounded up).
func (p PointConfig) Stride() int {
	if p.Register == "coil" || p.Register == "discrete" {
		return 1
	}
	switch p.Type {
	case "uint32", "int32", "float32":
		return 2
	case "uint64", "int64", "float64":
		return 4
	case "string":
		return max(1, (int(p.Length)+1)/2)
	}
	return 1
}

// Element returns the k-th point (from 0) of the range p: named and
// addressed, with Count 1. For an entry that is not a range, Element(0)
// is p itself.
func (p PointConfig) Element(k int) PointConfig {
	if p.Count <= 1 {
		return p
	}
	return p.ElementNamed(k, p.Name+strconv.Itoa(k))
}

// ElementNamed is Element for a caller that has the point's name already
// (from Names, or a reading): it makes no string.
func (p PointConfig) ElementNamed(k int, name string) PointConfig {
	if p.Count <= 1 {
		return p
	}
	e := p
	e.Count = 0
	e.Name = name
	e.Address = p.Address + uint16(k*p.Stride())
	return e
}

// Names returns the names of every point p declares (p's own name when it
// is not a range), all of them sharing one allocation: 100,000 names cost
// their bytes and no more.
func (p PointConfig) Names() []string {
	if p.Count <= 1 {
		return []string{p.Name}
	}
	var b []byte
	ends := make([]int, p.Count)
	for k := range p.Count {
		b = append(b, p.Name...)
		b = strconv.AppendInt(b, int64(k), 10)
		ends[k] = len(b)
	}
	all := string(b)
	names := make([]string, p.Count)
	start := 0
	for k, end := range ends {
		names[k] = all[start:end]
		start = end
	}
	return names
}

// IndexOf reports whether name is the name of a point of the range p, and
// which one: "r17" is point 17 of the range r.
func (p PointConfig) IndexOf(name string) (int, bool) {
	if p.Count <= 1 || len(name) <= len(p.Name) || name[:len(p.Name)] != p.Name {
		return 0, false
	}
	digits := name[len(p.Name):]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false // r01 is no point of r
	}
	k := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + int(c-'0')
		if k >= p.Count {
			return 0, false
		}
	}
	return k, true
}

// NumPoints returns how many points the device has, every point of a range
// counted.
func (c DeviceConfig) NumPoints() int {
	n := 0
	for _, p := range c.Points {
		n += p.Span()
	}
	return n
}

// All yields every point of the device in order with its position, the
// points of a range one by one (see Element). The names of a range's points
// are made as they are yielded: callers that need them on every poll keep
// them.
func (c DeviceConfig) All() iter.Seq2[int, PointConfig] {
	return func(yield func(int, PointConfig) bool) {
		i := 0
		for _, p := range c.Points {
			for k := range p.Span() {
				if !yield(i, p.Element(k)) {
					return
				}
				i++
			}
		}
	}
}

// Point returns the named point's configuration, a point of a range
// included. It looks through the device's entries one by one.
func (c DeviceConfig) Point(name string) (PointConfig, bool) {
	_, p, ok := c.Locate(name)
	return p, ok
}

// Locate returns the named point's position among all the device's points
// (as All counts them) and its configuration.
func (c DeviceConfig) Locate(name string) (int, PointConfig, bool) {
	i := 0
	for _, p := range c.Points {
		if p.Count <= 1 {
			if p.Name == name {
				return i, p, true
			}
		} else if k, ok := p.IndexOf(name); ok {
			return i + k, p.Element(k), true
		}
		i += p.Span()
	}
	return 0, PointConfig{}, false
}

// Cursor walks a device's points in order without making their names, for
// code that meets them in order on every poll (the telemetry encoder, the
// live store). The zero Cursor is not usable; make one with Cursor.
type Cursor struct {
	points []PointConfig
	entry  int // the entry of the point last sought
	first  int // position of that entry's first point
}

// Cursor returns a cursor at the device's first point.
func (c DeviceConfig) Cursor() Cursor { return Cursor{points: c.Points} }

// Match reports whether the point at position i is called name, and if so
// returns the entry that declares it and the point's index in that entry.
// Moving forward, as readings come, costs nothing per point; moving back
// starts over from the first entry.
func (cu *Cursor) Match(i int, name string) (*PointConfig, int, bool) {
	if i < cu.first {
		cu.entry, cu.first = 0, 0
	}
	for cu.entry < len(cu.points) {
		p := &cu.points[cu.entry]
		if n := p.Span(); i >= cu.first+n {
			cu.first += n
			cu.entry++
			continue
		}
		k := i - cu.first
		if p.Count <= 1 {
			return p, k, p.Name == name
		}
		j, ok := p.IndexOf(name)
		return p, k, ok && j == k
	}
	return nil, 0, false
}

// Index finds a device's points by name and gives their positions (as All
// counts them) and configurations: single points through a map, the points
// of a range by the index in their name, so that a range of 10,000 points
// costs the index nothing. It is safe for concurrent reads.
type Index struct {
	entries []PointConfig
	first   []int          // position of each entry's first point
	single  map[string]int // name -> entry, for the entries that are not ranges
	ranges  []int          // the entries that are ranges
	n       int
}

// NewIndex indexes the points of c.
func NewIndex(c DeviceConfig) *Index {
	x := &Index{entries: c.Points, first: make([]int, len(c.Points)), single: make(map[string]int)}
	for e, p := range c.Points {
		x.first[e] = x.n
		if p.Count > 1 {
			x.ranges = append(x.ranges, e)
		} else if _, dup := x.single[p.Name]; !dup {
			x.single[p.Name] = e
		}
		x.n += p.Span()
	}
	return x
}

// find returns the entry that declares the named point and the point's
// index in it.
func (x *Index) find(name string) (entry, k int, ok bool) {
	if e, ok := x.single[name]; ok {
		return e, 0, true
	}
	for _, e := range x.ranges {
		if k, ok := x.entries[e].IndexOf(name); ok {
			return e, k, true
		}
	}
	return 0, 0, false
}

// Lookup returns the position of the named point.
func (x *Index) Lookup(name string) (int, bool) {
	e, k, ok := x.find(name)
	if !ok {
		return 0, false
	}
	return x.first[e] + k, true
}

// Point returns the named point's configuration.
func (x *Index) Point(name string) (PointConfig, bool) {
	e, k, ok := x.find(name)
	if !ok {
		return PointConfig{}, false
	}
	return x.entries[e].ElementNamed(k, name), true
}

// Len returns how many points the device has.
func (x *Index) Len() int { return x.n }
