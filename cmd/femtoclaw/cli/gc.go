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

// startupGC sets the collector's target to startupGCPercent and returns the
// function that puts back the one before. It leaves the collector alone when
// GOGC is set in the environment: the operator's setting wins.
func startupGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(startupGCPercent)
	return func() { debug.SetGCPercent(prev) }
}
