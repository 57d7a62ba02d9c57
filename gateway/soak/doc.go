// Package soak holds the soak test of the real binary: the gateway runs for
// a bounded time (SOAK_FOR, default 10m) against the plant simulator over
// Modbus, Debian's mosquitto, a local server playing recorded model
// transcripts and an operator client, all on loopback and each in its own
// process where it has one, while a fault injector takes turns at:
//
//	plc_cut         cut every PLC connection (netfault) and restore it
//	plc_delay       delay the PLC's answers beyond the gateway's timeout
//	plc_truncate    cut the PLC's answers in half and close the connection
//	broker_restart  stop mosquitto (SIGTERM) and start it again
//	gateway_sigterm stop the gateway cleanly and start it again
//	gateway_sigkill kill the gateway and start it again
//	disk_full       fill the journal's filesystem (a tmpfs) past its reserve
//	                and free it again
//
// and the model server answers, in turn, normally, with 5xx, with timeouts,
// with malformed and with hallucinated tool calls.
//
// At the end it prints what was requested, acknowledged, executed and
// denied, how many times each fault happened, the gateway's goroutines and
// memory at the start and end of each run, and checks (failing on any
// broken one): no acknowledged actuation missing from the journal, no write
// at the plant without a journaled intent, no telemetry message lost inside
// a gateway run, journal verify, a disk-full journal refusing actuations
// while telemetry goes on, and the gateway's growth within a stated bound.
//
// The test is skipped unless FEMTOCLAW_SOAK is set; `make soak` sets it.
// FEMTOCLAW_BIN names the binary (default: built into a temporary dir). The
// disk-full fault needs root (to mount a tmpfs); without it the fault is
// skipped and the report says so.
package soak
