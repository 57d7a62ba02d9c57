package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/configs"
	"github.com/femtoclaw/femtoclaw/drivers"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bad")

// TestBad loads every malformed config in testdata/bad and compares the
// problems reported with testdata/bad/<name>.golden.
func TestBad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("got %d bad configs, want at least 12", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = nil error, want problems", file)
			}
			if cfg != nil {
				t.Errorf("Load(%s) returned a config along with problems", file)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load(%s) error is %T, want Problems", file, err)
			}
			for _, p := range ps {
				if p.File != file || p.Line < 1 || p.Col < 1 {
					t.Errorf("problem %q has no position in %s", p.Error(), file)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems of %s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

// TestManyProblemsAtOnce proves that one run reports the problems of every
// stage (schema and semantic), not only the first.
func TestManyProblemsAtOnce(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "bad", "many.yaml"))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got error %v, want Problems", err)
	}
	for _, want := range []string{
		`unknown key "prefx"`,                     // schema: unknown key
		`"2 seconds" is not a duration`,           // schema: pattern
		`"loud" is not one of`,                    // schema: enum
		`"tank" is already the name`,              // semantic: duplicate
		`80 is more than max, 20`,                 // semantic: limits
		`"pressure" is not a point`,               // semantic: reference
		`"drain" is not a capability`,             // semantic: allow list
		`10ms is shorter than the minimum, 100ms`, // semantic: trigger
		`an input point cannot be written`,        // semantic: register
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q; got:\n%v", want, err)
		}
	}
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1], ps[i]
		if a.Line > b.Line || a.Line == b.Line && a.Col > b.Col {
			t.Errorf("problems not sorted: %q before %q", a.Error(), b.Error())
		}
	}
}

// TestShipped loads the configs that ship in package configs.
func TestShipped(t *testing.T) {
	for _, name := range []string{"demo.yaml", "example.yaml"} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(filepath.Join("..", "..", "configs", name)); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, err := ParseFS(configs.FS, name); err != nil {
				t.Fatalf("ParseFS: %v", err)
			}
		})
	}
}

// TestDemo checks the demo config against the simulator's register map, and
// the defaults it relies on.
func TestDemo(t *testing.T) {
	cfg, err := ParseFS(configs.FS, "demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Gateway.ID, "demo"; got != want {
		t.Errorf("gateway.id = %q, want %q", got, want)
	}
	if cfg.MQTT.Broker != "" {
		t.Errorf("mqtt.broker = %q, want empty (embedded)", cfg.MQTT.Broker)
	}
	if got, want := cfg.MQTT.Prefix, "femtoclaw/demo"; got != want {
		t.Errorf("mqtt.prefix = %q, want %q", got, want)
	}
	if got, want := cfg.MQTT.ClientID, "femtoclaw-demo"; got != want {
		t.Errorf("mqtt.client_id = %q, want %q", got, want)
	}
	if len(cfg.Devices) != 2 {
		t.Fatalf("got %d devices, want 2", len(cfg.Devices))
	}
	if ua := cfg.Devices[1]; ua.Name != "tank_ua" || ua.Driver != "opcua" || ua.URL != "opc.tcp://127.0.0.1:4840" ||
		ua.OPCUA == nil || ua.OPCUA.SecurityPolicy != "None" || !ua.OPCUA.Subscribe || len(ua.Points) != 2 {
		t.Errorf("devices[1] = %+v, want tank_ua, opcua, opc.tcp://127.0.0.1:4840, security None, subscribed, 2 points", ua)
	}
	d := cfg.Devices[0]
	if d.Name != "tank" || d.Driver != "modbus" || d.URL != "tcp://127.0.0.1:5020" || d.Unit != 1 || d.Poll.D() != time.Second {
		t.Errorf("device = %+v, want tank, modbus, tcp://127.0.0.1:5020, unit 1, poll 1s", d)
	}
	want := []drivers.PointConfig{
		{Name: "level", Register: "holding", Address: 0, Type: "float32", Order: "ABCD", Scale: 1, Unit: "%"},
		{Name: "temperature", Register: "holding", Address: 2, Type: "float32", Order: "ABCD", Scale: 1, Unit: "degC"},
		{Name: "inlet_pump", Register: "holding", Address: 4, Type: "uint16", Order: "ABCD", Scale: 1, Unit: "%", Writable: true},
		{Name: "outlet_valve", Register: "holding", Address: 5, Type: "uint16", Order: "ABCD", Scale: 1, Unit: "%", Writable: true},
		{Name: "heater_setpoint", Register: "holding", Address: 6, Type: "int16", Order: "ABCD", Scale: 0.1, Unit: "degC", Writable: true},
		{Name: "total_inflow", Register: "holding", Address: 10, Type: "uint32", Order: "CDAB", Scale: 1, Unit: "L"},
		{Name: "heater", Register: "coil", Address: 0, Type: "bool", Writable: true},
		{Name: "high_level_alarm", Register: "coil", Address: 1, Type: "bool"},
	}
	if len(d.Points) != len(want) {
		t.Fatalf("got %d points, want %d", len(d.Points), len(want))
	}
	for i := range want {
		if d.Points[i] != want[i] {
			t.Errorf("points[%d] = %+v, want %+v", i, d.Points[i], want[i])
		}
	}
	caps := map[string]capability.Spec{}
	for _, s := range cfg.Capabilities {
		caps[s.Name] = s
	}
	for _, w := range []struct {
		name, point string
		min, max    float64
	}{
		{"set_inlet_pump", "inlet_pump", 0, 100},
		{"set_outlet_valve", "outlet_valve", 0, 100},
		{"set_heater", "heater", 0, 1},
		{"set_heater_setpoint", "heater_setpoint", 20, 60},
	} {
		s, ok := caps[w.name]
		if !ok {
			t.Errorf("capability %s missing", w.name)
			continue
		}
		if s.Kind != capability.KindWrite || s.Device != "tank" || s.Point != w.point || *s.Min != w.min || *s.Max != w.max || s.Argument != "value" {
			t.Errorf("capability %s = %+v, want write tank.%s %v..%v argument value", w.name, s, w.point, w.min, w.max)
		}
	}
	if got, want := strings.Join(caps["read_tank"].Points, ","), "tank.level,tank.temperature,tank.inlet_pump,tank.outlet_valve"; got != want {
		t.Errorf("read_tank points = %s, want %s", got, want)
	}
	if len(cfg.Agents) != 1 {
		t.Fatalf("got %d agents, want 1", len(cfg.Agents))
	}
	a := cfg.Agents[0]
	if a.Name != "tank_keeper" || a.Brain.Provider != "scripted" || a.Brain.Script != "demo-script.json" || a.Trigger.Interval.D() != 2*time.Second || a.MaxSteps != 8 {
		t.Errorf("agent = %+v", a)
	}
	if got, want := strings.Join(a.Allow, ","), "read_tank,set_inlet_pump,set_outlet_valve"; got != want {
		t.Errorf("agent allow = %s, want %s", got, want)
	}
	if got, want := strings.Join(caps["read_tank_ua"].Points, ","), "tank_ua.level,tank_ua.temperature"; got != want {
		t.Errorf("read_tank_ua points = %s, want %s", got, want)
	}
	if got, want := len(cfg.Operator.Allow), 8; got != want {
		t.Errorf("operator allows %d capabilities, want %d", got, want)
	}
	script, err := cfg.ReadFile(a.Brain.Script)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", a.Brain.Script, err)
	}
	if string(script) != string(configs.DemoScript()) {
		t.Errorf("ReadFile(%s) did not return the embedded demo script", a.Brain.Script)
	}
}

// TestDefaults checks every default on a minimal file.
func TestDefaults(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(`
gateway: {id: g1}
devices:
  - name: d
    driver: modbus
    url: tcp://10.0.0.1:502
    points:
      - {name: r, register: holding, address: 0}
      - {name: c, register: coil, address: 0, writable: true}
  - name: zero
    driver: modbus
    url: tcp://10.0.0.2:502
    unit: 0
capabilities:
  - {name: w, kind: write, device: d, point: c, min: 0, max: 1}
agents:
  - {name: a, brain: {provider: scripted, script: testdata/script.json}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.Gateway.DataDir, "/var/lib/femtoclaw"},
		{"log_level", cfg.Gateway.LogLevel, "info"},
		{"mqtt.listen", cfg.MQTT.Listen, "127.0.0.1:1883"},
		{"mqtt.prefix", cfg.MQTT.Prefix, "femtoclaw/g1"},
		{"mqtt.client_id", cfg.MQTT.ClientID, "femtoclaw-g1"},
		{"unit", cfg.Devices[0].Unit, uint8(1)},
		{"explicit unit 0", cfg.Devices[1].Unit, uint8(0)},
		{"poll", cfg.Devices[0].Poll.D(), time.Second},
		{"timeout", cfg.Devices[0].Timeout.D(), time.Second},
		{"register type", cfg.Devices[0].Points[0].Type, "uint16"},
		{"coil type", cfg.Devices[0].Points[1].Type, "bool"},
		{"order", cfg.Devices[0].Points[0].Order, "ABCD"},
		{"scale", cfg.Devices[0].Points[0].Scale, 1.0},
		{"argument", cfg.Capabilities[0].Argument, "value"},
		{"max_steps", cfg.Agents[0].MaxSteps, 8},
		{"path", cfg.Path, "min.yaml"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestValidateInCode checks Validate on a config built without a file: the
// problems name the setting but carry no position.
func TestValidateInCode(t *testing.T) {
	lo, hi := 10.0, 5.0
	cfg := &Config{
		Gateway: Gateway{ID: "g"},
		Devices: []drivers.DeviceConfig{{Name: "d", Driver: "modbus", URL: "tcp://h:502",
			Points: []drivers.PointConfig{{Name: "p", Register: "holding", Writable: true}}}},
		Capabilities: []capability.Spec{{Name: "w", Kind: capability.KindWrite, Device: "d", Point: "p", Min: &lo, Max: &hi}},
	}
	cfg.SetDefaults()
	err := cfg.Validate()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("Validate() = %v, want exactly one problem", err)
	}
	if got, want := ps[0].Error(), "capabilities[0].min: 10 is more than max, 5"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	hi = 20
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() after the fix = %v, want nil", err)
	}
}

// TestParseFSScript checks that a script is looked up beside the config in
// the filesystem it was read from.
func TestParseFSScript(t *testing.T) {
	doc := "gateway: {id: g}\nagents:\n  - {name: a, brain: {provider: scripted, script: s.json}}\n"
	fsys := fstest.MapFS{"etc/c.yaml": {Data: []byte(doc)}}
	if _, err := ParseFS(fsys, "etc/c.yaml"); err == nil || !strings.Contains(err.Error(), `"s.json" does not exist`) {
		t.Fatalf("without the script: got %v, want a missing-script problem", err)
	}
	fsys["etc/s.json"] = &fstest.MapFile{Data: []byte("{}")}
	cfg, err := ParseFS(fsys, "etc/c.yaml")
	if err != nil {
		t.Fatalf("with the script: %v", err)
	}
	if b, err := cfg.ReadFile("s.json"); err != nil || string(b) != "{}" {
		t.Errorf("ReadFile = %q, %v; want {}", b, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Msg, "no such file") {
		t.Fatalf("got %v, want one problem saying the file does not exist", err)
	}
}

func TestProblemError(t *testing.T) {
	for _, c := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Col: 7, Msg: "bad"}, "a.yaml:3:7: bad"},
		{Problem{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{Problem{Msg: "bad"}, "bad"},
	} {
		if got := c.p.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	ps := Problems{{File: "f", Line: 9, Col: 1, Msg: "b"}, {File: "f", Line: 2, Col: 5, Msg: "a"}}
	if got, want := ps.err().Error(), "f:2:5: a\nf:9:1: b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and it
// returns either a config or problems, never both or neither.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add(configs.Demo())
	f.Add(configs.Example())
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("gateway: {id: g}\n<<: {x: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of config and error", cfg, err)
		}
	})
}

// TestProblems covers inputs that are easier to read inline than as files.
func TestProblems(t *testing.T) {
	bomb := "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for c, prev := 'b', 'a'; c <= 'i'; c, prev = c+1, c {
		bomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	for _, c := range []struct {
		name, doc string
		want      []string // the problems, without the file name
	}{
		{
			name: "duration overflow",
			doc:  "gateway: {id: g}\ndevices:\n  - {name: d, driver: modbus, url: 'tcp://h:502', poll: 99999999999999h}\n",
			want: []string{`3:57: devices[0].poll: "99999999999999h" is not a duration such as 500ms, 2s or 1m`},
		},
		{
			name: "anchors under x- keys are allowed, merged values checked",
			doc:  "gateway: {id: g}\nx-plc: &plc {driver: modbus, url: 'tcp://h:502', unit: 300}\ndevices:\n  - name: a\n    <<: *plc\n",
			want: []string{`4:5: devices[0].unit: 300 is more than the maximum, 247`},
		},
		{
			name: "non-finite numbers",
			doc:  "gateway: {id: g}\ndevices:\n  - name: d\n    driver: modbus\n    url: tcp://h:502\n    points: [{name: p, register: holding, writable: true}]\ncapabilities:\n  - {name: c, kind: write, device: d, point: p, min: .nan, max: .inf}\n",
			want: []string{`8:54: capabilities[0].min: "NaN" is not a number`, `8:65: capabilities[0].max: "+Inf" is not a number`},
		},
		{
			name: "not a mapping",
			doc:  "[1, 2]\n",
			want: []string{`1:1: a list is not a mapping of keys to values`},
		},
		{
			name: "section of the wrong kind",
			doc:  "gateway: {id: g}\ndevices: {}\n",
			want: []string{`2:10: devices: a mapping is not a list`},
		},
		{
			name: "number where a name goes, wildcard in prefix",
			doc:  "gateway: {id: 123}\nmqtt: {prefix: a/+/b}\n",
			want: []string{
				`1:15: gateway.id: 123 is not a name of 1 to 64 letters, digits, '-' or '_' (write it in quotes: "123")`,
				`2:16: mqtt.prefix: "a/+/b" must not contain the MQTT wildcards + or #`,
			},
		},
		{
			name: "deep flow nesting",
			doc:  strings.Repeat("[", 100_000),
			want: []string{`1:65: nested too deeply for a commissioning file`},
		},
		{
			name: "deep block nesting",
			doc:  strings.Repeat("- ", 20_000) + "x",
			want: []string{`1:257: nested too deeply for a commissioning file`},
		},
		{
			name: "alias expansion",
			doc:  bomb,
			want: []string{`1:1: the document is too large or nested too deeply (check its aliases)`},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.doc))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %v, want Problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimPrefix(p.Error(), "t.yaml:"))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestMain checks, before any test parses a file, that loading the package
// compiled no schema: start-up time matters on the appliance.
func TestMain(m *testing.M) {
	if schemaWeak.Value() != nil {
		fmt.Fprintln(os.Stderr, "the config schema was compiled at package init; it must wait for first use")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
