package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/internal/audit"
	"github.com/femtoclaw/femtoclaw/internal/netfault"
)

const configTemplate = `gateway:
  id: soak
  data_dir: %[1]s
  log_level: warn
mqtt:
  broker: tcp://%[2]s
devices:
  - name: tank
    driver: modbus
    url: tcp://%[3]s
    unit: 1
    poll: 200ms
    timeout: 500ms
    points:
      - {name: level, register: holding, address: 0, type: float32, order: ABCD, unit: "%%"}
      - {name: temperature, register: holding, address: 2, type: float32, order: ABCD, unit: degC}
      - {name: inlet_pump, register: holding, address: 4, type: uint16, unit: "%%", writable: true}
      - {name: outlet_valve, register: holding, address: 5, type: uint16, unit: "%%", writable: true}
      - {name: heater_setpoint, register: holding, address: 6, type: int16, scale: 0.1, unit: degC, writable: true}
capabilities:
  - name: read_tank
    description: Read the tank.
    kind: read
    points: [tank.level, tank.temperature, tank.inlet_pump, tank.outlet_valve]
  - {name: set_inlet_pump, description: pump, kind: write, device: tank, point: inlet_pump, min: 0, max: 100}
  - {name: set_outlet_valve, description: valve, kind: write, device: tank, point: outlet_valve, min: 0, max: 100}
  - {name: set_heater_setpoint, description: setpoint, kind: write, device: tank, point: heater_setpoint, min: 20, max: 60}
agents:
  - name: keeper
    instructions: Keep the tank level between 40 and 70 percent.
    brain:
      provider: openai
      base_url: %[4]s
      model: gpt-4.1-mini
      api_key_env: SOAK_MODEL_KEY
      timeout: 1s
      retries: 2
    allow: [read_tank, set_inlet_pump, set_outlet_valve]
    trigger:
      interval: 2s
    budget:
      wall_time: 20s
operator:
  allow: [read_tank, set_heater_setpoint]
`

// The operator's point: the model writes the pump and the valve, the
// operator only the heater setpoint, so that each point has one writer.
var registers = map[audit.Register]string{
	{Table: "holding", Address: 4}: "inlet_pump",
	{Table: "holding", Address: 5}: "outlet_valve",
	{Table: "holding", Address: 6}: "heater_setpoint",
}

// Bounds on a gateway run's growth between its start and its end.
const (
	boundGoroutines = 40
	boundHeap       = 32 << 20
	boundRSS        = 48 << 20
)

// sample is the gateway's size at one moment.
type sample struct {
	Goroutines int
	Heap       uint64
	RSS        uint64
}

func (s sample) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB, rss %.1f MiB", s.Goroutines, float64(s.Heap)/(1<<20), float64(s.RSS)/(1<<20))
}

// run is one gateway process from start to stop.
type run struct {
	start, end     sample
	began, ended   time.Time
	startOK, endOK bool
	how            string // how it ended
}

func TestSoak(t *testing.T) {
	if os.Getenv("FEMTOCLAW_SOAK") == "" {
		t.Skip("set FEMTOCLAW_SOAK=1 (make soak) to run the soak test of the real binary")
	}
	soakFor := 10 * time.Minute
	if v := os.Getenv("SOAK_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_FOR=%q: %v", v, err)
		}
		soakFor = d
	}
	dir := t.TempDir()
	bin := os.Getenv("FEMTOCLAW_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "femtoclaw")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/femtoclaw/femtoclaw/cmd/femtoclaw").CombinedOutput()
		if err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}

	// The journal's filesystem: a small tmpfs, so that it can be filled.
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	diskFull := true
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Logf("no tmpfs for the journal (%v: %s): the disk_full fault is skipped", err, bytes.TrimSpace(out))
		diskFull = false
	} else {
		t.Cleanup(func() { exec.Command("umount", "-l", dataDir).Run() })
	}
	writeLog := filepath.Join(dir, "sim-writes.jsonl")

	// The plant, for the whole run, behind a cutting proxy and a shaper.
	simCmd := exec.Command(bin, "sim", "--modbus", "127.0.0.1:0", "--write-log", writeLog)
	simOut, err := simCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simCmd.Process.Kill(); simCmd.Wait() })
	line, err := bufio.NewReader(simOut).ReadString('\n')
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	simAddr := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "simulator: modbus tcp://"))[0]
	cutter, err := netfault.Start(simAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cutter.Close() })
	shape, err := startShaper(cutter.Addr(), 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shape.Close)

	broker := startMosquitto(t, dir)
	t.Cleanup(broker.stop)
	sub := startSubscriber(t, broker.addr, "femtoclaw/soak")
	t.Cleanup(func() { sub.client.Disconnect(250) })

	llm := startLLM(t, int(soakFor/time.Second)+50)
	t.Cleanup(llm.Close)

	cfgPath := filepath.Join(dir, "gateway.yaml")
	cfg := fmt.Sprintf(configTemplate, dataDir, broker.addr, shape.Addr(), llm.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// The gateway, restarted after each stop.
	sock := filepath.Join(dataDir, api.SocketName)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	getJSON := func(path string, v any) (int, error) {
		resp, err := hc.Get("http://femtoclaw" + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
	}
	var (
		gw     *exec.Cmd
		gwLog  = filepath.Join(dir, "gateway.log")
		runs   []*run
		cur    *run
		faults = map[string]int{}
	)
	logf, err := os.Create(gwLog)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	measure := func() (sample, bool) {
		var h api.Health
		if code, err := getJSON("/healthz", &h); err != nil || code != 200 {
			return sample{}, false
		}
		s := sample{Goroutines: h.Goroutines, Heap: h.HeapBytes}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", gw.Process.Pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseUint(f[1], 10, 64)
					s.RSS = kb << 10
				}
			}
		}
		return s, true
	}
	startGateway := func() {
		t.Helper()
		fmt.Fprintf(logf, "---- gateway start %s\n", time.Now().Format(time.RFC3339Nano))
		gw = exec.Command(bin, "run", "-c", cfgPath)
		gw.Env = append(os.Environ(), "SOAK_MODEL_KEY=sk-soak")
		gw.Stdout, gw.Stderr = logf, logf
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var h api.Health
			if code, err := getJSON("/healthz", &h); err == nil && code == 200 {
				break
			}
			if time.Now().After(deadline) {
				gw.Process.Kill()
				gw.Wait()
				t.Fatalf("gateway not answering after 20s; log in %s:\n%s", gwLog, tail(gwLog))
			}
		}
		cur = &run{began: time.Now()}
		runs = append(runs, cur)
		time.Sleep(2 * time.Second) // settled: connected, polling, first episode
		cur.start, cur.startOK = measure()
	}
	stopGateway := func(sig syscall.Signal) {
		t.Helper()
		cur.end, cur.endOK = measure()
		cur.ended = time.Now()
		cur.how = sig.String()
		gw.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- gw.Wait() }()
		select {
		case err := <-done:
			if sig == syscall.SIGTERM && err != nil {
				t.Errorf("gateway on SIGTERM: %v; log in %s:\n%s", err, gwLog, tail(gwLog))
			}
		case <-time.After(20 * time.Second):
			gw.Process.Kill()
			<-done
			t.Errorf("gateway did not stop within 20s of %s", sig)
		}
		fmt.Fprintf(logf, "---- gateway stopped by %s %s\n", sig, time.Now().Format(time.RFC3339Nano))
		out, err := exec.Command(bin, "journal", "verify", "--data", dataDir).CombinedOutput()
		if err != nil {
			t.Errorf("journal verify after %s: %v\n%s", sig, err, out)
		}
	}
	startGateway()

	// The operator: writes the heater setpoint, never the same value twice
	// in a row, and every tenth call asks for a value the gate must deny.
	var (
		requested, acked, denied, refusedFull, failed atomic.Int64
		mu                                            sync.Mutex
		acks                                          []audit.Ack
		failures                                      = map[string]int{}
		stop                                          = make(chan struct{})
		clientWG                                      sync.WaitGroup
	)
	client := api.NewClient(sock)
	clientWG.Go(func() {
		i := rand.IntN(101)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			value, raw := "99", uint16(0)
			if n%10 != 9 {
				i = (i + 1) % 101
				raw = uint16(200 + 4*i)
				value = strconv.FormatFloat(float64(raw)/10, 'f', 1, 64)
			}
			requested.Add(1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := client.Call(ctx, api.CallRequest{Principal: "operator", Capability: "set_heater_setpoint", Args: `{"value": ` + value + `}`})
			cancel()
			switch {
			case err != nil:
				failed.Add(1)
				mu.Lock()
				failures["no answer"]++
				mu.Unlock()
			case res.OK:
				if raw == 0 {
					t.Errorf("the gate allowed heater_setpoint=99")
				}
				acked.Add(1)
				wire := binary.BigEndian.AppendUint16(nil, raw)
				mu.Lock()
				acks = append(acks, audit.Ack{Point: "heater_setpoint", Wire: wire})
				mu.Unlock()
			case res.Code == "denied":
				denied.Add(1)
			default:
				if res.Reason == "journal_unavailable" {
					refusedFull.Add(1)
				}
				failed.Add(1)
				mu.Lock()
				failures[string(res.Reason)]++
				mu.Unlock()
			}
		}
	})

	// The faults, in turn, until the time is up.
	kinds := []string{"plc_cut", "broker_restart", "plc_delay", "gateway_sigterm", "disk_full", "plc_truncate", "gateway_sigkill"}
	if !diskFull {
		kinds = append(kinds[:4], kinds[5:]...)
	}
	spacing := max(6*time.Second, soakFor/time.Duration(3*len(kinds)))
	began := time.Now()
	var fullWindows []struct{ from, to time.Time }
	var fullReadyz, fullStatus int
	for k := 0; time.Since(began)+spacing < soakFor; k++ {
		time.Sleep(spacing/2 + rand.N(spacing/2))
		kind := kinds[k%len(kinds)]
		faults[kind]++
		switch kind {
		case "plc_cut":
			cutter.Cut()
			time.Sleep(2 * time.Second)
			cutter.Restore()
		case "plc_delay", "plc_truncate":
			mode := int32(shapeDelay)
			if kind == "plc_truncate" {
				mode = shapeTruncate
			}
			shape.set(mode)
			time.Sleep(3 * time.Second)
			shape.set(shapePass)
		case "broker_restart":
			broker.stop()
			time.Sleep(3 * time.Second)
			broker.start()
		case "gateway_sigterm":
			stopGateway(syscall.SIGTERM)
			startGateway()
		case "gateway_sigkill":
			stopGateway(syscall.SIGKILL)
			startGateway()
		case "disk_full":
			from := time.Now()
			ballast := filepath.Join(dataDir, "ballast")
			if err := fill(dataDir, ballast, 8<<20); err != nil {
				t.Fatalf("fill the journal's filesystem: %v", err)
			}
			// Within a few seconds: /readyz says not ready and the status
			// topic says disk_full.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				var r api.Readiness
				code, err := getJSON("/readyz", &r)
				if err == nil && code == http.StatusServiceUnavailable && !r.Ready && sub.journalState() == "disk_full" {
					fullReadyz++
					fullStatus++
					break
				}
			}
			time.Sleep(4 * time.Second)
			os.Remove(ballast)
			fullWindows = append(fullWindows, struct{ from, to time.Time }{from, time.Now()})
		}
	}
	for time.Since(began) < soakFor {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	clientWG.Wait()
	time.Sleep(2 * time.Second) // let the last telemetry reach the subscriber
	stopGateway(syscall.SIGTERM)
	elapsed := time.Since(began)

	// The journal against the plant and the operator.
	j, writes, err := audit.Load(bin, dataDir, writeLog)
	if err != nil {
		t.Fatal(err)
	}
	rep := audit.Check(j, writes, registers, acks)
	verify, verr := exec.Command(bin, "journal", "verify", "--data", dataDir).CombinedOutput()

	// The report.
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("soak: %s with faults (spacing %s), %d gateway runs", elapsed.Round(time.Second), spacing, len(runs))
	p("actuations: operator requested %d, acknowledged %d, denied %d, refused while the disk was full %d, failed otherwise %d %v",
		requested.Load(), acked.Load(), denied.Load(), refusedFull.Load(), failed.Load()-refusedFull.Load(), failures)
	p("            journal: %d decisions allow, %d deny; %d write intents (operator and model), %d executed (writes the plant received)",
		j.Decisions["allow"], j.Decisions["deny"], rep.Intents, rep.Writes)
	p("            recovered after a kill: %v", rep.Recovered)
	p("invariants: acknowledged missing from the journal %d (want 0)", len(rep.AckedMissing))
	p("            plant writes without a journaled intent %d (want 0)", len(rep.WritesWithoutIntent))
	p("            intents without an outcome %d, outcomes contradicting the plant %d, other %d (want 0)", len(rep.Unresolved), len(rep.RecoveredWrong), len(rep.Other))
	sub.mu.Lock()
	var lost uint64
	devs := make([]string, 0, len(sub.devices))
	for d := range sub.devices {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		tr := sub.devices[d]
		lost += tr.lost
		p("telemetry:  %s: %d received over %d gateway runs, %d duplicates, %d lost inside a run (want 0; messages queued in memory at a kill are not counted)", d, tr.received, tr.runs, tr.duplicates, tr.lost)
	}
	sub.mu.Unlock()
	telemetryWhileFull := 0
	for _, w := range fullWindows {
		telemetryWhileFull += sub.telemetryBetween(w.from, w.to)
	}
	if diskFull {
		p("disk full:  %d times; /readyz 503 and status/journal disk_full seen %d times; %d telemetry messages arrived while full", faults["disk_full"], fullReadyz, telemetryWhileFull)
	} else {
		p("disk full:  skipped (no tmpfs)")
	}
	var worst *run
	for _, r := range runs {
		if r.startOK && r.endOK && (worst == nil || r.end.Goroutines-r.start.Goroutines > worst.end.Goroutines-worst.start.Goroutines) {
			worst = r
		}
	}
	var longest *run
	for _, r := range runs {
		if r.startOK && r.endOK && (longest == nil || r.ended.Sub(r.began) > longest.ended.Sub(longest.began)) {
			longest = r
		}
	}
	if longest != nil {
		p("gateway:    longest run %s: start %s; end %s", longest.ended.Sub(longest.began).Round(time.Second), longest.start, longest.end)
	}
	p("            bound per run: goroutines +%d, heap +%d MiB, rss +%d MiB", boundGoroutines, boundHeap>>20, boundRSS>>20)
	for i, r := range runs {
		if !r.startOK || !r.endOK {
			continue
		}
		if r.end.Goroutines > r.start.Goroutines+boundGoroutines || r.end.Heap > r.start.Heap+boundHeap || r.end.RSS > r.start.RSS+boundRSS {
			t.Errorf("gateway run %d grew beyond the bound: start %s, end %s", i+1, r.start, r.end)
		}
	}
	p("journal verify: %s", bytes.TrimSpace(verify))
	p("faults:     %s", counts(faults, llm.served()))
	t.Log("\n" + b.String())
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write the report: %v", err)
		}
	}

	if verr != nil {
		t.Errorf("journal verify: %v", verr)
	}
	for _, l := range [][]string{rep.AckedMissing, rep.WritesWithoutIntent, rep.Unresolved, rep.RecoveredWrong, rep.Other} {
		for i, v := range l {
			if i == 10 {
				t.Errorf("... and %d more", len(l)-10)
				break
			}
			t.Error(v)
		}
	}
	if lost > 0 {
		t.Errorf("telemetry: %d messages lost inside a gateway run, want 0", lost)
	}
	if diskFull && faults["disk_full"] > 0 {
		if fullReadyz < faults["disk_full"] {
			t.Errorf("disk full %d times, but /readyz and the status topic said so only %d times", faults["disk_full"], fullReadyz)
		}
		if refusedFull.Load() == 0 {
			t.Errorf("disk full, but no operator call was refused as journal_unavailable")
		}
		if telemetryWhileFull == 0 {
			t.Errorf("disk full: no telemetry arrived while the journal's disk was full")
		}
	}
	if acked.Load() == 0 || denied.Load() == 0 || rep.Writes == 0 {
		t.Errorf("got %d acknowledged, %d denied, %d executed: want some of each", acked.Load(), denied.Load(), rep.Writes)
	}
	for _, k := range append(kinds, "llm_5xx", "llm_timeout", "llm_malformed") {
		if faults[k]+llm.served()[k] == 0 {
			t.Errorf("fault %s never happened", k)
		}
	}
	if t.Failed() {
		t.Logf("gateway log (%s), last lines:\n%s", gwLog, tail(gwLog))
	}
}

// fill writes a ballast file into dir's filesystem until only leave bytes
// are free.
func fill(dir, ballast string, leave uint64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	free := st.Bavail * uint64(st.Bsize)
	if free <= leave {
		return nil
	}
	f, err := os.Create(ballast)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(f, zeros{}, int64(free-leave))
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// counts renders fault counts in a fixed order.
func counts(ms ...map[string]int) string {
	all := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			all[k] += v
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, all[k]))
	}
	return strings.Join(parts, ", ")
}

// tail returns the last lines of a file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
