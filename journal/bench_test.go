package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchDirEnv names a directory for the benchmarks' stores, so that they
// can be run on the disk a gateway will use; default a temporary dir.
const benchDirEnv = "FEMTOCLAW_BENCH_DIR"

func benchDir(b *testing.B) string {
	if d := os.Getenv(benchDirEnv); d != "" {
		dir, err := os.MkdirTemp(d, "journal-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkAppendSync measures durable appends (synced intents) on the
// real filesystem with 1, 8 and 64 concurrent writers; with more writers,
// fsyncs are shared.
func BenchmarkAppendSync(b *testing.B) {
	body := map[string]any{"capability": "boiler.setpoint", "value": 21.5, "unit": "degC"}
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			j, err := Open(benchDir(b), Options{})
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
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "intents/s")
			if seq, _ := j.Last(); seq != uint64(b.N) {
				b.Fatalf("Last() = %d, want %d", seq, b.N)
			}
		})
	}
}

// BenchmarkFsync measures the disk under the journal: one 512-byte write
// and an fsync of a file in the same kind of dir, as a WAL sync does. Its
// ns/op bounds a single writer's AppendSync from below.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(benchDir(b), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
