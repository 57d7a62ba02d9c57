package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
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
	"github.com/femtoclaw/femtoclaw/internal/audit"
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
		acks      []audit.Ack
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
				acks = append(acks, audit.Ack{Point: c.point, Wire: binary.BigEndian.AppendUint16(nil, c.raws[i])})
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

	// Read the journal and the simulator's write log, and check them
	// against each other and against what the clients saw acknowledged.
	j, writes, err := audit.Load(bin, dataDir, writeLog)
	if err != nil {
		t.Fatal(err)
	}
	registers := map[audit.Register]string{}
	for _, c := range clients {
		registers[audit.Register{Table: "holding", Address: c.address}] = c.point
	}
	rep := audit.Check(j, writes, registers, acks)
	for _, l := range [][]string{rep.Unresolved, rep.WritesWithoutIntent, rep.RecoveredWrong, rep.AckedMissing, rep.Other} {
		for _, v := range l {
			t.Error(v)
		}
	}
	recovered := rep.Recovered

	t.Logf("crash test: %d kills with restarts in %s; %d actuations acknowledged, %d calls failed or cut off",
		kills, elapsed.Round(time.Millisecond), len(acks), failed.Load())
	t.Logf("journal: %d records verified, %d intents, %d in flight at a kill and recovered (applied %d, not_applied %d, in_doubt %d)",
		j.Records, rep.Intents, recovered["applied"]+recovered["not_applied"]+recovered["in_doubt"],
		recovered["applied"], recovered["not_applied"], recovered["in_doubt"])
	t.Logf("simulator: %d writes received, each after its journaled intent", rep.Writes)
	if t.Failed() {
		t.Logf("log of the last gateway run:\n%s", gwLog.String())
	}
	if len(acks) < wantActuations || kills < wantKills {
		t.Errorf("got %d actuations and %d kills, want at least %d and %d", len(acks), kills, wantActuations, wantKills)
	}
}
