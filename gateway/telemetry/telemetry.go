// Package telemetry publishes what the gateway sees and does to an MQTT
// broker, for an ordinary MQTT dashboard.
//
// Every topic starts with the configured prefix (femtoclaw/<gateway id> by
// default). Messages are published with QoS 1:
//
//	<prefix>/status             retained  {"state":"online","since":"2026-03-01T08:00:00.123Z"}
//	                                      {"state":"offline"}  (also the last will)
//	<prefix>/telemetry/<device>           {"device":"tank","seq":42,"ts":"2026-03-01T08:00:01Z",
//	                                       "values":{"level":{"value":41.5,"quality":"good","unit":"%"},
//	                                                 "heater":{"value":false,"quality":"good"}}}
//
// The gateway's other parts call Publish, which never blocks: a message goes
// into an Outbox and the Publisher's Run loop sends it once the broker is
// reachable, oldest first, and removes it only when the broker has
// acknowledged it. A lost connection therefore loses nothing that is still
// in the outbox; a message may arrive twice when a connection breaks between
// the broker receiving it and acknowledging it. A full outbox drops the new
// message and counts it; the online status reports the count.
//
// As it sends a JSON object payload, the publisher adds the message's seq in
// the outbox as "msg_seq" (the subscribers' de-duplication key) and, for a
// message queued while there was no connection, "historical":true:
//
//	{"msg_seq":1042,"historical":true,"device":"tank","seq":42,...}
//
// With the JournalOutbox the messages, their seqs and the drop count
// survive restarts. The SpillOutbox, the gateway's, keeps messages in
// memory while the broker takes them and in a journal outbox while it does
// not. docs/MQTT.md describes every topic.
package telemetry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Options configures a Publisher.
type Options struct {
	// Broker is the broker's URL, tcp://host:port (mqtt:// is accepted too).
	Broker string
	// ClientID is the MQTT client id. Empty: the broker assigns one.
	ClientID string
	// Prefix starts every topic, e.g. femtoclaw/demo.
	Prefix string
	// Logger receives the publisher's logs. Nil: discarded.
	Logger *slog.Logger
	// Queue bounds the in-memory outbox. Default 10000. Ignored when Outbox
	// is set.
	Queue int
	// Outbox replaces the in-memory outbox, e.g. with a durable one.
	Outbox Outbox
	// TLS configures the connection to a tls://, ssl:// or mqtts://
	// broker. Nil: the system's roots, and the broker's host as the
	// server name.
	TLS *tls.Config
	// Username and Password log in to the broker; empty: anonymous.
	Username string
	Password string
	// PersistentSession connects with clean session false, so that the
	// broker keeps the session (the status subscription and its queued
	// messages) across reconnections. It needs a fixed ClientID. The
	// outbox, not the session, keeps what has not been sent.
	PersistentSession bool
}

// DropCounter is an Outbox that counts its own drops (those it made to
// honour its bounds, across restarts for a durable one). Stats and the
// online status report its count in place of the publisher's.
type DropCounter interface {
	Dropped() uint64
}

// Stats counts what a Publisher has done.
type Stats struct {
	// Published counts messages the broker acknowledged.
	Published uint64
	// Dropped counts messages the outbox could not keep.
	Dropped uint64
	// Queued is the number of messages waiting in the outbox.
	Queued uint64
	// Connected reports whether the broker connection is up.
	Connected bool
}

// Publisher publishes messages to one broker through an outbox.
type Publisher struct {
	broker     string
	clientID   string
	prefix     string
	logger     *slog.Logger
	outbox     Outbox
	tls        *tls.Config
	username   string
	password   string
	persistent bool
	wake       chan struct{} // holds a token when the outbox may have news
	now        func() time.Time

	published atomic.Uint64
	dropped   atomic.Uint64
	connected atomic.Bool

	// Seams for tests; New sets the defaults.
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	minBackoff time.Duration
	maxBackoff time.Duration
	window     int // messages in flight at once
}

// Connection timing.
const (
	connectTimeout  = 10 * time.Second
	writeTimeout    = 5 * time.Second
	keepAlive       = 30 * time.Second
	offlineTimeout  = 2 * time.Second  // for the last status before stopping
	disconnectQuiet = 1000             // ms paho may take to close cleanly
	stableAfter     = 10 * time.Second // a connection this old resets the backoff
	restateDelay    = 250 * time.Millisecond
	dropCheck       = 5 * time.Second // how often new drops are looked for while online
)

// New returns a Publisher for opts. Nothing connects until Run.
func New(opts Options) *Publisher {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	outbox := opts.Outbox
	if outbox == nil {
		q := opts.Queue
		if q <= 0 {
			q = 10000
		}
		outbox = NewMemoryOutbox(q)
	}
	d := &net.Dialer{Timeout: connectTimeout}
	return &Publisher{
		broker:     opts.Broker,
		clientID:   opts.ClientID,
		prefix:     opts.Prefix,
		logger:     logger.With("component", "telemetry"),
		outbox:     outbox,
		tls:        opts.TLS,
		username:   opts.Username,
		password:   opts.Password,
		persistent: opts.PersistentSession,
		wake:       make(chan struct{}, 1),
		now:        time.Now,
		dial:       d.DialContext,
		minBackoff: 500 * time.Millisecond,
		maxBackoff: 30 * time.Second,
		window:     32,
	}
}

// topic returns the full topic of a subtopic.
func (p *Publisher) topic(subtopic string) string {
	if p.prefix == "" {
		return subtopic
	}
	return p.prefix + "/" + subtopic
}

// Publish queues payload for <prefix>/<subtopic> with QoS 1. It never
// blocks; when the outbox is full the message is dropped and counted. The
// payload is copied.
func (p *Publisher) Publish(subtopic string, payload []byte) {
	p.enqueue(subtopic, payload, false)
}

// PublishRetained is Publish for a message the broker keeps for later
// subscribers.
func (p *Publisher) PublishRetained(subtopic string, payload []byte) {
	p.enqueue(subtopic, payload, true)
}

func (p *Publisher) enqueue(subtopic string, payload []byte, retained bool) {
	p.enqueueTopic(p.topic(subtopic), payload, retained)
}

// enqueueTopic queues payload for the full topic.
func (p *Publisher) enqueueTopic(topic string, payload []byte, retained bool) {
	m := Message{Topic: topic, Payload: append([]byte(nil), payload...), Retained: retained, Time: p.now()}
	if err := p.outbox.Push(m); err != nil {
		if p.dropped.Add(1) == 1 || !errors.Is(err, ErrOutboxFull) {
			p.logger.Warn("message dropped", "topic", m.Topic, "err", err)
		}
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// setOnline tells an outbox that wants to know (Onliner) whether the
// broker is connected.
func (p *Publisher) setOnline(online bool) {
	if o, ok := p.outbox.(Onliner); ok {
		o.SetOnline(online)
	}
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	return Stats{
		Published: p.published.Load(),
		Dropped:   p.droppedCount(),
		Queued:    uint64(p.outbox.Len()),
		Connected: p.connected.Load(),
	}
}

// droppedCount returns the outbox's drop count, or the publisher's when the
// outbox does not count its own.
func (p *Publisher) droppedCount() uint64 {
	if dc, ok := p.outbox.(DropCounter); ok {
		return dc.Dropped()
	}
	return p.dropped.Load()
}

// connLost is the error of a serve loop whose connection broke; Run
// reconnects after it.
type connLost struct{ err error }

func (e connLost) Error() string { return "connection lost: " + e.err.Error() }
func (e connLost) Unwrap() error { return e.err }

// Run connects to the broker and publishes the outbox until ctx is done. A
// broker that is away or goes away does not stop it: it reconnects with a
// capped exponential backoff. The connection's last will, and the message
// published when ctx is done, set <prefix>/status to offline; every
// (re)connection sets it to online. Run returns nil when ctx is done, and an
// error only for an unusable broker URL or a failing outbox. Call Run once.
func (p *Publisher) Run(ctx context.Context) error {
	addr, useTLS, err := brokerAddr(p.broker)
	if err != nil {
		return err
	}
	logger := p.logger.With("broker", p.broker)
	backoff := p.minBackoff
	// pause waits out the backoff, with jitter, and doubles it. It reports
	// false when ctx is done first.
	pause := func() bool {
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		defer t.Stop()
		backoff = min(2*backoff, p.maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	failures := 0
	for {
		client, lost, err := p.connect(ctx, addr, useTLS)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			if failures == 1 {
				logger.Warn("broker unreachable, retrying", "err", err)
			} else {
				logger.Debug("connect failed", "attempt", failures, "err", err)
			}
			if !pause() {
				return nil
			}
			continue
		}
		logger.Info("connected", "after_attempts", failures+1)
		failures = 0
		up := p.now()
		p.connected.Store(true)
		p.setOnline(true)
		err = p.serve(ctx, client, lost, up)
		p.setOnline(false)
		p.connected.Store(false)
		if ctx.Err() != nil {
			p.goOffline(client)
			logger.Info("disconnected")
			return nil
		}
		client.Disconnect(disconnectQuiet)
		var cl connLost
		if !errors.As(err, &cl) {
			return err
		}
		logger.Warn("connection lost, reconnecting", "err", cl.err)
		// A connection that lasted resets the backoff; one that broke at
		// once (a broker that drops us, another client with our id) does
		// not, so that we do not hammer the broker.
		if time.Since(up) > stableAfter {
			backoff = p.minBackoff
		}
		if !pause() {
			return nil
		}
	}
}

// brokerAddr returns the host:port of a broker URL, and whether it speaks
// TLS: tcp:// and mqtt:// do not, tls://, ssl:// and mqtts:// do.
func brokerAddr(broker string) (addr string, useTLS bool, err error) {
	u, err := url.Parse(broker)
	if err != nil {
		return "", false, fmt.Errorf("telemetry: broker %q: %w", broker, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt":
	case "tls", "ssl", "mqtts":
		useTLS = true
	default:
		return "", false, fmt.Errorf("telemetry: broker %q: scheme must be tcp://, mqtt://, tls://, ssl:// or mqtts://", broker)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", false, fmt.Errorf("telemetry: broker %q: %w", broker, err)
	}
	return u.Host, useTLS, nil
}

// dialTLS dials addr and completes a TLS handshake with p's TLS config.
func (p *Publisher) dialTLS(ctx context.Context, addr string) (net.Conn, error) {
	raw, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := p.tls.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	c := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return c, nil
}

// connect makes one attempt to connect. lost receives the reason when the
// connection later breaks.
func (p *Publisher) connect(ctx context.Context, addr string, useTLS bool) (paho.Client, <-chan error, error) {
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker("tcp://"+addr).
		SetClientID(p.clientID).
		SetUsername(p.username).
		SetPassword(p.password).
		SetProtocolVersion(4).
		SetCleanSession(!p.persistent || p.clientID == ""). // the outbox, not the session, keeps what is unsent
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(keepAlive).
		SetBinaryWill(p.topic(StatusSubtopic), []byte(offlinePayload), 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			if useTLS {
				return p.dialTLS(ctx, u.Host)
			}
			return p.dial(ctx, "tcp", u.Host)
		})
	client := paho.NewClient(opts)
	tok := client.Connect()
	<-tok.Done() // bounded: the dial follows ctx, the handshake connectTimeout
	if err := tok.Error(); err != nil {
		return nil, nil, fmt.Errorf("telemetry: connect to %s: %w", addr, err)
	}
	return client, lost, nil
}

// serve publishes the online status, then the outbox, until ctx is done or
// the connection breaks.
//
// It also watches the status topic: when the broker publishes an offline
// status while this connection is up (the last will of an earlier
// connection that the broker noticed late, e.g. when this one took its
// session over), serve publishes online again, so the retained status ends
// up telling the truth. It waits restateDelay first, so that the broker has
// finished handing the offline status to every subscriber.
func (p *Publisher) serve(ctx context.Context, client paho.Client, lost <-chan error, up time.Time) error {
	var status []Message
	var dropped uint64
	// setStatus builds the online status with the current drop count.
	setStatus := func() error {
		dropped = p.droppedCount()
		online, err := json.Marshal(Status{State: StateOnline, Since: up.UTC(), Dropped: dropped})
		if err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
		status = []Message{{Topic: p.topic(StatusSubtopic), Payload: online, Retained: true}}
		return nil
	}
	if err := setStatus(); err != nil {
		return err
	}
	if _, err := send(ctx, client, lost, status); err != nil {
		return ignoreDone(ctx, err)
	}
	stale := make(chan struct{}, 1)
	sub := client.Subscribe(p.topic(StatusSubtopic), 1, func(_ paho.Client, m paho.Message) {
		var s Status
		if err := json.Unmarshal(m.Payload(), &s); err != nil || s.State == StateOnline {
			return
		}
		select {
		case stale <- struct{}{}:
		default:
		}
	})
	if err := wait(ctx, lost, sub); err != nil {
		return ignoreDone(ctx, err)
	}
	republish := func() error {
		p.logger.Info("status overwritten while online, publishing it again")
		_, err := send(ctx, client, lost, status)
		return ignoreDone(ctx, err)
	}
	// Drops made while online (a full outbox) are reported by a new status.
	dropTick := time.NewTicker(dropCheck)
	defer dropTick.Stop()
	checkDrops := func() error {
		if p.droppedCount() == dropped {
			return nil
		}
		if err := setStatus(); err != nil {
			return err
		}
		_, err := send(ctx, client, lost, status)
		return ignoreDone(ctx, err)
	}
	var again <-chan time.Time // fires when the status is due again
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stale:
			if again == nil {
				again = time.After(restateDelay)
			}
		case <-again:
			again = nil
			if err := republish(); err != nil {
				return err
			}
		case <-dropTick.C:
			if err := checkDrops(); err != nil {
				return err
			}
		default:
		}
		batch, err := p.outbox.Peek(p.window)
		if err != nil {
			return fmt.Errorf("telemetry: outbox: %w", err)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case err := <-lost:
				return connLost{err}
			case <-stale:
				if again == nil {
					again = time.After(restateDelay)
				}
			case <-again:
				again = nil
				if err := republish(); err != nil {
					return err
				}
			case <-dropTick.C:
				if err := checkDrops(); err != nil {
					return err
				}
			case <-p.wake:
			}
			continue
		}
		for i := range batch {
			batch[i].Payload = stamp(batch[i], up)
		}
		n, err := send(ctx, client, lost, batch)
		if n > 0 {
			if err := p.outbox.Ack(n); err != nil {
				return fmt.Errorf("telemetry: outbox: %w", err)
			}
			p.published.Add(uint64(n))
		}
		if err != nil {
			return ignoreDone(ctx, err)
		}
	}
}

// ignoreDone returns nil for an error that only says ctx is done.
func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// wait waits for tok; a failure, or the connection breaking first (lost
// receives), is a connLost error. (With a persistent session paho does not
// complete the tokens of a connection that broke: watching lost is what
// ends the wait then.) When ctx is done first it returns ctx's error.
func wait(ctx context.Context, lost <-chan error, tok paho.Token) error {
	select {
	case <-tok.Done():
	case err := <-lost:
		return connLost{err}
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return connLost{err}
	}
	return nil
}

// send publishes msgs and waits for the broker's acknowledgements in order.
// It returns how many leading messages were acknowledged; a connection
// failure is a connLost error. It stops waiting when ctx is done, and then
// returns ctx's error.
func send(ctx context.Context, client paho.Client, lost <-chan error, msgs []Message) (int, error) {
	toks := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		toks[i] = client.Publish(m.Topic, 1, m.Retained, m.Payload)
	}
	for i, tok := range toks {
		if err := wait(ctx, lost, tok); err != nil {
			return i, err
		}
	}
	return len(toks), nil
}

// goOffline publishes the offline status, briefly waiting for the broker,
// and disconnects cleanly.
func (p *Publisher) goOffline(client paho.Client) {
	tok := client.Publish(p.topic(StatusSubtopic), 1, true, []byte(offlinePayload))
	if !tok.WaitTimeout(offlineTimeout) || tok.Error() != nil {
		p.logger.Warn("offline status not acknowledged", "err", tok.Error())
	}
	client.Disconnect(disconnectQuiet)
}
