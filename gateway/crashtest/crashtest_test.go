package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/gateway/api"
)

// client is one writer: it owns one point, so that at most one intent per
// point is ever in flight, and it never writes the same value twice in a
// row, so that reading the point back tells whether an interrupted write
// reached the plant.
type client struct {
	capability string
	point      string
	address    uint64   // the point's holding register
	values     []string // argument values, cycled
	raws       []uint16 // the register value each one puts on the wire
}

var clients = []client{
	{capability: "set_inlet_pump", point: "inlet_pump", address: 4},
	{capability: "set_outlet_valve", point: "outlet_valve", address: 5},
	{capability: "set_heater_setpoint", point: "heater_setpoint", address: 6},
}

func init() {
	for i := range clients {
		c := &clients[i]
		for v := range 101 {
			switch c.point {
			case "heater_setpoint": // 20.0 .. 60.0 degC in steps of 0.4
				raw := 200 + 4*v
				c.values = append(c.values, strconv.FormatFloat(float64(raw)/10, 'f', 1, 64))
				c.raws = append(c.raws, uint16(raw))
			default:
				c.values = append(c.values, strconv.Itoa(v))
				c.raws = append(c.raws, uint16(v))
			}
		}
	}
}

const configTemplate = `gateway:
  id: crashtest
  data_dir: %s
  log_level: warn
mqtt:
  broker: ""
  listen: 127.0.0.1:0
devices:
  - name: tank
    driver: modbus
    url: tcp://%s
    unit: 1
    poll: 200ms
    timeout: 1s
    points:
      - {name: level, register: holding, address: 0, type: float32, order: ABCD, unit: "%%"}
      - {name: inlet_pump, register: holding, address: 4, type: uint16, unit: "%%", writable: true}
      - {name: outlet_valve, register: holding, address: 5, type: uint16, unit: "%%", writable: true}
      - {name: heater_setpoint, register: holding, address: 6, type: int16, scale: 0.1, unit: degC, writable: true}
capabilities:
  - {name: set_inlet_pump, description: pump, kind: write, device: tank, point: inlet_pump, min: 0, max: 100}
  - {name: set_outlet_valve, description: valve, kind: write, device: tank, point: outlet_valve, min: 0, max: 100}
  - {name: set_heater_setpoint, description: setpoint, kind: write, device: tank, point: heater_setpoint, min: 20, max: 60}
operator:
  allow: [set_inlet_pump, set_outlet_valve, set_heater_setpoint]
`

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// acked is an actuation the client saw succeed.
type acked struct {
	point string
	raw   uint16
}

func TestCrash(t *testing.T) {
	if os.Getenv("FEMTOCLAW_CRASHTEST") == "" {
		t.Skip("set FEMTOCLAW_CRASHTEST=1 (make crashtest) to run the crash test of the real binary")
	}
	wantActuations := envInt("CRASHTEST_ACTUATIONS", 1000)
	wantKills := envInt("CRASHTEST_KILLS", 20)
	dir := t.TempDir()
	bin := os.Getenv("FEMTOCLAW_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "femtoclaw")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/femtoclaw/femtoclaw/cmd/femtoclaw").CombinedOutput()
		if err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	dataDir := filepath.Join(dir, "data")
	writeLog := filepath.Join(dir, "sim-writes.jsonl")

	// The simulator, in its own process for the whole run.
	simCmd := exec.Command(bin, "sim", "--modbus", "127.0.0.1:0", "--write-log", writeLog)
	simOut, err := simCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	simCmd.Stderr = nil
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { simCmd.Process.Kill(); simCmd.Wait() }()
	line, err := bufio.NewReader(simOut).ReadString('\n')
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	simAddr := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "simulator: modbus tcp://"))[0]
	if _, _, err := net.SplitHostPort(simAddr); err != nil {
		t.Fatalf("simulator said %q: %v", line, err)
	}
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, configTemplate, dataDir, simAddr), 0o600); err != nil {
		t.Fatal(err)
	}

	// The clients run for the whole test and ride over the kills.
	apiClient := api.NewClient(filepath.Join(dataDir, api.SocketName))
	var (
		mu        sync.Mutex
		acks      []acked
		failed    atomic.Int64
		lastErr   atomic.Value
		nAcked    atomic.Int64
		stop      = make(chan struct{})
		clientsWG sync.WaitGroup
	)
	for _, c := range clients {
		clientsWG.Go(func() {
			i := rand.IntN(len(c.values))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i = (i + 1) % len(c.values)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := apiClient.Call(ctx, api.CallRequest{Principal: "operator", Capability: c.capability, Args: `{"value": ` + c.values[i] + `}`})
				cancel()
				if err != nil || !res.OK {
					if err == nil {
						err = fmt.Errorf("%s %s", res.Code, res.Reason)
					}
					lastErr.Store(err.Error())
					failed.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acks = append(acks, acked{c.point, c.raws[i]})
				mu.Unlock()
				nAcked.Add(1)
			}
		})
	}
	defer func() {
		close(stop)
		clientsWG.Wait()
	}()

	var gw *exec.Cmd
	var gwLog bytes.Buffer
	defer func() {
		if gw != nil && gw.ProcessState == nil {
			gw.Process.Kill()
			gw.Wait()
		}
	}()
	start := func() {
		t.Helper()
		gwLog.Reset()
		gw = exec.Command(bin, "run", "-c", cfgPath)
		gw.Stderr = &gwLog
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
		// Ready once the local API answers.
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := net.Dial("unix", filepath.Join(dataDir, api.SocketName))
			if err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				gw.Process.Kill()
				gw.Wait()
				t.Fatalf("gateway not answering after 15s: %v\n%s", err, gwLog.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	verify := func(when string) {
		t.Helper()
		out, err := exec.Command(bin, "journal", "verify", "--data", dataDir).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: journal verify: %v\n%s", when, err, out)
		}
	}

	runStart := time.Now()
	kills := 0
	// Every kill is followed by a restart, whose recovery resolves what the
	// kill interrupted; the last run ends with a clean stop.
	for {
		start()
		if kills >= wantKills {
			// Enough kills: run until the clients have their actuations,
			// then stop cleanly.
			for last, since := nAcked.Load(), time.Now(); nAcked.Load() < int64(wantActuations); {
				if n := nAcked.Load(); n != last {
					last, since = n, time.Now()
				} else if time.Since(since) > 20*time.Second {
					t.Fatalf("no actuation acknowledged for 20s (%d so far); last client error: %v\n%s", n, lastErr.Load(), gwLog.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			gw.Process.Signal(syscall.SIGTERM)
			if err := gw.Wait(); err != nil {
				t.Fatalf("gateway on SIGTERM: %v\n%s", err, gwLog.String())
			}
			break
		}
		// Spread the kills over the run: between 50ms and twice the time
		// the remaining actuations would take at about 150 per second.
		remaining := max(int64(wantActuations)-nAcked.Load(), 0)
		span := max(time.Duration(remaining)*time.Second/150/time.Duration(wantKills-kills), 100*time.Millisecond)
		time.Sleep(50*time.Millisecond + rand.N(2*span))
		gw.Process.Signal(syscall.SIGKILL)
		gw.Wait()
		kills++
		verify(fmt.Sprintf("after kill %d", kills))
	}
	close(stop)
	clientsWG.Wait()
	stop = make(chan struct{}) // for the deferred close
	elapsed := time.Since(runStart)
	verify("at the end")

	// Read the journal and the simulator's write log.
	out, err := exec.Command(bin, "journal", "show", "--json", "--data", dataDir).Output()
	if err != nil {
		t.Fatalf("journal show: %v", err)
	}
	type intent struct {
		seq       uint64
		time      time.Time
		point     string
		raw       uint16
		outcome   bool
		ok        bool
		recovered string
		written   bool // matched by a write the simulator received
	}
	var intents []*intent
	bySeq := map[uint64]*intent{}
	records := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		records++
		var r struct {
			Seq  uint64          `json:"seq"`
			Time time.Time       `json:"time"`
			Kind string          `json:"kind"`
			Ref  uint64          `json:"ref"`
			Body json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("journal show line %q: %v", sc.Text(), err)
		}
		switch r.Kind {
		case "intent":
			var b struct {
				Action struct {
					Point string `json:"point"`
					Value struct {
						Wire []byte `json:"wire"`
					} `json:"value"`
				} `json:"action"`
			}
			if err := json.Unmarshal(r.Body, &b); err != nil || len(b.Action.Value.Wire) != 2 {
				t.Fatalf("intent %d: body %s: %v", r.Seq, r.Body, err)
			}
			in := &intent{seq: r.Seq, time: r.Time, point: b.Action.Point, raw: binary.BigEndian.Uint16(b.Action.Value.Wire)}
			intents = append(intents, in)
			bySeq[r.Seq] = in
		case "outcome":
			in, ok := bySeq[r.Ref]
			if !ok {
				continue // a read's outcome
			}
			if in.outcome {
				t.Errorf("intent %d has two outcomes", in.seq)
			}
			var b struct {
				OK        bool   `json:"ok"`
				Recovered string `json:"recovered"`
			}
			json.Unmarshal(r.Body, &b)
			in.outcome, in.ok, in.recovered = true, b.OK, b.Recovered
		}
	}

	// Every in-flight intent was resolved.
	recovered := map[string]int{}
	for _, in := range intents {
		if !in.outcome {
			t.Errorf("intent %d (%s=%d) has no outcome", in.seq, in.point, in.raw)
		}
		if in.recovered != "" {
			recovered[in.recovered]++
		}
	}

	// No write reached the simulator without an intent journaled before it.
	// Per point, the writes must be a subsequence of the intents.
	wl, err := os.ReadFile(writeLog)
	if err != nil {
		t.Fatal(err)
	}
	addrPoint := map[uint64]string{}
	for _, c := range clients {
		addrPoint[c.address] = c.point
	}
	next := map[string]int{} // per point, index into intents to search from
	perPoint := map[string][]*intent{}
	for _, in := range intents {
		perPoint[in.point] = append(perPoint[in.point], in)
	}
	writes := 0
	for _, l := range bytes.Split(bytes.TrimSpace(wl), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var w struct {
			Time    time.Time `json:"time"`
			Table   string    `json:"table"`
			Address uint64    `json:"address"`
			Values  []uint64  `json:"values"`
		}
		if err := json.Unmarshal(l, &w); err != nil {
			t.Fatalf("write log line %q: %v", l, err)
		}
		writes++
		point, ok := addrPoint[w.Address]
		if w.Table != "holding" || !ok || len(w.Values) != 1 {
			t.Errorf("simulator received a write no client makes: %s", l)
			continue
		}
		list := perPoint[point]
		i := next[point]
		for i < len(list) && list[i].raw != uint16(w.Values[0]) {
			i++
		}
		if i == len(list) {
			t.Errorf("simulator received %s=%d at %s with no journaled intent before it", point, w.Values[0], w.Time.Format(time.RFC3339Nano))
			continue
		}
		if list[i].time.After(w.Time) {
			t.Errorf("intent %d (%s=%d) journaled at %s, after the simulator received the write at %s", list[i].seq, point, w.Values[0], list[i].time.Format(time.RFC3339Nano), w.Time.Format(time.RFC3339Nano))
		}
		list[i].written = true
		next[point] = i + 1
	}
	// Recovery said what reached the plant.
	for _, in := range intents {
		switch {
		case in.recovered == "applied" && !in.written:
			t.Errorf("intent %d (%s=%d) recovered as applied, but the simulator never received it", in.seq, in.point, in.raw)
		case in.recovered == "not_applied" && in.written:
			t.Errorf("intent %d (%s=%d) recovered as not_applied, but the simulator received it", in.seq, in.point, in.raw)
		case in.recovered == "" && in.ok && !in.written:
			t.Errorf("intent %d (%s=%d) has an ok outcome, but the simulator never received it", in.seq, in.point, in.raw)
		}
	}

	// Every acknowledged actuation has its intent and its outcome: per
	// point, the acknowledged values are a subsequence of the intents that
	// have an ok, not recovered, outcome.
	next = map[string]int{}
	for _, a := range acks {
		list := perPoint[a.point]
		i := next[a.point]
		for i < len(list) && !(list[i].raw == a.raw && list[i].ok && list[i].recovered == "") {
			i++
		}
		if i == len(list) {
			t.Errorf("acknowledged %s=%d has no intent with an ok outcome in the journal", a.point, a.raw)
			continue
		}
		next[a.point] = i + 1
	}

	t.Logf("crash test: %d kills with restarts in %s; %d actuations acknowledged, %d calls failed or cut off",
		kills, elapsed.Round(time.Millisecond), len(acks), failed.Load())
	t.Logf("journal: %d records verified, %d intents, %d in flight at a kill and recovered (applied %d, not_applied %d, in_doubt %d)",
		records, len(intents), recovered["applied"]+recovered["not_applied"]+recovered["in_doubt"],
		recovered["applied"], recovered["not_applied"], recovered["in_doubt"])
	t.Logf("simulator: %d writes received, each after its journaled intent", writes)
	if t.Failed() {
		t.Logf("log of the last gateway run:\n%s", gwLog.String())
	}
	if len(acks) < wantActuations || kills < wantKills {
		t.Errorf("got %d actuations and %d kills, want at least %d and %d", len(acks), kills, wantActuations, wantKills)
	}
}
