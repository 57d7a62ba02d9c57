//go:build nosimopcua

package sim

import "errors"

// OPCUANamespace is the URI of the namespace the plant's nodes would live
// in; a build with -tags nosimopcua serves no OPC UA.
const OPCUANamespace = "urn:femtoclaw:sim"

// ErrNoOPCUA is returned by ListenOPCUA in a build without the simulator's
// OPC UA server.
var ErrNoOPCUA = errors.New("sim: this build serves no OPC UA (built with -tags nosimopcua)")

// ListenOPCUA fails: the firmware build leaves the OPC UA server library
// out (it is about 4 MB of the binary), and with it the plant's OPC UA
// server. The OPC UA driver is still in.
func (p *Plant) ListenOPCUA(addr string) (endpoint string, err error) {
	return "", ErrNoOPCUA
}
