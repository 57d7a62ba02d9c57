package procbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/femtoclaw/femtoclaw/gateway/broker"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat; 100 on every Linux this runs on.
const clockTicks = 100

// binary returns the binary under test, or skips.
func binary(t *testing.T) string {
	t.Helper()
	if os.Getenv("FEMTOCLAW_BENCH") != "1" {
		t.Skip("process benchmarks run with FEMTOCLAW_BENCH=1 (make bench)")
	}
	bin := os.Getenv("FEMTOCLAW_BIN")
	if bin == "" {
		t.Fatal("FEMTOCLAW_BIN is empty, want the binary to measure")
	}
	return bin
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

var reportMu sync.Mutex

// report prints one figure and appends it to BENCH_TSV.
func report(t *testing.T, figure, value, target string, pass bool) {
	t.Helper()
	verdict := "pass"
	if !pass {
		verdict = "FAIL"
	}
	line := strings.Join([]string{"BENCH", figure, value, target, verdict}, "\t")
	t.Log(line)
	fmt.Println(line)
	if path := os.Getenv("BENCH_TSV"); path != "" {
		reportMu.Lock()
		defer reportMu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// percentile returns the p-th percentile (0..100) of sorted ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)]
}

// proc is a started process whose stderr goes to a file.
type proc struct {
	cmd  *exec.Cmd
	log  string // the file stderr goes to
	done chan error
}

func start(t *testing.T, logName string, stdout *bytes.Buffer, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logf.Name(), done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits, then SIGKILL after 10s.
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop within 10s of SIGTERM", p.cmd.Path)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// cpuTicks returns the user plus system clock ticks of pid.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	// Fields after the command: state is field 3 of stat(5), so utime
	// (14) and stime (15) are at 11 and 12 here.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// memKB returns a line of /proc/PID/status in kB, e.g. VmRSS or VmHWM.
func memKB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return 0
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var simAddr = regexp.MustCompile(`modbus tcp://(\S+)`)

// startSim starts `femtoclaw sim ARGS` and returns the Modbus addresses it
// prints, waiting for want of them.
func startSim(t *testing.T, bin string, want int, args ...string) []string {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	w := &lockedBuffer{mu: &mu, b: &out}
	cmd := exec.Command(bin, append([]string{"sim"}, args...)...)
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		found := simAddr.FindAllStringSubmatch(out.String(), -1)
		mu.Unlock()
		if len(found) >= want {
			addrs := make([]string, len(found))
			for i, m := range found {
				addrs[i] = m[1]
			}
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("simulator printed %q in 30s, want %d addresses", out.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// demoConfig writes the demo config with the simulator's address, dataDir
// and either an external broker URL or an embedded broker's listen address.
func demoConfig(t *testing.T, simAddr, dataDir, brokerURL, listen string) string {
	t.Helper()
	raw, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../configs/demo-script.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, r := range [][2]string{
		{"url: tcp://127.0.0.1:5020", "url: tcp://" + simAddr},
		{"data_dir: /var/lib/femtoclaw", "data_dir: " + dataDir},
		{`broker: ""`, fmt.Sprintf("broker: %q", brokerURL)},
		{"listen: 127.0.0.1:1883", "listen: " + listen},
		{"script: demo-script.json", "script: " + script},
		{"log_level: info", "log_level: warn"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("configs/demo.yaml has no %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitSocket dials the API socket until it answers.
func waitSocket(t *testing.T, sock string, p *proc, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-p.done:
			tail, _ := os.ReadFile(p.log)
			t.Fatalf("gateway exited before its socket answered: %v\n%s", err, tail[max(len(tail)-4000, 0):])
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no API socket at %s after %s", sock, limit)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// arrival is one telemetry message as the subscriber saw it.
type arrival struct {
	topic string
	at    time.Time
	size  int
}

// subscribe connects to the broker at addr and sends each message under
// topic to the returned channel.
func subscribe(t *testing.T, addr, topic string) <-chan arrival {
	t.Helper()
	ch := make(chan arrival, 4096)
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("procbench-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	deadline := time.Now().Add(30 * time.Second)
	for {
		tok := c.Connect()
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber: connect %s: %v", addr, tok.Error())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tok := c.Subscribe(topic, 0, func(_ paho.Client, m paho.Message) {
		select {
		case ch <- arrival{topic: m.Topic(), at: time.Now(), size: len(m.Payload())}:
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: subscribe %s: %v", topic, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return ch
}

// TestReady measures `femtoclaw run` with the demo config from exec to
// ready: the API socket answers and the first poll's telemetry reached the
// broker. The broker runs in this process, subscribed before the exec, so
// that the first message is seen; with the embedded broker only the socket
// can be timed from outside, and it is, as a further figure. Each run
// starts on a fresh data dir (a gateway's first start, when Pebble creates
// the journal and ratchets its format up a dozen synced steps) and then
// again on the same dir (a restart, as after a reboot or an upgrade).
func TestReady(t *testing.T) {
	bin := binary(t)
	runs := envInt(t, "BENCH_READY_RUNS", 20)
	sim := startSim(t, bin, 1, "--modbus", "127.0.0.1:0")[0]
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs := subscribe(t, b.Addr(), "femtoclaw/demo/telemetry/#")

	// once starts the gateway on cfg and returns the time to its socket
	// and to ready.
	once := func(name, dir, cfg string) (sock, ready time.Duration) {
		for len(msgs) > 0 {
			<-msgs
		}
		t0 := time.Now()
		p := start(t, name+".log", nil, bin, "run", "-c", cfg)
		waitSocket(t, filepath.Join(dir, "femtoclaw.sock"), p, 30*time.Second)
		sock = time.Since(t0)
		var tel time.Duration
		select {
		case m := <-msgs:
			tel = m.at.Sub(t0)
		case <-time.After(30 * time.Second):
			t.Fatal("no telemetry within 30s of exec")
		}
		p.stop(t)
		return sock, max(sock, tel)
	}

	var ready, sockets, restarts, embedded []time.Duration
	for i := range runs {
		dir := t.TempDir()
		cfg := demoConfig(t, sim, dir, "tcp://"+b.Addr(), "127.0.0.1:0")
		sock, r := once(fmt.Sprintf("run-%d", i), dir, cfg)
		sockets = append(sockets, sock)
		ready = append(ready, r)
		_, r = once(fmt.Sprintf("run-%d-restart", i), dir, cfg)
		restarts = append(restarts, r)

		// The demo config as it is, with its embedded broker.
		dir = t.TempDir()
		cfg = demoConfig(t, sim, dir, "", freePort(t))
		t0 := time.Now()
		p := start(t, fmt.Sprintf("run-embedded-%d.log", i), nil, bin, "run", "-c", cfg)
		waitSocket(t, filepath.Join(dir, "femtoclaw.sock"), p, 30*time.Second)
		embedded = append(embedded, time.Since(t0))
		p.stop(t)
	}
	for _, ds := range [][]time.Duration{ready, sockets, restarts, embedded} {
		slices.Sort(ds)
	}
	spread := func(ds []time.Duration) string {
		return fmt.Sprintf("%s (min %s, p90 %s, %d runs)", ms(percentile(ds, 50)), ms(ds[0]), ms(percentile(ds, 90)), len(ds))
	}
	med := percentile(ready, 50)
	report(t, "run demo: exec to ready (API + first poll published)", spread(ready), "< 30 ms", med < 30*time.Millisecond)
	report(t, "run demo: exec to API socket", spread(sockets), "", true)
	med = percentile(restarts, 50)
	report(t, "run demo, restart (journal exists): exec to ready", spread(restarts), "< 30 ms", med < 30*time.Millisecond)
	report(t, "run demo, embedded broker: exec to API socket", spread(embedded), "", true)
}

// TestIdle measures the demo gateway's memory and CPU after it has run a
// while with nothing to do but poll the tank and run its scripted agent.
func TestIdle(t *testing.T) {
	bin := binary(t)
	settle := envDuration(t, "BENCH_IDLE", 15*time.Second)
	sim := startSim(t, bin, 1, "--modbus", "127.0.0.1:0")[0]
	dir := t.TempDir()
	cfg := demoConfig(t, sim, dir, "", freePort(t))
	p := start(t, "idle.log", nil, bin, "run", "-c", cfg)
	pid := p.cmd.Process.Pid
	waitSocket(t, filepath.Join(dir, "femtoclaw.sock"), p, 30*time.Second)
	time.Sleep(settle / 3)
	c0, t0 := cpuTicks(t, pid), time.Now()
	time.Sleep(settle - settle/3)
	c1, t1 := cpuTicks(t, pid), time.Now()
	rss, hwm := memKB(t, pid, "VmRSS"), memKB(t, pid, "VmHWM")
	// The binary's own pages, mapped from the file, against the heap,
	// stacks and runtime: the two are cut by different means.
	anon, file := memKB(t, pid, "RssAnon"), memKB(t, pid, "RssFile")
	cpu := float64(c1-c0) / clockTicks / t1.Sub(t0).Seconds() * 100
	report(t, "demo idle: RSS", fmt.Sprintf("%s (peak %s; anonymous %s, file-backed %s)", mb(rss), mb(hwm), mb(anon), mb(file)), "< 25 MB", rss < 25*1024)
	report(t, "demo idle: CPU", fmt.Sprintf("%.2f %% of a core", cpu), "", true)
}

// TestTags polls BENCH_DEVICES bulk devices of BENCH_REGISTERS holding
// registers each at 1 s, publishing to the embedded broker, and measures
// the gateway's CPU and memory over BENCH_WINDOW, the poll cycles that
// overran, and the latency of writes made through the API while it polls.
func TestTags(t *testing.T) {
	bin := binary(t)
	devices := envInt(t, "BENCH_DEVICES", 10)
	registers := envInt(t, "BENCH_REGISTERS", 10000)
	warmup := envDuration(t, "BENCH_WARMUP", 5*time.Second)
	window := envDuration(t, "BENCH_WINDOW", 30*time.Second)
	writeWindow := envDuration(t, "BENCH_WRITE_WINDOW", 20*time.Second)
	tags := devices * registers
	label := fmt.Sprintf("%d tags (%dx%d) at 1 s", tags, devices, registers)

	addrs := startSim(t, bin, devices, "--bulk", strconv.Itoa(devices), "--registers", strconv.Itoa(registers), "--modbus", "127.0.0.1:0")
	dir := t.TempDir()
	listen := freePort(t)
	cfg := bulkConfig(t, dir, listen, addrs, registers)
	if out, err := exec.Command(bin, "check", "-c", cfg).CombinedOutput(); err != nil {
		// A refused config is a figure of its own: the gateway cannot
		// be commissioned for this many tags.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		problem := lines[len(lines)-1]
		if i := strings.Index(problem, ": "); i >= 0 {
			problem = problem[i+2:]
		}
		report(t, label+": config", "refused by femtoclaw check: "+problem, "accepted", false)
		return
	}
	t0 := time.Now()
	p := start(t, "tags.log", nil, bin, "run", "-c", cfg)
	pid := p.cmd.Process.Pid
	sock := filepath.Join(dir, "femtoclaw.sock")
	waitSocket(t, sock, p, 60*time.Second)
	t.Logf("%s: ready in %s", label, time.Since(t0))
	msgs := subscribe(t, listen, "femtoclaw/bench/telemetry/#")
	time.Sleep(warmup)
	for len(msgs) > 0 {
		<-msgs
	}

	// The polling window: CPU and memory of polling and publishing
	// alone, then a second window of the same polling with writes through
	// the API, whose latency is the write figure. Both count overruns.
	var (
		wg       sync.WaitGroup
		writes   []time.Duration
		failures int
		rssMax   int64
		rssAll   []int64
	)
	last := map[string]time.Time{}
	var gaps, count, volume int
	watch := func(ctx context.Context) {
		for ctx.Err() == nil {
			select {
			case m := <-msgs:
				if prev, ok := last[m.topic]; ok && m.at.Sub(prev) > 1500*time.Millisecond {
					gaps++
				}
				last[m.topic] = m.at
				count++
				volume += m.size
			case <-ctx.Done():
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r := memKB(t, pid, "VmRSS")
				rssAll = append(rssAll, r)
				rssMax = max(rssMax, r)
			}
		}
	})
	c0, w0 := cpuTicks(t, pid), time.Now()
	watch(ctx)
	c1, w1 := cpuTicks(t, pid), time.Now()
	wg.Wait()
	wctx, wcancel := context.WithTimeout(context.Background(), writeWindow)
	defer wcancel()
	wg.Go(func() { writes, failures = writeLoop(wctx, t, sock, 200*time.Millisecond) })
	watch(wctx)
	wg.Wait()
	wEnd := time.Now()
	hwm := memKB(t, pid, "VmHWM")
	secs := w1.Sub(w0).Seconds()
	cpu := float64(c1-c0) / clockTicks / secs * 100
	slices.Sort(rssAll)
	steady := rssAll[len(rssAll)/2]
	expected := int(wEnd.Sub(w0).Seconds()) * devices
	missing := max(expected-count, 0)

	cpuTarget, pass := "", true
	switch tags {
	case 100000:
		cpuTarget, pass = "< 15 % of a core", cpu < 15
	case 10000:
		cpuTarget, pass = "< 2 % of a core", cpu < 2
	}
	report(t, label+": gateway CPU", fmt.Sprintf("%.1f %% of a core", cpu), cpuTarget, pass)
	if tags == 100000 {
		report(t, label+": RSS steady", mb(steady), "< 64 MB", steady < 64*1024)
		report(t, label+": RSS peak", mb(hwm), "< 100 MB", hwm < 100*1024)
	} else {
		report(t, label+": RSS steady / peak", mb(steady)+" / "+mb(hwm), "", true)
	}
	report(t, label+": poll cycles overrun (gap > 1.5 s) / missing", fmt.Sprintf("%d / %d of %d (%.1f MB/s telemetry)", gaps, missing, expected, float64(volume)/wEnd.Sub(w0).Seconds()/1e6), "0", gaps == 0 && missing <= devices)
	slices.Sort(writes)
	if len(writes) == 0 {
		report(t, label+": writes while polling", fmt.Sprintf("none succeeded, %d failed", failures), "p99 < 50 ms", false)
		return
	}
	p99 := percentile(writes, 99)
	report(t, label+": write while polling, call to outcome",
		fmt.Sprintf("p99 %s (p50 %s, max %s, %d writes, %d failed)", ms(p99), ms(percentile(writes, 50)), ms(writes[len(writes)-1]), len(writes), failures),
		"p99 < 50 ms", p99 < 50*time.Millisecond && failures == 0)
}

// bulkConfig writes a gateway config for the bulk devices at addrs: every
// register a uint16 point of one range per device, register 0 of the first
// device writable through the capability set_r0.
func bulkConfig(t *testing.T, dataDir, listen string, addrs []string, registers int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: {id: bench, data_dir: %s, log_level: warn}\nmqtt: {broker: \"\", listen: %s}\ndevices:\n", dataDir, listen)
	for d, addr := range addrs {
		fmt.Fprintf(&b, "  - name: dev%d\n    driver: modbus\n    url: tcp://%s\n    unit: 1\n    poll: 1s\n    timeout: 1s\n    points:\n", d, addr)
		// One range declares every register: r0 to r<registers-1>.
		fmt.Fprintf(&b, "      - {name: r, register: holding, address: 0, type: uint16, count: %d, writable: true}\n", registers)
	}
	b.WriteString("capabilities:\n  - {name: set_r0, description: Set register 0 of dev0., kind: write, device: dev0, point: r0, min: 0, max: 65535}\n")
	b.WriteString("operator:\n  allow: [set_r0]\n")
	path := filepath.Join(t.TempDir(), "bench.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeLoop calls set_r0 through the API socket every interval until ctx is
// done, and returns the latency of each call that succeeded.
func writeLoop(ctx context.Context, t *testing.T, sock string, interval time.Duration) ([]time.Duration, int) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer client.CloseIdleConnections()
	var lat []time.Duration
	failed := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return lat, failed
		case <-tick.C:
		}
		body := fmt.Sprintf(`{"principal":"operator","capability":"set_r0","args":"{\"value\":%d}"}`, i%60000)
		t0 := time.Now()
		resp, err := client.Post("http://femtoclaw/v1/call", "application/json", strings.NewReader(body))
		if err != nil {
			if ctx.Err() == nil {
				t.Logf("write %d: %v", i, err)
				failed++
			}
			continue
		}
		var res struct {
			OK     bool   `json:"ok"`
			Reason string `json:"reason"`
		}
		err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&res)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil || !res.OK {
			t.Logf("write %d: %v %s", i, err, res.Reason)
			failed++
			continue
		}
		lat = append(lat, d)
	}
}
