package opcua

import (
	"errors"
	"fmt"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua/ua"
)

// ErrClosed is returned by a device used after Close.
var ErrClosed = errors.New("opcua: device closed")

// StatusError is a bad status the server answered for one node: a refused
// write, an unknown node. The connection stays up. It matches
// drivers.ErrNotWritable, drivers.ErrValue or drivers.ErrUnknownPoint with
// errors.Is where the status means that, and unwraps to the ua.StatusCode.
type StatusError struct {
	Code ua.StatusCode
}

// Error names the status.
func (e *StatusError) Error() string { return fmt.Sprintf("opcua: server answered %v", e.Code) }

// Unwrap returns the status code.
func (e *StatusError) Unwrap() error { return e.Code }

// Is maps statuses onto the drivers package's errors.
func (e *StatusError) Is(target error) bool {
	switch target {
	case drivers.ErrNotWritable:
		return e.Code == ua.StatusBadNotWritable || e.Code == ua.StatusBadUserAccessDenied || e.Code == ua.StatusBadWriteNotSupported
	case drivers.ErrValue:
		return e.Code == ua.StatusBadTypeMismatch || e.Code == ua.StatusBadOutOfRange
	case drivers.ErrUnknownPoint:
		return e.Code == ua.StatusBadNodeIDUnknown
	}
	return false
}

// transportFailure reports whether a service error means the connection or
// session is no use any more; other service results leave it up.
func transportFailure(err error) bool {
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		switch sc {
		case ua.StatusBadTooManyOperations, ua.StatusBadNothingToDo, ua.StatusBadServiceUnsupported,
			ua.StatusBadNodeIDUnknown, ua.StatusBadNodeIDInvalid, ua.StatusBadUserAccessDenied:
			return false
		}
	}
	return true
}
