package sparkplug_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/broker"
	"github.com/femtoclaw/femtoclaw/gateway/sparkplug"
)

// msg is one Sparkplug message a host application saw.
type msg struct {
	typ, device string
	p           *sparkplug.Payload
}

// host is a Sparkplug host application on the test broker: it records
// every message under spBv1.0/ and can send commands.
type host struct {
	t      *testing.T
	client mqtt.Client
	ch     chan msg
}

func newHost(t *testing.T, addr string) *host {
	t.Helper()
	h := &host{t: t, ch: make(chan msg, 1024)}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("host-" + t.Name())
	h.client = mqtt.NewClient(o)
	if tok := h.client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("host connect: %v", tok.Error())
	}
	t.Cleanup(func() { h.client.Disconnect(0) })
	tok := h.client.Subscribe("spBv1.0/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		parts := strings.Split(m.Topic(), "/")
		if len(parts) < 4 || strings.HasSuffix(parts[2], "CMD") {
			return
		}
		var p sparkplug.Payload
		if err := proto.Unmarshal(m.Payload(), &p); err != nil {
			t.Errorf("%s: decode: %v", m.Topic(), err)
			return
		}
		dev := ""
		if len(parts) > 4 {
			dev = parts[4]
		}
		h.ch <- msg{typ: parts[2], device: dev, p: &p}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("host subscribe: %v", tok.Error())
	}
	return h
}

// next returns the next message, failing after 5 s.
func (h *host) next() msg {
	h.t.Helper()
	select {
	case m := <-h.ch:
		return m
	case <-time.After(5 * time.Second):
		h.t.Fatal("no Sparkplug message in 5s")
		return msg{}
	}
}

// expect returns the next message and checks its type, device and seq
// (seq < 0: none expected).
func (h *host) expect(typ, device string, seq int) msg {
	h.t.Helper()
	m := h.next()
	if m.typ != typ || m.device != device {
		h.t.Fatalf("got %s %q, want %s %q", m.typ, m.device, typ, device)
	}
	if seq < 0 {
		if m.p.Seq != nil {
			h.t.Fatalf("%s: got seq %d, want none", typ, m.p.GetSeq())
		}
	} else if m.p.Seq == nil || m.p.GetSeq() != uint64(seq) {
		h.t.Fatalf("%s %s: got seq %v, want %d", typ, device, m.p.Seq, seq)
	}
	if m.p.GetTimestamp() == 0 {
		h.t.Fatalf("%s: no timestamp", typ)
	}
	return m
}

func (h *host) send(topic string, metrics ...*sparkplug.Payload_Metric) {
	h.t.Helper()
	b, err := proto.Marshal(&sparkplug.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Metrics: metrics})
	if err != nil {
		h.t.Fatal(err)
	}
	if tok := h.client.Publish(topic, 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		h.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func metrics(p *sparkplug.Payload) map[string]*sparkplug.Payload_Metric {
	out := map[string]*sparkplug.Payload_Metric{}
	for _, m := range p.GetMetrics() {
		out[m.GetName()] = m
	}
	return out
}

var tank = drivers.DeviceConfig{Name: "tank", Points: []drivers.PointConfig{
	{Name: "level", Register: "holding", Type: "float32"},
	{Name: "heater", Register: "coil"},
}}

func readings(level float64, heater bool) []drivers.Reading {
	now := time.Now()
	return []drivers.Reading{
		{Point: "level", Value: drivers.Number(level), Quality: drivers.QualityGood, Time: now},
		{Point: "heater", Value: drivers.Bool(heater), Quality: drivers.QualityGood, Time: now},
	}
}

// calls records the calls a node makes through its Caller.
type calls struct {
	mu   sync.Mutex
	got  []capability.Call
	seen chan struct{}
}

func (c *calls) call(_ context.Context, call capability.Call) capability.Result {
	c.mu.Lock()
	c.got = append(c.got, call)
	c.mu.Unlock()
	c.seen <- struct{}{}
	return capability.Result{OK: true}
}

// start runs a node on a fresh broker, with a host subscribed before the
// node connects. stop ends the node and waits for it.
func start(t *testing.T, c *calls) (h *host, n *sparkplug.Node, stop func()) {
	t.Helper()
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h = newHost(t, b.Addr())
	opts := sparkplug.Options{
		Broker: "tcp://" + b.Addr(), ClientID: "node-" + t.Name(), GroupID: "plant", EdgeNodeID: "gw1",
		Devices: []drivers.DeviceConfig{tank},
		Capabilities: []capability.Spec{
			{Name: "set_heater", Kind: capability.KindWrite, Device: "tank", Point: "heater"},
		},
	}
	if c != nil {
		opts.Call = c.call
	}
	n = sparkplug.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return h, n, stop
}

// TestBirthDataDeath checks NBIRTH, DBIRTH before any reading, DDATA of
// what changed only, and NDEATH at a clean stop, with their seq and bdSeq.
func TestBirthDataDeath(t *testing.T) {
	h, n, stop := start(t, nil)

	nb := metrics(h.expect("NBIRTH", "", 0).p)
	if bd := nb[sparkplug.BdSeqMetric]; bd.GetLongValue() != 0 || bd.GetDatatype() != sparkplug.TypeUInt64 {
		t.Fatalf("NBIRTH bdSeq: got %v, want 0 as UInt64", bd)
	}
	if rb, ok := nb[sparkplug.RebirthMetric]; !ok || rb.GetBooleanValue() || rb.GetDatatype() != sparkplug.TypeBoolean {
		t.Fatalf("NBIRTH %s: got %v, want false as Boolean", sparkplug.RebirthMetric, rb)
	}
	db := metrics(h.expect("DBIRTH", "tank", 1).p)
	if l := db["level"]; !l.GetIsNull() || l.GetDatatype() != sparkplug.TypeDouble {
		t.Fatalf("DBIRTH level before any poll: got %v, want null Double", l)
	}
	if ht := db["heater"]; !ht.GetIsNull() || ht.GetDatatype() != sparkplug.TypeBoolean {
		t.Fatalf("DBIRTH heater before any poll: got %v, want null Boolean", ht)
	}

	n.Report("tank", readings(41.5, false))
	d := metrics(h.expect("DDATA", "tank", 2).p)
	if len(d) != 2 || d["level"].GetDoubleValue() != 41.5 || d["heater"].GetBooleanValue() {
		t.Fatalf("DDATA: got %v, want level 41.5 and heater false", d)
	}
	n.Report("tank", readings(41.5, false)) // nothing changed: nothing sent
	n.Report("tank", readings(42, false))
	d = metrics(h.expect("DDATA", "tank", 3).p)
	if len(d) != 1 || d["level"].GetDoubleValue() != 42 {
		t.Fatalf("DDATA after a change of level: got %v, want level 42 alone", d)
	}
	bad := readings(0, false)
	bad[0].Quality, bad[0].Value = drivers.QualityStale, drivers.Value{}
	n.Report("tank", bad)
	d = metrics(h.expect("DDATA", "tank", 4).p)
	if len(d) != 1 || !d["level"].GetIsNull() {
		t.Fatalf("DDATA of a stale level: got %v, want level null alone", d)
	}

	stop()
	death := metrics(h.expect("NDEATH", "", -1).p)
	if death[sparkplug.BdSeqMetric].GetLongValue() != 0 {
		t.Fatalf("NDEATH bdSeq: got %v, want 0", death[sparkplug.BdSeqMetric])
	}
}

// TestSeqWraps checks that seq runs 0 to 255 and then from 0 again.
func TestSeqWraps(t *testing.T) {
	h, n, _ := start(t, nil)
	h.expect("NBIRTH", "", 0)
	h.expect("DBIRTH", "tank", 1)
	for i := range 300 {
		n.Report("tank", readings(float64(i), false))
		h.expect("DDATA", "tank", (i+2)%256)
	}
}

// TestRebirth checks that NCMD Node Control/Rebirth births the node and
// its devices again, seq from 0, the same bdSeq, with the last values.
func TestRebirth(t *testing.T) {
	h, n, _ := start(t, nil)
	h.expect("NBIRTH", "", 0)
	h.expect("DBIRTH", "tank", 1)
	n.Report("tank", readings(10, true))
	h.expect("DDATA", "tank", 2)

	h.send("spBv1.0/plant/NCMD/gw1", &sparkplug.Payload_Metric{Name: proto.String(sparkplug.RebirthMetric),
		Datatype: proto.Uint32(sparkplug.TypeBoolean), Value: &sparkplug.Payload_Metric_BooleanValue{BooleanValue: true}})
	nb := metrics(h.expect("NBIRTH", "", 0).p)
	if nb[sparkplug.BdSeqMetric].GetLongValue() != 0 {
		t.Fatalf("rebirth bdSeq: got %v, want 0 (the same connection)", nb[sparkplug.BdSeqMetric])
	}
	db := metrics(h.expect("DBIRTH", "tank", 1).p)
	if db["level"].GetDoubleValue() != 10 || !db["heater"].GetBooleanValue() {
		t.Fatalf("rebirth DBIRTH: got %v, want level 10 and heater true", db)
	}
}

// TestDCMD checks that a DCMD becomes a call of the point's write
// capability, and a point without one a call of an unknown capability.
func TestDCMD(t *testing.T) {
	c := &calls{seen: make(chan struct{}, 8)}
	h, _, _ := start(t, c)
	h.expect("NBIRTH", "", 0)
	h.expect("DBIRTH", "tank", 1)
	h.send("spBv1.0/plant/DCMD/gw1/tank",
		&sparkplug.Payload_Metric{Name: proto.String("heater"), Value: &sparkplug.Payload_Metric_BooleanValue{BooleanValue: true}},
		&sparkplug.Payload_Metric{Name: proto.String("level"), Value: &sparkplug.Payload_Metric_DoubleValue{DoubleValue: 99.5}})
	for range 2 {
		select {
		case <-c.seen:
		case <-time.After(5 * time.Second):
			t.Fatal("DCMD made no call in 5s")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	want := []capability.Call{
		{Capability: "set_heater", Args: `{"value":true}`},
		{Capability: "tank.level", Args: `{"value":99.5}`},
	}
	if len(c.got) != len(want) {
		t.Fatalf("got calls %v, want %v", c.got, want)
	}
	for i := range want {
		if c.got[i] != want[i] {
			t.Errorf("call %d: got %+v, want %+v", i, c.got[i], want[i])
		}
	}
}

// proxy forwards TCP connections to addr until closed; cut ends the ones
// open now.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, addr string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestWillAndReconnect cuts the node's connection: the broker sends its
// will, NDEATH with the bdSeq of the NBIRTH, and the node comes back with
// the next bdSeq, seq from 0 and its devices born again.
func TestWillAndReconnect(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h := newHost(t, b.Addr())
	px := newProxy(t, b.Addr())
	n := sparkplug.New(sparkplug.Options{Broker: "tcp://" + px.ln.Addr().String(), ClientID: "node-will",
		GroupID: "plant", EdgeNodeID: "gw1", Devices: []drivers.DeviceConfig{tank}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()

	bdSeq := func(m msg) uint64 { return metrics(m.p)[sparkplug.BdSeqMetric].GetLongValue() }
	if bd := bdSeq(h.expect("NBIRTH", "", 0)); bd != 0 {
		t.Fatalf("first NBIRTH bdSeq: got %d, want 0", bd)
	}
	h.expect("DBIRTH", "tank", 1)
	n.Report("tank", readings(5, false))
	h.expect("DDATA", "tank", 2)

	px.cut()
	if bd := bdSeq(h.expect("NDEATH", "", -1)); bd != 0 {
		t.Fatalf("will NDEATH bdSeq: got %d, want 0", bd)
	}
	if bd := bdSeq(h.expect("NBIRTH", "", 0)); bd != 1 {
		t.Fatalf("NBIRTH after reconnecting: bdSeq %d, want 1", bd)
	}
	if l := metrics(h.expect("DBIRTH", "tank", 1).p)["level"]; l.GetDoubleValue() != 5 {
		t.Fatalf("DBIRTH after reconnecting: level %v, want 5", l)
	}
}
