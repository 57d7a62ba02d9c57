package opcua

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua/ua"
)

// nodeServer is the node-opcua server of scripts/interop/opcua/server.mjs,
// run by this test so that it can stop and restart it.
type nodeServer struct {
	t    *testing.T
	dir  string // holds server.mjs and node_modules
	pki  string
	port int
	cmd  *exec.Cmd
}

func (s *nodeServer) start() {
	s.t.Helper()
	cmd := exec.Command("node", "server.mjs", strconv.Itoa(s.port), s.pki, "operator", "s3cret")
	cmd.Dir = s.dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start node-opcua: %v", err)
	}
	s.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.t.Fatalf("node-opcua exited before it was ready")
		}
	case <-time.After(60 * time.Second):
		s.t.Fatalf("node-opcua not ready after 60s")
	}
}

func (s *nodeServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// TestInteropNodeOPCUA runs the driver against node-opcua, a server nobody
// in this project wrote: Basic256Sha256 SignAndEncrypt with a trusted
// client certificate, the most secure endpoint by default, user name login,
// a refused untrusted client certificate, a refused wrong password, a
// refused server certificate, a write of the wrong type, a subscription,
// and recovery of reads and the subscription after the server restarts.
// It runs when FEMTOCLAW_INTEROP=1 and
// FEMTOCLAW_OPCUA_NODE_DIR names a directory holding server.mjs and its
// node_modules (scripts/interop/opcua.sh sets both).
func TestInteropNodeOPCUA(t *testing.T) {
	if os.Getenv("FEMTOCLAW_INTEROP") != "1" {
		t.Skip("set FEMTOCLAW_INTEROP=1 (scripts/interop/opcua.sh does)")
	}
	dir := os.Getenv("FEMTOCLAW_OPCUA_NODE_DIR")
	if dir == "" {
		t.Fatal("FEMTOCLAW_OPCUA_NODE_DIR is not set")
	}
	work := t.TempDir()
	trustedDir, untrustedDir := filepath.Join(work, "trusted-client"), filepath.Join(work, "untrusted-client")
	const appURI = "urn:femtoclaw:interop"
	for _, d := range []string{trustedDir, untrustedDir} {
		if _, _, err := clientCert(d, appURI, "localhost"); err != nil {
			t.Fatal(err)
		}
	}
	// The server trusts the one client certificate copied into its trust
	// list before it starts, and no other.
	pki := filepath.Join(work, "pki")
	b, err := os.ReadFile(filepath.Join(trustedDir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(pki, "trusted", "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pki, "trusted", "certs", "femtoclaw.pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := &nodeServer{t: t, dir: dir, pki: pki, port: port}
	srv.start()
	t.Cleanup(srv.stop)
	serverCert := filepath.Join(pki, "own", "certs", "certificate.pem")
	url := "opc.tcp://127.0.0.1:" + strconv.Itoa(port)
	t.Setenv("FEMTOCLAW_TEST_OPCUA_PASSWORD", "s3cret")
	t.Setenv("FEMTOCLAW_TEST_OPCUA_WRONG", "guess")
	pw, _ := drivers.NewSecret("env:FEMTOCLAW_TEST_OPCUA_PASSWORD")
	wrong, _ := drivers.NewSecret("env:FEMTOCLAW_TEST_OPCUA_WRONG")
	points := []drivers.PointConfig{
		{Name: "level", Node: "ns=1;s=Tank.Level", Type: "float64"},
		{Name: "speed", Node: "ns=1;s=Pump.Speed", Type: "float64", Writable: true},
		{Name: "open", Node: "ns=1;s=Valve.Open", Type: "bool", Writable: true},
		{Name: "speed_as_int", Node: "ns=1;s=Pump.Speed", Type: "int32", Writable: true},
	}
	device := func(conf drivers.OPCUAConfig) *Device {
		if conf.CertDir == "" {
			conf.CertDir = trustedDir
		}
		if conf.ServerCert == "" && conf.TrustDir == "" {
			conf.ServerCert = serverCert
		}
		conf.ApplicationURI = appURI
		return openDevice(t, drivers.DeviceConfig{
			Name: "node", Driver: "opcua", URL: url, Timeout: drivers.Duration(5 * time.Second),
			OPCUA: &conf, Points: points,
		})
	}
	ctx := context.Background()

	secure := device(drivers.OPCUAConfig{SecurityPolicy: "Basic256Sha256", SecurityMode: "SignAndEncrypt", Username: "operator", Password: pw})
	t.Run("SignAndEncrypt with user name", func(t *testing.T) {
		rs, err := secure.Read(ctx, []string{"level", "speed", "open"})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if rs[0].Value != drivers.Number(42.5) || rs[0].Quality != drivers.QualityGood {
			t.Errorf("Read level: got %v (%s), want 42.5", rs[0].Value, rs[0].Quality)
		}
		for _, w := range []struct {
			point string
			v     drivers.Value
		}{{"speed", drivers.Number(37.25)}, {"open", drivers.Bool(true)}} {
			enc, err := secure.Resolve(w.point, w.v)
			if err != nil {
				t.Fatalf("Resolve %s: %v", w.point, err)
			}
			if err := secure.Write(ctx, w.point, enc); err != nil {
				t.Fatalf("Write %s: %v", w.point, err)
			}
			rs, err := secure.Read(ctx, []string{w.point})
			if err != nil || rs[0].Value != w.v {
				t.Errorf("read back %s: got %v, %v, want %v", w.point, rs, err, w.v)
			}
		}
	})
	t.Run("wrong type refused", func(t *testing.T) {
		enc, err := secure.Resolve("speed_as_int", drivers.Number(5))
		if err != nil {
			t.Fatal(err)
		}
		err = secure.Write(ctx, "speed_as_int", enc)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != ua.StatusBadTypeMismatch || !errors.Is(err, drivers.ErrValue) {
			t.Fatalf("Write of an Int32 into a Double: got %v, want BadTypeMismatch", err)
		}
		rs, err := secure.Read(ctx, []string{"speed"})
		if err != nil || rs[0].Value != drivers.Number(37.25) {
			t.Errorf("speed after the refused write: got %v, %v, want 37.25 unchanged", rs, err)
		}
	})
	t.Run("most secure endpoint, anonymous", func(t *testing.T) {
		d := device(drivers.OPCUAConfig{})
		if _, err := d.Read(ctx, nil); err != nil {
			t.Fatalf("Read: %v", err)
		}
	})
	t.Run("untrusted client certificate refused", func(t *testing.T) {
		d := device(drivers.OPCUAConfig{CertDir: untrustedDir})
		_, err := d.Read(ctx, nil)
		if !errors.Is(err, drivers.ErrUnavailable) || !errors.Is(err, ua.StatusBadSecurityChecksFailed) {
			t.Fatalf("Read: got %v, want ErrUnavailable with BadSecurityChecksFailed", err)
		}
		if n, _ := filepath.Glob(filepath.Join(pki, "rejected", "*")); len(n) == 0 {
			t.Errorf("server rejected folder is empty, want the untrusted certificate filed there")
		}
	})
	t.Run("wrong password refused", func(t *testing.T) {
		d := device(drivers.OPCUAConfig{Username: "operator", Password: wrong})
		if _, err := d.Read(ctx, nil); !errors.Is(err, drivers.ErrUnavailable) || d.Connects() != 0 {
			t.Fatalf("Read: got %v after %d sessions, want ErrUnavailable and none", err, d.Connects())
		}
	})
	t.Run("server certificate not pinned refused", func(t *testing.T) {
		d := device(drivers.OPCUAConfig{ServerCert: filepath.Join(trustedDir, certFile)})
		if _, err := d.Read(ctx, nil); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("Read: got %v, want ErrUntrusted", err)
		}
	})
	subscribed := device(drivers.OPCUAConfig{SecurityPolicy: "Basic256Sha256", SecurityMode: "SignAndEncrypt",
		Subscribe: true, PublishInterval: drivers.Duration(200 * time.Millisecond)})
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- subscribed.Subscribe(subCtx) }()
	t.Cleanup(func() {
		stopSub()
		if err := <-subDone; err != nil {
			t.Errorf("Subscribe: got %v, want nil", err)
		}
	})
	// latest waits until the subscription reports live (or not, with
	// point "") and, with point, the value want there.
	latest := func(t *testing.T, point string, want drivers.Value, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			rs, live := subscribed.Latest()
			if point == "" && !live {
				return
			}
			if point != "" && live {
				for _, r := range rs {
					if r.Point == point && r.Value == want && r.Quality == drivers.QualityGood {
						return
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscription after %s: got %v (live %v), want %s = %v", within, rs, live, point, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Run("subscription reports changes", func(t *testing.T) {
		latest(t, "level", drivers.Number(42.5), 10*time.Second)
		enc, _ := secure.Resolve("speed", drivers.Number(21.5))
		if err := secure.Write(ctx, "speed", enc); err != nil {
			t.Fatalf("Write: %v", err)
		}
		latest(t, "speed", drivers.Number(21.5), 5*time.Second)
	})
	t.Run("recovery after the server restarts", func(t *testing.T) {
		before := secure.Connects()
		srv.stop()
		// The subscription is lost with the server: the gateway polls.
		latest(t, "", drivers.Value{}, 5*time.Second)
		start := time.Now()
		if _, err := secure.Read(ctx, []string{"level"}); !errors.Is(err, drivers.ErrUnavailable) {
			t.Fatalf("Read while the server is down: got %v, want ErrUnavailable", err)
		}
		if took := time.Since(start); took > 6*time.Second {
			t.Errorf("Read while down took %s, want it to fail within the timeout", took)
		}
		srv.start()
		deadline := time.Now().Add(maxBackoff + 10*time.Second)
		for {
			rs, err := secure.Read(ctx, []string{"level"})
			if err == nil && rs[0].Quality == drivers.QualityGood {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Read after restart: still %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := secure.Connects() - before; n != 1 {
			t.Errorf("sessions opened to recover: got %d, want 1", n)
		}
		// The restarted server's state is fresh; writing works again.
		enc, _ := secure.Resolve("speed", drivers.Number(12))
		if err := secure.Write(ctx, "speed", enc); err != nil {
			t.Errorf("Write after restart: %v", err)
		}
		// The subscription is re-created on the new session and reports.
		latest(t, "speed", drivers.Number(12), maxBackoff+10*time.Second)
	})
}
