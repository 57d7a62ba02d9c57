package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// crc16 is the Modbus RTU CRC.
func crc16(b []byte) uint16 {
	crc := uint16(0xffff)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// rtuBus is a serial bus behind an RTU-over-TCP gateway: the units in
// answer serve function 3 with register i holding unit*100+i; any other
// unit is silent, as a slave that is off. It counts connections and the
// requests addressed to each unit.
type rtuBus struct {
	answer map[uint8]bool

	mu       sync.Mutex
	conns    int
	requests map[uint8]int
}

func (b *rtuBus) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns++
			b.mu.Unlock()
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); b.handle(c) }()
		}
	}()
	return ln.Addr().String()
}

func (b *rtuBus) handle(c net.Conn) {
	defer c.Close()
	req := make([]byte, 8) // unit, fc, addr, qty, crc: all this bus serves
	for {
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		if crc16(req[:6]) != binary.LittleEndian.Uint16(req[6:]) || req[1] != 3 {
			continue
		}
		unit := req[0]
		b.mu.Lock()
		b.requests[unit]++
		b.mu.Unlock()
		if !b.answer[unit] {
			continue
		}
		addr, qty := binary.BigEndian.Uint16(req[2:]), binary.BigEndian.Uint16(req[4:])
		res := []byte{unit, 3, byte(2 * qty)}
		for i := range qty {
			res = binary.BigEndian.AppendUint16(res, uint16(unit)*100+addr+i)
		}
		res = binary.LittleEndian.AppendUint16(res, crc16(res))
		c.Write(res)
	}
}

func (b *rtuBus) stats() (conns int, reqs map[uint8]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	reqs = make(map[uint8]int)
	for k, v := range b.requests {
		reqs[k] = v
	}
	return b.conns, reqs
}

// TestSharedBusSilentUnit polls three units on one RTU bus, the second of
// which never answers: the bus is opened once, the other two are read
// every time, and the silent one backs off instead of costing the bus a
// timeout on every poll.
func TestSharedBusSilentUnit(t *testing.T) {
	bus := &rtuBus{answer: map[uint8]bool{1: true, 3: true}, requests: map[uint8]int{}}
	url := "rtuovertcp://" + bus.serve(t)
	dev := func(name string, unit uint8) *Device {
		return openDevice(t, drivers.DeviceConfig{Name: name, Driver: "modbus", URL: url, Unit: unit,
			Timeout: drivers.Duration(100 * time.Millisecond),
			Points:  []drivers.PointConfig{{Name: "r", Register: "holding", Address: 7}}})
	}
	devs := []*Device{dev("a", 1), dev("b", 2), dev("c", 3)}
	if devs[0].link != devs[1].link || devs[1].link != devs[2].link {
		t.Fatalf("devices on one bus got different links")
	}

	const polls = 40
	var wg sync.WaitGroup
	results := make([][]error, len(devs))
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range polls {
				rs, err := d.Read(context.Background(), nil)
				if err == nil && rs[0].Value != drivers.Number(float64(d.unit)*100+7) {
					err = errors.New("wrong value " + rs[0].Value.String())
				}
				results[i] = append(results[i], err)
				time.Sleep(25 * time.Millisecond)
			}
		}()
	}
	wg.Wait()

	for _, i := range []int{0, 2} {
		for n, err := range results[i] {
			if err != nil {
				t.Errorf("unit %d poll %d: got %v, want a value", devs[i].unit, n, err)
			}
		}
	}
	for n, err := range results[1] {
		if !errors.Is(err, drivers.ErrUnavailable) {
			t.Errorf("silent unit poll %d: got %v, want ErrUnavailable", n, err)
		}
	}
	conns, reqs := bus.stats()
	if conns != 1 {
		t.Errorf("bus connections: got %d, want 1", conns)
	}
	if reqs[1] != polls || reqs[3] != polls {
		t.Errorf("requests to units 1 and 3: got %d and %d, want %d each", reqs[1], reqs[3], polls)
	}
	// Backing off 100, 200, 400... ms, the silent unit is asked a handful
	// of times in the ~1.5s run, not on every one of its 40 polls.
	if reqs[2] < 1 || reqs[2] > 8 {
		t.Errorf("requests to the silent unit: got %d, want 1-8", reqs[2])
	}
	t.Logf("over %d polls each: unit 1 %d requests, unit 3 %d, silent unit 2 %d; %d connection", polls, reqs[1], reqs[3], reqs[2], conns)

	// The bus stays open while a device uses it; the last one closes it.
	devs[0].Close()
	devs[1].Close()
	if _, err := devs[2].Read(context.Background(), nil); err != nil {
		t.Errorf("read after the others closed: %v", err)
	}
	devs[2].Close()
	busesMu.Lock()
	_, still := buses[url]
	busesMu.Unlock()
	if still {
		t.Errorf("bus %s still registered after its last device closed", url)
	}
}

func TestSharedBusSettingsMustAgree(t *testing.T) {
	a := openDevice(t, drivers.DeviceConfig{Name: "a", Driver: "modbus", URL: "rtu:///dev/ttyFAKE0?baud=9600"})
	_ = a
	_, err := New(drivers.DeviceConfig{Name: "b", Driver: "modbus", URL: "rtu:///dev/ttyFAKE0?baud=19200"}, nil)
	if err == nil {
		t.Fatalf("second device on the port at another speed: got no error, want one")
	}
	b, err := New(drivers.DeviceConfig{Name: "b", Driver: "modbus", URL: "rtu:///dev/ttyFAKE0?baud=9600", Unit: 2}, nil)
	if err != nil {
		t.Fatalf("second device at the same speed: %v", err)
	}
	b.Close()
}
