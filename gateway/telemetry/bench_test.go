package telemetry

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/broker"
	"github.com/femtoclaw/femtoclaw/journal"
)

// BenchmarkThroughput publishes device telemetry (10 points per message)
// through the journal's outbox to the embedded broker on loopback and
// waits until the broker has acknowledged every message. It reports
// messages and points per second, end to end.
func BenchmarkThroughput(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "journal"
		}
		b.Run(name, func(b *testing.B) {
			br, err := startBenchBroker()
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			opts := Options{Broker: "tcp://" + br.Addr(), Prefix: prefix, Queue: 1 << 20}
			if durable {
				j, err := journal.Open(filepath.Join(b.TempDir(), "journal"), journal.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer j.Close()
				o, err := j.Outbox("telemetry", journal.OutboxLimit{MaxCount: 1 << 20, MaxBytes: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				opts.Outbox = NewJournalOutbox(o)
			}
			p := New(opts)
			stop := runBench(p)
			defer stop()
			const points = 10
			dev := drivers.DeviceConfig{Name: "tank"}
			rs := make([]drivers.Reading, points)
			for i := range rs {
				name := "p" + strconv.Itoa(i)
				dev.Points = append(dev.Points, drivers.PointConfig{Name: name, Unit: "%"})
				rs[i] = drivers.Reading{Point: name, Value: drivers.Number(float64(i) + 0.5), Quality: drivers.QualityGood}
			}
			for !p.Stats().Connected {
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := p.PublishDevice(NewDevicePayload(dev, uint64(i+1), start, rs), false); err != nil {
					b.Fatal(err)
				}
			}
			for p.Stats().Published < uint64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "msgs/s")
			b.ReportMetric(float64(b.N*points)/el, "points/s")
		})
	}
}

func startBenchBroker() (*broker.Broker, error) { return broker.Start("127.0.0.1:0", nil) }

// runBench runs p until the returned function is called.
func runBench(p *Publisher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}
