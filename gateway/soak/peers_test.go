package soak

import (
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

	"github.com/femtoclaw/femtoclaw/brain/braintest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mosquitto is Debian's broker, run from a config file on a fixed loopback
// port so that it can be stopped and started again at the same address. It
// keeps sessions and queued messages across restarts (persistence).
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func startMosquitto(t *testing.T, dir string) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Fatalf("mosquitto not installed (apt-get install mosquitto; scripts/soak.sh does)")
	}
	port := freePort(t)
	store := filepath.Join(dir, "mosquitto")
	if err := os.MkdirAll(store, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(store, 0o777) // mosquitto drops to its own user when started as root
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nmax_inflight_messages 0\nlog_dest stderr\n", port, store)
	if os.Geteuid() == 0 {
		body += "user root\n" // keep the rights on the test's private dirs
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, bin: bin, conf: conf, addr: fmt.Sprintf("127.0.0.1:%d", port), log: logf}
	m.start()
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("mosquitto: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not listening on %s after 10s (see %s)", m.addr, m.log.Name())
		}
	}
}

// stop stops the broker cleanly: it saves its sessions first.
func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// llmScript is the order in which the model server answers: each entry is
// one recorded transcript played whole, labelled with the fault it shows.
var llmScript = []struct{ file, fault string }{
	{"openai_normal.json", ""},
	{"openai_server_error.json", "llm_5xx"},
	{"openai_normal.json", ""},
	{"openai_invalid_json.json", "llm_malformed"},
	{"openai_timeout.json", "llm_timeout"},
	{"openai_normal.json", ""},
	{"openai_hallucinated.json", "llm_malformed"},
	{"openai_truncated.json", "llm_malformed"},
	{"openai_rate_limited.json", "llm_5xx"},
}

// llmServer plays the transcripts of llmScript over and over (enough
// rounds for any soak) and counts the faults it served.
type llmServer struct {
	*braintest.Server
	faults []string // per exchange, the fault it shows ("" for none)
}

func startLLM(t *testing.T, rounds int) *llmServer {
	t.Helper()
	big := &braintest.Transcript{Protocol: "openai"}
	var faults []string
	for range rounds {
		for _, e := range llmScript {
			tr, err := braintest.Load(filepath.Join("..", "..", "brain", "testdata", "transcripts", e.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range tr.Exchanges {
				big.Exchanges = append(big.Exchanges, x)
				f := e.fault
				if e.fault == "llm_5xx" && x.Status < 500 && x.Status != 429 {
					f = ""
				}
				faults = append(faults, f)
			}
		}
	}
	return &llmServer{Server: braintest.Start(big), faults: faults}
}

// served counts the faults served so far.
func (l *llmServer) served() map[string]int {
	out := map[string]int{}
	n := len(l.Requests())
	for i := 0; i < n && i < len(l.faults); i++ {
		if f := l.faults[i]; f != "" {
			out[f]++
		}
	}
	return out
}

// subscriber watches every topic of the gateway through its own
// persistent session on the broker, and keeps, per device, the telemetry
// sequence numbers it saw.
type subscriber struct {
	client paho.Client

	mu        sync.Mutex
	devices   map[string]*seqTrack
	journalSt map[string]int // status/journal states seen
	lastJour  string
	msgs      int
	telemAt   []time.Time // arrival of each telemetry message
}

// seqTrack follows one device's sequence numbers. A gateway run starts
// again at 1; a number at or below the last one seen is a duplicate (QoS 1
// may deliver twice); a jump is a loss.
type seqTrack struct {
	runs       int
	last       uint64
	received   int
	duplicates int
	lost       uint64
}

func (s *seqTrack) see(seq uint64) {
	s.received++
	switch {
	case seq == 1 && s.last != 1:
		s.runs++
		s.last = 1
	case s.runs == 0:
		s.runs++
		s.lost += seq - 1
		s.last = seq
	case seq <= s.last:
		s.duplicates++
	default:
		s.lost += seq - s.last - 1
		s.last = seq
	}
}

func startSubscriber(t *testing.T, brokerAddr, prefix string) *subscriber {
	t.Helper()
	s := &subscriber{devices: map[string]*seqTrack{}, journalSt: map[string]int{}}
	opts := paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("soak-subscriber").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetMaxReconnectInterval(500 * time.Millisecond).SetConnectRetryInterval(200 * time.Millisecond).
		SetOrderMatters(true)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe(prefix+"/#", 1, s.handle)
	})
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect: %v", tok.Error())
	}
	return s
}

func (s *subscriber) handle(_ paho.Client, m paho.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs++
	topic := m.Topic()
	switch {
	case strings.HasSuffix(topic, "/status/journal"):
		var st struct {
			State string `json:"state"`
		}
		if json.Unmarshal(m.Payload(), &st) == nil {
			s.journalSt[st.State]++
			s.lastJour = st.State
		}
	case strings.Contains(topic, "/telemetry/") || strings.Contains(topic, "/devices/"):
		var p struct {
			Device string `json:"device"`
			Seq    uint64 `json:"seq"`
		}
		if json.Unmarshal(m.Payload(), &p) != nil || p.Device == "" {
			return
		}
		tr := s.devices[p.Device]
		if tr == nil {
			tr = &seqTrack{}
			s.devices[p.Device] = tr
		}
		tr.see(p.Seq)
		s.telemAt = append(s.telemAt, time.Now())
	}
}

// telemetryBetween counts telemetry messages that arrived in [from, to).
func (s *subscriber) telemetryBetween(from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.telemAt {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

func (s *subscriber) journalState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastJour
}
