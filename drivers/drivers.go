// Package drivers defines what every field-device driver offers the rest of
// femtoclaw: typed point values, a small Device interface, the configuration
// a device is built from, and a registry that drivers join from init().
//
// Drivers know nothing of capabilities, the journal or the model. The gateway
// reaches a device only through an action that package capability authorised.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Device is one field device (a PLC, a remote I/O block, a GPIO chip).
// Implementations are safe for concurrent use.
type Device interface {
	// Read reads the named points, or every configured point when points is
	// empty. A point that could not be read is returned with a bad quality;
	// the error reports a failure of the whole request (device unreachable).
	Read(ctx context.Context, points []string) ([]Reading, error)

	// Resolve turns an engineering value for a point into exactly what would
	// go on the wire. It is pure: it touches no device, so the gate can call
	// it while deciding and authorise the encoded value itself.
	Resolve(point string, v Value) (Encoded, error)

	// Write writes a resolved value to its point.
	Write(ctx context.Context, point string, e Encoded) error

	// Close releases the connection. A closed device is not reused.
	Close() error
}

// ReaderInto is a Device that reads every point into a slice its caller
// owns, so that a poller's cycle allocates nothing for its readings (a
// device of 10,000 points would otherwise allocate 800 KB a cycle).
type ReaderInto interface {
	// ReadInto reads every point as Read(ctx, nil) does, into buf's array
	// when it has room, and returns the readings. Every reading returned
	// is written by this call; nothing of buf's earlier contents remains.
	ReadInto(ctx context.Context, buf []Reading) ([]Reading, error)
}

// Subscriber is a Device whose server can report changes itself (OPC UA
// monitored items). The gateway runs Subscribe beside the device's poller,
// which publishes what Latest returns instead of reading the device, and
// reads it as usual while Latest reports false.
type Subscriber interface {
	// Subscribe keeps a subscription to every point until ctx is done,
	// re-creating it after the connection was lost. It returns nil at once
	// when the device is not configured to subscribe, and nil when ctx is
	// done: a lost subscription is no reason to stop the gateway.
	Subscribe(ctx context.Context) error

	// Latest returns the last reported reading of every point, in the
	// order of Read with no names, and true while the subscription is live
	// and has reported every point.
	Latest() ([]Reading, bool)
}

// Factory builds a device from its configuration. It must not dial the
// device: connections are made lazily and re-made on failure.
type Factory func(cfg DeviceConfig, logger *slog.Logger) (Device, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a driver available under name. It panics on an empty or
// duplicate name: both are programming errors found at start-up.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || f == nil {
		panic("drivers: Register with empty name or nil factory")
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("drivers: Register called twice for %q", name))
	}
	registry[name] = f
}

// ErrUnknownDriver is returned by Open for a driver name nobody registered.
var ErrUnknownDriver = errors.New("drivers: unknown driver")

// Registered lists the registered driver names in order.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open builds the device described by cfg with the driver it names.
func Open(cfg DeviceConfig, logger *slog.Logger) (Device, error) {
	registryMu.RLock()
	f, ok := registry[cfg.Driver]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("device %q: %w %q", cfg.Name, ErrUnknownDriver, cfg.Driver)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return f(cfg, logger.With("device", cfg.Name))
}

// DeviceConfig describes one device in the commissioning file.
type DeviceConfig struct {
	// Name identifies the device in capabilities, telemetry and the journal.
	Name string `yaml:"name" json:"name"`
	// Driver names the driver: "modbus", "opcua" or "gpio".
	Driver string `yaml:"driver" json:"driver"`
	// URL is where the device is reached, e.g. tcp://192.168.1.10:502.
	URL string `yaml:"url" json:"url"`
	// Unit is the Modbus unit (slave) id, 0-247. Default 1.
	Unit uint8 `yaml:"unit" json:"unit"`
	// Poll is how often every point is read and published. Default 1s.
	Poll Duration `yaml:"poll" json:"poll"`
	// Timeout bounds one request to the device. Default 1s.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Points are the values this device exposes.
	Points []PointConfig `yaml:"points" json:"points"`
	// OPCUA holds the security and login settings of an OPC UA device
	// (driver "opcua"); see OPCUAConfig.
	OPCUA *OPCUAConfig `yaml:"opcua" json:"opcua,omitempty"`

	// Modbus settings for awkward devices; each zero value means the default.

	// AddressBase is how the device's documentation counts addresses: 0
	// (default) as on the wire, or 1, where its register 1 is wire address
	// 0. Every point address of this device is counted from this base.
	AddressBase uint8 `yaml:"address_base" json:"address_base,omitempty"`
	// MaxRegisters bounds the registers read by one request, 1-125.
	// Default 125, the protocol's limit.
	MaxRegisters uint16 `yaml:"max_registers" json:"max_registers,omitempty"`
	// MaxBits bounds the coils or discrete inputs read by one request,
	// 1-2000. Default 2000, the protocol's limit.
	MaxBits uint16 `yaml:"max_bits" json:"max_bits,omitempty"`
	// MaxGap is the most unused addresses one read request may bridge to
	// cover two points. Default 16; 0 joins only adjacent points.
	MaxGap *uint16 `yaml:"max_gap" json:"max_gap,omitempty"`
	// OneRequestPerPoint reads every point with its own request, for
	// devices that refuse reads spanning several values.
	OneRequestPerPoint bool `yaml:"one_request_per_point" json:"one_request_per_point,omitempty"`
	// Retries is how many times a request that timed out or lost its
	// connection is repeated before the device counts as unreachable.
	// Writes are never repeated. Default 0.
	Retries uint8 `yaml:"retries" json:"retries,omitempty"`
	// PauseAfterConnect is waited after a connection is made, before the
	// first request, for devices that need time to settle. Default 0.
	PauseAfterConnect Duration `yaml:"pause_after_connect" json:"pause_after_connect,omitempty"`
	// TLS holds the certificates of a tcp+tls:// device (Modbus/TCP
	// Security): the client's own certificate and key, and the CA or
	// server certificate the device's certificate must chain to.
	TLS *TLSConfig `yaml:"tls" json:"tls,omitempty"`

	// Chip is the GPIO chip of a device with driver "gpio": its name
	// (gpiochip0, the default), its path (/dev/gpiochip0) or its label
	// (pinctrl-bcm2711). Such a device has no URL.
	Chip string `yaml:"chip" json:"chip,omitempty"`
}

// TLSConfig names PEM files for a TLS connection to a device.
type TLSConfig struct {
	// CA is the CA certificate (or the device's own self-signed
	// certificate, to pin it) the device's certificate is checked against.
	CA string `yaml:"ca" json:"ca"`
	// Cert is this gateway's client certificate.
	Cert string `yaml:"cert" json:"cert"`
	// Key is the private key of Cert.
	Key string `yaml:"key" json:"key"`
}

// PointConfig describes one value on a device.
type PointConfig struct {
	// Name identifies the point within its device.
	Name string `yaml:"name" json:"name"`
	// Register is the Modbus table: "holding", "input", "coil" or "discrete".
	Register string `yaml:"register" json:"register,omitempty"`
	// Address is the first register or coil, counted from the device's
	// address base (0 unless address_base says 1).
	Address uint16 `yaml:"address" json:"address"`
	// Type is how registers decode: uint16, int16, uint32, int32, float32,
	// uint64, int64, float64, string, or bool with Bit; coils and discrete
	// inputs are always bool. Default uint16.
	Type string `yaml:"type" json:"type,omitempty"`
	// Order is the byte order of a multi-register value, as the letters of a
	// big-endian ABCD value on the wire: ABCD (default), CDAB, BADC or DCBA.
	Order string `yaml:"order" json:"order,omitempty"`
	// Scale multiplies the raw value to give the engineering value. Default 1.
	Scale float64 `yaml:"scale" json:"scale,omitempty"`
	// Offset is added after scaling. Default 0.
	Offset float64 `yaml:"offset" json:"offset,omitempty"`
	// Unit is the engineering unit shown with the value, e.g. "%" or "degC".
	Unit string `yaml:"unit" json:"unit,omitempty"`
	// Writable allows writes to this point at all; a capability is still
	// needed to reach it. Input registers and discrete inputs never are.
	Writable bool `yaml:"writable" json:"writable,omitempty"`
	// Node is the OPC UA node id of the point, e.g. "ns=2;s=tank.level"
	// (driver "opcua", where Register and Address do not apply).
	Node string `yaml:"node" json:"node,omitempty"`

	// Bit, with type bool on a holding or input register, is the bit of
	// the register the point reads, 0 (least significant) to 15. Such a
	// point is read-only.
	Bit *uint8 `yaml:"bit" json:"bit,omitempty"`
	// Length, with type string, is the string's length in bytes; it
	// occupies (length+1)/2 registers, two characters each, the first in
	// the high byte (order ABCD) or the low byte (order BADC). Trailing
	// NUL bytes and spaces are dropped. A string point is read-only.
	Length uint16 `yaml:"length" json:"length,omitempty"`
	// Count, above 1, makes the entry a range of that many points of the
	// same kind at consecutive addresses (Modbus only), named by appending
	// their index from 0 to Name: name "r" with count 10000 declares r0 to
	// r9999. See Element.
	Count int `yaml:"count" json:"count,omitempty"`

	// GPIO settings, for a point of a device with driver "gpio". Such a
	// point is one line, and its type is bool: on or off.

	// Line is the GPIO line: its offset on the chip ("17"), the name the
	// chip gives it ("GPIO17", the Raspberry Pi's BCM names), or a pin of
	// the Raspberry Pi's 40-pin header ("pin11", which is GPIO17).
	Line string `yaml:"line" json:"line,omitempty"`
	// Direction is "input" or "output". Default output for a writable
	// point, input otherwise. An output that is not writable stays at its
	// initial state.
	Direction string `yaml:"direction" json:"direction,omitempty"`
	// ActiveLow makes a low level mean on, as for most relay boards and
	// for buttons that pull the line to ground.
	ActiveLow bool `yaml:"active_low" json:"active_low,omitempty"`
	// Bias of an input: "pull-up", "pull-down" or "as-is" (the default,
	// leaving the chip's setting, for lines with their own resistors).
	Bias string `yaml:"bias" json:"bias,omitempty"`
	// Initial is the state an output is switched to when the gateway
	// takes the line: true on, false (the default) off.
	Initial bool `yaml:"initial" json:"initial,omitempty"`
}

// Duration is a time.Duration written as "500ms" or "2s" in the config.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. 500ms, 2s, 1m)", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML decodes the duration from its YAML node's text. The YAML
// decoder calls it instead of UnmarshalText, for which it would first
// re-format the node by walking every token of the file: once per
// duration, 10x the time of a config check with 200 devices.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.UnmarshalText([]byte(s))
}

// MarshalText formats d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
