package sim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

func TestBulk(t *testing.T) {
	b, err := sim.ListenBulk(sim.BulkOptions{Devices: 3, Registers: 300, Step: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addrs := b.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("got %d addresses, want 3", len(addrs))
	}
	for d, addr := range addrs {
		c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + addr.String(), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Open(); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		regs, err := c.ReadRegisters(175, 125, mb.HOLDING_REGISTER)
		if err != nil {
			t.Fatalf("device %d: read: %v", d, err)
		}
		for i, v := range regs {
			if want := uint16(d*300 + 175 + i); v != want {
				t.Fatalf("device %d: register %d: got %d, want %d", d, 175+i, v, want)
			}
		}
		if err := c.WriteRegister(299, 4242); err != nil {
			t.Fatalf("device %d: write: %v", d, err)
		}
		if got, err := c.ReadRegister(299, mb.INPUT_REGISTER); err != nil || got != 4242 {
			t.Errorf("device %d: input register 299 after write: got %d, %v, want 4242", d, got, err)
		}
		if got := b.Holding(d, 299); got != 4242 {
			t.Errorf("device %d: Holding(299): got %d, want 4242", d, got)
		}
		if _, err := c.ReadRegisters(290, 11, mb.HOLDING_REGISTER); !errors.Is(err, mb.ErrIllegalDataAddress) {
			t.Errorf("device %d: read past the end: got %v, want illegal data address", d, err)
		}
		if _, err := c.ReadCoil(0); !errors.Is(err, mb.ErrIllegalDataAddress) {
			t.Errorf("device %d: read coil: got %v, want illegal data address", d, err)
		}
	}
}

func TestBulkSteps(t *testing.T) {
	b, err := sim.ListenBulk(sim.BulkOptions{Devices: 1, Registers: 10, Step: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for b.Holding(0, 3) == 3 {
		if time.Now().After(deadline) {
			t.Fatal("register 3 still 3 after 5s, want it to change every step")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBulkOptions(t *testing.T) {
	for _, o := range []sim.BulkOptions{{Devices: 0, Registers: 1}, {Devices: 1, Registers: 0}, {Devices: 1, Registers: 1<<16 + 1}} {
		if _, err := sim.ListenBulk(o); err == nil {
			t.Errorf("ListenBulk(%+v): got no error, want one", o)
		}
	}
}
