package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// writeLog is a slog.Handler that passes every record on to next and, for
// each "sim write" record of the simulator, appends one JSON line to a file
// and fsyncs it before the simulator answers the write. The crash test reads
// the file to learn every write that reached the plant.
type writeLog struct {
	next  slog.Handler
	attrs []slog.Attr
	sink  *writeLogFile
}

type writeLogFile struct {
	mu sync.Mutex
	f  *os.File
}

// writeLogLine is one line of the write log.
type writeLogLine struct {
	Time    time.Time `json:"time"`
	Table   string    `json:"table"`
	Address uint64    `json:"address"`
	Values  []uint64  `json:"values"`
	Remote  string    `json:"remote"`
}

func newWriteLog(path string, next slog.Handler) (*writeLog, func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: write log: %w", err)
	}
	return &writeLog{next: next, sink: &writeLogFile{f: f}}, f.Close, nil
}

func (h *writeLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *writeLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "sim write" {
		line := writeLogLine{Time: r.Time.UTC()}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "table":
				line.Table = a.Value.String()
			case "address":
				switch a.Value.Kind() {
				case slog.KindUint64:
					line.Address = a.Value.Uint64()
				case slog.KindInt64:
					line.Address = uint64(a.Value.Int64())
				}
			case "values":
				if vs, ok := a.Value.Any().([]uint16); ok {
					for _, v := range vs {
						line.Values = append(line.Values, uint64(v))
					}
				}
			case "remote":
				line.Remote = a.Value.String()
			}
			return true
		})
		if err := h.sink.write(line); err != nil {
			return err
		}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (s *writeLogFile) write(line writeLogLine) error {
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("sim: write log: %w", err)
	}
	return s.f.Sync()
}

func (h *writeLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &writeLog{next: h.next.WithAttrs(as), attrs: append(h.attrs, as...), sink: h.sink}
}

func (h *writeLog) WithGroup(name string) slog.Handler {
	return &writeLog{next: h.next.WithGroup(name), attrs: h.attrs, sink: h.sink}
}
