package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(present, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half")
	if err := os.MkdirAll(half, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "cert.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FEMTOCLAW_TEST_SET_PW", "x")
	yaml := `gateway: {id: t, data_dir: ` + dir + `}
devices:
  - name: good
    driver: opcua
    url: opc.tcp://127.0.0.1:4840
    opcua:
      server_cert: ` + present + `
      username: u
      password: env:FEMTOCLAW_TEST_SET_PW
  - name: bad
    driver: opcua
    url: opc.tcp://127.0.0.1:4841
    opcua:
      server_cert: ` + filepath.Join(dir, "missing.pem") + `
      trust_dir: ` + present + `
      cert_dir: ` + half + `
      username: u
      password: env:FEMTOCLAW_TEST_UNSET_PW
  - name: plc
    driver: modbus
    url: tcp+tls://127.0.0.1:802
    tls: {ca: ` + present + `, cert: ` + filepath.Join(dir, "client.pem") + `, key: ` + present + `}
    points: [{name: a, register: holding, address: 0}]
`
	cfg, err := Parse("gw.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var got []string
	for _, p := range cfg.Environment() {
		got = append(got, p.Error())
	}
	want := []string{
		"gw.yaml:14:20: devices[1].opcua.server_cert: " + filepath.Join(dir, "missing.pem") + " does not exist",
		"gw.yaml:15:18: devices[1].opcua.trust_dir: " + present + " is not a directory with the trusted certificates",
		"gw.yaml:16:17: devices[1].opcua.cert_dir: " + half + " holds only one of cert.pem and key.pem: the client certificate cannot be used",
		"gw.yaml:18:17: devices[1].opcua.password: environment variable FEMTOCLAW_TEST_UNSET_PW is not set here",
		// The column depends on the length of the temporary directory's name.
		fmt.Sprintf("gw.yaml:22:%d:", len("    tls: {ca: "+present+", cert: ")+1),
	}
	if len(got) != len(want) {
		t.Fatalf("Environment: got %d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if w := got[len(got)-1]; !strings.Contains(w, "devices[2].tls.cert: "+filepath.Join(dir, "client.pem")+" does not exist") {
		t.Errorf("Modbus TLS warning: got %q, want the missing client certificate", w)
	}
}
