// Package opcua is the OPC UA driver, through github.com/gopcua/opcua.
//
// A device is configured by its endpoint URL (opc.tcp://host:port/path),
// an opcua: section (drivers.OPCUAConfig) and points that name a node id
// (ns=2;s=tank.level) and a data type (float64, int16, bool, ... or the OPC
// UA names Double, Int16, Boolean, ...). A point's engineering value is
// raw*scale + offset, as with Modbus.
//
// # Security
//
// At every connection the driver asks the server for its endpoints and
// picks the configured security policy and mode, or else the most secure
// endpoint offered among Aes256_Sha256_RsaPss, Aes128_Sha256_RsaOaep and
// Basic256Sha256, with SignAndEncrypt before Sign. None is used only when
// the config names it; the deprecated Basic128Rsa15 and Basic256 never.
//
// The client library trusts whatever certificate an endpoint carries; this
// driver does not. Before the secure channel is opened the server's
// certificate must be exactly the pinned server_cert, equal to or issued by
// a certificate in trust_dir, or, only with trust_on_first_use, the one
// pinned into cert_dir/server.der on the first connection. The secure
// channel then proves that the server holds the certificate's key.
//
// The client certificate (cert_dir/cert.pem, key.pem) is created on first
// use: RSA-2048, self-signed, the application URI in its subject alternative
// name, as OPC UA requires. The server's administrator must trust it.
// A user name login needs a secure channel: over None the password would
// travel in clear.
//
// # Connections
//
// The connection and its session are made lazily on first use. After a
// failure the client, its secure channel and its session are closed and
// the next attempt waits a backoff (100ms doubling to 5s); while it runs,
// calls fail at once with an error wrapping drivers.ErrUnavailable. At most
// one connection attempt is in flight per device, and sessions time out on
// the server after a minute, so a flapping network never piles sessions up
// on the server. A bad status for one node (a refused write, a wrong type)
// is a StatusError and leaves the session up.
package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

func init() { drivers.Register("opcua", New) }

// Reconnect backoff after a failure.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Defaults for unset settings.
const (
	defaultTimeout  = time.Second
	sessionTimeout  = time.Minute
	maxNodesPerRead = 32 // many small servers refuse more in one request
)

// point is a validated PointConfig.
type point struct {
	name     string
	node     *ua.NodeID
	typ      DataType
	scale    float64
	offset   float64
	writable bool
}

// Device is one OPC UA server. It is safe for concurrent use; requests are
// serialised.
type Device struct {
	name     string
	url      string
	host     string
	timeout  time.Duration
	policy   string // short policy name, "" for the most secure offered
	mode     ua.MessageSecurityMode
	conf     drivers.OPCUAConfig
	points   []point
	byName   map[string]int
	logger   *slog.Logger
	now      func() time.Time
	connects atomic.Int64

	closed atomic.Bool
	// cur is the connected client, nil while there is none; the
	// subscription watches it to learn that its session is gone.
	cur atomic.Pointer[opcua.Client]
	sub subState

	// sem is held by the one goroutine talking to the server; it guards
	// every field below.
	sem      chan struct{}
	client   *opcua.Client
	failures int
	retryAt  time.Time
	lastErr  error
}

// New validates cfg and returns its device, without connecting. Every
// problem in cfg is reported.
func New(cfg drivers.DeviceConfig, logger *slog.Logger) (drivers.Device, error) {
	d, err := newDevice(cfg, logger)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func newDevice(cfg drivers.DeviceConfig, logger *slog.Logger) (*Device, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Device{
		name:    cfg.Name,
		url:     cfg.URL,
		timeout: cfg.Timeout.D(),
		byName:  make(map[string]int, len(cfg.Points)),
		logger:  logger,
		now:     time.Now,
		sem:     make(chan struct{}, 1),
	}
	if cfg.OPCUA != nil {
		d.conf = *cfg.OPCUA
	}
	if d.timeout == 0 {
		d.timeout = defaultTimeout
	}
	var errs []error
	devErr := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("opcua: device %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		devErr("name is empty")
	}
	if d.timeout < 0 {
		devErr("timeout %s is negative", d.timeout)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "opc.tcp" || u.Host == "" {
		devErr("url %q: want opc.tcp://host:port[/path]", cfg.URL)
	} else {
		d.host = u.Hostname()
	}
	if cfg.Unit != 0 {
		devErr("unit does not apply to OPC UA")
	}
	if err := d.parseSecurity(); err != nil {
		devErr("%v", err)
	}
	if d.conf.PublishInterval < 0 {
		devErr("publish_interval %s is negative", d.conf.PublishInterval)
	}
	d.sub.interval = d.conf.PublishInterval.D()
	if d.sub.interval <= 0 {
		d.sub.interval = cfg.Poll.D()
	}
	if d.sub.interval <= 0 {
		d.sub.interval = time.Second
	}
	for _, pc := range cfg.Points {
		p, perrs := parsePoint(pc)
		for _, e := range perrs {
			devErr("point %q: %v", pc.Name, e)
		}
		if pc.Name == "" {
			devErr("point at node %q has no name", pc.Node)
			continue
		}
		if _, dup := d.byName[pc.Name]; dup {
			devErr("point %q: defined twice", pc.Name)
			continue
		}
		d.byName[pc.Name] = len(d.points)
		d.points = append(d.points, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// parseSecurity checks the opcua: section.
func (d *Device) parseSecurity() error {
	c := &d.conf
	var errs []string
	if c.SecurityPolicy != "" {
		switch {
		case c.SecurityPolicy == "Basic128Rsa15" || c.SecurityPolicy == "Basic256":
			errs = append(errs, fmt.Sprintf("security_policy %s is deprecated and refused (want %s)", c.SecurityPolicy, strings.Join(policies, ", ")))
		case policyURI(c.SecurityPolicy) == "":
			errs = append(errs, fmt.Sprintf("unknown security_policy %q (want %s)", c.SecurityPolicy, strings.Join(policies, ", ")))
		}
	}
	d.policy = c.SecurityPolicy
	m, err := parseMode(c.SecurityMode)
	if err != nil {
		errs = append(errs, err.Error())
	}
	d.mode = m
	none := c.SecurityPolicy == "None"
	switch {
	case none && m != ua.MessageSecurityModeInvalid && m != ua.MessageSecurityModeNone:
		errs = append(errs, fmt.Sprintf("security_mode %s needs a security_policy other than None", c.SecurityMode))
	case !none && m == ua.MessageSecurityModeNone:
		errs = append(errs, "security_mode None needs security_policy None")
	}
	if !none && c.CertDir == "" {
		errs = append(errs, "cert_dir is required for a secure endpoint")
	}
	if !none && c.ServerCert == "" && c.TrustDir == "" && !c.TrustOnFirstUse {
		errs = append(errs, "the server certificate cannot be verified: set server_cert, trust_dir, or (explicitly) trust_on_first_use")
	}
	if !c.Password.IsZero() && c.Password.Check() != nil {
		errs = append(errs, "password is not env:NAME or file:PATH")
	}
	if c.Username != "" && c.Password.IsZero() {
		errs = append(errs, "username needs a password (env:NAME or file:PATH)")
	}
	if c.Username == "" && !c.Password.IsZero() {
		errs = append(errs, "password needs a username")
	}
	if c.Username != "" && none {
		errs = append(errs, "a username login over security_policy None would send the password in clear")
	}
	if c.ApplicationURI == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		c.ApplicationURI = "urn:femtoclaw:" + host
	} else if u, err := url.Parse(c.ApplicationURI); err != nil || u.Scheme == "" {
		errs = append(errs, fmt.Sprintf("application_uri %q is not a URI", c.ApplicationURI))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// parsePoint validates one point and returns every problem it has.
func parsePoint(pc drivers.PointConfig) (point, []error) {
	var errs []error
	p := point{name: pc.Name, writable: pc.Writable, scale: pc.Scale, offset: pc.Offset}
	if pc.Node == "" {
		errs = append(errs, errors.New("node is missing (e.g. ns=2;s=tank.level)"))
	} else if id, err := ua.ParseNodeID(pc.Node); err != nil {
		errs = append(errs, fmt.Errorf("node %q: %v", pc.Node, err))
	} else {
		p.node = id
	}
	if pc.Register != "" || pc.Address != 0 || pc.Order != "" {
		errs = append(errs, errors.New("register, address and order do not apply to OPC UA"))
	}
	t, err := ParseType(pc.Type)
	if err != nil {
		errs = append(errs, err)
	}
	p.typ = t
	if pc.Writable && t == TypeAny {
		errs = append(errs, errors.New("a writable point needs a type"))
	}
	if p.scale == 0 {
		p.scale = 1
	}
	if math.IsNaN(p.scale) || math.IsInf(p.scale, 0) || math.IsNaN(p.offset) || math.IsInf(p.offset, 0) {
		errs = append(errs, errors.New("scale and offset must be finite numbers"))
	}
	if t == TypeBool && (pc.Scale != 0 || pc.Offset != 0) {
		errs = append(errs, errors.New("scale and offset do not apply to bool"))
	}
	return p, errs
}

// acquire takes the right to talk to the server, or gives up with ctx.
func (d *Device) acquire(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if d.closed.Load() {
		<-d.sem
		return ErrClosed
	}
	return nil
}

func (d *Device) release() { <-d.sem }

// Connects returns how many sessions the device has opened so far.
func (d *Device) Connects() int64 { return d.connects.Load() }

// connect returns a connected client, connecting if needed. The caller
// holds the semaphore.
func (d *Device) connect(ctx context.Context) (*opcua.Client, error) {
	if d.client != nil {
		if d.client.State() == opcua.Connected {
			return d.client, nil
		}
		// The library saw the secure channel fail.
		d.drop()
		d.logger.Warn("opcua connection lost", "url", d.url)
	}
	if now := d.now(); now.Before(d.retryAt) {
		return nil, fmt.Errorf("opcua: device %q: %w: %v (next attempt in %s)",
			d.name, drivers.ErrUnavailable, d.lastErr, d.retryAt.Sub(now).Round(time.Millisecond))
	}
	cctx, cancel := context.WithTimeout(ctx, 3*d.timeout)
	defer cancel()
	c, err := d.dial(cctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, d.fail(err)
	}
	d.client = c
	d.cur.Store(c)
	d.connects.Add(1)
	if d.failures > 0 {
		d.logger.Info("opcua device reachable again", "url", d.url, "after_failures", d.failures)
	}
	d.failures, d.retryAt, d.lastErr = 0, time.Time{}, nil
	return c, nil
}

// dial selects and verifies an endpoint and opens a session on it.
func (d *Device) dial(ctx context.Context) (*opcua.Client, error) {
	eps, err := opcua.GetEndpoints(ctx, d.url, opcua.DialTimeout(d.timeout), opcua.RequestTimeout(d.timeout))
	if err != nil {
		return nil, fmt.Errorf("get endpoints: %w", err)
	}
	ep, err := selectEndpoint(eps, d.policy, d.mode)
	if err != nil {
		return nil, err
	}
	opts := []opcua.Option{
		opcua.ApplicationName("femtoclaw"),
		opcua.ApplicationURI(d.conf.ApplicationURI),
		opcua.ProductURI("urn:femtoclaw"),
		opcua.SessionName("femtoclaw " + d.name),
		opcua.AutoReconnect(false),
		opcua.DialTimeout(d.timeout),
		opcua.RequestTimeout(d.timeout),
		opcua.SessionTimeout(sessionTimeout),
	}
	secure := ep.SecurityPolicyURI != ua.SecurityPolicyURINone
	if secure {
		v, err := newVerifier(d.conf.ServerCert, d.conf.TrustDir, d.conf.CertDir, d.conf.TrustOnFirstUse)
		if err != nil {
			return nil, err
		}
		pinned, err := v.verify(ep.ServerCertificate)
		if err != nil {
			return nil, err
		}
		if pinned {
			d.logger.Warn("opcua server certificate pinned on first use", "url", d.url,
				"sha256", Fingerprint(ep.ServerCertificate), "file", v.tofuPath)
		}
		key, der, err := clientCert(d.conf.CertDir, d.conf.ApplicationURI, d.host)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opcua.PrivateKey(key), opcua.Certificate(der))
	}
	authType := ua.UserTokenTypeAnonymous
	if d.conf.Username != "" {
		pw, err := d.conf.Password.Reveal()
		if err != nil {
			return nil, err
		}
		authType = ua.UserTokenTypeUserName
		opts = append(opts, opcua.AuthUsername(d.conf.Username, pw))
	} else {
		opts = append(opts, opcua.AuthAnonymous())
	}
	offered := false
	for _, t := range ep.UserIdentityTokens {
		offered = offered || t.TokenType == authType
	}
	if !offered {
		return nil, fmt.Errorf("%w: endpoint %s/%s offers no %s login", ErrNoEndpoint, shortPolicy(ep.SecurityPolicyURI), ep.SecurityMode, authType)
	}
	opts = append(opts, opcua.SecurityFromEndpoint(ep, authType))
	c, err := opcua.NewClient(d.url, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		closeClient(c)
		return nil, err
	}
	d.logger.Debug("opcua connected", "url", d.url, "policy", shortPolicy(ep.SecurityPolicyURI), "mode", ep.SecurityMode.String(), "auth", authType.String())
	return c, nil
}

// closeClient closes a client's session and channel, bounded in time.
func closeClient(c *opcua.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c.Close(ctx)
}

// drop closes the current client. The caller holds the semaphore.
func (d *Device) drop() {
	if d.client != nil {
		d.cur.Store(nil)
		closeClient(d.client)
		d.client = nil
	}
}

// fail records a failure: the client is dropped and the next attempt waits
// out the backoff. It returns the error for the caller.
func (d *Device) fail(err error) error {
	d.drop()
	if d.failures == 0 {
		d.logger.Warn("opcua device unreachable", "url", d.url, "err", err)
	}
	d.failures++
	backoff := maxBackoff
	if d.failures <= 7 {
		backoff = min(minBackoff<<(d.failures-1), maxBackoff)
	}
	d.retryAt = d.now().Add(backoff)
	d.lastErr = err
	return fmt.Errorf("opcua: device %q: %w: %w", d.name, drivers.ErrUnavailable, err)
}

// lookup resolves point names; none means every point.
func (d *Device) lookup(names []string) ([]*point, error) {
	if len(names) == 0 {
		pts := make([]*point, len(d.points))
		for i := range d.points {
			pts[i] = &d.points[i]
		}
		return pts, nil
	}
	pts := make([]*point, len(names))
	for i, n := range names {
		j, ok := d.byName[n]
		if !ok {
			return nil, fmt.Errorf("opcua: device %q: point %q: %w", d.name, n, drivers.ErrUnknownPoint)
		}
		pts[i] = &d.points[j]
	}
	return pts, nil
}

// Read reads the named points, or every point when names is empty. A node
// the server answers with a bad status, or with a value of another type
// than configured, comes back with QualityBad; an unreachable server fails
// the whole call with an error wrapping drivers.ErrUnavailable.
func (d *Device) Read(ctx context.Context, names []string) ([]drivers.Reading, error) {
	pts, err := d.lookup(names)
	if err != nil {
		return nil, err
	}
	if err := d.acquire(ctx); err != nil {
		return nil, err
	}
	defer d.release()
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]drivers.Reading, 0, len(pts))
	for start := 0; start < len(pts); start += maxNodesPerRead {
		chunk := pts[start:min(start+maxNodesPerRead, len(pts))]
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
		for _, p := range chunk {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: p.node, AttributeID: ua.AttributeIDValue})
		}
		rctx, cancel := context.WithTimeout(ctx, d.timeout)
		resp, err := c.Read(rctx, req)
		cancel()
		if err == nil && len(resp.Results) != len(chunk) {
			err = fmt.Errorf("server answered %d results for %d nodes", len(resp.Results), len(chunk))
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !transportFailure(err) {
				return nil, fmt.Errorf("opcua: device %q: read: %w", d.name, err)
			}
			return nil, d.fail(err)
		}
		now := d.now()
		for i, p := range chunk {
			out = append(out, d.reading(p, resp.Results[i], now))
		}
	}
	return out, nil
}

// reading turns one read result into a Reading.
func (d *Device) reading(p *point, dv *ua.DataValue, now time.Time) drivers.Reading {
	r := drivers.Reading{Point: p.name, Time: now, Quality: drivers.QualityBad}
	if dv == nil {
		return r
	}
	if dv.Status != ua.StatusOK {
		d.logger.Debug("opcua read refused", "point", p.name, "status", dv.Status.Error())
		return r
	}
	v, err := decode(dv.Value, p.typ, p.scale, p.offset)
	if err != nil {
		d.logger.Debug("opcua read undecodable", "point", p.name, "err", err)
		return r
	}
	r.Value, r.Quality = v, drivers.QualityGood
	return r
}

// Resolve encodes v for the named writable point, touching no server. The
// wire form is the OPC UA binary encoding of the variant written, whose
// type is the point's configured data type.
func (d *Device) Resolve(name string, v drivers.Value) (drivers.Encoded, error) {
	p, err := d.writable(name)
	if err != nil {
		return drivers.Encoded{}, err
	}
	va, back, err := encode(p.typ, v, p.scale, p.offset)
	if err != nil {
		return drivers.Encoded{}, fmt.Errorf("opcua: device %q: point %q: %w", d.name, name, err)
	}
	wire, err := va.Encode()
	if err != nil {
		return drivers.Encoded{}, fmt.Errorf("opcua: device %q: point %q: encode: %w", d.name, name, err)
	}
	return drivers.Encoded{Value: back, Wire: wire}, nil
}

// writable returns the named point if it may be written.
func (d *Device) writable(name string) (*point, error) {
	i, ok := d.byName[name]
	if !ok {
		return nil, fmt.Errorf("opcua: device %q: point %q: %w", d.name, name, drivers.ErrUnknownPoint)
	}
	p := &d.points[i]
	if !p.writable {
		return nil, fmt.Errorf("opcua: device %q: point %q: %w", d.name, name, drivers.ErrNotWritable)
	}
	return p, nil
}

// Write writes a resolved value to its node's Value attribute. A status the
// server refuses the write with is returned as a *StatusError; an
// unreachable server as an error wrapping drivers.ErrUnavailable. The wire
// form must decode to exactly one variant of the point's type.
func (d *Device) Write(ctx context.Context, name string, e drivers.Encoded) error {
	p, err := d.writable(name)
	if err != nil {
		return err
	}
	va := new(ua.Variant)
	n, err := va.Decode(e.Wire)
	if err != nil || n != len(e.Wire) {
		return fmt.Errorf("opcua: device %q: point %q: wire %x is not one variant: %w", d.name, name, e.Wire, drivers.ErrValue)
	}
	if t, ok := typeOfID(va.Type()); !ok || t != p.typ || va.ArrayLength() > 0 {
		return fmt.Errorf("opcua: device %q: point %q: wire holds type id %d, want %s: %w", d.name, name, va.Type(), p.typ.UAName(), drivers.ErrValue)
	}
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	req := &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
		NodeID:      p.node,
		AttributeID: ua.AttributeIDValue,
		Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: va},
	}}}
	wctx, cancel := context.WithTimeout(ctx, d.timeout)
	resp, err := c.Write(wctx, req)
	cancel()
	if err == nil && len(resp.Results) != 1 {
		err = fmt.Errorf("server answered %d results for 1 node", len(resp.Results))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !transportFailure(err) {
			return fmt.Errorf("opcua: device %q: write %s: %w", d.name, name, err)
		}
		return d.fail(err)
	}
	if st := resp.Results[0]; st != ua.StatusOK {
		return fmt.Errorf("opcua: device %q: write %s: %w", d.name, name, &StatusError{Code: st})
	}
	return nil
}

// Close closes the session and the connection; the device cannot be used
// afterwards.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.sem <- struct{}{}
	defer d.release()
	d.drop()
	return nil
}

var _ drivers.Device = (*Device)(nil)
