package opcua

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/gopcua/opcua/ua"
)

// The security policies the driver accepts, by their short names, most
// secure first. Basic128Rsa15 and Basic256 are deprecated (SHA-1) and
// always refused.
var policies = []string{"Aes256_Sha256_RsaPss", "Aes128_Sha256_RsaOaep", "Basic256Sha256", "None"}

// refusedPolicies are the deprecated policies, by URI.
var refusedPolicies = []string{ua.SecurityPolicyURIBasic128Rsa15, ua.SecurityPolicyURIBasic256}

// Errors of the security layer; each is also wrapped with
// drivers.ErrUnavailable when a connection fails because of it.
var (
	// ErrUntrusted means the server's certificate is not trusted.
	ErrUntrusted = errors.New("opcua: server certificate not trusted")
	// ErrNoEndpoint means the server offers no endpoint the config allows.
	ErrNoEndpoint = errors.New("opcua: no acceptable endpoint")
)

// policyURI returns the URI of a policy's short name, or "" if the driver
// does not accept it.
func policyURI(name string) string {
	if !slices.Contains(policies, name) {
		return ""
	}
	return ua.FormatSecurityPolicyURI(name)
}

// parseMode parses a security mode name; "" is MessageSecurityModeInvalid,
// meaning any.
func parseMode(s string) (ua.MessageSecurityMode, error) {
	if s == "" {
		return ua.MessageSecurityModeInvalid, nil
	}
	m := ua.MessageSecurityModeFromString(s)
	if m == ua.MessageSecurityModeInvalid {
		return m, fmt.Errorf("unknown security mode %q (want None, Sign or SignAndEncrypt)", s)
	}
	return m, nil
}

// selectEndpoint picks the endpoint to use among those the server offers:
// the one with the configured policy and mode, or else the most secure
// acceptable one. None is taken only when policy says so, and the
// deprecated policies never.
func selectEndpoint(eps []*ua.EndpointDescription, policy string, mode ua.MessageSecurityMode) (*ua.EndpointDescription, error) {
	var ok []*ua.EndpointDescription
	for _, ep := range eps {
		if slices.Contains(refusedPolicies, ep.SecurityPolicyURI) {
			continue
		}
		short := ""
		for _, p := range policies {
			if ua.FormatSecurityPolicyURI(p) == ep.SecurityPolicyURI {
				short = p
			}
		}
		switch {
		case short == "":
			continue // unknown policy
		case policy == "" && short == "None":
			continue // None only when asked for
		case policy != "" && short != policy:
			continue
		case mode != ua.MessageSecurityModeInvalid && ep.SecurityMode != mode:
			continue
		case short != "None" && ep.SecurityMode == ua.MessageSecurityModeNone:
			continue // inconsistent endpoint
		}
		ok = append(ok, ep)
	}
	if len(ok) == 0 {
		var offered []string
		for _, ep := range eps {
			offered = append(offered, shortPolicy(ep.SecurityPolicyURI)+"/"+ep.SecurityMode.String())
		}
		want := policy
		if want == "" {
			want = "any secure policy"
		}
		return nil, fmt.Errorf("%w: want %s with mode %s, server offers %v", ErrNoEndpoint, want, modeName(mode), offered)
	}
	rank := func(ep *ua.EndpointDescription) int {
		return (len(policies)-slices.Index(policies, shortPolicy(ep.SecurityPolicyURI)))*10 + int(ep.SecurityMode)
	}
	sort.SliceStable(ok, func(i, j int) bool { return rank(ok[i]) > rank(ok[j]) })
	return ok[0], nil
}

func shortPolicy(uri string) string {
	if s, ok := bytes.CutPrefix([]byte(uri), []byte(ua.SecurityPolicyURIPrefix)); ok {
		return string(s)
	}
	return uri
}

func modeName(m ua.MessageSecurityMode) string {
	if m == ua.MessageSecurityModeInvalid {
		return "any"
	}
	return m.String()
}

// Files in a device's certificate directory.
const (
	certFile   = "cert.pem"
	keyFile    = "key.pem"
	pinnedFile = "server.der"
)

// clientCert loads the client certificate and key from dir, creating both
// on first use: RSA-2048, self-signed, valid ten years, the application URI
// and host name in the subject alternative name.
func clientCert(dir, appURI, host string) (*rsa.PrivateKey, []byte, error) {
	cp, kp := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certPEM, cerr := os.ReadFile(cp)
	keyPEM, kerr := os.ReadFile(kp)
	if cerr == nil && kerr == nil {
		return parseKeyPair(certPEM, keyPEM)
	}
	if !errors.Is(cerr, os.ErrNotExist) || !errors.Is(kerr, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("opcua: client certificate in %s: want both %s and %s, or neither to create them", dir, certFile, keyFile)
	}
	key, der, err := newClientCert(appURI, host)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("opcua: client certificate: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeNew(kp, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeNew(cp, certPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return key, der, nil
}

// writeNew writes a file that must not exist yet, and syncs it.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("opcua: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("opcua: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("opcua: write %s: %w", path, err)
	}
	return f.Close()
}

// newClientCert creates a key and a self-signed certificate for appURI.
func newClientCert(appURI, host string) (*rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: generate key: %w", err)
	}
	uri, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: application URI %q: %w", appURI, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "femtoclaw", Organization: []string{"femtoclaw"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
			x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
	}
	if host != "" {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: create certificate: %w", err)
	}
	return key, der, nil
}

// parseKeyPair parses a PEM certificate and its PEM RSA key.
func parseKeyPair(certPEM, keyPEM []byte) (*rsa.PrivateKey, []byte, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("opcua: client certificate or key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: client certificate: %w", err)
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(kb.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		key, _ = k.(*rsa.PrivateKey)
	}
	if key == nil {
		return nil, nil, errors.New("opcua: client key is not an RSA private key")
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("opcua: client key does not belong to the client certificate")
	}
	return key, cb.Bytes, nil
}

// readCerts reads every certificate in a PEM or DER file.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return out, nil
}

// Fingerprint returns the SHA-256 fingerprint of a DER certificate in hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// verifier decides whether a server certificate is trusted.
type verifier struct {
	pinned   []*x509.Certificate // exact certificates accepted
	roots    *x509.CertPool      // issuers accepted
	tofuPath string              // where a first-use pin is kept; "" if not allowed
	now      func() time.Time
}

// newVerifier builds the verifier of a device's config.
func newVerifier(serverCert, trustDir, certDir string, tofu bool) (*verifier, error) {
	v := &verifier{now: time.Now}
	if serverCert != "" {
		cs, err := readCerts(serverCert)
		if err != nil {
			return nil, fmt.Errorf("server_cert: %w", err)
		}
		v.pinned = append(v.pinned, cs...)
	}
	if trustDir != "" {
		ents, err := os.ReadDir(trustDir)
		if err != nil {
			return nil, fmt.Errorf("trust_dir: %w", err)
		}
		v.roots = x509.NewCertPool()
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			cs, err := readCerts(filepath.Join(trustDir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("trust_dir: %w", err)
			}
			for _, c := range cs {
				v.pinned = append(v.pinned, c)
				v.roots.AddCert(c)
			}
		}
	}
	if tofu {
		v.tofuPath = filepath.Join(certDir, pinnedFile)
	}
	return v, nil
}

// verify checks the DER certificate a server presents. It reports whether
// the certificate was pinned just now, on first use.
func (v *verifier) verify(der []byte) (pinnedNow bool, err error) {
	if len(der) == 0 {
		return false, fmt.Errorf("%w: the server presents no certificate", ErrUntrusted)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	now := v.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return false, fmt.Errorf("%w: certificate %s valid from %s to %s, not now", ErrUntrusted,
			Fingerprint(der)[:16], cert.NotBefore.Format(time.DateOnly), cert.NotAfter.Format(time.DateOnly))
	}
	for _, p := range v.pinned {
		if bytes.Equal(p.Raw, der) {
			return false, nil
		}
	}
	if v.roots != nil {
		_, err := cert.Verify(x509.VerifyOptions{Roots: v.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			return false, nil
		}
	}
	if v.tofuPath != "" {
		b, err := os.ReadFile(v.tofuPath)
		switch {
		case err == nil:
			if bytes.Equal(b, der) {
				return false, nil
			}
			return false, fmt.Errorf("%w: certificate %s differs from the one pinned on first use in %s (%s)",
				ErrUntrusted, Fingerprint(der)[:16], v.tofuPath, Fingerprint(b)[:16])
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(filepath.Dir(v.tofuPath), 0o700); err != nil {
				return false, fmt.Errorf("opcua: pin server certificate: %w", err)
			}
			if err := writeNew(v.tofuPath, der, 0o644); err != nil {
				return false, fmt.Errorf("opcua: pin server certificate: %w", err)
			}
			return true, nil
		default:
			return false, fmt.Errorf("opcua: read pinned certificate: %w", err)
		}
	}
	if len(v.pinned) == 0 && v.roots == nil {
		return false, fmt.Errorf("%w: certificate %s: no server_cert, trust_dir or trust_on_first_use configured",
			ErrUntrusted, Fingerprint(der)[:16])
	}
	return false, fmt.Errorf("%w: certificate %s (subject %q) is neither pinned nor issued by a trusted certificate",
		ErrUntrusted, Fingerprint(der)[:16], cert.Subject.String())
}
