package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/journal"
)

// How recovery resolved an intent that had no outcome.
const (
	// RecoveredApplied: the device holds what the intent was to write.
	RecoveredApplied = "applied"
	// RecoveredNotApplied: the device holds something else.
	RecoveredNotApplied = "not_applied"
	// RecoveredInDoubt: the device could not be read, or what it holds
	// cannot tell whether the action ran.
	RecoveredInDoubt = "in_doubt"
)

// recoverReadTimeout bounds the read-back of one intent's points.
const recoverReadTimeout = 5 * time.Second

// Recovered is how one open intent was resolved.
type Recovered struct {
	Intent  uint64 // the intent's seq
	Outcome uint64 // the seq of the outcome recovery appended
	As      string // RecoveredApplied, RecoveredNotApplied or RecoveredInDoubt
	Detail  string
}

// recoveredOutcome is the body of the outcome recovery appends. It has the
// fields of an ordinary outcome plus Recovered.
type recoveredOutcome struct {
	OK        bool           `json:"ok"`
	Recovered string         `json:"recovered"`
	ReadBack  *drivers.Value `json:"read_back,omitempty"`
	Error     string         `json:"error,omitempty"`
	Detail    string         `json:"detail,omitempty"`
}

// intentAction is the journal form of an authorised action, as far as
// recovery needs it.
type intentAction struct {
	Capability string           `json:"capability"`
	Kind       string           `json:"kind"`
	Device     string           `json:"device"`
	Point      string           `json:"point"`
	Value      *drivers.Encoded `json:"value"`
	Restore    *drivers.Encoded `json:"restore"`
	Steps      []struct {
		Device string          `json:"device"`
		Point  string          `json:"point"`
		Value  drivers.Encoded `json:"value"`
	} `json:"steps"`
}

// Recover resolves every intent in j that has no outcome: the actions a
// crash interrupted between their intent and their outcome. It reads each
// intent's points back from devices and appends, durably, an outcome that
// refers to the intent and says whether the action was applied, not applied
// or is in doubt. It never writes to a device: an interrupted action is not
// executed again. The gateway calls it after the devices are built and
// before anything can call them. It fails only if the journal fails.
func Recover(ctx context.Context, j *journal.Journal, devices map[string]drivers.Device, logger *slog.Logger) ([]Recovered, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	open, err := j.OpenIntents()
	if err != nil {
		return nil, fmt.Errorf("gateway: recover: %w", err)
	}
	var out []Recovered
	for _, r := range open {
		body := resolveIntent(ctx, r, devices)
		rec, err := j.AppendSync(journal.Entry{Kind: journal.KindOutcome, Principal: r.Principal, Episode: r.Episode, Ref: r.Seq, Body: body})
		if err != nil {
			return out, fmt.Errorf("gateway: recover intent %d: %w", r.Seq, err)
		}
		res := Recovered{Intent: r.Seq, Outcome: rec.Seq, As: body.Recovered, Detail: body.Detail}
		out = append(out, res)
		level := slog.LevelWarn
		if body.Recovered == RecoveredInDoubt {
			level = slog.LevelError
		}
		logger.Log(ctx, level, "interrupted action resolved; not executed again",
			"intent", r.Seq, "outcome", rec.Seq, "recovered", body.Recovered, "detail", body.Detail, "err", body.Error)
	}
	return out, nil
}

// resolveIntent reads back what the intent r was to write.
func resolveIntent(ctx context.Context, r journal.Record, devices map[string]drivers.Device) recoveredOutcome {
	var body struct {
		Action *intentAction `json:"action"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Action == nil {
		return recoveredOutcome{Recovered: RecoveredInDoubt, Error: fmt.Sprintf("intent body unreadable: %v", err)}
	}
	a := body.Action
	switch a.Kind {
	case "write":
		if a.Value == nil {
			return recoveredOutcome{Recovered: RecoveredInDoubt, Error: "intent has no value"}
		}
		v, match, err := readMatch(ctx, devices, a.Device, a.Point, *a.Value)
		if err != nil {
			return recoveredOutcome{Recovered: RecoveredInDoubt, Error: err.Error()}
		}
		if match {
			return recoveredOutcome{OK: true, Recovered: RecoveredApplied, ReadBack: &v}
		}
		return recoveredOutcome{Recovered: RecoveredNotApplied, ReadBack: &v}
	case "pulse":
		if a.Value == nil || a.Restore == nil {
			return recoveredOutcome{Recovered: RecoveredInDoubt, Error: "intent has no value or restore value"}
		}
		v, on, err := readMatch(ctx, devices, a.Device, a.Point, *a.Value)
		if err != nil {
			return recoveredOutcome{Recovered: RecoveredInDoubt, Error: err.Error()}
		}
		if on {
			return recoveredOutcome{Recovered: RecoveredApplied, ReadBack: &v,
				Detail: "the pulse is still on and was not restored: the point keeps the pulse value until someone resets it"}
		}
		return recoveredOutcome{Recovered: RecoveredInDoubt, ReadBack: &v,
			Detail: "the point does not hold the pulse value; whether the pulse ran cannot be told"}
	case "sequence":
		// Only the last write to each point says what the point should hold.
		type target struct{ device, point string }
		last := map[target]drivers.Encoded{}
		var order []target
		for _, s := range a.Steps {
			t := target{s.Device, s.Point}
			if _, seen := last[t]; !seen {
				order = append(order, t)
			}
			last[t] = s.Value
		}
		matched := 0
		for _, t := range order {
			_, match, err := readMatch(ctx, devices, t.device, t.point, last[t])
			if err != nil {
				return recoveredOutcome{Recovered: RecoveredInDoubt, Error: err.Error()}
			}
			if match {
				matched++
			}
		}
		switch matched {
		case len(order):
			return recoveredOutcome{OK: true, Recovered: RecoveredApplied}
		case 0:
			return recoveredOutcome{Recovered: RecoveredNotApplied}
		}
		return recoveredOutcome{Recovered: RecoveredInDoubt,
			Detail: fmt.Sprintf("%d of %d points hold the sequence's values: partly applied", matched, len(order))}
	}
	return recoveredOutcome{Recovered: RecoveredInDoubt, Error: fmt.Sprintf("action of kind %q cannot be read back", a.Kind)}
}

// readMatch reads device.point and reports whether it holds want: the same
// wire form, or the same engineering value up to rounding.
func readMatch(ctx context.Context, devices map[string]drivers.Device, device, point string, want drivers.Encoded) (drivers.Value, bool, error) {
	d, ok := devices[device]
	if !ok {
		return drivers.Value{}, false, fmt.Errorf("no device %q", device)
	}
	rctx, cancel := context.WithTimeout(ctx, recoverReadTimeout)
	defer cancel()
	rs, err := d.Read(rctx, []string{point})
	if err != nil {
		return drivers.Value{}, false, fmt.Errorf("device %q: read %s: %w", device, point, err)
	}
	if len(rs) != 1 || rs[0].Quality != drivers.QualityGood {
		return drivers.Value{}, false, fmt.Errorf("device %q: read %s: no good reading", device, point)
	}
	got := rs[0].Value
	if e, err := d.Resolve(point, got); err == nil && len(want.Wire) > 0 {
		return got, bytes.Equal(e.Wire, want.Wire), nil
	}
	return got, sameValue(got, want.Value), nil
}

// sameValue reports whether a and b are equal, numbers up to rounding.
func sameValue(a, b drivers.Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == drivers.KindNumber {
		return math.Abs(a.Number-b.Number) <= 1e-9+1e-6*math.Max(math.Abs(a.Number), math.Abs(b.Number))
	}
	return a == b
}
