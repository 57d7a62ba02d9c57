package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

func startSim(t *testing.T) string {
	t.Helper()
	p := sim.New(sim.Options{})
	addr, err := p.ListenModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return "tcp://" + addr.String()
}

func TestProbeModbus(t *testing.T) {
	url := startSim(t)
	code, out, errOut := run("probe", "modbus", url, "--holding", "0-11")
	if code != ExitOK {
		t.Fatalf("probe: exit %d, want 0; stderr:\n%s", code, errOut)
	}
	// The plant's level (40 %) is a float32 ABCD at 0; its total inflow a
	// uint32 CDAB at 10 (0 at start); its setpoint an int16 of 450 at 6.
	for _, re := range []string{
		`holding 0 +\[4220 0000 41a0 0000\]`,
		`\n +float32 +40 +2.3721e-41 +`,
		`holding 6 +\[01c2`,
		`\n +int16 +450 +450 +-15871 +-15871`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("probe output does not match %s:\n%s", re, out)
		}
	}

	// With --base 1 register 1 is wire address 0.
	_, out1, _ := run("probe", "modbus", url, "--holding", "1-2", "--base", "1")
	if !regexp.MustCompile(`holding 1 +\[4220 0000\]`).MatchString(out1) {
		t.Errorf("probe --base 1: got\n%s\nwant register 1 to be wire address 0", out1)
	}
}

// TestProbeSnippetParses pastes the snippet into a commissioning file: it
// must pass the config's validation as it is.
func TestProbeSnippetParses(t *testing.T) {
	for _, args := range [][]string{
		{"--holding", "0-3", "--type", "float32", "--order", "CDAB"},
		{"--input", "10-19", "--type", "int16", "--order", "BADC", "--base", "1"},
		{"--holding", "0-7", "--type", "float64"},
	} {
		code, out, errOut := run(append([]string{"probe", "modbus", "tcp://192.168.1.10:502", "--snippet", "--name", "meter"}, args...)...)
		if code != ExitOK {
			t.Fatalf("snippet %v: exit %d: %s", args, code, errOut)
		}
		doc := "gateway:\n  id: probe\ndevices:\n" + out
		if _, err := config.Parse("snippet.yaml", []byte(doc)); err != nil {
			t.Errorf("snippet %v does not parse: %v\n%s", args, err, doc)
		}
		if !strings.Contains(out, "name: meter") {
			t.Errorf("snippet %v: got\n%s\nwant the device named meter", args, out)
		}
	}
}

func TestProbeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"probe", "modbus", "tcp://x:502"},
		{"probe", "modbus", "tcp://x:502", "--holding", "0-1", "--input", "0-1"},
		{"probe", "modbus", "tcp://x:502", "--holding", "5-1"},
		{"probe", "modbus", "tcp://x:502", "--holding", "0-70000"},
		{"probe", "modbus", "tcp://x:502", "--holding", "0", "--base", "1"},
		{"probe", "modbus", "tcp://x:502", "--holding", "0", "--snippet", "--type", "flaot"},
	} {
		if code, _, _ := run(args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if code, _, _ := run("probe", "modbus", "tcp://127.0.0.1:1", "--holding", "0", "--timeout", "200ms"); code != ExitFailed {
		t.Errorf("probe of a closed port: exit %d, want %d", code, ExitFailed)
	}
}
