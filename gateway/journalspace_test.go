package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestJournalSpace(t *testing.T) {
	var free atomic.Uint64
	free.Store(100 << 20)
	s := newJournalSpace("/data", 16<<20, slog.New(slog.DiscardHandler))
	s.free = func(string) (uint64, error) { return free.Load(), nil }
	if err := s.check(); err != nil {
		t.Fatalf("100 MiB free: got %v, want nil", err)
	}
	var (
		mu     sync.Mutex
		states []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(sub string, b []byte) {
			var st journalStatus
			if sub != JournalStatusSubtopic || json.Unmarshal(b, &st) != nil {
				t.Errorf("published %s %s", sub, b)
			}
			mu.Lock()
			states = append(states, st.State)
			mu.Unlock()
		})
	}()
	waitStates := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			got := strings.Join(states, ",")
			mu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("published states: got %q, want %q", got, want)
			}
		}
	}
	waitStates("ok")
	free.Store(1 << 20)
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "below the 16.0 MiB reserve") {
		t.Errorf("1 MiB free: got %v, want the reserve error", err)
	}
	waitStates("ok,disk_full")
	free.Store(50 << 20)
	waitStates("ok,disk_full,ok")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}
