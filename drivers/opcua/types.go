package opcua

import (
	"fmt"
	"math"
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua/ua"
)

// DataType is the OPC UA built-in type of a point's value.
type DataType uint8

// The data types a point may have. Names in the config are the ones of the
// Modbus driver where they match (float32, int16, ...), or the OPC UA names
// (Float, Int16, ...).
const (
	TypeAny DataType = iota // read-only points of unknown type: any number or boolean is read
	TypeBool
	TypeSByte
	TypeByte
	TypeInt16
	TypeUInt16
	TypeInt32
	TypeUInt32
	TypeInt64
	TypeUInt64
	TypeFloat
	TypeDouble
)

var typeNames = [...]struct {
	cfg, ua string
	id      ua.TypeID
}{
	TypeAny:    {"", "", ua.TypeIDNull},
	TypeBool:   {"bool", "Boolean", ua.TypeIDBoolean},
	TypeSByte:  {"int8", "SByte", ua.TypeIDSByte},
	TypeByte:   {"uint8", "Byte", ua.TypeIDByte},
	TypeInt16:  {"int16", "Int16", ua.TypeIDInt16},
	TypeUInt16: {"uint16", "UInt16", ua.TypeIDUint16},
	TypeInt32:  {"int32", "Int32", ua.TypeIDInt32},
	TypeUInt32: {"uint32", "UInt32", ua.TypeIDUint32},
	TypeInt64:  {"int64", "Int64", ua.TypeIDInt64},
	TypeUInt64: {"uint64", "UInt64", ua.TypeIDUint64},
	TypeFloat:  {"float32", "Float", ua.TypeIDFloat},
	TypeDouble: {"float64", "Double", ua.TypeIDDouble},
}

// TypeNames lists the accepted names of data types, for error messages.
func TypeNames() []string {
	var out []string
	for _, t := range typeNames[1:] {
		out = append(out, t.cfg)
	}
	return out
}

// ParseType parses a data type by its config name or its OPC UA name, in
// any case. The empty string is TypeAny.
func ParseType(s string) (DataType, error) {
	if s == "" {
		return TypeAny, nil
	}
	for i, t := range typeNames[1:] {
		if strings.EqualFold(s, t.cfg) || strings.EqualFold(s, t.ua) {
			return DataType(i + 1), nil
		}
	}
	if strings.EqualFold(s, "boolean") {
		return TypeBool, nil
	}
	return 0, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(TypeNames(), ", "))
}

// String returns the type's name in the config.
func (t DataType) String() string {
	if int(t) < len(typeNames) {
		if t == TypeAny {
			return "any"
		}
		return typeNames[t].cfg
	}
	return fmt.Sprintf("DataType(%d)", uint8(t))
}

// UAName returns the OPC UA name of the type, e.g. Double.
func (t DataType) UAName() string { return typeNames[t].ua }

// typeOfID returns the data type of an OPC UA built-in type id.
func typeOfID(id ua.TypeID) (DataType, bool) {
	for i, t := range typeNames[1:] {
		if t.id == id {
			return DataType(i + 1), true
		}
	}
	return 0, false
}

// TypeOfDataTypeNode returns the data type whose DataType node is
// ns=0;i=id (Boolean is i=1 ... Double i=11), as a browse reports it.
func TypeOfDataTypeNode(id uint32) (DataType, bool) {
	if id > math.MaxUint8 {
		return 0, false
	}
	return typeOfID(ua.TypeID(id))
}

// decode turns a read variant into an engineering value: raw*scale+offset
// for numbers. A variant of another type than want (unless TypeAny) is an
// error.
func decode(v *ua.Variant, want DataType, scale, offset float64) (drivers.Value, error) {
	if v == nil {
		return drivers.Value{}, fmt.Errorf("no value")
	}
	if v.ArrayLength() > 0 || v.ArrayDimensions() != nil {
		return drivers.Value{}, fmt.Errorf("arrays are not supported")
	}
	got, ok := typeOfID(v.Type())
	if !ok {
		return drivers.Value{}, fmt.Errorf("unsupported type id %d", v.Type())
	}
	if want != TypeAny && got != want {
		return drivers.Value{}, fmt.Errorf("node holds %s, want %s", got.UAName(), want.UAName())
	}
	var f float64
	switch x := v.Value().(type) {
	case bool:
		return drivers.Bool(x), nil
	case int8:
		f = float64(x)
	case uint8:
		f = float64(x)
	case int16:
		f = float64(x)
	case uint16:
		f = float64(x)
	case int32:
		f = float64(x)
	case uint32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float32:
		f = float64(x)
	case float64:
		f = x
	default:
		return drivers.Value{}, fmt.Errorf("unsupported value %T", x)
	}
	return drivers.Number(f*scale + offset), nil
}

// encode turns an engineering value into a variant of type t, and returns
// the engineering value that variant decodes back to. Integers are rounded
// to nearest; values the type cannot hold wrap drivers.ErrValue.
func encode(t DataType, v drivers.Value, scale, offset float64) (*ua.Variant, drivers.Value, error) {
	if t == TypeBool {
		var b bool
		switch {
		case v.Kind == drivers.KindBool:
			b = v.Bool
		case v.Kind == drivers.KindNumber && (v.Number == 0 || v.Number == 1):
			b = v.Number == 1
		default:
			return nil, drivers.Value{}, fmt.Errorf("%s is not a boolean: %w", v, drivers.ErrValue)
		}
		return ua.MustVariant(b), drivers.Bool(b), nil
	}
	if v.Kind != drivers.KindNumber {
		return nil, drivers.Value{}, fmt.Errorf("%s is not a number: %w", v, drivers.ErrValue)
	}
	raw := (v.Number - offset) / scale
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return nil, drivers.Value{}, fmt.Errorf("%s is not a finite number: %w", v, drivers.ErrValue)
	}
	inRange := func(lo, hi float64) (float64, error) {
		r := math.Round(raw)
		if r < lo || r > hi {
			return 0, fmt.Errorf("%s is outside %s (%g..%g raw): %w", v, t, lo, hi, drivers.ErrValue)
		}
		return r, nil
	}
	var (
		x   any
		r   float64
		err error
	)
	switch t {
	case TypeSByte:
		r, err = inRange(math.MinInt8, math.MaxInt8)
		x = int8(r)
	case TypeByte:
		r, err = inRange(0, math.MaxUint8)
		x = uint8(r)
	case TypeInt16:
		r, err = inRange(math.MinInt16, math.MaxInt16)
		x = int16(r)
	case TypeUInt16:
		r, err = inRange(0, math.MaxUint16)
		x = uint16(r)
	case TypeInt32:
		r, err = inRange(math.MinInt32, math.MaxInt32)
		x = int32(r)
	case TypeUInt32:
		r, err = inRange(0, math.MaxUint32)
		x = uint32(r)
	case TypeInt64:
		// float64 holds integers exactly only up to 2^53.
		r, err = inRange(-(1 << 53), 1<<53)
		x = int64(r)
	case TypeUInt64:
		r, err = inRange(0, 1<<53)
		x = uint64(r)
	case TypeFloat:
		if math.Abs(raw) > math.MaxFloat32 {
			return nil, drivers.Value{}, fmt.Errorf("%s is outside float32: %w", v, drivers.ErrValue)
		}
		x, r = float32(raw), float64(float32(raw))
	case TypeDouble:
		x, r = raw, raw
	default:
		return nil, drivers.Value{}, fmt.Errorf("point has no data type to write: %w", drivers.ErrValue)
	}
	if err != nil {
		return nil, drivers.Value{}, err
	}
	return ua.MustVariant(x), drivers.Number(r*scale + offset), nil
}
