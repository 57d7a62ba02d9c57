//go:build nosimopcua

package sim

// OPCUANamespace is the URI of the namespace the plant's nodes would live
// in; a build with -tags nosimopcua serves no OPC UA.
const OPCUANamespace = "urn:femtoclaw:sim"

// ListenOPCUA fails: the firmware build leaves the OPC UA server library
// out (it is about 4 MB of the binary), and with it the plant's OPC UA
// server. The OPC UA driver is still in.
func (p *Plant) ListenOPCUA(addr string) (endpoint string, err error) {
	return "", ErrNoOPCUA
}
