package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/drivers/sim"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/broker"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
	"github.com/femtoclaw/femtoclaw/journal"
)

// BenchmarkPollCycle runs one poll cycle of a device of 10,000 holding
// registers on the bulk simulator, over Modbus TCP on loopback: the read,
// the live values, the telemetry payload and its way through the journal's
// outbox to the embedded broker, acknowledged. It is the hot path of a
// gateway polling many tags; profile it with -cpuprofile and -memprofile.
func BenchmarkPollCycle(b *testing.B) {
	const registers = 10000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	bulk, err := sim.ListenBulk(sim.BulkOptions{Devices: 1, Registers: registers, Step: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer bulk.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bulk.Run(ctx)

	cfg := drivers.DeviceConfig{Name: "dev0", Driver: "modbus", URL: "tcp://" + bulk.Addrs()[0].String(), Unit: 1,
		Poll: drivers.Duration(time.Second), Timeout: drivers.Duration(time.Second)}
	for i := range registers {
		cfg.Points = append(cfg.Points, drivers.PointConfig{Name: fmt.Sprintf("r%d", i), Register: "holding", Address: uint16(i), Type: "uint16"})
	}
	dev, err := drivers.Open(cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()

	br, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	j, err := journal.Open(filepath.Join(b.TempDir(), "journal"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ob, err := j.Outbox(telemetryOutbox, journal.OutboxLimit{})
	if err != nil {
		b.Fatal(err)
	}
	pub := telemetry.New(telemetry.Options{Broker: "tcp://" + br.Addr(), Prefix: "femtoclaw/bench", Logger: quiet, Outbox: telemetry.NewJournalOutbox(ob)})
	done := make(chan struct{})
	go func() { pub.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for !pub.Stats().Connected {
		time.Sleep(time.Millisecond)
	}

	p := &poller{cfg: cfg, dev: dev, live: agent.NewLive(cfg), pub: pub, logger: quiet}
	failing := false
	base := pub.Stats().Published
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.poll(ctx, &failing)
	}
	for pub.Stats().Published < base+uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	if failing {
		b.Fatal("the device did not answer")
	}
	b.ReportMetric(float64(registers), "tags/cycle")
}
