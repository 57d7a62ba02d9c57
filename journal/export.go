package journal

import (
	"fmt"
	"strconv"
	"time"
)

// Since selects the records from a seq or a time on; the zero Since
// selects every record.
type Since struct {
	// Seq is the first seq selected; 0 means 1.
	Seq uint64
	// Time, if not zero, selects only records appended at or after it.
	Time time.Time
}

// ParseSince reads a Since as a user gives it: empty for every record, a
// decimal seq, or an RFC 3339 time such as 2026-03-01T08:00:00Z.
func ParseSince(s string) (Since, error) {
	if s == "" {
		return Since{}, nil
	}
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
		return Since{Seq: seq}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Since{}, fmt.Errorf("journal: since %q: want a seq or an RFC 3339 time such as 2026-03-01T08:00:00Z", s)
	}
	return Since{Time: t}, nil
}

// String returns s as ParseSince reads it.
func (s Since) String() string {
	if !s.Time.IsZero() {
		return s.Time.Format(time.RFC3339Nano)
	}
	if s.Seq == 0 {
		return ""
	}
	return strconv.FormatUint(s.Seq, 10)
}

// ScanSince is Scan over the records s selects. Records are in seq order;
// a record stamped before s.Time is skipped even if a later one was
// stamped earlier still (a clock stepped back), so every record at or
// after s.Time is seen.
func (j *Journal) ScanSince(s Since, fn func(Record) error) error {
	return j.Scan(s.Seq, func(r Record) error {
		if !s.Time.IsZero() && r.Time.Before(s.Time) {
			return nil
		}
		return fn(r)
	})
}
