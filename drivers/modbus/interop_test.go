package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// The interop tests run against a server nobody in this project wrote:
// Debian's pymodbus, started by scripts/interop/modbus.sh with the register
// image of scripts/interop/modbus_server.py. They are skipped unless
// FEMTOCLAW_INTEROP=1; FEMTOCLAW_MODBUS_TCP names the TCP server's
// host:port and FEMTOCLAW_MODBUS_RTU the serial device of the RTU one.

// interopValues are the server's values, in its layout order: every type
// in the orders ABCD, CDAB, BADC, DCBA.
var interopValues = []struct {
	typ Type
	v   float64
}{
	{Uint16, 4660}, {Int16, -1234}, {Uint32, 305419896}, {Int32, -123456789},
	{Float32, float64(float32(3.14))}, {Uint64, 0x0102030405060700}, {Int64, -2}, {Float64, math.Pi},
}

// interopConfig describes the server's image as points of unit unit.
func interopConfig(url string, unit uint8) (drivers.DeviceConfig, map[string]drivers.Value, uint16) {
	cfg := drivers.DeviceConfig{Name: fmt.Sprintf("peer%d", unit), Driver: "modbus", URL: url, Unit: unit,
		Timeout: drivers.Duration(time.Second)}
	want := map[string]drivers.Value{}
	addr := uint16(0)
	for _, tv := range interopValues {
		for _, o := range allOrders {
			name := fmt.Sprintf("%s_%s", tv.typ, o)
			cfg.Points = append(cfg.Points, drivers.PointConfig{Name: name, Register: "holding", Address: addr, Type: tv.typ.String(), Order: o.String(), Writable: true},
				drivers.PointConfig{Name: "in_" + name, Register: "input", Address: addr, Type: tv.typ.String(), Order: o.String()})
			want[name], want["in_"+name] = drivers.Number(tv.v), drivers.Number(tv.v)
			addr += uint16(tv.typ.Words())
		}
	}
	cfg.Points = append(cfg.Points,
		drivers.PointConfig{Name: "text", Register: "holding", Address: addr, Type: "string", Length: 10},
		drivers.PointConfig{Name: "bit0", Register: "holding", Address: addr + 5, Type: "bool", Bit: u8(0)},
		drivers.PointConfig{Name: "bit14", Register: "holding", Address: addr + 5, Type: "bool", Bit: u8(14)},
		drivers.PointConfig{Name: "bit15", Register: "input", Address: addr + 5, Type: "bool", Bit: u8(15)},
	)
	want["text"], want["bit0"], want["bit14"], want["bit15"] = drivers.String("pymodbus!"), drivers.Bool(true), drivers.Bool(false), drivers.Bool(true)
	for i, b := range []bool{true, false, true, true, false, false, false, true} {
		cfg.Points = append(cfg.Points,
			drivers.PointConfig{Name: fmt.Sprint("coil", i), Register: "coil", Address: uint16(i), Writable: true},
			drivers.PointConfig{Name: fmt.Sprint("di", i), Register: "discrete", Address: uint16(i)})
		want[fmt.Sprint("coil", i)], want[fmt.Sprint("di", i)] = drivers.Bool(b), drivers.Bool(b)
	}
	return cfg, want, addr + 6 // the first free register
}

func interopURL(t *testing.T, env string) string {
	t.Helper()
	if os.Getenv("FEMTOCLAW_INTEROP") != "1" {
		t.Skip("set FEMTOCLAW_INTEROP=1 (scripts/interop/modbus.sh does)")
	}
	v := os.Getenv(env)
	if v == "" {
		t.Skipf("%s is not set", env)
	}
	return v
}

// checkPeer reads the whole image, then writes every type in every order
// into the free registers and compares the words the peer stored with the
// words of the peer's own image.
func checkPeer(t *testing.T, url string, unit uint8) {
	cfg, want, free := interopConfig(url, unit)
	for _, tv := range interopValues {
		cfg.Points = append(cfg.Points, drivers.PointConfig{Name: "w_" + tv.typ.String(), Register: "holding", Address: free, Type: tv.typ.String(), Writable: true})
	}
	for i := range 4 {
		cfg.Points = append(cfg.Points, drivers.PointConfig{Name: fmt.Sprint("raw", i), Register: "holding", Address: free + uint16(i)})
	}
	d := openDevice(t, cfg)
	ctx := context.Background()
	rs, err := d.Read(ctx, nil)
	if err != nil {
		t.Fatalf("read the image: %v", err)
	}
	m := map[string]drivers.Reading{}
	for _, r := range rs {
		m[r.Point] = r
	}
	for name, w := range want {
		if r := m[name]; r.Quality != drivers.QualityGood || r.Value != w {
			t.Errorf("%s: got %v (%s), want %v", name, r.Value, r.Quality, w)
		}
	}
	t.Logf("read %d points of unit %d in one call", len(rs), unit)

	img := map[string][]uint16{} // the peer's words of each point
	for _, tv := range interopValues {
		for _, o := range allOrders {
			i, _ := d.find(fmt.Sprintf("%s_%s", tv.typ, o))
			p := d.points[i]
			regs, err := d.readRaw(ctx, p.address, p.span())
			if err != nil {
				t.Fatal(err)
			}
			img[fmt.Sprintf("%s_%s", tv.typ, o)] = regs
		}
	}
	for _, tv := range interopValues {
		for _, o := range allOrders {
			name := fmt.Sprintf("%s_%s", tv.typ, o)
			// Write through a point of this order at the free registers.
			pi, _ := d.find("w_" + tv.typ.String())
			d.points[pi].codec.Order = o
			enc, err := d.Resolve("w_"+tv.typ.String(), drivers.Number(tv.v))
			if err != nil {
				t.Fatalf("resolve %s: %v", name, err)
			}
			if err := d.Write(ctx, "w_"+tv.typ.String(), enc); err != nil {
				t.Fatalf("write %s: %v", name, err)
			}
			got, err := d.readRaw(ctx, free, tv.typ.Words())
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(img[name]) {
				t.Errorf("write %s %v: peer stored %04x, want %04x as in its own image", name, tv.v, got, img[name])
			}
		}
	}
	enc, _ := d.Resolve("coil1", drivers.Bool(true))
	if err := d.Write(ctx, "coil1", enc); err != nil {
		t.Fatalf("write coil1: %v", err)
	}
	if r := readMap(t, d, "coil1")["coil1"]; r.Value != drivers.Bool(true) {
		t.Errorf("coil1 after writing true: got %v", r.Value)
	}
	d.Write(ctx, "coil1", drivers.Encoded{Value: drivers.Bool(false), Wire: []byte{0}})
}

// readRaw reads registers as they are, for the interop checks.
func (d *Device) readRaw(ctx context.Context, addr uint16, n int) ([]uint16, error) {
	pts := make([]*point, n)
	for i := range pts {
		pts[i] = &point{name: fmt.Sprint(i), table: Holding, address: addr + uint16(i), codec: Codec{Type: Uint16, Order: ABCD, Scale: 1}}
	}
	if err := d.acquire(ctx); err != nil {
		return nil, err
	}
	defer d.release()
	out := make([]drivers.Reading, n)
	if err := d.readBlock(ctx, block{table: Holding, start: addr, count: n, members: seqInts(n)}, pts, out); err != nil {
		return nil, err
	}
	regs := make([]uint16, n)
	for i, r := range out {
		regs[i] = uint16(r.Value.Number)
	}
	return regs, nil
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestInteropTCP(t *testing.T) {
	checkPeer(t, "tcp://"+interopURL(t, "FEMTOCLAW_MODBUS_TCP"), 1)
}

// TestInteropRTU talks RTU over a pty pair to pymodbus's serial server:
// units 1 and 2 share the port, and unit 3, which nobody answers for,
// backs off without stalling them.
func TestInteropRTU(t *testing.T) {
	url := "rtu://" + interopURL(t, "FEMTOCLAW_MODBUS_RTU") + "?baud=19200&parity=none&stopbits=1"
	checkPeer(t, url, 1)

	mk := func(unit uint8) *Device {
		return openDevice(t, drivers.DeviceConfig{Name: fmt.Sprint("u", unit), Driver: "modbus", URL: url, Unit: unit,
			Timeout: drivers.Duration(300 * time.Millisecond),
			Points:  []drivers.PointConfig{{Name: "v", Register: "holding", Address: 0}}})
	}
	u1, u2, u3 := mk(1), mk(2), mk(3)
	ctx := context.Background()
	start := time.Now()
	for range 20 {
		for _, d := range []*Device{u1, u2} {
			if rs, err := d.Read(ctx, nil); err != nil || rs[0].Value != drivers.Number(4660) {
				t.Errorf("unit %d: got %v, %v, want 4660", d.unit, rs, err)
			}
		}
		if _, err := u3.Read(ctx, nil); !errors.Is(err, drivers.ErrUnavailable) {
			t.Errorf("silent unit 3: got %v, want ErrUnavailable", err)
		}
	}
	t.Logf("40 reads of units 1 and 2 and 20 of silent unit 3 over one port in %s; unit 3 failed %d times in a row", time.Since(start).Round(time.Millisecond), u3.failures)
	if u3.failures > 6 {
		t.Errorf("silent unit was asked %d times, want it to back off", u3.failures)
	}
}
