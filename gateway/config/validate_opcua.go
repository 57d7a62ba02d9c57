package config

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// The closed sets of OPC UA settings.
var (
	opcuaPolicies   = []string{"None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"}
	opcuaModes      = []string{"None", "Sign", "SignAndEncrypt"}
	opcuaPointTypes = []string{"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
)

// opcuaDefaults fills in an OPC UA device's defaults: its Modbus defaults
// (unit, type, byte order) do not apply, and its client certificate lives
// in the data directory.
func (c *Config) opcuaDefaults(d *drivers.DeviceConfig) {
	if d.Poll == 0 {
		d.Poll = DefaultPoll
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.OPCUA == nil {
		d.OPCUA = &drivers.OPCUAConfig{}
	}
	if d.OPCUA.CertDir == "" && d.OPCUA.SecurityPolicy != "None" && d.Name != "" {
		d.OPCUA.CertDir = filepath.Join(c.Gateway.DataDir, "opcua", d.Name)
	}
}

// opcua checks an OPC UA device.
func (v *checker) opcua(dp path, d *drivers.DeviceConfig) {
	if u, err := url.Parse(d.URL); err != nil || u.Scheme != "opc.tcp" || u.Hostname() == "" {
		v.at(dp.add("url"), "%q is not an OPC UA endpoint such as opc.tcp://192.168.1.10:4840", d.URL)
	} else if _, port, err := net.SplitHostPort(u.Host); err != nil || !validPort(port) {
		v.at(dp.add("url"), "%q needs a host and a port, e.g. opc.tcp://192.168.1.10:4840", d.URL)
	}
	if v.c.src.has(dp.add("unit")) {
		v.at(dp.add("unit"), "does not apply to OPC UA")
	}
	if d.Poll <= 0 {
		v.at(dp.add("poll"), "%s must be more than 0", d.Poll)
	}
	if d.Timeout <= 0 {
		v.at(dp.add("timeout"), "%s must be more than 0", d.Timeout)
	}
	if d.OPCUA != nil {
		v.opcuaSecurity(dp.add("opcua"), d.OPCUA)
		switch pi := d.OPCUA.PublishInterval; {
		case pi < 0:
			v.at(dp.add("opcua", "publish_interval"), "%s must not be negative", pi)
		case pi != 0 && !d.OPCUA.Subscribe:
			v.at(dp.add("opcua", "publish_interval"), "applies only with subscribe: true")
		}
	}
	seen := make(map[string]int)
	for j := range d.Points {
		pt := &d.Points[j]
		pp := dp.add("points", j)
		v.pointName(pp, pt.Name, j, seen)
		v.noRange(pp, pt, "OPC UA")
		if !validNodeID(pt.Node) {
			if pt.Node == "" {
				v.at(pp.add("node"), "is required: an OPC UA node id such as ns=2;s=tank.level")
			} else {
				v.at(pp.add("node"), "%q is not an OPC UA node id such as ns=2;s=tank.level or ns=3;i=1001", pt.Node)
			}
		}
		for _, k := range []string{"register", "address", "order", "bit", "length"} {
			if v.c.src.has(pp.add(k)) {
				v.at(pp.add(k), "does not apply to OPC UA")
			}
		}
		if pt.Type != "" {
			v.oneOf(pp.add("type"), pt.Type, opcuaPointTypes)
		} else if pt.Writable {
			v.at(pp.add("type"), "is required for a writable point (one of %s)", strings.Join(opcuaPointTypes, ", "))
		}
		if pt.Type == "bool" && (pt.Scale != 0 && pt.Scale != 1 || pt.Offset != 0) {
			v.at(pp, "scale and offset do not apply to bool")
		}
	}
}

// opcuaSecurity checks the opcua: section of a device.
func (v *checker) opcuaSecurity(op path, o *drivers.OPCUAConfig) {
	switch o.SecurityPolicy {
	case "":
	case "Basic128Rsa15", "Basic256":
		v.at(op.add("security_policy"), "%s is deprecated and refused; use one of %s", o.SecurityPolicy, strings.Join(opcuaPolicies[1:], ", "))
	default:
		v.oneOf(op.add("security_policy"), o.SecurityPolicy, opcuaPolicies)
	}
	if o.SecurityMode != "" {
		v.oneOf(op.add("security_mode"), o.SecurityMode, opcuaModes)
	}
	none := o.SecurityPolicy == "None"
	switch {
	case none && o.SecurityMode != "" && o.SecurityMode != "None":
		v.at(op.add("security_mode"), "%s needs a security_policy other than None", o.SecurityMode)
	case !none && o.SecurityMode == "None":
		v.at(op.add("security_mode"), "None needs security_policy: None")
	}
	if !none && o.ServerCert == "" && o.TrustDir == "" && !o.TrustOnFirstUse {
		v.at(op, "the server's certificate cannot be verified: set server_cert or trust_dir (or, explicitly, trust_on_first_use: true), or security_policy: None")
	}
	if !o.Password.IsZero() && o.Password.Check() != nil {
		v.at(op.add("password"), "is not env:NAME or file:PATH: a password is never written in the config itself")
	}
	if o.Username != "" && o.Password.IsZero() {
		v.at(op.add("password"), "is required with a username: env:NAME or file:PATH")
	}
	if o.Username == "" && !o.Password.IsZero() {
		v.at(op.add("username"), "is required with a password")
	}
	if o.Username != "" && none {
		v.at(op.add("username"), "a login over security_policy None would send the password in clear")
	}
	if o.ApplicationURI != "" {
		if u, err := url.Parse(o.ApplicationURI); err != nil || u.Scheme == "" {
			v.at(op.add("application_uri"), "%q is not a URI such as urn:femtoclaw:line1", o.ApplicationURI)
		}
	}
}

// validNodeID reports whether s has the form of an OPC UA node id in its
// string notation: [ns=N;]i=N, s=..., g=GUID or b=base64.
func validNodeID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "ns="); ok {
		n, tail, ok := strings.Cut(rest, ";")
		if _, err := strconv.ParseUint(n, 10, 16); !ok || err != nil {
			return false
		}
		s = tail
	}
	kind, id, ok := strings.Cut(s, "=")
	if !ok || id == "" {
		return false
	}
	switch kind {
	case "i":
		_, err := strconv.ParseUint(id, 10, 32)
		return err == nil
	case "s", "g", "b":
		return true
	}
	return false
}
