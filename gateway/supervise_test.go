package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

// TestSupervisedByServiceManager runs the gateway as systemd would with
// Type=notify and WatchdogSec=: a real unixgram socket in $NOTIFY_SOCKET
// must see READY=1 once the gateway is ready, WATCHDOG=1 pings while the
// loops turn and STOPPING=1 at shutdown. The commissioning outcome left in
// the data dir must be on MQTT, retained.
func TestSupervisedByServiceManager(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sockPath := filepath.Join(sockDir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "200000") // a ping every 100ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	plant := sim.New(sim.Options{})
	addr, err := plant.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	go plant.Run(simCtx)

	dir := t.TempDir()
	cfgText := strings.Replace(string(configs.Demo()), "tcp://127.0.0.1:5020", "tcp://"+addr.String(), 1)
	if err := os.WriteFile(filepath.Join(dir, "demo-script.json"), configs.DemoScript(), 0o600); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("testdata/commissioning/refused.status")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, gateway.CommissioningFile), status, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "demo.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	cfg.Gateway.DataDir = dir
	cfg.MQTT.Listen = "127.0.0.1:0"
	for i := range cfg.Devices {
		cfg.Devices[i].Poll = drivers.Duration(100 * time.Millisecond)
	}

	gw := gateway.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()

	read := func() string {
		t.Helper()
		notify.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1024)
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("notify socket: %v", err)
		}
		return string(buf[:n])
	}
	first := read()
	if !strings.HasPrefix(first, "READY=1\nSTATUS=running: ") {
		t.Fatalf("first notification: got %q, want READY=1 and a status", first)
	}
	select {
	case <-gw.Ready():
	default:
		t.Fatal("READY=1 sent before the gateway was ready")
	}
	for range 3 {
		if got := read(); got != "WATCHDOG=1" {
			t.Fatalf("notification: got %q, want WATCHDOG=1", got)
		}
	}

	got := make(chan []byte, 1)
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + gw.BrokerAddr()).SetClientID("supervise-watch")
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer client.Disconnect(0)
	client.Subscribe(cfg.MQTT.Prefix+"/"+gateway.CommissioningTopic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	select {
	case b := <-got:
		var s gateway.CommissioningStatus
		if err := json.Unmarshal(b, &s); err != nil || s.Result != "refused" || len(s.Problems) != 2 {
			t.Errorf("commissioning message: got %s (%v), want refused with 2 problems", b, err)
		}
	case <-time.After(10 * time.Second):
		t.Error("no retained commissioning message after 10s")
	}

	cancel()
	for {
		if m := read(); m == "STOPPING=1" {
			break
		} else if m != "WATCHDOG=1" {
			t.Fatalf("at shutdown: got %q, want STOPPING=1", m)
		}
	}
	if err := <-runDone; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}
