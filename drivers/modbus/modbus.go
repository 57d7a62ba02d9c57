// Package modbus is the Modbus driver: Modbus TCP, RTU over a serial line,
// and RTU framed over TCP or UDP, through github.com/simonvetter/modbus.
//
// A device is configured by URL:
//
//	tcp://host[:port]                  Modbus TCP (port 502 when omitted); also udp://
//	rtuovertcp://host:port             RTU frames over a TCP stream; also rtuoverudp://
//	rtu:///dev/ttyUSB0?baud=19200&parity=none&databits=8&stopbits=2
//
// Each point names a table (holding, input, coil, discrete), a first address
// counted from 0, a type and a byte order. Register values travel as
// big-endian 16-bit words; a point of n words at address a occupies
// registers a..a+n-1, and its bytes, in wire order, are:
//
//	          register a   register a+1
//	ABCD        A  B          C  D        big endian
//	CDAB        C  D          A  B        word-swapped
//	BADC        B  A          D  C        byte-swapped words
//	DCBA        D  C          B  A        little endian
//
// where ABCD is the value's big-endian byte sequence. 64-bit types extend
// the pattern to four words (CDAB and DCBA reverse all four). The
// engineering value is raw*scale + offset.
//
// Connections are made lazily on first use and re-made after a transport
// failure, but not sooner than a backoff (100ms doubling to 5s) after the
// last failure: while it runs, calls fail at once with an error wrapping
// drivers.ErrUnavailable. A Modbus exception is not a transport failure; it
// is reported as an Exception and leaves the connection up.
//
// Read coalesces points of the same table into as few requests as the
// protocol allows (125 registers or 2000 bits per request, bridging gaps of
// up to 16 unused addresses). If the device refuses a coalesced request
// with an exception, each of its points is read on its own, so only the
// points the device really refuses are returned with a bad quality.
package modbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	mb "github.com/simonvetter/modbus"
)

func init() { drivers.Register("modbus", New) }

// Protocol limits and the driver's policy for coalescing reads.
const (
	maxRegisters = 125  // registers in one read request
	maxBits      = 2000 // coils or discrete inputs in one read request
	maxGap       = 16   // unused addresses bridged inside one request
)

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
)

// point is a validated PointConfig.
type point struct {
	name     string
	table    Table
	address  uint16
	codec    Codec
	writable bool
}

// span is how many addresses of its table the point occupies.
func (p *point) span() int {
	if p.table.bits() {
		return 1
	}
	return p.codec.Type.Words()
}

// Device is one Modbus device. It is safe for concurrent use; requests to
// the device are serialised.
type Device struct {
	name    string
	conf    mb.ClientConfiguration
	unit    uint8
	timeout time.Duration
	points  []point
	byName  map[string]int
	logger  *slog.Logger
	now     func() time.Time

	closed atomic.Bool

	// sem is held (a token in the channel) by the one goroutine that talks
	// to the device; it guards every field below.
	sem      chan struct{}
	client   *mb.ModbusClient
	failures int       // consecutive transport failures
	retryAt  time.Time // no reconnect before this
	lastErr  error     // the last transport failure
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
		byName:  make(map[string]int, len(cfg.Points)),
		logger:  logger,
		now:     time.Now,
		sem:     make(chan struct{}, 1),
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
	conf, err := clientConfig(cfg.URL)
	if err != nil {
		devErr("url %q: %v", cfg.URL, err)
	}
	conf.Timeout = d.timeout
	conf.Logger = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	d.conf = conf

	for _, pc := range cfg.Points {
		p, perrs := parsePoint(pc)
		for _, e := range perrs {
			devErr("point %q: %v", pc.Name, e)
		}
		if pc.Name == "" {
			devErr("point at %s %d has no name", pc.Register, pc.Address)
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

// parsePoint validates one point and returns every problem it has.
func parsePoint(pc drivers.PointConfig) (point, []error) {
	var errs []error
	p := point{name: pc.Name, address: pc.Address, writable: pc.Writable}
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
		if pc.Order != "" || pc.Scale != 0 || pc.Offset != 0 {
			errs = append(errs, fmt.Errorf("order, scale and offset do not apply to a %s", t))
		}
		p.codec = Codec{Type: Bool, Order: ABCD, Scale: 1}
	} else if t != 0 {
		typ, err := ParseType(pc.Type)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("unknown type %q (want uint16, int16, uint32, int32, float32, uint64, int64 or float64)", pc.Type))
		case typ == Bool:
			errs = append(errs, fmt.Errorf("type bool is only for coils and discrete inputs"))
		}
		ord, err := ParseOrder(pc.Order)
		if err != nil {
			errs = append(errs, fmt.Errorf("unknown order %q (want ABCD, CDAB, BADC or DCBA)", pc.Order))
		}
		p.codec.Type, p.codec.Order = typ, ord
		if int(pc.Address)+typ.Words() > 0x10000 {
			errs = append(errs, fmt.Errorf("%s at address %d runs past register 65535", typ, pc.Address))
		}
	}
	if pc.Writable && (t == Input || t == Discrete) {
		errs = append(errs, fmt.Errorf("a %s cannot be writable", t))
	}
	return p, errs
}

// clientConfig turns a device URL into the client library's configuration.
func clientConfig(raw string) (mb.ClientConfiguration, error) {
	var conf mb.ClientConfiguration
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return conf, errors.New("want scheme://address, e.g. tcp://192.168.1.10:502")
	}
	switch scheme {
	case "tcp", "udp", "rtuovertcp", "rtuoverudp":
		if strings.ContainsAny(rest, "/?#") {
			return conf, fmt.Errorf("want %s://host:port", scheme)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			// A bare host, or a bare IPv6 address in brackets.
			host, port = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"), defaultPort
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
	case "tcp+tls":
		return conf, errors.New("tcp+tls is not supported yet")
	default:
		return conf, fmt.Errorf("unsupported scheme %q (want tcp, udp, rtu, rtuovertcp or rtuoverudp)", scheme)
	}
	return conf, nil
}

// acquire takes the right to talk to the device, or gives up with ctx.
func (d *Device) acquire(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
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

// errDialTimeout reports a connection attempt that outlived the timeout.
var errDialTimeout = errors.New("connect timed out")

// connect returns a connected client, dialing if needed. The caller holds
// the semaphore.
func (d *Device) connect(ctx context.Context) (*mb.ModbusClient, error) {
	if d.client != nil {
		return d.client, nil
	}
	if now := d.now(); now.Before(d.retryAt) {
		return nil, fmt.Errorf("modbus: device %q: %w: %v (next attempt in %s)",
			d.name, drivers.ErrUnavailable, d.lastErr, d.retryAt.Sub(now).Round(time.Millisecond))
	}
	c, err := mb.NewClient(&d.conf)
	if err != nil {
		return nil, fmt.Errorf("modbus: device %q: %w", d.name, err)
	}
	if err := c.SetUnitId(d.unit); err != nil {
		return nil, fmt.Errorf("modbus: device %q: %w", d.name, err)
	}
	// The library dials with a fixed 5s timeout and no context: dial in
	// the background and abandon an attempt that takes too long.
	done := make(chan error, 1)
	go func() { done <- c.Open() }()
	timer := time.NewTimer(d.timeout)
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
		return nil, d.fail(err)
	}
	d.client = c
	d.logger.Debug("modbus connected", "url", d.conf.URL)
	return c, nil
}

// fail records a transport failure: the client is dropped and the next
// attempt waits out the backoff. It returns the error for the caller.
func (d *Device) fail(err error) error {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
	if d.failures == 0 {
		d.logger.Warn("modbus device unreachable", "url", d.conf.URL, "err", err)
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
		d.logger.Info("modbus device reachable again", "url", d.conf.URL, "after_failures", d.failures)
	}
	d.failures, d.retryAt, d.lastErr = 0, time.Time{}, nil
}

// classify sorts the error of one request: nil and exceptions leave the
// connection up; anything else is a transport failure.
func (d *Device) classify(err error) error {
	if err == nil {
		d.succeed()
		return nil
	}
	if ex, ok := exception(err); ok {
		d.succeed()
		return ex
	}
	if errors.Is(err, mb.ErrUnexpectedParameters) {
		return fmt.Errorf("modbus: device %q: %w", d.name, err)
	}
	return d.fail(err)
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
			return nil, fmt.Errorf("modbus: device %q: point %q: %w", d.name, n, drivers.ErrUnknownPoint)
		}
		pts[i] = &d.points[j]
	}
	return pts, nil
}

// block is one read request covering several points of a table.
type block struct {
	table   Table
	start   uint16
	count   int
	members []int // indexes into the points being read
}

// plan groups points into as few read requests as the limits allow.
func plan(pts []*point) []block {
	var blocks []block
	for _, t := range []Table{Holding, Input, Coil, Discrete} {
		var idx []int
		for i, p := range pts {
			if p.table == t {
				idx = append(idx, i)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(pts[a].address, pts[b].address) })
		limit := maxRegisters
		if t.bits() {
			limit = maxBits
		}
		var cur *block
		for _, i := range idx {
			p := pts[i]
			start, end := int(p.address), int(p.address)+p.span()
			if cur != nil {
				curEnd := int(cur.start) + cur.count
				if start <= curEnd+maxGap && max(curEnd, end)-int(cur.start) <= limit {
					cur.count = max(curEnd, end) - int(cur.start)
					cur.members = append(cur.members, i)
					continue
				}
			}
			blocks = append(blocks, block{table: t, start: p.address, count: end - start, members: []int{i}})
			cur = &blocks[len(blocks)-1]
		}
	}
	return blocks
}

// Read reads the named points, or every point when names is empty. Points
// the device refuses with an exception come back with QualityBad; an
// unreachable device fails the whole call with an error wrapping
// drivers.ErrUnavailable.
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
	out := make([]drivers.Reading, len(pts))
	for _, b := range plan(pts) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := d.readBlock(c, b, pts, out)
		var ex Exception
		if errors.As(err, &ex) && len(b.members) > 1 {
			// Maybe a bridged gap the device does not serve: read each
			// point alone so only the refused ones are bad.
			for _, i := range b.members {
				p := pts[i]
				single := block{table: b.table, start: p.address, count: p.span(), members: []int{i}}
				err = d.readBlock(c, single, pts, out)
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
func (d *Device) readBlock(c *mb.ModbusClient, b block, pts []*point, out []drivers.Reading) error {
	var (
		regs []uint16
		bits []bool
		err  error
	)
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
	now := d.now()
	err = d.classify(err)
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
		if b.table.bits() {
			r.Value = drivers.Bool(bits[off])
		} else {
			v, err := p.codec.Decode(regs[off : off+p.span()])
			if err != nil {
				r.Quality = drivers.QualityBad
			} else {
				r.Value = v
			}
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
	i, ok := d.byName[name]
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
// multiple registers), or its coil with function 5. An exception from the
// device is returned as an Exception; an unreachable device as an error
// wrapping drivers.ErrUnavailable.
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
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	if p.table.bits() {
		err = c.WriteCoil(p.address, e.Wire[0] == 1)
	} else {
		err = c.WriteRegisters(p.address, wireToRegs(e.Wire))
	}
	err = d.classify(err)
	if ex := Exception(0); errors.As(err, &ex) {
		return fmt.Errorf("modbus: device %q: write %s: %w", d.name, name, ex)
	}
	return err
}

// Close closes the connection; the device cannot be used afterwards.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.sem <- struct{}{}
	defer d.release()
	if d.client != nil {
		err := d.client.Close()
		d.client = nil
		if err != nil {
			return fmt.Errorf("modbus: device %q: close: %w", d.name, err)
		}
	}
	return nil
}

var _ drivers.Device = (*Device)(nil)
