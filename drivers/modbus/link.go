package modbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
)

// A link is one connection (a TCP stream, a serial port) and the one client
// library object that talks over it. Requests over a link are serialised:
// whoever holds its token is the only one using the client.
//
// A serial line (rtu://) and an RTU stream to a serial gateway
// (rtuovertcp://, rtuoverudp://) are buses: several devices, each with its
// own unit id, share one link, so the port is opened once and their
// requests take turns. On a bus, a unit that does not answer is that unit's
// failure, not the bus's: the link stays open and only the silent device
// backs off (see Device.fail), so it costs the others at most one timeout
// per backoff period.
type link struct {
	key string // the bus key; "" for a link of one device

	// sem holds a token while one request (or a connect) uses the client;
	// it guards client.
	sem    chan struct{}
	client *mb.ModbusClient

	// Guarded by busesMu for a shared link.
	conf    mb.ClientConfiguration // Timeout is the longest of the members'
	members map[*Device]struct{}
}

// bus reports whether a unit's silence leaves the link up.
func (l *link) bus() bool { return l.key != "" }

var (
	busesMu sync.Mutex
	buses   map[string]*link // shared links by key, made on first use
)

// busKey returns the key under which devices share a link, or "" for a
// transport where each device has its own connection.
func busKey(conf mb.ClientConfiguration) string {
	scheme, _, _ := cutScheme(conf.URL)
	switch scheme {
	case "rtu", "rtuovertcp", "rtuoverudp":
		return conf.URL
	}
	return ""
}

// joinLink returns the link device d talks over: a new one, or the bus
// another device with the same port already opened. Devices on one bus
// must agree on the serial settings.
func joinLink(d *Device, conf mb.ClientConfiguration) (*link, error) {
	key := busKey(conf)
	if key == "" {
		return &link{sem: make(chan struct{}, 1), conf: conf}, nil
	}
	busesMu.Lock()
	defer busesMu.Unlock()
	l, ok := buses[key]
	if !ok {
		if buses == nil {
			buses = make(map[string]*link)
		}
		l = &link{key: key, sem: make(chan struct{}, 1), conf: conf, members: map[*Device]struct{}{}}
		buses[key] = l
	} else {
		a, b := l.conf, conf
		if a.Speed != b.Speed || a.DataBits != b.DataBits || a.Parity != b.Parity || a.StopBits != b.StopBits {
			return nil, fmt.Errorf("shares %s with another device but with different serial settings", key)
		}
		l.conf.Timeout = max(l.conf.Timeout, conf.Timeout)
	}
	l.members[d] = struct{}{}
	return l, nil
}

// leave removes d from its link; the last one out closes it. The caller
// holds the link's token.
func (l *link) leave(d *Device) error {
	if l.bus() {
		busesMu.Lock()
		delete(l.members, d)
		last := len(l.members) == 0
		if last {
			delete(buses, l.key)
		}
		busesMu.Unlock()
		if !last {
			return nil
		}
	}
	return l.drop()
}

// acquire takes the link's token, or gives up with ctx.
func (l *link) acquire(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *link) release() { <-l.sem }

// errDialTimeout reports a connection attempt that outlived the timeout.
var errDialTimeout = errors.New("connect timed out")

// connect returns the connected client, opening the link first if needed
// and then waiting pause. The caller holds the token.
func (l *link) connect(ctx context.Context, timeout, pause time.Duration) (*mb.ModbusClient, error) {
	if l.client != nil {
		return l.client, nil
	}
	conf := l.conf
	if l.bus() {
		busesMu.Lock()
		conf = l.conf
		busesMu.Unlock()
	}
	c, err := mb.NewClient(&conf)
	if err != nil {
		return nil, err
	}
	// The library dials with a fixed 5s timeout and no context: dial in
	// the background and abandon an attempt that takes too long.
	done := make(chan error, 1)
	go func() { done <- c.Open() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	abandon := func() {
		go func() {
			if <-done == nil {
				c.Close()
			}
		}()
	}
	select {
	case err = <-done:
	case <-timer.C:
		abandon()
		err = errDialTimeout
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if pause > 0 {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			c.Close()
			return nil, ctx.Err()
		}
	}
	l.client = c
	return c, nil
}

// drop closes the client, if open. The caller holds the token.
func (l *link) drop() error {
	if l.client == nil {
		return nil
	}
	err := l.client.Close()
	l.client = nil
	return err
}
