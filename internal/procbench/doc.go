// Package procbench measures the real femtoclaw binary as a process: the
// time from exec to ready, the idle memory with the demo config, and the
// CPU, memory, poll-cycle overruns and write latency of a gateway polling
// many Modbus tags from the bulk simulator (`femtoclaw sim --bulk`), which
// runs as a process of its own.
//
// It holds tests only, and they skip unless FEMTOCLAW_BENCH=1 and
// FEMTOCLAW_BIN names the binary; `make bench` runs them through
// scripts/bench.sh. Each figure is printed as a line
//
//	BENCH<TAB>figure<TAB>value<TAB>target<TAB>pass|FAIL
//
// and appended to the file BENCH_TSV names, when set. A figure that misses
// its target does not fail the test: the targets are floors to report, not
// timed assertions.
package procbench
