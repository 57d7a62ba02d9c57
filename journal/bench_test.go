package journal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendSync measures durable appends on the real filesystem with
// 1, 8 and 64 concurrent writers; with more writers, fsyncs are shared.
func BenchmarkAppendSync(b *testing.B) {
	body := map[string]any{"capability": "boiler.setpoint", "value": 21.5, "unit": "degC"}
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			j, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			var (
				next atomic.Int64
				wg   sync.WaitGroup
			)
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := j.AppendSync(Entry{Kind: KindIntent, Principal: "agent", Body: body}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			if seq, _ := j.Last(); seq != uint64(b.N) {
				b.Fatalf("Last() = %d, want %d", seq, b.N)
			}
		})
	}
}
