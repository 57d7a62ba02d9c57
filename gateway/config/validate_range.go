package config

import (
	"strconv"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// modbusRange checks a point entry that declares a range (count above 1):
// its size, a name its points can be told apart by, and room for all of
// them in the table's address space.
func (v *checker) modbusRange(pp path, pt *drivers.PointConfig, d *drivers.DeviceConfig) {
	switch {
	case pt.Count < 0 || pt.Count > drivers.MaxRange:
		v.at(pp.add("count"), "%d is not a number of points, 1-%d", pt.Count, drivers.MaxRange)
		return
	case pt.Count <= 1:
		return
	}
	if n := pt.Name; n != "" && n[len(n)-1] >= '0' && n[len(n)-1] <= '9' {
		v.at(pp.add("name"), "%q ends in a digit; the points of a range are named by appending their index (%s0, %s1, ...), so end it in a letter, '-' or '_'", n, n, n)
	} else if last := n + strconv.Itoa(pt.Count-1); validName(n) && !validName(last) {
		v.at(pp.add("name"), "%q makes names longer than 64 characters for the points of this range (%s)", n, last)
	}
	if pt.Bit != nil {
		v.at(pp.add("count"), "a range of bits in one register is not supported; declare each bit as its own point")
	}
	wire := int(pt.Address) - int(d.AddressBase)
	if end := wire + pt.Count*pt.Stride(); wire >= 0 && end > 1<<16 {
		v.at(pp.add("count"), "%d points of %d addresses each from address %d run past the last address of the table", pt.Count, pt.Stride(), pt.Address)
	}
}

// rangeNames reports a point whose name is also the name of a point of one
// of the device's ranges. Two ranges cannot collide: their names are
// distinct and end in no digit.
func (v *checker) rangeNames(dp path, d *drivers.DeviceConfig) {
	var ranges []int
	for j, pt := range d.Points {
		if pt.Count > 1 {
			ranges = append(ranges, j)
		}
	}
	if len(ranges) == 0 {
		return
	}
	for j, pt := range d.Points {
		if pt.Count > 1 {
			continue
		}
		for _, r := range ranges {
			if _, _, ok := (drivers.DeviceConfig{Points: d.Points[r : r+1]}).Locate(pt.Name); ok {
				v.at(dp.add("points", j).add("name"), "%q is also the name of a point of the range points[%d] (%s, count %d)", pt.Name, r, d.Points[r].Name, d.Points[r].Count)
			}
		}
	}
}

// noRange refuses a range on a device whose driver has no address space to
// lay it out in.
func (v *checker) noRange(pp path, pt *drivers.PointConfig, driver string) {
	if pt.Count > 1 {
		v.at(pp.add("count"), "ranges of points are for Modbus devices; declare each %s point on its own", driver)
	}
}
