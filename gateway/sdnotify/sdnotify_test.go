package sdnotify

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// listen opens a real unixgram socket as the service manager would, and
// returns its address.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	// A short directory: socket paths are limited to about 108 bytes.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

// receive returns the next datagram, or fails the test after d.
func receive(t *testing.T, conn *net.UnixConn, d time.Duration) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return string(buf[:n])
}

func TestFromEnv(t *testing.T) {
	const pid = 4242
	tests := []struct {
		name         string
		env          map[string]string
		wantEnabled  bool
		wantWatchdog time.Duration
	}{
		{"unsupervised", map[string]string{}, false, 0},
		{"watchdog without socket", map[string]string{"WATCHDOG_USEC": "1000000"}, false, 0},
		{"socket only", map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}, true, 0},
		{"abstract socket", map[string]string{"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}, true, 0},
		{"watchdog", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "30000000"}, true, 30 * time.Second},
		{"watchdog for us", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "500000", "WATCHDOG_PID": strconv.Itoa(pid)}, true, 500 * time.Millisecond},
		{"watchdog for another process", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, true, 0},
		{"bad watchdog pid", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "500000", "WATCHDOG_PID": "x"}, true, 0},
		{"bad watchdog usec", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "-5"}, true, 0},
		{"zero watchdog usec", map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			n := fromLookup(lookup, pid)
			if got := n.Enabled(); got != tt.wantEnabled {
				t.Errorf("Enabled: got %v, want %v", got, tt.wantEnabled)
			}
			if got := n.WatchdogTimeout(); got != tt.wantWatchdog {
				t.Errorf("WatchdogTimeout: got %v, want %v", got, tt.wantWatchdog)
			}
		})
	}
}

func TestFromEnvReadsProcessEnvironment(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/n")
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got, want := FromEnv().WatchdogTimeout(), 2*time.Second; got != want {
		t.Errorf("WatchdogTimeout: got %v, want %v", got, want)
	}
}

func TestNotifySendsOneDatagram(t *testing.T) {
	conn, path := listen(t)
	n := New(path, 0)
	if err := n.Notify(Ready, Status("polling 2 devices")); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conn, 5*time.Second), "READY=1\nSTATUS=polling 2 devices"; got != want {
		t.Errorf("datagram: got %q, want %q", got, want)
	}
	if err := n.Notify(Stopping); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conn, 5*time.Second), "STOPPING=1"; got != want {
		t.Errorf("datagram: got %q, want %q", got, want)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "femtoclaw-sdnotify-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	if err != nil {
		t.Skipf("abstract unix sockets unavailable: %v", err)
	}
	defer conn.Close()
	if err := New("@"+name, 0).Notify(Ready); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conn, 5*time.Second), Ready; got != want {
		t.Errorf("datagram: got %q, want %q", got, want)
	}
}

func TestDisabledIsNoOp(t *testing.T) {
	for _, n := range []*Notifier{nil, {}, fromLookup(func(string) (string, bool) { return "", false }, 1)} {
		if n.Enabled() {
			t.Errorf("Enabled: got true, want false")
		}
		if err := n.Notify(Ready); err != nil {
			t.Errorf("Notify: got %v, want nil", err)
		}
		if err := n.RunWatchdog(context.Background(), func() error { return nil }, nil); !errors.Is(err, ErrNoWatchdog) {
			t.Errorf("RunWatchdog: got %v, want %v", err, ErrNoWatchdog)
		}
	}
}

func TestNotifyMissingSocket(t *testing.T) {
	err := New(filepath.Join(t.TempDir(), "absent"), 0).Notify(Ready)
	if err == nil {
		t.Fatal("Notify to a missing socket: got nil error, want one")
	}
}

// TestWatchdogFedOnlyWhileHealthy drives RunWatchdog through healthy,
// unhealthy and healthy again against a real socket.
func TestWatchdogFedOnlyWhileHealthy(t *testing.T) {
	conn, path := listen(t)
	const timeout = 40 * time.Millisecond // a ping every 20ms
	n := New(path, timeout)
	var sick atomic.Bool
	healthy := func() error {
		if sick.Load() {
			return errors.New("poller plc: no cycle for 3s")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, healthy, nil) }()

	for range 3 {
		if got := receive(t, conn, 5*time.Second); got != Watchdog {
			t.Fatalf("while healthy: got %q, want %q", got, Watchdog)
		}
	}

	sick.Store(true)
	// Pings already sent may still be queued; the status line marks the
	// moment the watchdog stops being fed.
	for {
		got := receive(t, conn, 5*time.Second)
		if got == Watchdog {
			continue
		}
		if want := "STATUS=unhealthy: poller plc: no cycle for 3s"; got != want {
			t.Fatalf("on falling ill: got %q, want %q", got, want)
		}
		break
	}
	// Several ping periods pass without a ping.
	conn.SetReadDeadline(time.Now().Add(5 * timeout))
	buf := make([]byte, 256)
	if k, err := conn.Read(buf); err == nil {
		t.Fatalf("while unhealthy: got %q, want no datagram", buf[:k])
	}

	sick.Store(false)
	if got, want := receive(t, conn, 5*time.Second), "STATUS=running"; got != want {
		t.Fatalf("on recovery: got %q, want %q", got, want)
	}
	if got := receive(t, conn, 5*time.Second); got != Watchdog {
		t.Fatalf("after recovery: got %q, want %q", got, Watchdog)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunWatchdog: got %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}

// TestWatchdogSurvivesLostSocket checks that a service manager going away
// does not end the loop: pings that cannot be sent are not an error.
func TestWatchdogSurvivesLostSocket(t *testing.T) {
	n := New(filepath.Join(t.TempDir(), "gone"), 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.RunWatchdog(ctx, func() error { return nil }, nil); err != nil {
		t.Errorf("RunWatchdog: got %v, want nil", err)
	}
}
