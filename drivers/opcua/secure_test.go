package opcua

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

var secure struct {
	once sync.Once
	ep   string
	cert []byte // the server's certificate, DER
	err  error
}

// startSecure returns the endpoint of a server offering Basic256Sha256 and
// Aes128_Sha256_RsaOaep with Sign and SignAndEncrypt (and the deprecated
// Basic256, which must never be chosen), with one Double node ns=1;s=x.
func startSecure(t *testing.T) (string, []byte) {
	t.Helper()
	secure.once.Do(startSecureServer)
	if secure.err != nil {
		t.Fatalf("secure server: %v", secure.err)
	}
	return secure.ep, secure.cert
}

func startSecureServer() {
	key, der, err := newClientCert("urn:femtoclaw:test-server", "127.0.0.1")
	if err != nil {
		secure.err = err
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		secure.err = err
		return
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("Basic256", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSign),
		server.EnableSecurity("Aes128_Sha256_RsaOaep", ua.MessageSecurityModeSign),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.Certificate(der), server.PrivateKey(key),
	)
	ns := server.NewNodeNameSpace(srv, "urn:test")
	root, _ := srv.Namespace(0)
	root.Objects().AddRef(ns.Objects(), id.HasComponent, true)
	ns.AddNewVariableStringNode("x", 12.5)
	if err := srv.Start(context.Background()); err != nil {
		secure.err = err
		return
	}
	secure.ep, secure.cert = "opc.tcp://127.0.0.1:"+strconv.Itoa(port), der
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecureRefusals checks that the driver refuses a server before any
// secure channel opens: an unpinned certificate, a policy not offered, None
// not offered. The library's server cannot complete a secure handshake, so
// accepted secure connections are tested against node-opcua by the
// interop suite (scripts/interop/opcua.sh).
func TestSecureRefusals(t *testing.T) {
	ep, _ := startSecure(t)
	_, otherCert, err := newClientCert("urn:other", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	other := filepath.Join(dir, "other.pem")
	writePEM(t, other, otherCert)
	cases := []struct {
		name    string
		conf    drivers.OPCUAConfig
		wantErr error
	}{
		{"wrong pin", drivers.OPCUAConfig{ServerCert: other}, ErrUntrusted},
		{"wrong trust dir", drivers.OPCUAConfig{TrustDir: dir}, ErrUntrusted},
		{"no such policy", drivers.OPCUAConfig{ServerCert: other, SecurityPolicy: "Aes256_Sha256_RsaPss"}, ErrNoEndpoint},
		{"no such mode", drivers.OPCUAConfig{ServerCert: other, SecurityPolicy: "Aes128_Sha256_RsaOaep", SecurityMode: "SignAndEncrypt"}, ErrNoEndpoint},
		{"none not offered", drivers.OPCUAConfig{SecurityPolicy: "None"}, ErrNoEndpoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := tc.conf
			conf.CertDir = filepath.Join(t.TempDir(), "pki")
			d := openDevice(t, drivers.DeviceConfig{
				Name: "plc", Driver: "opcua", URL: ep, Timeout: drivers.Duration(2 * time.Second), OPCUA: &conf,
				Points: []drivers.PointConfig{{Name: "x", Node: "ns=1;s=x", Type: "float64"}},
			})
			_, err := d.Read(t.Context(), nil)
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, drivers.ErrUnavailable) {
				t.Fatalf("Read: got %v, want %v wrapped with ErrUnavailable", err, tc.wantErr)
			}
			if d.Connects() != 0 {
				t.Errorf("sessions opened: got %d, want 0", d.Connects())
			}
		})
	}
}
