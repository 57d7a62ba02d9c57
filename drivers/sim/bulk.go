package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	mb "github.com/simonvetter/modbus"
)

// BulkOptions configures a Bulk set of load-test devices.
type BulkOptions struct {
	// Devices is how many Modbus TCP servers to start, one device each.
	Devices int
	// Registers is how many holding registers each device serves, at
	// addresses 0..Registers-1 (at most 65536).
	Registers int
	// Host is the address the servers listen on. Default 127.0.0.1.
	Host string
	// Port is the first server's port; the others take the ports after it.
	// 0 picks a free port for each.
	Port int
	// Step is how often every register changes. Default 1s; negative
	// keeps the registers still.
	Step time.Duration
	// Logger receives the servers' log; nil discards it.
	Logger *slog.Logger
}

// Bulk is a set of plain Modbus TCP devices for load tests, one server per
// device: each serves Registers holding registers that any client may read
// and write, mirrored read-only as input registers, and no coils. Register
// i of device d starts at (d*Registers + i) mod 65536 and grows by one every
// Step, so that each poll sees new values. It is safe for concurrent use.
type Bulk struct {
	logger  *slog.Logger
	step    time.Duration
	banks   []*bank
	servers []*mb.ModbusServer
	addrs   []*net.TCPAddr
}

// ListenBulk starts opts.Devices servers. On error none is left running.
func ListenBulk(opts BulkOptions) (*Bulk, error) {
	if opts.Devices < 1 || opts.Registers < 1 || opts.Registers > 1<<16 {
		return nil, fmt.Errorf("sim: bulk: %d devices of %d registers, want at least 1 of 1..65536", opts.Devices, opts.Registers)
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Step == 0 {
		opts.Step = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bulk{logger: opts.Logger, step: opts.Step}
	for d := range opts.Devices {
		bk := &bank{regs: make([]uint16, opts.Registers)}
		for i := range bk.regs {
			bk.regs[i] = uint16(d*opts.Registers + i)
		}
		port := 0
		if opts.Port != 0 {
			port = opts.Port + d
		}
		srv, addr, err := listenBank(opts.Host, port, bk, opts.Logger)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("sim: bulk device %d: %w", d, err)
		}
		b.banks = append(b.banks, bk)
		b.servers = append(b.servers, srv)
		b.addrs = append(b.addrs, addr)
	}
	opts.Logger.Info("sim bulk listening", "devices", opts.Devices, "registers", opts.Registers, "first", b.addrs[0].String())
	return b, nil
}

// listenBank serves bk on host:port, resolving port 0 to a free port first
// (the server library cannot report the port it bound) and retrying if
// another process takes it in between.
func listenBank(host string, port int, bk *bank, logger *slog.Logger) (*mb.ModbusServer, *net.TCPAddr, error) {
	attempts := 1
	if port == 0 {
		attempts = 5
	}
	for i := 0; ; i++ {
		srv, addr, err := listenBankOnce(host, port, bk, logger)
		if err == nil {
			return srv, addr, nil
		}
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, err
		}
	}
}

func listenBankOnce(host string, port int, bk *bank, logger *slog.Logger) (*mb.ModbusServer, *net.TCPAddr, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, err
	}
	bound := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		return nil, nil, err
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{
		URL:        "tcp://" + bound.String(),
		Timeout:    time.Minute,
		MaxClients: 8,
		Logger:     slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}, bk)
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	return srv, bound, nil
}

// Addrs returns each device's address, in device order.
func (b *Bulk) Addrs() []net.Addr {
	out := make([]net.Addr, len(b.addrs))
	for i, a := range b.addrs {
		out[i] = a
	}
	return out
}

// Holding returns holding register addr of device dev.
func (b *Bulk) Holding(dev int, addr uint16) uint16 {
	bk := b.banks[dev]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	return bk.regs[addr]
}

// Run changes the registers every Step until ctx is done, then stops the
// servers. It returns nil when ctx is cancelled.
func (b *Bulk) Run(ctx context.Context) error {
	if b.step < 0 {
		<-ctx.Done()
		return b.Close()
	}
	t := time.NewTicker(b.step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return b.Close()
		case <-t.C:
			for _, bk := range b.banks {
				bk.tick()
			}
		}
	}
}

// Close stops every server. It is safe to call more than once.
func (b *Bulk) Close() error {
	var errs []error
	for _, s := range b.servers {
		if err := s.Stop(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	b.servers = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: bulk close: %w", err)
	}
	return nil
}

// bank is the register memory of one bulk device.
type bank struct {
	mu   sync.Mutex
	regs []uint16
}

func (bk *bank) tick() {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	for i := range bk.regs {
		bk.regs[i]++
	}
}

func (bk *bank) read(addr, qty uint16) ([]uint16, error) {
	if int(addr)+int(qty) > len(bk.regs) {
		return nil, mb.ErrIllegalDataAddress
	}
	bk.mu.Lock()
	defer bk.mu.Unlock()
	out := make([]uint16, qty)
	copy(out, bk.regs[addr:])
	return out, nil
}

func (bk *bank) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if !req.IsWrite {
		return bk.read(req.Addr, req.Quantity)
	}
	if int(req.Addr)+len(req.Args) > len(bk.regs) {
		return nil, mb.ErrIllegalDataAddress
	}
	bk.mu.Lock()
	defer bk.mu.Unlock()
	copy(bk.regs[req.Addr:], req.Args)
	return nil, nil
}

func (bk *bank) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	return bk.read(req.Addr, req.Quantity)
}

func (bk *bank) HandleCoils(*mb.CoilsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalDataAddress
}

func (bk *bank) HandleDiscreteInputs(*mb.DiscreteInputsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalDataAddress
}

var _ mb.RequestHandler = (*bank)(nil)
