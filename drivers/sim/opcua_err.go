package sim

import "errors"

// ErrNoOPCUA is returned by ListenOPCUA in a build without the simulator's
// OPC UA server (-tags nosimopcua). It is defined in every build so that
// callers can recognise it.
var ErrNoOPCUA = errors.New("sim: this build serves no OPC UA (built with -tags nosimopcua)")
