package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveSocket listens on a fresh socket and serves until the test ends; it
// returns the socket's path and an HTTP client that dials it.
func serveSocket(t *testing.T) (string, *http.Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), SocketName)
	s := New(path, "test", nil, nil)
	ln, err := s.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Serve: socket stat: got %v, want it removed", err)
		}
	})
	hc := NewClient(path).hc
	t.Cleanup(hc.CloseIdleConnections)
	return path, hc
}

func TestSocketMode(t *testing.T) {
	path, _ := serveSocket(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("got mode %v, want a socket with permission 0600", fi.Mode())
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	// A gateway that crashed leaves its socket file with no one behind it.
	old, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln, err := New(path, "test", nil, nil).Listen()
	if err != nil {
		t.Fatalf("Listen over a stale socket: got %v, want it replaced", err)
	}
	defer ln.Close()
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	c.Close()
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	ln, err := New(path, "test", nil, nil).Listen()
	if err == nil {
		ln.Close()
		t.Fatal("Listen over a live socket: got no error, want one")
	}
	if !strings.Contains(err.Error(), "another gateway is running") {
		t.Errorf("got %v, want it to say another gateway is running", err)
	}
	// The live socket is left alone.
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		t.Fatalf("the live socket no longer answers: %v", err)
	}
	c.Close()
}

// TestBadRequests sends bodies that must be refused with 400 before the
// gateway's core is reached (the server under test has none).
func TestBadRequests(t *testing.T) {
	_, hc := serveSocket(t)
	tests := []struct {
		name, path, body string
	}{
		{"call: not JSON", "/v1/call", `{"capability":`},
		{"call: prose", "/v1/call", `please set the pump to 50`},
		{"call: unknown field", "/v1/call", `{"capability":"set_inlet_pump","args":"{}","confirm":true}`},
		{"call: approval smuggled in", "/v1/call", `{"capability":"drain","args":"{}","approved_by":"operator"}`},
		{"call: args not a string", "/v1/call", `{"capability":"set_inlet_pump","args":{"value":50}}`},
		{"call: too large", "/v1/call", `{"capability":"` + strings.Repeat("x", maxBody) + `"}`},
		{"approve: not JSON", "/v1/approve", `17`},
		{"approve: unknown field", "/v1/approve", `{"id":"17","approved":true}`},
		{"approve: no id", "/v1/approve", `{"principal":"operator"}`},
		{"reject: unknown field", "/v1/reject", `{"id":"17","force":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := hc.Post("http://femtoclaw"+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("got %s, want 400 Bad Request", resp.Status)
			}
		})
	}
}
