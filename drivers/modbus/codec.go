package modbus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Table is one of the four Modbus data tables.
type Table uint8

// The Modbus data tables.
const (
	Holding  Table = iota + 1 // holding registers, read/write 16-bit words
	Input                     // input registers, read-only 16-bit words
	Coil                      // coils, read/write bits
	Discrete                  // discrete inputs, read-only bits
)

// String returns the table's name as written in the config.
func (t Table) String() string {
	switch t {
	case Holding:
		return "holding"
	case Input:
		return "input"
	case Coil:
		return "coil"
	case Discrete:
		return "discrete"
	}
	return fmt.Sprintf("table(%d)", uint8(t))
}

// bits reports whether the table holds bits rather than words.
func (t Table) bits() bool { return t == Coil || t == Discrete }

// ParseTable parses a table name from the config.
func ParseTable(s string) (Table, error) {
	switch strings.ToLower(s) {
	case "holding":
		return Holding, nil
	case "input":
		return Input, nil
	case "coil":
		return Coil, nil
	case "discrete":
		return Discrete, nil
	}
	return 0, fmt.Errorf("modbus: unknown register %q (want holding, input, coil or discrete)", s)
}

// Type is how the registers of a point decode.
type Type uint8

// The point types. Bool is the type of every coil and discrete input, and
// of a bit inside a register; String is text packed two bytes a register.
const (
	Uint16 Type = iota + 1
	Int16
	Uint32
	Int32
	Float32
	Uint64
	Int64
	Float64
	Bool
	String
)

var typeNames = [...]string{
	Uint16: "uint16", Int16: "int16", Uint32: "uint32", Int32: "int32", Float32: "float32",
	Uint64: "uint64", Int64: "int64", Float64: "float64", Bool: "bool", String: "string",
}

// String returns the type's name as written in the config.
func (t Type) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType parses a type name from the config. The empty string is Uint16.
func ParseType(s string) (Type, error) {
	if s == "" {
		return Uint16, nil
	}
	ls := strings.ToLower(s)
	for t, n := range typeNames {
		if n != "" && n == ls {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("modbus: unknown type %q (want %s)", s, typeList)
}

// typeList names the types a register point may have, for messages.
const typeList = "uint16, int16, uint32, int32, float32, uint64, int64, float64, string or bool with a bit"

// Words returns how many 16-bit registers a value of type t occupies; Bool
// occupies one bit and reports 1, as does String, whose length is the
// point's.
func (t Type) Words() int {
	switch t {
	case Uint32, Int32, Float32:
		return 2
	case Uint64, Int64, Float64:
		return 4
	}
	return 1
}

// Order is the byte order of a register value on the wire, named by the
// letters of a big-endian ABCD value as they appear on the wire:
//
//	ABCD  A B C D   big endian (the Modbus default)
//	CDAB  C D A B   word-swapped
//	BADC  B A D C   bytes swapped in each word
//	DCBA  D C B A   little endian
//
// For 16-bit types only the byte order within the word matters (ABCD and
// CDAB read AB; BADC and DCBA read BA). For 64-bit types the pattern
// extends: CDAB and DCBA reverse the order of all four words.
type Order uint8

// The byte orders.
const (
	ABCD Order = iota + 1
	CDAB
	BADC
	DCBA
)

// String returns the order's name as written in the config.
func (o Order) String() string {
	switch o {
	case ABCD:
		return "ABCD"
	case CDAB:
		return "CDAB"
	case BADC:
		return "BADC"
	case DCBA:
		return "DCBA"
	}
	return fmt.Sprintf("order(%d)", uint8(o))
}

// ParseOrder parses a byte order from the config. The empty string is ABCD.
func ParseOrder(s string) (Order, error) {
	switch strings.ToUpper(s) {
	case "", "ABCD":
		return ABCD, nil
	case "CDAB":
		return CDAB, nil
	case "BADC":
		return BADC, nil
	case "DCBA":
		return DCBA, nil
	}
	return 0, fmt.Errorf("modbus: unknown order %q (want ABCD, CDAB, BADC or DCBA)", s)
}

func (o Order) swapBytes() bool { return o == BADC || o == DCBA }
func (o Order) swapWords() bool { return o == CDAB || o == DCBA }

// permute turns wire bytes into big-endian value bytes for order o, and
// back: both steps are their own inverse and commute.
func (o Order) permute(b []byte) {
	if o.swapBytes() {
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
	if o.swapWords() {
		for i, j := 0, len(b)-2; i < j; i, j = i+2, j-2 {
			b[i], b[i+1], b[j], b[j+1] = b[j], b[j+1], b[i], b[i+1]
		}
	}
}

// Codec converts between the registers of one point and its engineering
// value: value = raw*Scale + Offset.
type Codec struct {
	Type   Type
	Order  Order
	Scale  float64 // never 0 in a Codec built by the driver
	Offset float64
}

// Decode turns the registers of one point (as the client library returns
// them: each word as read big-endian off the wire) into its engineering
// value. regs must hold exactly c.Type.Words() registers.
func (c Codec) Decode(regs []uint16) (drivers.Value, error) {
	raw, err := DecodeRaw(regs, c.Type, c.Order)
	if err != nil {
		return drivers.Value{}, err
	}
	return drivers.Number(raw*c.scale() + c.Offset), nil
}

func (c Codec) scale() float64 {
	if c.Scale == 0 {
		return 1
	}
	return c.Scale
}

// Encode turns an engineering number into the registers that represent it
// and the engineering value those registers decode back to. Integer types
// round to the nearest raw value; values the type cannot hold, NaN and
// infinities are refused with an error wrapping drivers.ErrValue.
func (c Codec) Encode(v float64) ([]uint16, drivers.Value, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, drivers.Value{}, fmt.Errorf("modbus: %v: %w", v, drivers.ErrValue)
	}
	raw := (v - c.Offset) / c.scale()
	regs, err := EncodeRaw(raw, c.Type, c.Order)
	if err != nil {
		return nil, drivers.Value{}, err
	}
	back, err := c.Decode(regs)
	if err != nil {
		return nil, drivers.Value{}, err
	}
	return regs, back, nil
}

// DecodeRaw decodes registers into the raw (unscaled) value of type t in
// order o. 64-bit integers beyond 2^53 lose precision in the float64.
func DecodeRaw(regs []uint16, t Type, o Order) (float64, error) {
	n := t.Words()
	if t == Bool || t == String || t == 0 || int(t) >= len(typeNames) {
		return 0, fmt.Errorf("modbus: cannot decode registers as %s", t)
	}
	if o < ABCD || o > DCBA {
		return 0, fmt.Errorf("modbus: invalid %s", o)
	}
	if len(regs) != n {
		return 0, fmt.Errorf("modbus: %s needs %d registers, got %d", t, n, len(regs))
	}
	var b [8]byte
	buf := b[:2*n]
	for i, r := range regs {
		binary.BigEndian.PutUint16(buf[2*i:], r)
	}
	o.permute(buf)
	switch t {
	case Uint16:
		return float64(binary.BigEndian.Uint16(buf)), nil
	case Int16:
		return float64(int16(binary.BigEndian.Uint16(buf))), nil
	case Uint32:
		return float64(binary.BigEndian.Uint32(buf)), nil
	case Int32:
		return float64(int32(binary.BigEndian.Uint32(buf))), nil
	case Float32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(buf))), nil
	case Uint64:
		return float64(binary.BigEndian.Uint64(buf)), nil
	case Int64:
		return float64(int64(binary.BigEndian.Uint64(buf))), nil
	default: // Float64
		return math.Float64frombits(binary.BigEndian.Uint64(buf)), nil
	}
}

// EncodeRaw encodes a raw (unscaled) value as the registers of type t in
// order o. Integer types round to nearest (halves away from zero).
func EncodeRaw(raw float64, t Type, o Order) ([]uint16, error) {
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return nil, fmt.Errorf("modbus: %v as %s: %w", raw, t, drivers.ErrValue)
	}
	if o < ABCD || o > DCBA {
		return nil, fmt.Errorf("modbus: invalid %s", o)
	}
	var b [8]byte
	n := t.Words()
	buf := b[:2*n]
	r := math.Round(raw)
	outOfRange := func() error {
		return fmt.Errorf("modbus: %v out of range for %s: %w", raw, t, drivers.ErrValue)
	}
	switch t {
	case Uint16:
		if r < 0 || r > math.MaxUint16 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint16(buf, uint16(r))
	case Int16:
		if r < math.MinInt16 || r > math.MaxInt16 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint16(buf, uint16(int16(r)))
	case Uint32:
		if r < 0 || r > math.MaxUint32 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint32(buf, uint32(r))
	case Int32:
		if r < math.MinInt32 || r > math.MaxInt32 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint32(buf, uint32(int32(r)))
	case Float32:
		f := float32(raw)
		if math.IsInf(float64(f), 0) {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint32(buf, math.Float32bits(f))
	case Uint64:
		// 2^64 is exactly representable; every float64 below it fits.
		if r < 0 || r >= 1<<64 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint64(buf, uint64(r))
	case Int64:
		if r < math.MinInt64 || r >= 1<<63 {
			return nil, outOfRange()
		}
		binary.BigEndian.PutUint64(buf, uint64(int64(r)))
	case Float64:
		binary.BigEndian.PutUint64(buf, math.Float64bits(raw))
	default:
		return nil, fmt.Errorf("modbus: cannot encode %s as registers", t)
	}
	o.permute(buf)
	regs := make([]uint16, n)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(buf[2*i:])
	}
	return regs, nil
}

// wireToRegs splits wire bytes into big-endian registers.
func wireToRegs(b []byte) []uint16 {
	regs := make([]uint16, len(b)/2)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return regs
}

// regsToWire joins registers into wire bytes, big-endian, as sent.
func regsToWire(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(b[2*i:], r)
	}
	return b
}

// DecodeString decodes registers holding text, two bytes a register: the
// first byte in the high half of each register in order ABCD (and CDAB),
// in the low half in order BADC (and DCBA). The text ends at the first NUL
// byte; trailing spaces are dropped. Invalid UTF-8 is kept as it is.
func DecodeString(regs []uint16, o Order) string {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		if o.swapBytes() {
			binary.LittleEndian.PutUint16(b[2*i:], r)
		} else {
			binary.BigEndian.PutUint16(b[2*i:], r)
		}
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimRight(b, " "))
}

// DecodeBit reports whether bit n (0 is the least significant) of reg is
// set.
func DecodeBit(reg uint16, n uint8) bool { return n < 16 && reg&(1<<n) != 0 }
