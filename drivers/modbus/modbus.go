// Package modbus is the Modbus driver: Modbus TCP (also over TLS), RTU over
// a serial line, and RTU framed over TCP or UDP, through
// github.com/simonvetter/modbus.
//
// A device is configured by URL:
//
//	tcp://host[:port]                  Modbus TCP (port 502 when omitted); also udp://
//	tcp+tls://host[:port]              Modbus/TCP Security (port 802), certificates in tls:
//	rtuovertcp://host:port             RTU frames over a TCP stream; also rtuoverudp://
//	rtu:///dev/ttyUSB0?baud=19200&parity=none&databits=8&stopbits=2
//
// Each point names a table (holding, input, coil, discrete), a first address
// counted from the device's address base (0, as on the wire, unless the
// device sets address_base 1), a type and a byte order. Register values
// travel as big-endian 16-bit words; a point of n words at wire address a
// occupies registers a..a+n-1, and its bytes, in wire order, are:
//
//	          register a   register a+1
//	ABCD        A  B          C  D        big endian
//	CDAB        C  D          A  B        word-swapped
//	BADC        B  A          D  C        byte-swapped words
//	DCBA        D  C          B  A        little endian
//
// where ABCD is the value's big-endian byte sequence. 64-bit types extend
// the pattern to four words (CDAB and DCBA reverse all four). The
// engineering value is raw*scale + offset. A string packs two bytes a
// register, the first in the high byte (ABCD) or the low byte (BADC); a
// bool on a register is one bit of it (bit 0 the least significant). Both
// are read-only.
//
// Connections are made lazily on first use, followed by the device's pause
// after connect, and re-made after a transport failure, but not sooner than
// a backoff (100ms doubling to 5s) after the last failure: while it runs,
// calls fail at once with an error wrapping drivers.ErrUnavailable. A read
// that times out or loses its connection is repeated up to the device's
// retries first; a write never is. A Modbus exception is not a transport
// failure; it is reported as an Exception and leaves the connection up.
//
// Devices on one serial port (or one RTU-over-TCP gateway) share a single
// connection and take turns on it; see link. A silent unit backs off on its
// own and leaves the bus to the others.
//
// Read coalesces points of the same table into as few requests as the
// device's limits allow (by default the protocol's 125 registers or 2000
// bits per request, bridging gaps of up to 16 unused addresses), or sends
// one request per point when the device asks for it. If the device refuses
// a coalesced request with an exception, each of its points is read on its
// own, so only the points the device really refuses are returned with a bad
// quality.
package modbus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	mb "github.com/simonvetter/modbus"
)

func init() { drivers.Register("modbus", New) }

// Reconnect backoff after a transport failure.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Defaults for an unset DeviceConfig field.
const (
	defaultUnit    = 1
	defaultTimeout = time.Second
	defaultPort    = "502"
	defaultTLSPort = "802"
)

// maxStringLength is the longest string point, in bytes: what one read
// request can carry.
const maxStringLength = 2 * maxRegisters

// point is a validated PointConfig. Its fields are laid out to take 48
// bytes: a device of 100,000 points keeps 100,000 of them.
type point struct {
	name     string
	codec    Codec
	address  uint16 // on the wire, counted from 0
	length   uint16 // the bytes of a String point
	table    Table
	bit      uint8 // the bit of a Bool register point
	writable bool
}

// span is how many addresses of its table the point occupies.
func (p *point) span() int {
	switch {
	case p.table.bits():
		return 1
	case p.codec.Type == String:
		return (int(p.length) + 1) / 2
	}
	return p.codec.Type.Words()
}

// decode turns the point's registers into its value.
func (p *point) decode(regs []uint16) (drivers.Value, error) {
	switch p.codec.Type {
	case Bool:
		return drivers.Bool(DecodeBit(regs[0], p.bit)), nil
	case String:
		s := DecodeString(regs, p.codec.Order)
		if len(s) > int(p.length) {
			s = strings.TrimRight(s[:p.length], " ")
		}
		return drivers.String(s), nil
	}
	return p.codec.Decode(regs)
}

// Device is one Modbus device. It is safe for concurrent use; requests to
// the device, and to every device sharing its bus, are serialised.
type Device struct {
	name    string
	unit    uint8
	timeout time.Duration
	retries int
	pause   time.Duration
	lim     limits
	points  []point
	index   *drivers.Index // finds a point's position by its name
	byName  map[string]int // the single points, while the device is built
	logger  *slog.Logger
	now     func() time.Time
	url     string

	// every holds every point and the requests that read them all, the
	// poller's read, planned once.
	every struct {
		once sync.Once
		pts  []*point
		plan []block
	}

	closed atomic.Bool
	link   *link

	// Guarded by the link's token.
	failures int       // consecutive transport failures
	retryAt  time.Time // no attempt before this
	lastErr  error     // the last transport failure
}

// find returns the position of the named point. The points of a range
// are found by the index in their name, without a map key each: a device
// of 100,000 points would spend megabytes on the map.
func (d *Device) find(name string) (int, bool) {
	return d.index.Lookup(name)
}

// New validates cfg and returns its device, without dialing it. Every
// problem in cfg is reported, each naming the point it concerns.
func New(cfg drivers.DeviceConfig, logger *slog.Logger) (drivers.Device, error) {
	d, err := newDevice(cfg, logger)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return d, nil
}

func newDevice(cfg drivers.DeviceConfig, logger *slog.Logger) (*Device, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Device{
		name:    cfg.Name,
		unit:    cfg.Unit,
		timeout: cfg.Timeout.D(),
		retries: int(cfg.Retries),
		pause:   cfg.PauseAfterConnect.D(),
		lim:     defaultLimits,
		byName:  make(map[string]int, len(cfg.Points)),
		logger:  logger,
		now:     time.Now,
	}
	if d.unit == 0 {
		d.unit = defaultUnit
	}
	if d.timeout == 0 {
		d.timeout = defaultTimeout
	}

	var errs []error
	devErr := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("modbus: device %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		devErr("name is empty")
	}
	if d.unit > 247 && d.unit != 255 {
		devErr("unit %d out of range (want 1-247, or 255 for Modbus TCP)", d.unit)
	}
	if d.timeout < 0 {
		devErr("timeout %s is negative", d.timeout)
	}
	if d.pause < 0 {
		devErr("pause_after_connect %s is negative", d.pause)
	}
	if cfg.AddressBase > 1 {
		devErr("address_base %d (want 0 or 1)", cfg.AddressBase)
	}
	if n := cfg.MaxRegisters; n > maxRegisters {
		devErr("max_registers %d is more than the protocol's %d", n, maxRegisters)
	} else if n > 0 {
		d.lim.registers = int(n)
	}
	if n := cfg.MaxBits; n > maxBits {
		devErr("max_bits %d is more than the protocol's %d", n, maxBits)
	} else if n > 0 {
		d.lim.bits = int(n)
	}
	if cfg.MaxGap != nil {
		d.lim.gap = int(*cfg.MaxGap)
	}
	d.lim.single = cfg.OneRequestPerPoint

	conf, err := clientConfig(cfg.URL)
	if err != nil {
		devErr("url %q: %v", cfg.URL, err)
	}
	conf.Timeout = d.timeout
	conf.Logger = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	if scheme, _, _ := cutScheme(cfg.URL); scheme == "tcp+tls" || cfg.TLS != nil {
		if err := loadTLS(&conf, scheme, cfg.TLS); err != nil {
			devErr("tls: %v", err)
		}
	}
	d.url = conf.URL

	d.points = make([]point, 0, cfg.NumPoints())
	var ranges []drivers.PointConfig
	for _, entry := range cfg.Points {
		if end := int(entry.Address) + entry.Span()*entry.Stride(); entry.Count > 1 && end > 1<<16+int(cfg.AddressBase) {
			devErr("point %q: a range of %d from address %d runs past the last address", entry.Name, entry.Count, entry.Address)
			continue
		}
		if entry.Count > 1 {
			if n := entry.Name; n == "" || n[len(n)-1] >= '0' && n[len(n)-1] <= '9' {
				devErr("point %q: the name of a range must end in a letter, '-' or '_'", n)
				continue
			}
			for _, r := range ranges {
				if r.Name == entry.Name {
					devErr("point %q: defined twice", entry.Name)
				}
			}
			ranges = append(ranges, entry)
		}
		for k, name := range entry.Names() {
			d.addPoint(entry.ElementNamed(k, name), entry.Count > 1, cfg.AddressBase, devErr)
		}
	}
	for name := range d.byName {
		for _, r := range ranges {
			if _, ok := r.IndexOf(name); ok {
				devErr("point %q: defined twice (also a point of the range %q)", name, r.Name)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Every entry made its points, in order: the index's positions are
	// those of d.points.
	d.index, d.byName = drivers.NewIndex(cfg), nil
	l, err := joinLink(d, conf)
	if err != nil {
		return nil, fmt.Errorf("modbus: device %q: url %q: %w", cfg.Name, cfg.URL, err)
	}
	d.link = l
	return d, nil
}

// addPoint checks one point of the device's configuration and adds it.
func (d *Device) addPoint(pc drivers.PointConfig, ranged bool, base uint8, devErr func(string, ...any)) {
	p, perrs := parsePoint(pc, base)
	for _, e := range perrs {
		devErr("point %q: %v", pc.Name, e)
	}
	if pc.Name == "" {
		devErr("point at %s %d has no name", pc.Register, pc.Address)
		return
	}
	if _, dup := d.byName[pc.Name]; dup && !ranged {
		devErr("point %q: defined twice", pc.Name)
		return
	}
	if len(perrs) == 0 {
		limit, what := d.lim.registers, "max_registers"
		if p.table.bits() {
			limit, what = d.lim.bits, "max_bits"
		}
		if p.span() > limit {
			devErr("point %q: spans %d addresses, more than one request may read (%s %d)", pc.Name, p.span(), what, limit)
		}
	}
	if !ranged {
		d.byName[pc.Name] = len(d.points)
	}
	d.points = append(d.points, p)
}

// loadTLS reads the certificates of a tcp+tls device into conf.
func loadTLS(conf *mb.ClientConfiguration, scheme string, tc *drivers.TLSConfig) error {
	if scheme != "tcp+tls" {
		return errors.New("applies only to a tcp+tls:// device")
	}
	if tc == nil || tc.CA == "" || tc.Cert == "" || tc.Key == "" {
		return errors.New("a tcp+tls device needs ca, cert and key (Modbus/TCP Security authenticates both ends)")
	}
	pair, err := tls.LoadX509KeyPair(tc.Cert, tc.Key)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	pem, err := os.ReadFile(tc.CA)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("ca: no PEM certificate in %s", tc.CA)
	}
	conf.TLSClientCert, conf.TLSRootCAs = &pair, pool
	return nil
}

// parsePoint validates one point, its address counted from base, and
// returns every problem it has.
func parsePoint(pc drivers.PointConfig, base uint8) (point, []error) {
	var errs []error
	p := point{name: pc.Name, address: pc.Address, writable: pc.Writable}
	if base == 1 {
		if pc.Address == 0 {
			errs = append(errs, errors.New("address 0 does not exist on a device counting from 1"))
		} else {
			p.address--
		}
	}
	t, err := ParseTable(pc.Register)
	if pc.Register == "" {
		errs = append(errs, errors.New("register is missing (want holding, input, coil or discrete)"))
	} else if err != nil {
		errs = append(errs, fmt.Errorf("unknown register %q (want holding, input, coil or discrete)", pc.Register))
	}
	p.table = t
	scale := pc.Scale
	if scale == 0 {
		scale = 1
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) || math.IsNaN(pc.Offset) || math.IsInf(pc.Offset, 0) {
		errs = append(errs, fmt.Errorf("scale and offset must be finite numbers"))
	}
	p.codec = Codec{Scale: scale, Offset: pc.Offset}

	if t.bits() {
		if pc.Type != "" && !strings.EqualFold(pc.Type, "bool") {
			errs = append(errs, fmt.Errorf("type %q not allowed: a %s is always bool", pc.Type, t))
		}
		if pc.Order != "" || pc.Scale != 0 || pc.Offset != 0 || pc.Bit != nil || pc.Length != 0 {
			errs = append(errs, fmt.Errorf("order, scale, offset, bit and length do not apply to a %s", t))
		}
		p.codec = Codec{Type: Bool, Order: ABCD, Scale: 1}
	} else if t != 0 {
		typ, err := ParseType(pc.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("unknown type %q (want %s)", pc.Type, typeList))
		}
		ord, err := ParseOrder(pc.Order)
		if err != nil {
			errs = append(errs, fmt.Errorf("unknown order %q (want ABCD, CDAB, BADC or DCBA)", pc.Order))
		}
		p.codec.Type, p.codec.Order = typ, ord
		switch typ {
		case Bool:
			if pc.Bit == nil {
				errs = append(errs, errors.New("type bool on a register needs bit (0-15); coils and discrete inputs are bool already"))
			} else if *pc.Bit > 15 {
				errs = append(errs, fmt.Errorf("bit %d out of range (want 0-15)", *pc.Bit))
			} else {
				p.bit = *pc.Bit
			}
		case String:
			if pc.Length == 0 || pc.Length > maxStringLength {
				errs = append(errs, fmt.Errorf("type string needs length, 1-%d bytes", maxStringLength))
			}
			p.length = pc.Length
		}
		if typ != Bool && pc.Bit != nil {
			errs = append(errs, errors.New("bit applies only to type bool"))
		}
		if typ != String && pc.Length != 0 {
			errs = append(errs, errors.New("length applies only to type string"))
		}
		// Scale 1 is the identity, and the default the config fills in.
		if (typ == Bool || typ == String) && (pc.Scale != 0 && pc.Scale != 1 || pc.Offset != 0) {
			errs = append(errs, fmt.Errorf("scale and offset do not apply to a %s", typ))
		}
		if (typ == Bool || typ == String) && pc.Writable {
			errs = append(errs, fmt.Errorf("a %s point is read-only", typ))
		}
		if typ != 0 && int(p.address)+p.span() > 0x10000 {
			errs = append(errs, fmt.Errorf("%s at address %d runs past the last register", typ, pc.Address))
		}
	}
	if pc.Writable && (t == Input || t == Discrete) {
		errs = append(errs, fmt.Errorf("a %s cannot be writable", t))
	}
	return p, errs
}

// cutScheme splits a URL at its "://".
func cutScheme(raw string) (scheme, rest string, ok bool) {
	return strings.Cut(raw, "://")
}

// clientConfig turns a device URL into the client library's configuration.
func clientConfig(raw string) (mb.ClientConfiguration, error) {
	var conf mb.ClientConfiguration
	scheme, rest, ok := cutScheme(raw)
	if !ok {
		return conf, errors.New("want scheme://address, e.g. tcp://192.168.1.10:502")
	}
	switch scheme {
	case "tcp", "udp", "rtuovertcp", "rtuoverudp", "tcp+tls":
		if strings.ContainsAny(rest, "/?#") {
			return conf, fmt.Errorf("want %s://host:port", scheme)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			// A bare host, or a bare IPv6 address in brackets.
			host, port = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"), defaultPort
			if scheme == "tcp+tls" {
				port = defaultTLSPort
			}
		}
		if host == "" {
			return conf, errors.New("host is empty")
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return conf, fmt.Errorf("bad port %q", port)
		}
		conf.URL = scheme + "://" + net.JoinHostPort(host, port)
	case "rtu":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return conf, errors.New("serial device is empty (want rtu:///dev/ttyUSB0)")
		}
		conf.URL = "rtu://" + path
		q, err := url.ParseQuery(query)
		if err != nil {
			return conf, err
		}
		for k, vs := range q {
			v := vs[len(vs)-1]
			switch k {
			case "baud":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return conf, fmt.Errorf("bad baud %q", v)
				}
				conf.Speed = uint(n)
			case "databits":
				n, err := strconv.ParseUint(v, 10, 8)
				if err != nil || n < 5 || n > 8 {
					return conf, fmt.Errorf("bad databits %q (want 5-8)", v)
				}
				conf.DataBits = uint(n)
			case "stopbits":
				n, err := strconv.ParseUint(v, 10, 8)
				if err != nil || n < 1 || n > 2 {
					return conf, fmt.Errorf("bad stopbits %q (want 1 or 2)", v)
				}
				conf.StopBits = uint(n)
			case "parity":
				switch strings.ToLower(v) {
				case "none", "n":
					conf.Parity = mb.PARITY_NONE
				case "even", "e":
					conf.Parity = mb.PARITY_EVEN
				case "odd", "o":
					conf.Parity = mb.PARITY_ODD
				default:
					return conf, fmt.Errorf("bad parity %q (want none, even or odd)", v)
				}
			default:
				return conf, fmt.Errorf("unknown setting %q (want baud, databits, stopbits or parity)", k)
			}
		}
	default:
		return conf, fmt.Errorf("unsupported scheme %q (want tcp, tcp+tls, udp, rtu, rtuovertcp or rtuoverudp)", scheme)
	}
	return conf, nil
}

// acquire takes the right to talk over the device's link, or gives up with
// ctx.
func (d *Device) acquire(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.link.acquire(ctx); err != nil {
		return err
	}
	if d.closed.Load() {
		d.link.release()
		return ErrClosed
	}
	return nil
}

func (d *Device) release() { d.link.release() }

// ready fails fast while the device is backing off. The caller holds the
// token.
func (d *Device) ready() error {
	if now := d.now(); now.Before(d.retryAt) {
		return fmt.Errorf("modbus: device %q: %w: %v (next attempt in %s)",
			d.name, drivers.ErrUnavailable, d.lastErr, d.retryAt.Sub(now).Round(time.Millisecond))
	}
	return nil
}

// request runs one Modbus request with the device's unit id over its link,
// connecting first if needed. A transport failure drops the link (unless a
// bus only heard nothing from this unit) and, for a repeatable request, is
// retried up to the device's retries; then it counts against the device.
// Exceptions come back as Exception. The caller holds the token and has
// checked ready.
func (d *Device) request(ctx context.Context, repeatable bool, fn func(c *mb.ModbusClient) error) error {
	for attempt := 0; ; attempt++ {
		c, err := d.link.connect(ctx, d.timeout, d.pause)
		if err == nil {
			if err = c.SetUnitId(d.unit); err == nil {
				err = fn(c)
			}
			if err == nil {
				d.succeed()
				return nil
			}
			if ex, ok := exception(err); ok {
				d.succeed()
				return ex
			}
			if errors.Is(err, mb.ErrUnexpectedParameters) || errors.Is(err, mb.ErrConfigurationError) {
				return fmt.Errorf("modbus: device %q: %w", d.name, err)
			}
			var me mb.Error
			if !d.link.bus() || !errors.As(err, &me) {
				d.link.drop()
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !repeatable || attempt >= d.retries {
			return d.fail(err)
		}
		d.logger.Debug("modbus request failed; retrying", "attempt", attempt+1, "err", err)
	}
}

// fail records a transport failure: the next attempt waits out the
// backoff. It returns the error for the caller.
func (d *Device) fail(err error) error {
	if d.failures == 0 {
		d.logger.Warn("modbus device unreachable", "url", d.url, "unit", d.unit, "err", err)
	}
	d.failures++
	backoff := maxBackoff
	if d.failures <= 7 {
		backoff = min(minBackoff<<(d.failures-1), maxBackoff)
	}
	d.retryAt = d.now().Add(backoff)
	d.lastErr = err
	return fmt.Errorf("modbus: device %q: %w: %w", d.name, drivers.ErrUnavailable, err)
}

// succeed records a request the device answered.
func (d *Device) succeed() {
	if d.failures > 0 {
		d.logger.Info("modbus device reachable again", "url", d.url, "unit", d.unit, "after_failures", d.failures)
	}
	d.failures, d.retryAt, d.lastErr = 0, time.Time{}, nil
}

// lookup resolves point names; none means every point.
func (d *Device) lookup(names []string) ([]*point, error) {
	if len(names) == 0 {
		d.planEvery()
		return d.every.pts, nil
	}
	pts := make([]*point, len(names))
	for i, n := range names {
		j, ok := d.find(n)
		if !ok {
			return nil, fmt.Errorf("modbus: device %q: point %q: %w", d.name, n, drivers.ErrUnknownPoint)
		}
		pts[i] = &d.points[j]
	}
	return pts, nil
}

// planEvery plans the read of every point, once.
func (d *Device) planEvery() {
	d.every.once.Do(func() {
		d.every.pts = make([]*point, len(d.points))
		for i := range d.points {
			d.every.pts[i] = &d.points[i]
		}
		d.every.plan = plan(d.every.pts, d.lim)
	})
}

// plan returns the requests that read pts, the points of names: those
// planned once when names is empty (every point).
func (d *Device) plan(names []string, pts []*point) []block {
	if len(names) == 0 {
		return d.every.plan
	}
	return plan(pts, d.lim)
}

// Read reads the named points, or every point when names is empty. Points
// the device refuses with an exception come back with QualityBad; an
// unreachable device fails the whole call with an error wrapping
// drivers.ErrUnavailable.
func (d *Device) Read(ctx context.Context, names []string) ([]drivers.Reading, error) {
	return d.read(ctx, names, nil)
}

// ReadInto reads every point into buf's array when it has room; see
// drivers.ReaderInto.
func (d *Device) ReadInto(ctx context.Context, buf []drivers.Reading) ([]drivers.Reading, error) {
	return d.read(ctx, nil, buf)
}

// read reads the named points (none: every point) into buf, or into a new
// slice when buf is too small.
func (d *Device) read(ctx context.Context, names []string, buf []drivers.Reading) ([]drivers.Reading, error) {
	pts, err := d.lookup(names)
	if err != nil {
		return nil, err
	}
	if err := d.acquire(ctx); err != nil {
		return nil, err
	}
	defer d.release()
	if err := d.ready(); err != nil {
		return nil, err
	}
	blocks := d.plan(names, pts)
	out := buf[:0]
	if cap(out) < len(pts) {
		out = make([]drivers.Reading, len(pts))
	}
	out = out[:len(pts)]
	for _, b := range blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := d.readBlock(ctx, b, pts, out)
		var ex Exception
		if errors.As(err, &ex) && len(b.members) > 1 {
			// Maybe a bridged gap the device does not serve: read each
			// point alone so only the refused ones are bad.
			for _, i := range b.members {
				p := pts[i]
				single := block{table: b.table, start: p.address, count: p.span(), members: []int{i}}
				err = d.readBlock(ctx, single, pts, out)
				if errors.As(err, &ex) {
					err = nil
				}
				if err != nil {
					break
				}
			}
		} else if errors.As(err, &ex) {
			err = nil
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readBlock performs one read request and fills in the readings of its
// members; on an exception they are marked bad and the exception returned.
func (d *Device) readBlock(ctx context.Context, b block, pts []*point, out []drivers.Reading) error {
	var (
		regs []uint16
		bits []bool
	)
	err := d.request(ctx, true, func(c *mb.ModbusClient) (err error) {
		switch b.table {
		case Holding:
			regs, err = c.ReadRegisters(b.start, uint16(b.count), mb.HOLDING_REGISTER)
		case Input:
			regs, err = c.ReadRegisters(b.start, uint16(b.count), mb.INPUT_REGISTER)
		case Coil:
			bits, err = c.ReadCoils(b.start, uint16(b.count))
		case Discrete:
			bits, err = c.ReadDiscreteInputs(b.start, uint16(b.count))
		}
		return err
	})
	now := d.now()
	var ex Exception
	if errors.As(err, &ex) {
		for _, i := range b.members {
			out[i] = drivers.Reading{Point: pts[i].name, Quality: drivers.QualityBad, Time: now}
		}
		d.logger.Debug("modbus read refused", "table", b.table.String(), "start", b.start, "count", b.count, "exception", uint8(ex))
		return ex
	}
	if err != nil {
		return err
	}
	for _, i := range b.members {
		p := pts[i]
		off := int(p.address - b.start)
		r := drivers.Reading{Point: p.name, Time: now}
		switch {
		case b.table.bits() && off < len(bits):
			r.Value = drivers.Bool(bits[off])
		case !b.table.bits() && off+p.span() <= len(regs):
			v, err := p.decode(regs[off : off+p.span()])
			if err != nil {
				r.Quality = drivers.QualityBad
			} else {
				r.Value = v
			}
		default:
			r.Quality = drivers.QualityBad // a short answer
		}
		out[i] = r
	}
	return nil
}

// Resolve encodes v for the named writable point, touching no device. A
// coil takes drivers.Bool or the number 0 or 1; a register takes a number,
// which is turned into raw = (v-offset)/scale and rounded to nearest for
// integer types.
func (d *Device) Resolve(name string, v drivers.Value) (drivers.Encoded, error) {
	p, err := d.writable(name)
	if err != nil {
		return drivers.Encoded{}, err
	}
	if p.table.bits() {
		var b bool
		switch {
		case v.Kind == drivers.KindBool:
			b = v.Bool
		case v.Kind == drivers.KindNumber && (v.Number == 0 || v.Number == 1):
			b = v.Number == 1
		default:
			return drivers.Encoded{}, fmt.Errorf("modbus: device %q: point %q: %s is not a boolean: %w", d.name, name, v, drivers.ErrValue)
		}
		w := byte(0)
		if b {
			w = 1
		}
		return drivers.Encoded{Value: drivers.Bool(b), Wire: []byte{w}}, nil
	}
	if v.Kind != drivers.KindNumber {
		return drivers.Encoded{}, fmt.Errorf("modbus: device %q: point %q: %s is not a number: %w", d.name, name, v, drivers.ErrValue)
	}
	regs, back, err := p.codec.Encode(v.Number)
	if err != nil {
		return drivers.Encoded{}, fmt.Errorf("modbus: device %q: point %q: %w", d.name, name, err)
	}
	return drivers.Encoded{Value: back, Wire: regsToWire(regs)}, nil
}

// writable returns the named point if it may be written.
func (d *Device) writable(name string) (*point, error) {
	i, ok := d.find(name)
	if !ok {
		return nil, fmt.Errorf("modbus: device %q: point %q: %w", d.name, name, drivers.ErrUnknownPoint)
	}
	p := &d.points[i]
	if !p.writable {
		return nil, fmt.Errorf("modbus: device %q: point %q: %w", d.name, name, drivers.ErrNotWritable)
	}
	return p, nil
}

// Write writes a resolved value: its registers with function 16 (write
// multiple registers), or its coil with function 5. It is never repeated.
// An exception from the device is returned as an Exception; an unreachable
// device as an error wrapping drivers.ErrUnavailable.
func (d *Device) Write(ctx context.Context, name string, e drivers.Encoded) error {
	p, err := d.writable(name)
	if err != nil {
		return err
	}
	if p.table.bits() {
		if len(e.Wire) != 1 || e.Wire[0] > 1 {
			return fmt.Errorf("modbus: device %q: point %q: wire %x is not one byte 0 or 1: %w", d.name, name, e.Wire, drivers.ErrValue)
		}
	} else if len(e.Wire) != 2*p.span() {
		return fmt.Errorf("modbus: device %q: point %q: wire has %d bytes, want %d: %w", d.name, name, len(e.Wire), 2*p.span(), drivers.ErrValue)
	}
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	if err := d.ready(); err != nil {
		return err
	}
	err = d.request(ctx, false, func(c *mb.ModbusClient) error {
		if p.table.bits() {
			return c.WriteCoil(p.address, e.Wire[0] == 1)
		}
		return c.WriteRegisters(p.address, wireToRegs(e.Wire))
	})
	if ex := Exception(0); errors.As(err, &ex) {
		return fmt.Errorf("modbus: device %q: write %s: %w", d.name, name, ex)
	}
	return err
}

// Close closes the connection (a shared bus when its last device closes);
// the device cannot be used afterwards.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.link.sem <- struct{}{}
	defer d.link.release()
	if err := d.link.leave(d); err != nil {
		return fmt.Errorf("modbus: device %q: close: %w", d.name, err)
	}
	return nil
}

var (
	_ drivers.Device     = (*Device)(nil)
	_ drivers.ReaderInto = (*Device)(nil)
)
