package main

import (
	"slices"
	"testing"

	"github.com/femtoclaw/femtoclaw/internal/lint"
)

// TestNoSimOPCUADropsServer proves that -tags nosimopcua, the firmware
// build, leaves the OPC UA server library out of the binary while the OPC
// UA driver (its client) and the simulator's Modbus side stay in.
func TestNoSimOPCUADropsServer(t *testing.T) {
	deps := func(tags string) []string {
		t.Helper()
		return lint.Deps(t, tags, ".")
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
