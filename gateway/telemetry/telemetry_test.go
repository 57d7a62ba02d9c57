package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/gateway/broker"
)

const prefix = "femtoclaw/test"

// testLogger shows the publisher's and the broker's logs when
// TELEMETRY_TEST_LOG is set.
var testLogger = func() *slog.Logger {
	if os.Getenv("TELEMETRY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}()

func startBroker(t *testing.T, addr string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(addr, testLogger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type received struct{ topic, payload string }

// subscriber is a client that subscribed to a topic filter.
type subscriber struct {
	C     <-chan received // what it received
	Close func()          // disconnects it
}

// subscribe connects a client to addr that subscribes to filter.
func subscribe(t *testing.T, addr, filter string) subscriber {
	t.Helper()
	ch := make(chan received, 1000)
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect to %s: %v", addr, tok.Error())
	}
	var once sync.Once
	closeFn := func() { once.Do(func() { c.Disconnect(250) }) }
	t.Cleanup(closeFn)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		ch <- received{m.Topic(), string(m.Payload())}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: subscribe %s: %v", filter, tok.Error())
	}
	return subscriber{C: ch, Close: closeFn}
}

func next(t *testing.T, ch <-chan received, what string) received {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("got nothing, want %s", what)
		return received{}
	}
}

// waitStatus reads statuses until one in state want arrives. (The broker
// may deliver a retained status twice to a subscriber that subscribes while
// it is published.)
func waitStatus(t *testing.T, ch <-chan received, want string) Status {
	t.Helper()
	for {
		if s := status(t, next(t, ch, want+" status")); s.State == want {
			return s
		}
	}
}

func status(t *testing.T, m received) Status {
	t.Helper()
	if m.topic != prefix+"/status" {
		t.Fatalf("topic: got %q, want %q", m.topic, prefix+"/status")
	}
	var s Status
	if err := json.Unmarshal([]byte(m.payload), &s); err != nil {
		t.Fatalf("status %q: %v", m.payload, err)
	}
	return s
}

// run starts p.Run and returns a function that stops it and checks that it
// returned nil.
func run(t *testing.T, p *Publisher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: got %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGoroutines waits until no more than n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: got %d, want at most %d\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusOnlineThenOffline(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	before := runtime.NumGoroutine()

	p := New(Options{Broker: "tcp://" + b.Addr(), ClientID: "gw", Prefix: prefix, Logger: testLogger})
	stop := run(t, p)
	waitFor(t, "connection", func() bool { return p.Stats().Connected })

	// A subscriber that comes later still sees the retained status.
	late := subscribe(t, b.Addr(), prefix+"/status")
	s := status(t, next(t, late.C, "online status"))
	if s.State != StateOnline || s.Since.IsZero() || time.Since(s.Since) > time.Minute {
		t.Errorf("status: got %+v, want online since just now", s)
	}

	stop()
	waitStatus(t, late.C, StateOffline)
	if p.Stats().Connected {
		t.Errorf("Connected after stop: got true, want false")
	}
	again := subscribe(t, b.Addr(), prefix+"/status")
	if s := status(t, next(t, again.C, "retained status")); s.State != StateOffline {
		t.Errorf("retained status after stop: got %q, want %q", s.State, StateOffline)
	}
	late.Close()
	again.Close()
	waitGoroutines(t, before)
}

func TestTelemetryInOrder(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	sub := subscribe(t, b.Addr(), prefix+"/telemetry/#")
	before := runtime.NumGoroutine()

	p := New(Options{Broker: "tcp://" + b.Addr(), Prefix: prefix, Logger: testLogger})
	const n = 500
	go func() {
		for i := range n {
			p.Publish(DeviceSubtopic("tank"), []byte(strconv.Itoa(i)))
		}
	}()
	stop := run(t, p)
	for i := range n {
		m := next(t, sub.C, fmt.Sprintf("message %d", i))
		if want := (received{prefix + "/telemetry/tank", strconv.Itoa(i)}); m != want {
			t.Fatalf("message %d: got %+v, want %+v", i, m, want)
		}
	}
	waitFor(t, "every message acknowledged", func() bool { return p.Stats().Published == n })
	if got := p.Stats(); got.Queued != 0 || got.Dropped != 0 {
		t.Errorf("Stats: got %+v, want nothing queued or dropped", got)
	}
	stop()
	waitGoroutines(t, before)
}

// testDialer dials only when the test allows it, and remembers every
// connection it made.
type testDialer struct {
	allow  chan struct{} // one token per dial
	tried  chan struct{} // receives after every dial
	mu     sync.Mutex
	conns  []*testConn
	failed int
}

func newTestDialer() *testDialer {
	return &testDialer{allow: make(chan struct{}, 100), tried: make(chan struct{}, 100)}
}

// let allows n more dials.
func (d *testDialer) let(n int) {
	for range n {
		d.allow <- struct{}{}
	}
}

func (d *testDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	select {
	case <-d.allow:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { d.tried <- struct{}{} }()
	c, err := new(net.Dialer).DialContext(ctx, network, addr)
	if err != nil {
		d.mu.Lock()
		d.failed++
		d.mu.Unlock()
		return nil, err
	}
	tc := &testConn{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, tc)
	d.mu.Unlock()
	return tc, nil
}

func (d *testDialer) conn(i int) *testConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i >= len(d.conns) {
		return nil
	}
	return d.conns[i]
}

// withDialer makes p dial through a new testDialer and retry quickly.
func withDialer(p *Publisher) *testDialer {
	d := newTestDialer()
	p.dial, p.minBackoff, p.maxBackoff = d.dial, time.Millisecond, 10*time.Millisecond
	return d
}

// testConn is a connection the test can break from the client's side: sever
// makes the client see a dead connection while the broker's side of it
// stays open, as when a network path fails without either end closing.
type testConn struct {
	net.Conn
	mu      sync.Mutex
	severed bool
	killed  bool
}

func (c *testConn) sever() {
	c.mu.Lock()
	c.severed = true
	c.mu.Unlock()
	c.Conn.SetReadDeadline(time.Now()) // wake a blocked Read
}

// kill ends the connection as a reset would: both ends see it fail.
func (c *testConn) kill() {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	c.Conn.Close()
}

func (c *testConn) isKilled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

func (c *testConn) isSevered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.severed
}

func (c *testConn) Read(b []byte) (int, error) {
	if c.isSevered() {
		return 0, os.ErrDeadlineExceeded
	}
	n, err := c.Conn.Read(b)
	if err != nil && c.isKilled() {
		err = syscall.ECONNRESET
	}
	return n, err
}

func (c *testConn) Write(b []byte) (int, error) {
	if c.isSevered() || c.isKilled() {
		return 0, syscall.ECONNRESET
	}
	return c.Conn.Write(b)
}

func (c *testConn) Close() error {
	if c.isSevered() {
		return nil // the broker's side stays open
	}
	return c.Conn.Close()
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestQueuedBeforeBrokerStarts(t *testing.T) {
	addr := freeAddr(t)
	before := runtime.NumGoroutine()

	p := New(Options{Broker: "tcp://" + addr, Prefix: prefix, Logger: testLogger})
	d := withDialer(p)
	stop := run(t, p)
	const n = 50
	for i := range n {
		p.Publish(DeviceSubtopic("tank"), []byte(strconv.Itoa(i)))
	}
	d.let(1)
	<-d.tried
	d.mu.Lock()
	failed := d.failed
	d.mu.Unlock()
	if failed != 1 {
		t.Fatalf("dials failed with no broker: got %d, want 1", failed)
	}
	if got := p.Stats(); got.Connected || got.Queued != n || got.Published != 0 {
		t.Fatalf("Stats with no broker: got %+v, want %d queued, none published, not connected", got, n)
	}

	b := startBroker(t, addr)
	sub := subscribe(t, b.Addr(), prefix+"/telemetry/#")
	d.let(1)
	for i := range n {
		m := next(t, sub.C, fmt.Sprintf("message %d", i))
		if m.payload != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q, want %q", i, m.payload, strconv.Itoa(i))
		}
	}
	waitFor(t, "every message acknowledged", func() bool { return p.Stats().Published == n })
	if got := p.Stats().Queued; got != 0 {
		t.Errorf("Queued: got %d, want 0", got)
	}
	stop()
	sub.Close()
	b.Close()
	waitGoroutines(t, before)
}

func TestLastWill(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	statuses := subscribe(t, b.Addr(), prefix+"/status")
	p := New(Options{Broker: "tcp://" + b.Addr(), ClientID: "gw", Prefix: prefix, Logger: testLogger})
	d := withDialer(p)
	d.let(1)
	run(t, p)

	first := waitStatus(t, statuses.C, StateOnline)
	// Kill the connection without a DISCONNECT: the broker publishes the
	// will. The publisher may not reconnect yet, so that the broker sees
	// the connection die rather than a session taken over.
	d.conn(0).kill()
	waitStatus(t, statuses.C, StateOffline)
	waitFor(t, "the publisher to notice", func() bool { return !p.Stats().Connected })
	// The publisher reconnects and says so.
	d.let(1)
	if s := waitStatus(t, statuses.C, StateOnline); !s.Since.After(first.Since) {
		t.Errorf("online since: got %v, want after the first connection's %v", s.Since, first.Since)
	}
	p.Publish(DeviceSubtopic("tank"), []byte("after"))
	waitFor(t, "publish after reconnect", func() bool { return p.Stats().Published == 1 })
}

// TestStatusAfterTakeover breaks the connection on the client's side only:
// the broker notices only when the publisher reconnects with the same client
// id and takes the session over. It may then publish the old connection's
// will, possibly after the new connection's online status. The status must
// end up online.
func TestStatusAfterTakeover(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	statuses := subscribe(t, b.Addr(), prefix+"/status")
	p := New(Options{Broker: "tcp://" + b.Addr(), ClientID: "gw", Prefix: prefix, Logger: testLogger})
	d := withDialer(p)
	d.let(2)
	run(t, p)

	waitStatus(t, statuses.C, StateOnline)
	old := d.conn(0)
	defer old.Conn.Close()
	old.sever()
	waitFor(t, "a second connection", func() bool { return d.conn(1) != nil && p.Stats().Connected })

	// Let the statuses settle: the will, if the broker sends one, and the
	// publisher's answer to it. The retained status must be online.
	for settled := false; !settled; {
		select {
		case m := <-statuses.C:
			status(t, m)
		case <-time.After(time.Second):
			settled = true
		}
	}
	if s := status(t, next(t, subscribe(t, b.Addr(), prefix+"/status").C, "retained status")); s.State != StateOnline {
		t.Errorf("retained status after the takeover: got %q, want %q", s.State, StateOnline)
	}
}

// TestStatusRestated plays a late last will: another client overwrites the
// retained status with offline while the publisher is connected. The
// publisher must restate online.
func TestStatusRestated(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	statuses := subscribe(t, b.Addr(), prefix+"/status")
	p := New(Options{Broker: "tcp://" + b.Addr(), ClientID: "gw", Prefix: prefix, Logger: testLogger})
	run(t, p)
	waitStatus(t, statuses.C, StateOnline)

	other := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetProtocolVersion(4))
	if tok := other.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer other.Disconnect(250)
	if tok := other.Publish(prefix+"/status", 1, true, offlinePayload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitStatus(t, statuses.C, StateOffline)
	waitStatus(t, statuses.C, StateOnline)
	if s := status(t, next(t, subscribe(t, b.Addr(), prefix+"/status").C, "retained status")); s.State != StateOnline {
		t.Errorf("retained status: got %q, want %q", s.State, StateOnline)
	}
}

func TestDropWhenFull(t *testing.T) {
	p := New(Options{Broker: "tcp://127.0.0.1:1", Prefix: prefix, Queue: 3})
	for i := range 5 {
		p.Publish(DeviceSubtopic("tank"), []byte(strconv.Itoa(i)))
	}
	p.PublishRetained("status", []byte("x"))
	if got, want := p.Stats(), (Stats{Queued: 3, Dropped: 3}); got != want {
		t.Errorf("Stats: got %+v, want %+v", got, want)
	}
	msgs, _ := p.outbox.Peek(10)
	for i, m := range msgs {
		if want := (Message{Topic: prefix + "/telemetry/tank", Payload: []byte(strconv.Itoa(i))}); m.Topic != want.Topic || string(m.Payload) != string(want.Payload) || m.Retained {
			t.Errorf("queued message %d: got %+v, want %+v", i, m, want)
		}
	}
}

func TestRunRefusesBadBrokerURL(t *testing.T) {
	tests := []struct {
		name, broker string
	}{
		{"empty", ""},
		{"websocket", "ws://127.0.0.1:1883"},
		{"no port", "tcp://127.0.0.1"},
		{"not a URL", "tcp://[::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{Broker: tt.broker})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.Run(ctx); err == nil {
				t.Errorf("Run(%q): got nil, want an error", tt.broker)
			}
		})
	}
}

func TestRunReturnsWhileBrokerAway(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(Options{Broker: "tcp://" + freeAddr(t), Prefix: prefix, Logger: testLogger})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Errorf("Run with no broker: got %v, want nil", err)
	}
	waitGoroutines(t, before)
}

// TestPersistentSessionReconnects breaks the connection while messages are
// in flight on a persistent session, where paho leaves their tokens
// pending: the publisher must still notice, reconnect and deliver them.
func TestPersistentSessionReconnects(t *testing.T) {
	fb := startFakeBroker(t)
	p := New(Options{Broker: "tcp://" + fb.addr, ClientID: "gw", Prefix: prefix, Logger: testLogger, PersistentSession: true})
	p.minBackoff, p.maxBackoff = time.Millisecond, 10*time.Millisecond
	run(t, p)
	const n = 20
	for i := range n {
		p.Publish(DeviceSubtopic("tank"), []byte(strconv.Itoa(i)))
	}
	waitFor(t, "every message acknowledged", func() bool { return p.Stats().Published == n })
	if got := fb.conns.Load(); got < 2 {
		t.Errorf("connections: got %d, want at least 2", got)
	}
}

// fakeBroker speaks just enough MQTT 3.1.1 for the publisher. Its first
// connection takes PUBLISH packets without ever acknowledging them and is
// closed after the first telemetry message; later connections acknowledge.
type fakeBroker struct {
	addr  string
	conns atomic.Int32
}

func startFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBroker{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			first := fb.conns.Add(1) == 1
			wg.Go(func() { fakeServe(c, first) })
		}
	})
	return fb
}

func fakeServe(c net.Conn, silent bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		typ, err := r.ReadByte()
		if err != nil {
			return
		}
		n, mul := 0, 1
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			n += int(b&127) * mul
			mul *= 128
			if b < 128 {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		switch typ >> 4 {
		case 1: // CONNECT
			c.Write([]byte{0x20, 2, 0, 0})
		case 8: // SUBSCRIBE
			c.Write([]byte{0x90, 3, body[0], body[1], 1})
		case 3: // PUBLISH, QoS 1
			tl := int(body[0])<<8 | int(body[1])
			topic, id := string(body[2:2+tl]), body[2+tl:4+tl]
			if silent {
				if strings.Contains(topic, "/telemetry/") {
					return
				}
				if !strings.HasSuffix(topic, "/status") {
					continue
				}
			}
			c.Write([]byte{0x40, 2, id[0], id[1]})
		case 12: // PINGREQ
			c.Write([]byte{0xd0, 0})
		case 14: // DISCONNECT
			return
		}
	}
}
