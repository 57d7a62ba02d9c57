package modbus

import (
	"errors"
	"fmt"

	"github.com/femtoclaw/femtoclaw/drivers"
	mb "github.com/simonvetter/modbus"
)

// Exception is a Modbus exception code sent by a device in answer to a
// request it understood but refused. It is comparable: callers test it with
// errors.Is(err, modbus.IllegalDataAddress) or errors.As.
//
// An exception is not a transport failure: the connection stays up. The two
// gateway exceptions also match drivers.ErrUnavailable, since they mean the
// device behind a gateway could not be reached.
type Exception uint8

// The Modbus exception codes.
const (
	IllegalFunction              Exception = 0x01
	IllegalDataAddress           Exception = 0x02
	IllegalDataValue             Exception = 0x03
	ServerDeviceFailure          Exception = 0x04
	Acknowledge                  Exception = 0x05
	ServerDeviceBusy             Exception = 0x06
	MemoryParityError            Exception = 0x08
	GatewayPathUnavailable       Exception = 0x0a
	GatewayTargetFailedToRespond Exception = 0x0b
)

// Error names the exception.
func (e Exception) Error() string {
	var s string
	switch e {
	case IllegalFunction:
		s = "illegal function"
	case IllegalDataAddress:
		s = "illegal data address"
	case IllegalDataValue:
		s = "illegal data value"
	case ServerDeviceFailure:
		s = "server device failure"
	case Acknowledge:
		s = "acknowledge"
	case ServerDeviceBusy:
		s = "server device busy"
	case MemoryParityError:
		s = "memory parity error"
	case GatewayPathUnavailable:
		s = "gateway path unavailable"
	case GatewayTargetFailedToRespond:
		s = "gateway target device failed to respond"
	default:
		s = "unknown exception"
	}
	return fmt.Sprintf("modbus: exception 0x%02x: %s", uint8(e), s)
}

// Is reports whether the gateway exceptions match drivers.ErrUnavailable.
func (e Exception) Is(target error) bool {
	return target == drivers.ErrUnavailable &&
		(e == GatewayPathUnavailable || e == GatewayTargetFailedToRespond)
}

// ErrClosed is returned by every method of a Device after Close.
var ErrClosed = errors.New("modbus: device closed")

// exception maps an error of the client library to the exception the
// device answered with, if it is one.
func exception(err error) (Exception, bool) {
	var me mb.Error
	if errors.As(err, &me) {
		switch me {
		case mb.ErrIllegalFunction:
			return IllegalFunction, true
		case mb.ErrIllegalDataAddress:
			return IllegalDataAddress, true
		case mb.ErrIllegalDataValue:
			return IllegalDataValue, true
		case mb.ErrServerDeviceFailure:
			return ServerDeviceFailure, true
		case mb.ErrAcknowledge:
			return Acknowledge, true
		case mb.ErrServerDeviceBusy:
			return ServerDeviceBusy, true
		case mb.ErrMemoryParityError:
			return MemoryParityError, true
		case mb.ErrGWPathUnavailable:
			return GatewayPathUnavailable, true
		case mb.ErrGWTargetFailedToRespond:
			return GatewayTargetFailedToRespond, true
		}
		return 0, false
	}
	// The library reports codes it does not know as a formatted error.
	var code uint8
	if err != nil {
		if n, _ := fmt.Sscanf(err.Error(), "unknown exception code (%d)", &code); n == 1 {
			return Exception(code), true
		}
	}
	return 0, false
}
