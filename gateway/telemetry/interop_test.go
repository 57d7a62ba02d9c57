package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The interop test runs the real gateway binary against Debian's mosquitto:
// telemetry at 100 messages per second, the broker stopped for an outage
// (MQTT_OUTAGE, default 60s) and started again; then the same with the
// gateway SIGKILLed and restarted during the outage. Every message must
// arrive: the msg_seqs seen, after de-duplication, are 1..N without a gap,
// in order, and the status reports no drop.
//
//	FEMTOCLAW_INTEROP=1 [FEMTOCLAW_BIN=bin/femtoclaw] [MQTT_OUTAGE=20s] go test -run Interop ./gateway/telemetry/

const interopConfig = `gateway:
  id: mqttinterop
  data_dir: %s
  log_level: warn
mqtt:
  broker: tcp://%s
devices:
  - name: tank
    driver: modbus
    url: tcp://%s
    unit: 1
    poll: 10ms
    timeout: 1s
    points:
      - {name: level, register: holding, address: 0, type: float32, order: ABCD, unit: "%%"}
      - {name: inlet_pump, register: holding, address: 4, type: uint16, unit: "%%"}
`

const interopPrefix = "femtoclaw/mqttinterop"

func TestInteropMosquittoOutage(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "broker stopped"
		if kill {
			name = "broker stopped, gateway killed"
		}
		t.Run(name, func(t *testing.T) { interopOutage(t, kill) })
	}
}

// interopEnv returns the binary, mosquitto's path and the outage, or skips.
func interopEnv(t *testing.T) (bin, mosquitto string, outage time.Duration) {
	t.Helper()
	if os.Getenv("FEMTOCLAW_INTEROP") == "" {
		t.Skip("set FEMTOCLAW_INTEROP=1 (scripts/interop/mqtt.sh) to run against mosquitto")
	}
	mosquitto, err := exec.LookPath("mosquitto")
	if err != nil {
		mosquitto = "/usr/sbin/mosquitto"
		if _, err := os.Stat(mosquitto); err != nil {
			t.Fatal("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	outage = 60 * time.Second
	if s := os.Getenv("MQTT_OUTAGE"); s != "" {
		if outage, err = time.ParseDuration(s); err != nil {
			t.Fatalf("MQTT_OUTAGE: %v", err)
		}
	}
	bin = os.Getenv("FEMTOCLAW_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "femtoclaw")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/femtoclaw/femtoclaw/cmd/femtoclaw").CombinedOutput()
		if err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	return bin, mosquitto, outage
}

// proc is a child process the test stops.
type proc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	return p
}

func (p *proc) stop(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(sig)
	p.cmd.Wait()
}

func waitListen(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen is one message as the subscriber got it.
type seen struct {
	topic      string
	seq        uint64
	historical bool
}

// collector is a subscriber with a persistent session, so that mosquitto
// keeps what arrives while it reconnects.
type collector struct {
	mu       sync.Mutex
	msgs     []seen
	statuses []Status
	client   paho.Client
}

func collect(t *testing.T, addr string) *collector {
	t.Helper()
	c := &collector{}
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID("interop-collector").
		SetCleanSession(false).
		SetProtocolVersion(4).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).
		SetOrderMatters(true).
		SetOnConnectHandler(func(cl paho.Client) {
			cl.Subscribe(interopPrefix+"/#", 1, c.handle)
		})
	c.client = paho.NewClient(opts)
	if tok := c.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("collector: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.client.Disconnect(250) })
	return c
}

func (c *collector) handle(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Topic() == interopPrefix+"/"+StatusSubtopic {
		var s Status
		if json.Unmarshal(m.Payload(), &s) == nil {
			c.statuses = append(c.statuses, s)
		}
		return
	}
	var v struct {
		Seq        uint64 `json:"msg_seq"`
		Historical bool   `json:"historical"`
	}
	if json.Unmarshal(m.Payload(), &v) != nil || v.Seq == 0 {
		return
	}
	c.msgs = append(c.msgs, seen{m.Topic(), v.Seq, v.Historical})
}

// maxSeq returns the highest msg_seq seen and how many messages came.
func (c *collector) maxSeq() (uint64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var hi uint64
	for _, m := range c.msgs {
		hi = max(hi, m.seq)
	}
	return hi, len(c.msgs)
}

func interopOutage(t *testing.T, kill bool) {
	bin, mosquittoBin, outage := interopEnv(t)
	dir := t.TempDir()

	simProc := exec.Command(bin, "sim", "--modbus", "127.0.0.1:0")
	simOut, err := simProc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := simProc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simProc.Process.Kill(); simProc.Wait() })
	line, err := bufio.NewReader(simOut).ReadString('\n')
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	simAddr := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "simulator: modbus tcp://"))[0]

	brokerAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(brokerAddr)
	mconf := filepath.Join(dir, "mosquitto.conf")
	os.MkdirAll(filepath.Join(dir, "mosquitto"), 0o755)
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nmax_inflight_messages 0\n", port, filepath.Join(dir, "mosquitto"))
	if err := os.WriteFile(mconf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startBroker := func() *proc {
		p := startProc(t, mosquittoBin, "-c", mconf)
		waitListen(t, brokerAddr)
		return p
	}
	broker := startBroker()
	col := collect(t, brokerAddr)

	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, interopConfig, dataDir, brokerAddr, simAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startProc(t, bin, "run", "-c", cfgPath)
	start := time.Now()

	// Live for a few seconds, then the outage.
	waitUntil(t, "live telemetry", 20*time.Second, func() bool { _, n := col.maxSeq(); return n >= 200 })
	col.mu.Lock()
	atCut := len(col.msgs)
	col.mu.Unlock()
	broker.stop(syscall.SIGTERM)
	cut := time.Now()
	if kill {
		time.Sleep(outage / 2)
		gw.stop(syscall.SIGKILL)
		t.Logf("gateway SIGKILLed %s into the outage", time.Since(cut).Round(time.Millisecond))
		gw = startProc(t, bin, "run", "-c", cfgPath)
		time.Sleep(outage - time.Since(cut))
	} else {
		time.Sleep(outage)
	}
	broker = startBroker()
	back := time.Now()
	t.Logf("broker away for %s", back.Sub(cut).Round(time.Millisecond))

	// Produce a few seconds more once it has caught up, then stop cleanly.
	var caughtUp time.Duration
	waitUntil(t, "the backlog", 3*time.Minute, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		// Caught up: historical messages came, and after them live ones.
		n := len(col.msgs)
		if n == atCut || col.msgs[n-1].historical {
			return false
		}
		for i := n - 1; i >= atCut; i-- {
			if col.msgs[i].historical {
				caughtUp = time.Since(back)
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second)
	gw.stop(syscall.SIGTERM)
	produced := time.Since(start)
	if gw.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("gateway exit: got %d, want 0\n%s", gw.cmd.ProcessState.ExitCode(), gw.out.String())
	}
	waitUntil(t, "the offline status", 10*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return len(col.statuses) > 0 && col.statuses[len(col.statuses)-1].State == StateOffline
	})

	col.mu.Lock()
	defer col.mu.Unlock()
	outageHistorical := 0
	for _, m := range col.msgs[atCut:] {
		if m.historical {
			outageHistorical++
		}
	}
	var (
		first      = map[uint64]bool{}
		dups       int
		historical int
		order      []uint64
	)
	for _, m := range col.msgs {
		if first[m.seq] {
			dups++
			continue
		}
		first[m.seq] = true
		order = append(order, m.seq)
		if m.historical {
			historical++
		}
	}
	var hi uint64
	for s := range first {
		hi = max(hi, s)
	}
	var missing []uint64
	for s := uint64(1); s <= hi; s++ {
		if !first[s] {
			missing = append(missing, s)
		}
	}
	outOfOrder := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			outOfOrder++
		}
	}
	for _, s := range col.statuses {
		if s.Dropped != 0 {
			t.Errorf("status reports %d dropped, want 0", s.Dropped)
			break
		}
	}
	t.Logf("produced %d messages in %s; %d queued during the %s outage (%.0f/s); %d historical in all; received %d with %d duplicates; caught up %s after the broker came back",
		hi, produced.Round(time.Millisecond), outageHistorical, back.Sub(cut).Round(time.Millisecond), float64(outageHistorical)/back.Sub(cut).Seconds(),
		historical, len(col.msgs), dups, caughtUp.Round(time.Millisecond))
	if len(missing) > 0 {
		t.Errorf("lost: %d messages, first %v", len(missing), missing[:min(len(missing), 10)])
	}
	if outOfOrder > 0 {
		t.Errorf("order: %d messages arrived before an older one, want 0", outOfOrder)
	}
	if want := int(0.5 * outage.Seconds() * 100); outageHistorical < want {
		t.Errorf("historical messages after the cut: got %d, want at least %d for a %s outage at 100/s", outageHistorical, want, outage)
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
