package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckEnvironment: files and variables a config names but this
// machine lacks are warnings with positions; --strict makes them fail.
func TestCheckEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	cfg := `gateway: {id: t, data_dir: ` + dir + `}
devices:
  - name: ua
    driver: opcua
    url: opc.tcp://127.0.0.1:4840
    opcua:
      server_cert: ` + filepath.Join(dir, "plc.pem") + `
      username: operator
      password: env:FEMTOCLAW_TEST_CHECK_UNSET
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("check", "-c", path)
	if code != 0 || !strings.Contains(out, ": ok (1 devices") {
		t.Fatalf("check: exit %d, stdout %q; want 0 and ok", code, out)
	}
	for _, want := range []string{
		path + ":7:20: warning: devices[0].opcua.server_cert: " + filepath.Join(dir, "plc.pem") + " does not exist",
		path + ":9:17: warning: devices[0].opcua.password: environment variable FEMTOCLAW_TEST_CHECK_UNSET is not set here",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check stderr: got %q, want a line %q", errOut, want)
		}
	}
	if code, _, _ := run("check", "--strict", "-c", path); code != ExitUsage {
		t.Errorf("check --strict: got exit %d, want %d", code, ExitUsage)
	}
}
