package opcua

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// proxy forwards TCP connections to a target until cut, which drops every
// connection and refuses new ones until restore.
type proxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64

	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
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
			p.accepted.Add(1)
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func (p *proxy) url() string { return "opc.tcp://" + p.ln.Addr().String() }

// TestServerDisappears cuts the network between driver and server: calls
// fail fast with ErrUnavailable, reconnection attempts follow the backoff
// instead of hammering the server, and the driver recovers with one new
// session once the network returns.
func TestServerDisappears(t *testing.T) {
	_, ep := startPlant(t)
	px := startProxy(t, ep[len("opc.tcp://"):])
	d := openDevice(t, noneConfig(px.url()))
	ctx := t.Context()
	if _, err := d.Read(ctx, []string{"level"}); err != nil {
		t.Fatalf("Read before the cut: %v", err)
	}

	px.setCut(true)
	before := px.accepted.Load()
	deadline := time.Now().Add(1500 * time.Millisecond)
	calls := 0
	for time.Now().Before(deadline) {
		start := time.Now()
		_, err := d.Read(ctx, []string{"level"})
		if !errors.Is(err, drivers.ErrUnavailable) {
			t.Fatalf("Read while cut: got %v, want ErrUnavailable", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Read while cut took %s, want it to fail fast", took)
		}
		calls++
		time.Sleep(5 * time.Millisecond)
	}
	// Backoff 100, 200, 400, 800ms: at most 5 attempts in 1.5s, each of
	// two connections (endpoints, then the session).
	if n := px.accepted.Load() - before; n > 10 {
		t.Errorf("connections attempted during %d calls in 1.5s: got %d, want at most 10", calls, n)
	}

	px.setCut(false)
	deadline = time.Now().Add(maxBackoff + 2*time.Second)
	for {
		rs, err := d.Read(ctx, []string{"level"})
		if err == nil && rs[0].Quality == drivers.QualityGood {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Read after restore: still %v after the backoff cap", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := d.Connects(); n != 2 {
		t.Errorf("sessions opened: got %d, want 2 (one before, one after the cut)", n)
	}
}
