package modbus

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

// image is a Modbus TCP server (the client library's own) serving fixed
// register and coil images, counting the requests it answers. Reads past
// the image, or longer than maxRead registers when set, are refused with
// exception 2.
type image struct {
	mu       sync.Mutex
	holding  []uint16
	input    []uint16
	coils    []bool
	maxRead  int
	requests int
	writes   [][]uint16
}

func (im *image) count() int {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.requests
}

func (im *image) resetCount() {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.requests = 0
}

func (im *image) regs(table []uint16, addr, qty uint16) ([]uint16, error) {
	if int(addr)+int(qty) > len(table) || (im.maxRead > 0 && int(qty) > im.maxRead) {
		return nil, mb.ErrIllegalDataAddress
	}
	return append([]uint16(nil), table[addr:int(addr)+int(qty)]...), nil
}

func (im *image) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.requests++
	if int(req.Addr)+int(req.Quantity) > len(im.coils) {
		return nil, mb.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(im.coils[req.Addr:], req.Args)
		return nil, nil
	}
	return append([]bool(nil), im.coils[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (im *image) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.requests++
	if int(req.Addr)+int(req.Quantity) > len(im.coils) {
		return nil, mb.ErrIllegalDataAddress
	}
	return append([]bool(nil), im.coils[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (im *image) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.requests++
	if req.IsWrite {
		if int(req.Addr)+len(req.Args) > len(im.holding) {
			return nil, mb.ErrIllegalDataAddress
		}
		copy(im.holding[req.Addr:], req.Args)
		im.writes = append(im.writes, append([]uint16(nil), req.Args...))
		return nil, nil
	}
	return im.regs(im.holding, req.Addr, req.Quantity)
}

func (im *image) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.requests++
	return im.regs(im.input, req.Addr, req.Quantity)
}

// serveImage serves im on a free loopback port and returns its address.
func serveImage(t *testing.T, im *image) string {
	t.Helper()
	return serveHandler(t, "tcp", im, nil)
}

// serveHandler starts the library's server for h on a free loopback port;
// conf, if not nil, is completed with the URL.
func serveHandler(t *testing.T, scheme string, h mb.RequestHandler, conf *mb.ServerConfiguration) string {
	t.Helper()
	if conf == nil {
		conf = &mb.ServerConfiguration{}
	}
	conf.Timeout, conf.MaxClients = 30*time.Second, 8
	conf.Logger = log.New(io.Discard, "", 0)
	// The server cannot report the port it bound: find a free one first.
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		conf.URL = scheme + "://" + addr
		srv, err := mb.NewServer(conf, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			if errors.Is(err, errAddrInUse) || isAddrInUse(err) {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
		return addr
	}
	t.Fatal("no free port after 5 attempts")
	return ""
}

var errAddrInUse = errors.New("address already in use")

func isAddrInUse(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}
