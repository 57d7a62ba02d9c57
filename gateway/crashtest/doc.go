// Package crashtest holds the crash test of the real binary: the gateway
// runs against the plant simulator, each in its own process, while clients
// issue actuations through the local API; the gateway is killed with SIGKILL
// at random moments and restarted. After each kill the journal's chain is
// verified; at the end internal/audit checks the journal, the simulator's log
// of the writes it received and the clients' acknowledged calls against each
// other.
//
// The test is skipped unless FEMTOCLAW_CRASHTEST is set; `make crashtest`
// sets it. CRASHTEST_ACTUATIONS (default 1000) and CRASHTEST_KILLS (default
// 20) size the run; FEMTOCLAW_BIN names the binary (default: built into a
// temporary directory).
package crashtest
