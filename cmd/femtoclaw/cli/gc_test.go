package cli

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent returns the collector's current target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestStartupGC(t *testing.T) {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	limit := debug.SetMemoryLimit(-1)

	restore := startupGC()
	if got := gcPercent(); got != startupGCPercent {
		t.Errorf("GOGC during start-up: got %d, want %d", got, startupGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != startupMemoryLimit {
		t.Errorf("memory limit during start-up: got %d, want %d", got, startupMemoryLimit)
	}
	restore()
	if got := gcPercent(); got != 100 {
		t.Errorf("GOGC after restore: got %d, want 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit after restore: got %d, want %d", got, limit)
	}

	// The operator's setting wins.
	t.Setenv("GOGC", "50")
	restore = startupGC()
	if got := gcPercent(); got != 100 {
		t.Errorf("GOGC during start-up with GOGC set: got %d, want it left at 100", got)
	}
	restore()
}
