// Package sparkplug is the gateway's Sparkplug B edge node: it publishes the
// polled values of every device as Sparkplug B births and data, and carries
// the writes a host application sends (DCMD) through the gate.
//
// Topics, for group G, edge node N and device D:
//
//	spBv1.0/G/NBIRTH/N     node birth: bdSeq, "Node Control/Rebirth"; seq 0
//	spBv1.0/G/NDEATH/N     node death: bdSeq; the connection's last will
//	spBv1.0/G/DBIRTH/N/D   device birth: every point of D, with its value
//	spBv1.0/G/DDATA/N/D    device data: the points whose value changed
//	spBv1.0/G/NCMD/N       "Node Control/Rebirth" = true: births again
//	spBv1.0/G/DCMD/N/D     a write of D's points, through the gate
//
// Every payload is a Payload (sparkplug_b.proto) with a timestamp in
// milliseconds; births and data carry seq, 0 to 255 and round again,
// counted over every message of the node from its NBIRTH. bdSeq counts the
// node's connections, 0 to 255: the NBIRTH and the will (NDEATH) of one
// connection carry the same bdSeq.
//
// A point's metric is named after the point. Numbers are Double (10),
// booleans Boolean (11), strings String (12); a point that is bad or stale
// is sent with is_null.
package sparkplug

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
)

// Principal is who a DCMD calls as: the gate's principal of Sparkplug
// host applications.
const Principal capability.Principal = "sparkplug"

// Namespace starts every Sparkplug B topic.
const Namespace = "spBv1.0"

// RebirthMetric is the node control metric that asks for births again.
const RebirthMetric = "Node Control/Rebirth"

// BdSeqMetric is the metric that pairs an NBIRTH with its NDEATH.
const BdSeqMetric = "bdSeq"

// The Sparkplug B data types the node sends.
const (
	TypeUInt64  uint32 = 8
	TypeDouble  uint32 = 10
	TypeBoolean uint32 = 11
	TypeString  uint32 = 12
)

// Caller carries one call through the gate, as the principal Principal.
// The gateway passes its agent core's Call.
type Caller func(ctx context.Context, call capability.Call) capability.Result

// Options configures a Node.
type Options struct {
	// Broker is the broker's URL, tcp://host:port.
	Broker string
	// ClientID is the node's own MQTT client id; it must differ from the
	// telemetry publisher's.
	ClientID string
	// TLS, Username and Password are as for the telemetry publisher.
	TLS      *tls.Config
	Username string
	Password string
	// GroupID and EdgeNodeID name the node in every topic.
	GroupID    string
	EdgeNodeID string
	// Devices are the devices whose points are born and published.
	Devices []drivers.DeviceConfig
	// Capabilities map a DCMD metric (device, point) to the write
	// capability that sets that point.
	Capabilities []capability.Spec
	// Call carries DCMD writes through the gate. Nil: every DCMD is
	// dropped.
	Call Caller
	// Logger receives the node's logs. Nil: discarded.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Node is one Sparkplug B edge node. Report is safe to call from any
// goroutine; Run owns the connection.
type Node struct {
	opts   Options
	logger *slog.Logger
	now    func() time.Time
	writes map[string]capability.Spec // "device\x00point" -> write capability
	cmds   chan cmd

	mu      sync.Mutex
	client  mqtt.Client // nil while not connected
	seq     uint64      // the next seq
	bdSeq   uint64      // the current connection's bdSeq
	latest  map[string][]drivers.Reading
	born    map[string]bool                     // devices with a DBIRTH on this connection
	sent    map[string]map[string]drivers.Value // last value published per device and point
	sentBad map[string]map[string]bool          // points last published as null
}

// cmd is one command received from the broker.
type cmd struct {
	topic   string
	payload []byte
}

// New prepares a node; nothing connects until Run.
func New(opts Options) *Node {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	n := &Node{
		opts: opts, logger: logger.With("component", "sparkplug"), now: now,
		writes: map[string]capability.Spec{}, cmds: make(chan cmd, 64),
		latest: map[string][]drivers.Reading{}, born: map[string]bool{},
		sent: map[string]map[string]drivers.Value{}, sentBad: map[string]map[string]bool{},
	}
	for _, s := range opts.Capabilities {
		if s.Kind == capability.KindWrite {
			n.writes[s.Device+"\x00"+s.Point] = s
		}
	}
	return n
}

// Topic returns the topic of message type typ (NBIRTH, DDATA, ...) for the
// node, and for device when it is not empty.
func (n *Node) Topic(typ, device string) string {
	t := Namespace + "/" + n.opts.GroupID + "/" + typ + "/" + n.opts.EdgeNodeID
	if device != "" {
		t += "/" + device
	}
	return t
}

// Run connects, births and serves commands until ctx is done; then it
// publishes NDEATH and disconnects. A lost connection is made again with
// the next bdSeq.
func (n *Node) Run(ctx context.Context) error {
	for {
		lost := make(chan struct{})
		c, err := n.connect(ctx, lost)
		if err == nil {
			err = n.serve(ctx, c, lost)
			if ctx.Err() != nil {
				return nil
			}
			n.logger.Warn("connection lost; connecting again", "err", err)
		} else if ctx.Err() != nil {
			return nil
		} else {
			n.logger.Warn("connect failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// connect opens one connection whose will is NDEATH with the next bdSeq,
// subscribes to the commands and publishes the births.
func (n *Node) connect(ctx context.Context, lost chan struct{}) (mqtt.Client, error) {
	n.mu.Lock()
	bd := n.bdSeq
	n.mu.Unlock()
	death, err := proto.Marshal(n.deathPayload(bd))
	if err != nil {
		return nil, fmt.Errorf("sparkplug: encode NDEATH: %w", err)
	}
	o := mqtt.NewClientOptions().AddBroker(n.opts.Broker).SetClientID(n.opts.ClientID).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5*time.Second).SetOrderMatters(false).
		SetBinaryWill(n.Topic("NDEATH", ""), death, 1, false).
		SetConnectionLostHandler(func(mqtt.Client, error) { close(lost) })
	if n.opts.TLS != nil {
		o.SetTLSConfig(n.opts.TLS)
	}
	if n.opts.Username != "" {
		o.SetUsername(n.opts.Username).SetPassword(n.opts.Password)
	}
	c := mqtt.NewClient(o)
	if err := wait(ctx, c.Connect()); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("sparkplug: connect %s: %w", n.opts.Broker, err)
	}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case n.cmds <- cmd{topic: m.Topic(), payload: m.Payload()}:
		default:
			n.logger.Warn("command dropped: too many waiting", "topic", m.Topic())
		}
	}
	subs := map[string]byte{n.Topic("NCMD", ""): 1, n.Topic("DCMD", "+"): 1}
	if err := wait(ctx, c.SubscribeMultiple(subs, handler)); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("sparkplug: subscribe: %w", err)
	}
	n.mu.Lock()
	n.client = c
	n.bdSeq = (bd + 1) % 256
	n.mu.Unlock()
	if err := n.birth(ctx, bd); err != nil {
		n.drop(c)
		c.Disconnect(0)
		return nil, err
	}
	n.logger.Info("edge node born", "group", n.opts.GroupID, "node", n.opts.EdgeNodeID, "bdSeq", bd)
	return c, nil
}

// serve handles commands until ctx is done or the connection is lost.
func (n *Node) serve(ctx context.Context, c mqtt.Client, lost chan struct{}) error {
	for {
		select {
		case <-ctx.Done():
			n.mu.Lock()
			bd := (n.bdSeq + 255) % 256
			n.mu.Unlock()
			if b, err := proto.Marshal(n.deathPayload(bd)); err == nil {
				tctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := wait(tctx, c.Publish(n.Topic("NDEATH", ""), 1, false, b)); err != nil {
					n.logger.Warn("NDEATH not sent", "err", err)
				}
				cancel()
			}
			n.drop(c)
			c.Disconnect(250)
			return nil
		case <-lost:
			n.drop(c)
			return errors.New("sparkplug: connection lost")
		case m := <-n.cmds:
			n.command(ctx, m)
		}
	}
}

// drop forgets the connection c and every birth made on it.
func (n *Node) drop(c mqtt.Client) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == c {
		n.client = nil
	}
	clear(n.born)
	clear(n.sent)
	clear(n.sentBad)
}

// birth publishes NBIRTH with bdSeq bd and seq 0, then a DBIRTH for every
// device.
func (n *Node) birth(ctx context.Context, bd uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.client
	if c == nil {
		return errors.New("sparkplug: not connected")
	}
	clear(n.born)
	clear(n.sent)
	clear(n.sentBad)
	n.seq = 0
	ts := n.millis()
	p := &Payload{Timestamp: proto.Uint64(ts), Seq: proto.Uint64(n.nextSeq()), Metrics: []*Payload_Metric{
		{Name: proto.String(BdSeqMetric), Timestamp: proto.Uint64(ts), Datatype: proto.Uint32(TypeUInt64), Value: &Payload_Metric_LongValue{LongValue: bd}},
		{Name: proto.String(RebirthMetric), Timestamp: proto.Uint64(ts), Datatype: proto.Uint32(TypeBoolean), Value: &Payload_Metric_BooleanValue{BooleanValue: false}},
	}}
	if err := n.publishLocked(ctx, c, n.Topic("NBIRTH", ""), p); err != nil {
		return err
	}
	for _, dc := range n.opts.Devices {
		if err := n.deviceLocked(ctx, c, dc, n.latest[dc.Name]); err != nil {
			return err
		}
	}
	return nil
}

// Report takes one poll's readings of device and publishes what changed:
// the device's DBIRTH if it has none on this connection yet, else a DDATA
// with the points whose value or quality changed.
func (n *Node) Report(device string, rs []drivers.Reading) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.latest[device] = append(n.latest[device][:0], rs...)
	c := n.client
	if c == nil {
		return
	}
	for _, dc := range n.opts.Devices {
		if dc.Name != device {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.deviceLocked(ctx, c, dc, rs); err != nil {
			n.logger.Warn("device data not sent", "device", device, "err", err)
		}
		cancel()
	}
}

// deviceLocked publishes DBIRTH for dc if it has none, else DDATA of what
// changed in rs. n.mu is held.
func (n *Node) deviceLocked(ctx context.Context, c mqtt.Client, dc drivers.DeviceConfig, rs []drivers.Reading) error {
	ts := n.millis()
	if !n.born[dc.Name] {
		byPoint := make(map[string]drivers.Reading, len(rs))
		for _, r := range rs {
			byPoint[r.Point] = r
		}
		sent, bad := map[string]drivers.Value{}, map[string]bool{}
		p := &Payload{Timestamp: proto.Uint64(ts)}
		for _, pt := range dc.All() {
			r, ok := byPoint[pt.Name]
			m := metric(pt, r, ok, ts)
			p.Metrics = append(p.Metrics, m)
			if m.GetIsNull() {
				bad[pt.Name] = true
			} else {
				sent[pt.Name] = r.Value
			}
		}
		p.Seq = proto.Uint64(n.nextSeq())
		if err := n.publishLocked(ctx, c, n.Topic("DBIRTH", dc.Name), p); err != nil {
			return err
		}
		n.born[dc.Name], n.sent[dc.Name], n.sentBad[dc.Name] = true, sent, bad
		return nil
	}
	sent, bad := n.sent[dc.Name], n.sentBad[dc.Name]
	p := &Payload{Timestamp: proto.Uint64(ts)}
	cu := dc.Cursor()
	for i, r := range rs {
		good := r.Quality == drivers.QualityGood && r.Value.Valid()
		if good && !bad[r.Point] && sent[r.Point] == r.Value {
			continue
		}
		if !good && bad[r.Point] {
			continue
		}
		pt, ok := pointAt(dc, &cu, i, r.Point)
		if !ok {
			continue // not a point of the device
		}
		m := metric(pt, r, true, rtime(r, ts))
		p.Metrics = append(p.Metrics, m)
		if good {
			sent[r.Point], bad[r.Point] = r.Value, false
		} else {
			bad[r.Point] = true
		}
	}
	if len(p.Metrics) == 0 {
		return nil
	}
	p.Seq = proto.Uint64(n.nextSeq())
	return n.publishLocked(ctx, c, n.Topic("DDATA", dc.Name), p)
}

// pointAt returns the configuration of the point called name, the i-th
// reading of a poll of dc: found by cu without making the names of a
// range's points, or by a search when the readings come in another order.
func pointAt(dc drivers.DeviceConfig, cu *drivers.Cursor, i int, name string) (drivers.PointConfig, bool) {
	if e, k, ok := cu.Match(i, name); ok {
		return e.ElementNamed(k, name), true
	}
	return dc.Point(name)
}

// rtime is the reading's time in milliseconds, or def when it has none.
func rtime(r drivers.Reading, def uint64) uint64 {
	if r.Time.IsZero() {
		return def
	}
	return uint64(r.Time.UnixMilli())
}

// metric is the metric of point pt with reading r (ok: r is known).
func metric(pt drivers.PointConfig, r drivers.Reading, ok bool, ts uint64) *Payload_Metric {
	m := &Payload_Metric{Name: proto.String(pt.Name), Timestamp: proto.Uint64(ts), Datatype: proto.Uint32(dataType(pt, r))}
	if !ok || r.Quality != drivers.QualityGood || !r.Value.Valid() {
		m.IsNull = proto.Bool(true)
		return m
	}
	switch r.Value.Kind {
	case drivers.KindBool:
		m.Value = &Payload_Metric_BooleanValue{BooleanValue: r.Value.Bool}
	case drivers.KindString:
		m.Value = &Payload_Metric_StringValue{StringValue: r.Value.Text}
	default:
		m.Value = &Payload_Metric_DoubleValue{DoubleValue: r.Value.Number}
	}
	return m
}

// dataType is the Sparkplug data type of point pt: from its reading's
// kind when it has one, else from its configured type.
func dataType(pt drivers.PointConfig, r drivers.Reading) uint32 {
	switch r.Value.Kind {
	case drivers.KindBool:
		return TypeBoolean
	case drivers.KindString:
		return TypeString
	case drivers.KindNumber:
		return TypeDouble
	}
	switch {
	case pt.Type == "bool" || pt.Register == "coil" || pt.Register == "discrete":
		return TypeBoolean
	case pt.Type == "string":
		return TypeString
	}
	return TypeDouble
}

// deathPayload is the NDEATH of the connection with bdSeq bd.
func (n *Node) deathPayload(bd uint64) *Payload {
	ts := n.millis()
	return &Payload{Timestamp: proto.Uint64(ts), Metrics: []*Payload_Metric{
		{Name: proto.String(BdSeqMetric), Timestamp: proto.Uint64(ts), Datatype: proto.Uint32(TypeUInt64), Value: &Payload_Metric_LongValue{LongValue: bd}},
	}}
}

// nextSeq returns the next seq, 0 to 255. n.mu is held.
func (n *Node) nextSeq() uint64 {
	s := n.seq
	n.seq = (n.seq + 1) % 256
	return s
}

func (n *Node) millis() uint64 { return uint64(n.now().UnixMilli()) }

// publishLocked sends p on topic at QoS 1 and waits for the broker's
// acknowledgement. n.mu is held, so that seq order is publish order.
func (n *Node) publishLocked(ctx context.Context, c mqtt.Client, topic string, p *Payload) error {
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("sparkplug: encode %s: %w", topic, err)
	}
	if err := wait(ctx, c.Publish(topic, 1, false, b)); err != nil {
		return fmt.Errorf("sparkplug: publish %s: %w", topic, err)
	}
	return nil
}

// command handles one NCMD or DCMD.
func (n *Node) command(ctx context.Context, m cmd) {
	var p Payload
	if err := proto.Unmarshal(m.payload, &p); err != nil {
		n.logger.Warn("command not decoded", "topic", m.topic, "err", err)
		return
	}
	if m.topic == n.Topic("NCMD", "") {
		for _, mt := range p.GetMetrics() {
			if mt.GetName() == RebirthMetric && mt.GetBooleanValue() {
				n.mu.Lock()
				bd := (n.bdSeq + 255) % 256
				n.mu.Unlock()
				n.logger.Info("rebirth asked")
				if err := n.birth(ctx, bd); err != nil {
					n.logger.Warn("rebirth failed", "err", err)
				}
			}
		}
		return
	}
	device, ok := strings.CutPrefix(m.topic, n.Topic("DCMD", "")+"/")
	if !ok {
		return
	}
	for _, mt := range p.GetMetrics() {
		n.write(ctx, device, mt)
	}
}

// write carries one DCMD metric through the gate: as a call of the write
// capability of that point, or, when there is none, as a call of the
// unknown capability "<device>.<point>", which the gate refuses and the
// journal keeps.
func (n *Node) write(ctx context.Context, device string, mt *Payload_Metric) {
	log := n.logger.With("device", device, "metric", mt.GetName())
	if n.opts.Call == nil {
		log.Warn("DCMD dropped: no caller")
		return
	}
	var arg string
	switch v := mt.GetValue().(type) {
	case *Payload_Metric_BooleanValue:
		arg = fmt.Sprint(v.BooleanValue)
	case *Payload_Metric_DoubleValue:
		arg = fmt.Sprint(v.DoubleValue)
	case *Payload_Metric_FloatValue:
		arg = fmt.Sprint(v.FloatValue)
	case *Payload_Metric_IntValue:
		arg = fmt.Sprint(v.IntValue)
	case *Payload_Metric_LongValue:
		arg = fmt.Sprint(v.LongValue)
	default:
		arg = "null"
	}
	name, argName := device+"."+mt.GetName(), "value"
	if s, ok := n.writes[device+"\x00"+mt.GetName()]; ok {
		name = s.Name
		if s.Argument != "" {
			argName = s.Argument
		}
	}
	call := capability.Call{Capability: name, Args: fmt.Sprintf("{%q:%s}", argName, arg)}
	res := n.opts.Call(ctx, call)
	log.Info("DCMD", "capability", name, "args", call.Args, "ok", res.OK, "code", res.Code, "reason", res.Reason)
}

// wait waits for t, or for ctx.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
