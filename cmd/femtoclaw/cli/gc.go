package cli

import (
	"os"
	"runtime/debug"
)

// startupGCPercent is the garbage collector's target (GOGC) while a command
// starts. Start-up allocates a few megabytes that are mostly garbage once
// it is done (the config's schema compile and YAML decode, Pebble's open):
// at the default of 100 the collector runs once or twice over that heap,
// about a fifth of `femtoclaw check`'s CPU time. At 400 it does not run
// before the first heap goal of 16 MiB, and it still runs, in proportion,
// for a config large enough to need more.
const startupGCPercent = 400

// startupMemoryLimit bounds the memory start-up may take under the raised
// target: a config whose decode keeps tens of megabytes live would
// otherwise let the heap grow to five times that before a collection.
const startupMemoryLimit = 64 << 20

// startupGC sets the collector's target to startupGCPercent, under
// startupMemoryLimit, and returns the function that puts back the ones
// before. It leaves the collector alone when GOGC or GOMEMLIMIT is set in
// the environment: the operator's setting wins.
func startupGC() (restore func()) {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if _, set := os.LookupEnv(v); set {
			return func() {}
		}
	}
	prevPercent := debug.SetGCPercent(startupGCPercent)
	prevLimit := debug.SetMemoryLimit(startupMemoryLimit)
	return func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}
}
