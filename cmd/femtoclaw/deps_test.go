package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoSimOPCUADropsServer proves that -tags nosimopcua, the firmware
// build, leaves the OPC UA server library out of the binary while the OPC
// UA driver (its client) and the simulator's Modbus side stay in.
func TestNoSimOPCUADropsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	deps := func(tags string) []string {
		t.Helper()
		args := []string{"list", "-deps"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		out, err := exec.Command(goBin, append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.Fields(string(out))
	}
	const (
		server = "github.com/gopcua/opcua/server"
		driver = "github.com/femtoclaw/femtoclaw/drivers/opcua"
		sim    = "github.com/femtoclaw/femtoclaw/drivers/sim"
	)
	for _, c := range []struct {
		tags       string
		wantServer bool
	}{{"", true}, {"nosimopcua", false}} {
		got := deps(c.tags)
		if has := slices.Contains(got, server); has != c.wantServer {
			t.Errorf("tags %q: %s linked: got %v, want %v", c.tags, server, has, c.wantServer)
		}
		for _, pkg := range []string{driver, sim} {
			if !slices.Contains(got, pkg) {
				t.Errorf("tags %q: got no %s, want it linked", c.tags, pkg)
			}
		}
	}
}
