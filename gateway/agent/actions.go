package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/journal"
)

// restoreTimeout bounds the write that ends a pulse, which is made even
// when the call's context is done.
const restoreTimeout = 5 * time.Second

// pulseOutcome is the journaled outcome of a pulse: whether the point was
// set, and whether it was restored.
type pulseOutcome struct {
	OK       bool              `json:"ok"`
	Reason   capability.Reason `json:"reason,omitempty"`
	Error    string            `json:"error,omitempty"`
	Set      bool              `json:"set"`
	Restored bool              `json:"restored"`
	HeldMS   int64             `json:"held_ms"`
}

// stepOutcome is the outcome of one write of a sequence.
type stepOutcome struct {
	Device string            `json:"device"`
	Point  string            `json:"point"`
	OK     bool              `json:"ok"`
	Reason capability.Reason `json:"reason,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// sequenceOutcome is the journaled outcome of a sequence: one entry per
// step attempted; the sequence stops at the first that fails.
type sequenceOutcome struct {
	OK     bool              `json:"ok"`
	Reason capability.Reason `json:"reason,omitempty"`
	Steps  []stepOutcome     `json:"steps"`
}

// pulse sets a boolean point, holds it for the authorised duration and
// restores it. The intent is durable before the point is set; the restore
// is attempted even when ctx ends early, so that a cancelled call never
// leaves the point on.
func (c *Core) pulse(ctx context.Context, p capability.Principal, episode string, decision uint64, a *capability.Authorized, log *slog.Logger) capability.Result {
	intent, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindIntent, Principal: string(p), Episode: episode, Ref: decision, Body: intentBody{Decision: decision, Action: a}})
	if err != nil {
		log.Error("journal intent failed; not actuating", "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}
	out := pulseOutcome{}
	dev, ok := c.devices[a.Device()]
	if !ok {
		out.Reason, out.Error = capability.ReasonDeviceUnavailable, "no such device "+a.Device()
	} else if err := dev.Write(ctx, a.Point(), a.Value()); err != nil {
		out.Reason, out.Error = driverReason(err), err.Error()
	} else {
		out.Set = true
		start := time.Now()
		t := time.NewTimer(a.Duration())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
		err := dev.Write(rctx, a.Point(), a.Restore())
		cancel()
		out.HeldMS = time.Since(start).Milliseconds()
		switch {
		case err != nil:
			out.Reason, out.Error = driverReason(err), "restore: "+err.Error()
		case ctx.Err() != nil:
			out.Restored = true
			out.Reason, out.Error = capability.ReasonTimeout, "cut short: "+ctx.Err().Error()
		default:
			out.Restored, out.OK = true, true
		}
	}
	if _, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindOutcome, Principal: string(p), Episode: episode, Ref: intent.Seq, Body: out}); err != nil {
		log.Error("journal outcome failed", "seq", intent.Seq, "err", err)
	}
	c.publish("actuations", ActuationEvent{
		Seq: intent.Seq, Time: c.now().UTC(), Principal: string(p), Capability: a.Capability(),
		Device: a.Device(), Point: a.Point(), Value: a.Value().Value, OK: out.OK, Reason: out.Reason,
		Duration: float64(out.HeldMS),
	})
	if !out.OK {
		log.Warn("pulse failed", "device", a.Device(), "point", a.Point(), "reason", string(out.Reason), "err", out.Error, "restored", out.Restored)
		return capability.Failed(out.Reason)
	}
	log.Info("pulse done", "device", a.Device(), "point", a.Point(), "held_ms", out.HeldMS, "seq", intent.Seq)
	return capability.Result{OK: true, Value: map[string]any{"pulsed": a.Device() + "." + a.Point(), "held_ms": out.HeldMS}}
}

// sequence carries out a sequence's writes in order under one intent,
// stopping at the first that fails.
func (c *Core) sequence(ctx context.Context, p capability.Principal, episode string, decision uint64, a *capability.Authorized, log *slog.Logger) capability.Result {
	intent, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindIntent, Principal: string(p), Episode: episode, Ref: decision, Body: intentBody{Decision: decision, Action: a}})
	if err != nil {
		log.Error("journal intent failed; not actuating", "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}
	out := sequenceOutcome{OK: true}
	written := map[string]drivers.Value{}
	for _, st := range a.Steps() {
		so := stepOutcome{Device: st.Device, Point: st.Point, OK: true}
		dev, ok := c.devices[st.Device]
		if !ok {
			so = stepOutcome{Device: st.Device, Point: st.Point, Reason: capability.ReasonDeviceUnavailable, Error: "no such device " + st.Device}
		} else if err := dev.Write(ctx, st.Point, st.Value); err != nil {
			so = stepOutcome{Device: st.Device, Point: st.Point, Reason: driverReason(err), Error: err.Error()}
		}
		out.Steps = append(out.Steps, so)
		if !so.OK {
			out.OK, out.Reason = false, so.Reason
			break
		}
		written[st.Device+"."+st.Point] = st.Value.Value
		c.publish("actuations", ActuationEvent{
			Seq: intent.Seq, Time: c.now().UTC(), Principal: string(p), Capability: a.Capability(),
			Device: st.Device, Point: st.Point, Value: st.Value.Value, OK: true,
		})
	}
	if _, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindOutcome, Principal: string(p), Episode: episode, Ref: intent.Seq, Body: out}); err != nil {
		log.Error("journal outcome failed", "seq", intent.Seq, "err", err)
	}
	if !out.OK {
		log.Warn("sequence failed", "step", len(out.Steps), "reason", string(out.Reason))
		return capability.Failed(out.Reason)
	}
	log.Info("sequence done", "steps", len(out.Steps), "seq", intent.Seq)
	return capability.Result{OK: true, Value: written}
}
