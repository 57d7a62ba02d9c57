package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/femtoclaw/femtoclaw/drivers"
)

// Environment checks what the config names on the machine it runs on,
// which Validate leaves alone: that the certificate files and directories
// of OPC UA devices (server_cert, trust_dir, cert_dir) and of Modbus TLS
// devices (ca, cert, key) exist, and that every password reference
// resolves (its environment variable is set, its file readable). A config
// is often checked away from the gateway it is meant for, so these are
// warnings: `femtoclaw check` prints them, each with its position, and
// exits 0 unless asked to be strict. Secrets are never read into the
// result.
func (c *Config) Environment() Problems {
	v := &checker{c: c}
	for i := range c.Devices {
		d := &c.Devices[i]
		dp := path{"devices"}.add(i)
		if o := d.OPCUA; o != nil && d.Driver == "opcua" {
			op := dp.add("opcua")
			if o.ServerCert != "" {
				v.file(op.add("server_cert"), o.ServerCert)
			}
			if o.TrustDir != "" {
				v.dir(op.add("trust_dir"), o.TrustDir, "with the trusted certificates")
			}
			if o.CertDir != "" {
				// Created on first use; half a key pair is a mistake.
				_, certErr := os.Stat(filepath.Join(o.CertDir, "cert.pem"))
				_, keyErr := os.Stat(filepath.Join(o.CertDir, "key.pem"))
				if (certErr == nil) != (keyErr == nil) {
					v.at(op.add("cert_dir"), "%s holds only one of cert.pem and key.pem: the client certificate cannot be used", o.CertDir)
				}
			}
			if !o.Password.IsZero() && o.Password.Check() == nil {
				v.secret(op.add("password"), o.Password)
			}
		}
		if t := d.TLS; t != nil && d.Driver == "modbus" {
			tp := dp.add("tls")
			for _, f := range []struct{ key, file string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
				if f.file != "" {
					v.file(tp.add(f.key), f.file)
				}
			}
		}
	}
	var ps Problems
	for _, f := range v.found {
		ps = append(ps, f.Problem)
	}
	ps.sort()
	return ps
}

// file warns when name is not a readable regular file.
func (v *checker) file(p path, name string) {
	f, err := os.Open(name)
	if err != nil {
		v.at(p, "%s", fileProblem(name, err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		v.at(p, "%s is a directory, not a certificate file", name)
	}
}

// dir warns when name is not a directory.
func (v *checker) dir(p path, name, what string) {
	st, err := os.Stat(name)
	switch {
	case err != nil:
		v.at(p, "%s", fileProblem(name, err))
	case !st.IsDir():
		v.at(p, "%s is not a directory %s", name, what)
	}
}

// secret warns when a secret reference does not resolve, without keeping
// the secret.
func (v *checker) secret(p path, s drivers.Secret) {
	kind, rest, _ := strings.Cut(s.Ref(), ":")
	switch kind {
	case "env":
		if _, ok := os.LookupEnv(rest); !ok {
			v.at(p, "environment variable %s is not set here", rest)
		}
	case "file":
		v.file(p, rest)
	}
}

// fileProblem says why a named file cannot be used.
func fileProblem(name string, err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("%s does not exist", name)
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("%s cannot be read (permission denied)", name)
	}
	return fmt.Sprintf("%s: %v", name, err)
}
