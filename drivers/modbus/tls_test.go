package modbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	mb "github.com/simonvetter/modbus"
)

// certFiles makes a CA and a certificate it signs, writes both and the key
// as PEM files into dir and returns their paths and the tls pair.
type certFiles struct {
	ca, cert, key string
	pair          tls.Certificate
	pool          *x509.CertPool
}

func makeCerts(t *testing.T, dir, name string, server bool) certFiles {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	f := certFiles{ca: filepath.Join(dir, name+"-ca.pem"), cert: filepath.Join(dir, name+".pem"), key: filepath.Join(dir, name+"-key.pem")}
	write := func(path, typ string, b []byte) []byte {
		p := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
		if err := os.WriteFile(path, p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(f.ca, "CERTIFICATE", caDER)
	certPEM := write(f.cert, "CERTIFICATE", der)
	keyPEM := write(f.key, "EC PRIVATE KEY", keyDER)
	if f.pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(caCert)
	return f
}

// TestTLS reads over Modbus/TCP Security from the library's TLS server,
// and refuses a server whose certificate the configured CA did not sign.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	srv := makeCerts(t, dir, "server", true)
	cli := makeCerts(t, dir, "client", false)
	im := &image{holding: []uint16{42}}
	addr := serveHandler(t, "tcp+tls", im, &mb.ServerConfiguration{TLSServerCert: &srv.pair, TLSClientCAs: cli.pool})

	cfg := drivers.DeviceConfig{Name: "sec", Driver: "modbus", URL: "tcp+tls://" + addr,
		TLS:    &drivers.TLSConfig{CA: srv.ca, Cert: cli.cert, Key: cli.key},
		Points: []drivers.PointConfig{{Name: "r", Register: "holding", Address: 0}}}
	if m := readMap(t, openDevice(t, cfg)); m["r"].Value != drivers.Number(42) {
		t.Errorf("over TLS: got %v, want 42", m["r"].Value)
	}

	// Trusting the client's CA instead of the server's: the handshake fails.
	cfg.TLS.CA = cli.ca
	_, err := openDevice(t, cfg).Read(context.Background(), nil)
	if !errors.Is(err, drivers.ErrUnavailable) {
		t.Errorf("server signed by an untrusted CA: got %v, want ErrUnavailable", err)
	}
}
