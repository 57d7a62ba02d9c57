package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/internal/netfault"
)

func u8(v uint8) *uint8    { return &v }
func u16(v uint16) *uint16 { return &v }

// TestReadImages lays the register image of every golden value, in every
// type and order, into a server's holding registers and reads them all back
// through the driver, with strings and register bits alongside.
func TestReadImages(t *testing.T) {
	im := &image{holding: make([]uint16, 1000)}
	cfg := drivers.DeviceConfig{Name: "img", Driver: "modbus", Timeout: drivers.Duration(time.Second)}
	want := map[string]drivers.Value{}
	addr := 0
	for _, typ := range goldenTypes() {
		for _, o := range allOrders {
			for i, v := range goldenValues[typ] {
				regs, err := EncodeRaw(v, typ, o)
				if err != nil {
					t.Fatal(err)
				}
				copy(im.holding[addr:], regs)
				name := fmt.Sprintf("%s_%s_%d", typ, o, i)
				cfg.Points = append(cfg.Points, drivers.PointConfig{Name: name, Register: "holding", Address: uint16(addr), Type: typ.String(), Order: o.String()})
				if typ == Float32 {
					v = float64(float32(v))
				}
				want[name] = drivers.Number(v)
				addr += len(regs)
			}
		}
	}
	// "femtoclaw" in ABCD (f e, m t, o c, l a, w NUL) and BADC.
	strABCD := []uint16{0x6665, 0x6d74, 0x6f63, 0x6c61, 0x7700}
	strBADC := []uint16{0x6566, 0x746d, 0x636f, 0x616c, 0x0077}
	copy(im.holding[addr:], strABCD)
	copy(im.holding[addr+5:], strBADC)
	im.holding[addr+10] = 0x8001 // bits 0 and 15
	cfg.Points = append(cfg.Points,
		drivers.PointConfig{Name: "s_abcd", Register: "holding", Address: uint16(addr), Type: "string", Length: 10},
		drivers.PointConfig{Name: "s_badc", Register: "holding", Address: uint16(addr + 5), Type: "string", Order: "BADC", Length: 10},
		drivers.PointConfig{Name: "s_short", Register: "holding", Address: uint16(addr), Type: "string", Length: 3},
		drivers.PointConfig{Name: "bit0", Register: "holding", Address: uint16(addr + 10), Type: "bool", Bit: u8(0)},
		drivers.PointConfig{Name: "bit1", Register: "holding", Address: uint16(addr + 10), Type: "bool", Bit: u8(1)},
		drivers.PointConfig{Name: "bit15", Register: "holding", Address: uint16(addr + 10), Type: "bool", Bit: u8(15)},
	)
	want["s_abcd"], want["s_badc"], want["s_short"] = drivers.String("femtoclaw"), drivers.String("femtoclaw"), drivers.String("fem")
	want["bit0"], want["bit1"], want["bit15"] = drivers.Bool(true), drivers.Bool(false), drivers.Bool(true)
	used := addr + 11

	cfg.URL = "tcp://" + serveImage(t, im)
	d := openDevice(t, cfg)
	m := readMap(t, d)
	for name, w := range want {
		if r := m[name]; r.Quality != drivers.QualityGood || r.Value != w {
			t.Errorf("%s: got %v (%s), want %v", name, r.Value, r.Quality, w)
		}
	}
	// Every register is in use, so the requests are as few as the
	// 125-register limit allows.
	if got, wantN := im.count(), (used+maxRegisters-1)/maxRegisters; got != wantN {
		t.Errorf("%d points over %d registers: got %d requests, want %d", len(cfg.Points), used, got, wantN)
	}
}

// TestRequestsPerCycle counts the requests of one read of every point under
// the coalescing settings; the figures are those of the report.
func TestRequestsPerCycle(t *testing.T) {
	// 20 uint16 at 0,2,4..38 (gaps of one), 4 float32 at 100..107, 8
	// coils at 0..7.
	base := func() drivers.DeviceConfig {
		c := drivers.DeviceConfig{Name: "dev", Driver: "modbus", Timeout: drivers.Duration(time.Second)}
		for i := range 20 {
			c.Points = append(c.Points, drivers.PointConfig{Name: fmt.Sprintf("r%d", i), Register: "holding", Address: uint16(2 * i)})
		}
		for i := range 4 {
			c.Points = append(c.Points, drivers.PointConfig{Name: fmt.Sprintf("f%d", i), Register: "holding", Address: uint16(100 + 2*i), Type: "float32"})
		}
		for i := range 8 {
			c.Points = append(c.Points, drivers.PointConfig{Name: fmt.Sprintf("c%d", i), Register: "coil", Address: uint16(i)})
		}
		return c
	}
	tests := []struct {
		name string
		mod  func(*drivers.DeviceConfig)
		want int
	}{
		{"defaults", func(*drivers.DeviceConfig) {}, 3}, // 0-38, 100-107 (gap 61 > 16), coils
		{"gap 64", func(c *drivers.DeviceConfig) { c.MaxGap = u16(64) }, 2},
		{"gap 0", func(c *drivers.DeviceConfig) { c.MaxGap = u16(0) }, 20 + 1 + 1},
		{"max 10 registers", func(c *drivers.DeviceConfig) { c.MaxRegisters = 10 }, 4 + 1 + 1}, // 0-8,10-18,20-28,30-38; 100-107
		{"max 2 bits", func(c *drivers.DeviceConfig) { c.MaxBits = 2 }, 1 + 1 + 4},
		{"one request per point", func(c *drivers.DeviceConfig) { c.OneRequestPerPoint = true }, 32},
	}
	im := &image{holding: make([]uint16, 200), coils: make([]bool, 8)}
	url := "tcp://" + serveImage(t, im)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			cfg.URL = url
			tc.mod(&cfg)
			d := openDevice(t, cfg)
			im.resetCount()
			m := readMap(t, d)
			if got := im.count(); got != tc.want {
				t.Errorf("requests for %d points: got %d, want %d", len(cfg.Points), got, tc.want)
			}
			for n, r := range m {
				if r.Quality != drivers.QualityGood {
					t.Errorf("%s: got quality %s, want good", n, r.Quality)
				}
			}
		})
	}
}

// TestAwkwardDevice reads from a device that refuses any request for more
// than two registers, as some do: one request per point works.
func TestAwkwardDevice(t *testing.T) {
	im := &image{holding: []uint16{1, 2, 0x4048, 0xf5c3, 5}, maxRead: 2}
	cfg := drivers.DeviceConfig{Name: "awk", Driver: "modbus", URL: "tcp://" + serveImage(t, im), OneRequestPerPoint: true,
		Points: []drivers.PointConfig{
			{Name: "a", Register: "holding", Address: 0},
			{Name: "b", Register: "holding", Address: 1},
			{Name: "pi", Register: "holding", Address: 2, Type: "float32"},
			{Name: "e", Register: "holding", Address: 4},
		}}
	m := readMap(t, openDevice(t, cfg))
	for n, w := range map[string]float64{"a": 1, "b": 2, "pi": float64(float32(3.14)), "e": 5} {
		if r := m[n]; r.Quality != drivers.QualityGood || r.Value != drivers.Number(w) {
			t.Errorf("%s: got %v (%s), want %v", n, r.Value, r.Quality, w)
		}
	}
	if got := im.count(); got != 4 {
		t.Errorf("requests: got %d, want 4", got)
	}
}

// TestAddressBase reads and writes a device documented from 1: its
// register 1 is wire address 0.
func TestAddressBase(t *testing.T) {
	im := &image{holding: []uint16{11, 22, 33}, coils: []bool{true, false}}
	cfg := drivers.DeviceConfig{Name: "one", Driver: "modbus", URL: "tcp://" + serveImage(t, im), AddressBase: 1,
		Points: []drivers.PointConfig{
			{Name: "first", Register: "holding", Address: 1},
			{Name: "third", Register: "holding", Address: 3, Writable: true},
			{Name: "coil1", Register: "coil", Address: 1},
		}}
	d := openDevice(t, cfg)
	m := readMap(t, d)
	if m["first"].Value != drivers.Number(11) || m["third"].Value != drivers.Number(33) || m["coil1"].Value != drivers.Bool(true) {
		t.Errorf("base 1: got first %v third %v coil1 %v, want 11, 33, true", m["first"].Value, m["third"].Value, m["coil1"].Value)
	}
	enc, err := d.Resolve("third", drivers.Number(44))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), "third", enc); err != nil {
		t.Fatal(err)
	}
	if im.holding[2] != 44 {
		t.Errorf("write to register 3 (base 1): got wire address 2 = %d, want 44", im.holding[2])
	}

	cfg.Points = []drivers.PointConfig{{Name: "zero", Register: "holding", Address: 0}}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "address 0 does not exist") {
		t.Errorf("address 0 with base 1: got %v, want an error", err)
	}
}

// TestRetries cuts the connection between two reads: with a retry the
// second read reconnects and succeeds; without, it fails.
func TestRetries(t *testing.T) {
	_, addr := startPlant(t)
	for _, retries := range []uint8{0, 1} {
		t.Run(fmt.Sprint("retries ", retries), func(t *testing.T) {
			px, err := netfault.Start(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			cfg := plantConfig("tcp://" + px.Addr())
			cfg.Retries = retries
			d := openDevice(t, cfg)
			readMap(t, d)
			px.Cut()
			px.Restore()
			_, err = d.Read(context.Background(), nil)
			if retries == 0 && !errors.Is(err, drivers.ErrUnavailable) {
				t.Errorf("read after a cut, no retries: got %v, want ErrUnavailable", err)
			}
			if retries == 1 && err != nil {
				t.Errorf("read after a cut, one retry: got %v, want success", err)
			}
			// A write is never repeated.
			px.Cut()
			px.Restore()
			enc, _ := d.Resolve("inlet_pump", drivers.Number(10))
			if retries == 1 {
				if err := d.Write(context.Background(), "inlet_pump", enc); !errors.Is(err, drivers.ErrUnavailable) {
					t.Errorf("write after a cut: got %v, want ErrUnavailable (no retry)", err)
				}
			}
		})
	}
}

// TestPauseAfterConnect waits the pause after connecting, once.
func TestPauseAfterConnect(t *testing.T) {
	_, addr := startPlant(t)
	cfg := plantConfig("tcp://" + addr)
	cfg.PauseAfterConnect = drivers.Duration(300 * time.Millisecond)
	d := openDevice(t, cfg)
	start := time.Now()
	readMap(t, d, "level")
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("first read: took %s, want at least the 300ms pause", el)
	}
	// Cancelling during the pause gives up the connection.
	d2 := openDevice(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d2.Read(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read cancelled during the pause: got %v, want DeadlineExceeded", err)
	}
}

func TestNewValidatesModbusSettings(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*drivers.DeviceConfig)
		want string // "" is valid
	}{
		{"base 2", func(c *drivers.DeviceConfig) { c.AddressBase = 2 }, "address_base 2"},
		{"max registers", func(c *drivers.DeviceConfig) { c.MaxRegisters = 126 }, "max_registers 126"},
		{"max bits", func(c *drivers.DeviceConfig) { c.MaxBits = 2001 }, "max_bits 2001"},
		{"float32 over one register", func(c *drivers.DeviceConfig) { c.MaxRegisters = 1 }, `"level": spans 2 addresses`},
		{"negative pause", func(c *drivers.DeviceConfig) { c.PauseAfterConnect = -1 }, "pause_after_connect"},
		{"bit", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "input", Type: "bool", Bit: u8(3)}}
		}, ""},
		{"bit 16", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "holding", Type: "bool", Bit: u8(16)}}
		}, "bit 16 out of range"},
		{"bit writable", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "holding", Type: "bool", Bit: u8(1), Writable: true}}
		}, "bool point is read-only"},
		{"bit on uint16", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "holding", Bit: u8(1)}}
		}, "bit applies only"},
		{"bit on coil", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "coil", Bit: u8(1)}}
		}, "do not apply to a coil"},
		{"string", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "string", Length: 250}}
		}, ""},
		{"string with the default scale", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "string", Length: 8, Order: "ABCD", Scale: 1}}
		}, ""},
		{"bit with the default scale", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "b", Register: "holding", Type: "bool", Bit: u8(2), Scale: 1}}
		}, ""},
		{"string too long", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "string", Length: 251}}
		}, "1-250 bytes"},
		{"string without length", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "string"}}
		}, "needs length"},
		{"string scaled", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "string", Length: 4, Scale: 2}}
		}, "do not apply to a string"},
		{"length on float", func(c *drivers.DeviceConfig) {
			c.Points = []drivers.PointConfig{{Name: "s", Register: "holding", Type: "float32", Length: 4}}
		}, "length applies only"},
		{"tls on tcp", func(c *drivers.DeviceConfig) { c.TLS = &drivers.TLSConfig{CA: "a", Cert: "b", Key: "c"} }, "applies only to a tcp+tls"},
		{"tls missing files", func(c *drivers.DeviceConfig) {
			c.URL = "tcp+tls://plc"
			c.TLS = &drivers.TLSConfig{CA: "/nonexistent/ca.pem", Cert: "/nonexistent/c.pem", Key: "/nonexistent/k.pem"}
		}, "client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := plantConfig("tcp://127.0.0.1:502")
			tc.mod(&cfg)
			d, err := New(cfg, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: got %v, want no error", err)
				}
				d.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
