package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
)

func TestSelectEndpoint(t *testing.T) {
	ep := func(policy string, mode ua.MessageSecurityMode) *ua.EndpointDescription {
		return &ua.EndpointDescription{SecurityPolicyURI: ua.FormatSecurityPolicyURI(policy), SecurityMode: mode}
	}
	const (
		none = ua.MessageSecurityModeNone
		sign = ua.MessageSecurityModeSign
		enc  = ua.MessageSecurityModeSignAndEncrypt
		any  = ua.MessageSecurityModeInvalid
	)
	all := []*ua.EndpointDescription{
		ep("None", none), ep("Basic128Rsa15", enc), ep("Basic256", enc),
		ep("Basic256Sha256", sign), ep("Basic256Sha256", enc),
		ep("Aes128_Sha256_RsaOaep", enc), ep("Aes256_Sha256_RsaPss", sign),
	}
	cases := []struct {
		offered    []*ua.EndpointDescription
		policy     string
		mode       ua.MessageSecurityMode
		wantPolicy string // "" for ErrNoEndpoint
		wantMode   ua.MessageSecurityMode
	}{
		{all, "", any, "Aes256_Sha256_RsaPss", sign},
		{all, "", enc, "Aes128_Sha256_RsaOaep", enc},
		{all, "Basic256Sha256", any, "Basic256Sha256", enc},
		{all, "Basic256Sha256", sign, "Basic256Sha256", sign},
		{all, "None", any, "None", none},
		{[]*ua.EndpointDescription{ep("None", none)}, "", any, "", 0},
		{[]*ua.EndpointDescription{ep("Basic128Rsa15", enc), ep("Basic256", sign)}, "", any, "", 0},
		{[]*ua.EndpointDescription{ep("Basic256", enc)}, "Basic256", any, "", 0},
		{[]*ua.EndpointDescription{ep("Basic256Sha256", none)}, "", any, "", 0},
	}
	for _, tc := range cases {
		got, err := selectEndpoint(tc.offered, tc.policy, tc.mode)
		if tc.wantPolicy == "" {
			if !errors.Is(err, ErrNoEndpoint) {
				t.Errorf("selectEndpoint(%q, %v): got %v, %v, want ErrNoEndpoint", tc.policy, tc.mode, got, err)
			}
			continue
		}
		if err != nil || shortPolicy(got.SecurityPolicyURI) != tc.wantPolicy || got.SecurityMode != tc.wantMode {
			t.Errorf("selectEndpoint(%q, %v): got %v, %v, want %s %v", tc.policy, tc.mode, got, err, tc.wantPolicy, tc.wantMode)
		}
	}
}

// issue returns a DER certificate for key signed by parent (self-signed
// when parent is nil), valid from nb to na.
func issue(t *testing.T, cn string, key *rsa.PrivateKey, parent *x509.Certificate, parentKey *rsa.PrivateKey, ca bool, nb, na time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: nb, NotAfter: na, BasicConstraintsValid: true, IsCA: ca,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifier(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	ca := issue(t, "ca", key, nil, nil, true, past, future)
	server := issue(t, "server", key, nil, nil, false, past, future)
	issued := issue(t, "issued", key, ca, key, false, past, future)
	expired := issue(t, "expired", key, nil, nil, false, past, now.Add(-time.Minute))
	stranger := issue(t, "stranger", key, nil, nil, false, past, future)

	dir := t.TempDir()
	pin := filepath.Join(dir, "pin.pem")
	writePEM(t, pin, server.Raw)
	trust := filepath.Join(dir, "trust")
	writePEM(t, filepath.Join(trust, "ca.pem"), ca.Raw)
	if err := os.WriteFile(filepath.Join(trust, "server.der"), server.Raw, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		serverCert string
		trustDir   string
		tofu       bool
		presented  []byte
		wantErr    bool
		wantPinned bool
	}{
		{name: "pinned", serverCert: pin, presented: server.Raw},
		{name: "pinned, other presented", serverCert: pin, presented: stranger.Raw, wantErr: true},
		{name: "trust dir, DER file", trustDir: trust, presented: server.Raw},
		{name: "trust dir, issued by CA", trustDir: trust, presented: issued.Raw},
		{name: "trust dir, stranger", trustDir: trust, presented: stranger.Raw, wantErr: true},
		{name: "expired though pinned", serverCert: pin, trustDir: trust, presented: expired.Raw, wantErr: true},
		{name: "nothing configured", presented: server.Raw, wantErr: true},
		{name: "no certificate", serverCert: pin, presented: nil, wantErr: true},
		{name: "garbage", serverCert: pin, presented: []byte("junk"), wantErr: true},
		{name: "first use", tofu: true, presented: server.Raw, wantPinned: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certDir := t.TempDir()
			v, err := newVerifier(tc.serverCert, tc.trustDir, certDir, tc.tofu)
			if err != nil {
				t.Fatal(err)
			}
			pinned, err := v.verify(tc.presented)
			if tc.wantErr != (err != nil) || pinned != tc.wantPinned {
				t.Fatalf("verify: got pinned %v, error %v; want pinned %v, error %v", pinned, err, tc.wantPinned, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUntrusted) {
				t.Errorf("verify: got %v, want ErrUntrusted", err)
			}
			if tc.tofu {
				// The pin holds from now on: the same certificate again is
				// accepted without pinning, another one refused.
				if pinned, err := v.verify(tc.presented); err != nil || pinned {
					t.Errorf("verify again: got pinned %v, %v, want false, nil", pinned, err)
				}
				if _, err := v.verify(stranger.Raw); !errors.Is(err, ErrUntrusted) {
					t.Errorf("verify another after first use: got %v, want ErrUntrusted", err)
				}
			}
		})
	}
}

func TestClientCertCreatedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	key1, der1, err := clientCert(dir, "urn:femtoclaw:test", "gw")
	if err != nil {
		t.Fatal(err)
	}
	key2, der2, err := clientCert(dir, "urn:femtoclaw:test", "gw")
	if err != nil {
		t.Fatal(err)
	}
	if string(der1) != string(der2) || !key1.Equal(key2) {
		t.Errorf("clientCert: a second call made a new certificate, want the one on disk")
	}
	c, err := x509.ParseCertificate(der1)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicKeyAlgorithm != x509.RSA || key1.N.BitLen() != 2048 {
		t.Errorf("client key: got %v %d bits, want RSA 2048", c.PublicKeyAlgorithm, key1.N.BitLen())
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "urn:femtoclaw:test" {
		t.Errorf("client certificate URIs: got %v, want [urn:femtoclaw:test]", c.URIs)
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: got %v, %v, want mode 0600", fi, err)
	}
	// Half a pair is an error, never silently replaced.
	if err := os.Remove(filepath.Join(dir, certFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := clientCert(dir, "urn:femtoclaw:test", "gw"); err == nil {
		t.Errorf("clientCert with the key but no certificate: got nil error")
	}
}
