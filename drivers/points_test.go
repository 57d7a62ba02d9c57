package drivers

import (
	"fmt"
	"testing"
)

func rangeDevice() DeviceConfig {
	return DeviceConfig{Name: "plc", Points: []PointConfig{
		{Name: "level", Register: "holding", Address: 0, Type: "float32", Unit: "%"},
		{Name: "t_", Register: "input", Address: 10, Type: "float32", Count: 3, Unit: "degC"},
		{Name: "r", Register: "holding", Address: 100, Type: "uint16", Count: 12},
		{Name: "c", Register: "coil", Address: 7, Count: 2, Writable: true},
		{Name: "tag", Register: "holding", Address: 200, Type: "string", Length: 5, Count: 2},
		{Name: "pump", Register: "coil", Address: 0, Writable: true},
	}}
}

func TestRangeAll(t *testing.T) {
	d := rangeDevice()
	var got []string
	for i, p := range d.All() {
		got = append(got, fmt.Sprintf("%d:%s@%d", i, p.Name, p.Address))
		if p.Count != 0 && p.Count != 1 {
			t.Errorf("%s: count %d, want an element of count 0", p.Name, p.Count)
		}
	}
	want := []string{"0:level@0", "1:t_0@10", "2:t_1@12", "3:t_2@14",
		"4:r0@100", "5:r1@101", "6:r2@102", "7:r3@103", "8:r4@104", "9:r5@105", "10:r6@106", "11:r7@107", "12:r8@108", "13:r9@109", "14:r10@110", "15:r11@111",
		"16:c0@7", "17:c1@8", "18:tag0@200", "19:tag1@203", "20:pump@0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("All:\ngot  %v\nwant %v", got, want)
	}
	if n := d.NumPoints(); n != len(want) {
		t.Errorf("NumPoints: got %d, want %d", n, len(want))
	}
}

func TestRangeLocate(t *testing.T) {
	d := rangeDevice()
	for _, tc := range []struct {
		name string
		pos  int
		addr uint16
		unit string
		ok   bool
	}{
		{"level", 0, 0, "%", true},
		{"t_0", 1, 10, "degC", true},
		{"t_2", 3, 14, "degC", true},
		{"t_3", 0, 0, "", false},  // past the range
		{"t_", 0, 0, "", false},   // the range's own name is no point
		{"t_01", 0, 0, "", false}, // a leading zero names nothing
		{"r0", 4, 100, "", true},
		{"r10", 14, 110, "", true},
		{"r11", 15, 111, "", true},
		{"r12", 0, 0, "", false},
		{"r1x", 0, 0, "", false},
		{"r-1", 0, 0, "", false},
		{"r99999999999999999999", 0, 0, "", false}, // no overflow
		{"c1", 17, 8, "", true},
		{"tag1", 19, 203, "", true},
		{"pump", 20, 0, "", true},
		{"nothing", 0, 0, "", false},
	} {
		pos, p, ok := d.Locate(tc.name)
		if ok != tc.ok || (ok && (pos != tc.pos || p.Address != tc.addr || p.Unit != tc.unit || p.Name != tc.name)) {
			t.Errorf("Locate(%q): got %d %q@%d unit %q %v, want %d @%d unit %q %v", tc.name, pos, p.Name, p.Address, p.Unit, ok, tc.pos, tc.addr, tc.unit, tc.ok)
		}
		if q, ok := d.Point(tc.name); ok != tc.ok || q.Name != p.Name {
			t.Errorf("Point(%q): got %q %v, want %v", tc.name, q.Name, ok, tc.ok)
		}
	}
}

func TestCursor(t *testing.T) {
	d := rangeDevice()
	cu := d.Cursor()
	for i, p := range d.All() {
		if e, k, ok := cu.Match(i, p.Name+"0"); ok {
			t.Errorf("Match(%d, %q): got %q[%d], want no match", i, p.Name+"0", e.Name, k)
		}
		e, k, ok := cu.Match(i, p.Name)
		if !ok || e.ElementNamed(k, p.Name) != p {
			t.Fatalf("Match(%d, %q): got %v %d %v, want the entry of %q", i, p.Name, e, k, ok, p.Name)
		}
	}
	if _, _, ok := cu.Match(d.NumPoints(), "pump"); ok {
		t.Errorf("Match past the last point: got ok")
	}
	// Moving back starts over.
	if e, k, ok := cu.Match(2, "t_1"); !ok || e.Name != "t_" || k != 1 {
		t.Errorf("Match(2, t_1) after the end: got %v[%d] %v, want t_[1]", e, k, ok)
	}
}

func TestStride(t *testing.T) {
	for _, tc := range []struct {
		p    PointConfig
		want int
	}{
		{PointConfig{Register: "coil"}, 1},
		{PointConfig{Register: "discrete", Type: "bool"}, 1},
		{PointConfig{Register: "holding", Type: "uint16"}, 1},
		{PointConfig{Register: "holding", Type: "int32"}, 2},
		{PointConfig{Register: "input", Type: "float64"}, 4},
		{PointConfig{Register: "holding", Type: "string", Length: 7}, 4},
		{PointConfig{Register: "holding", Type: "string", Length: 8}, 4},
	} {
		if got := tc.p.Stride(); got != tc.want {
			t.Errorf("%+v: Stride got %d, want %d", tc.p, got, tc.want)
		}
	}
}

func TestIndex(t *testing.T) {
	d := rangeDevice()
	x := NewIndex(d)
	if x.Len() != d.NumPoints() {
		t.Errorf("Len: got %d, want %d", x.Len(), d.NumPoints())
	}
	for i, p := range d.All() {
		if got, ok := x.Lookup(p.Name); !ok || got != i {
			t.Errorf("Lookup(%q): got %d %v, want %d", p.Name, got, ok, i)
		}
		if got, ok := x.Point(p.Name); !ok || got != p {
			t.Errorf("Point(%q): got %+v %v, want %+v", p.Name, got, ok, p)
		}
	}
	for _, name := range []string{"r12", "t_", "r01", "", "nothing"} {
		if got, ok := x.Lookup(name); ok {
			t.Errorf("Lookup(%q): got %d, want no point", name, got)
		}
		if got, ok := x.Point(name); ok {
			t.Errorf("Point(%q): got %+v, want no point", name, got)
		}
	}
}

func TestNames(t *testing.T) {
	for _, p := range rangeDevice().Points {
		names := p.Names()
		if len(names) != p.Span() {
			t.Fatalf("%s: got %d names, want %d", p.Name, len(names), p.Span())
		}
		for k, n := range names {
			if want := p.Element(k).Name; n != want {
				t.Errorf("%s: name %d: got %q, want %q", p.Name, k, n, want)
			}
		}
	}
}
