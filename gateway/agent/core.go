// Package agent is the agent core: the one path from a proposed tool call to
// a device, and the episodes that feed it from a model.
//
// Every call, whoever makes it, takes the same path through Core.Call:
//
//	proposal   journaled
//	decision   capability.Gate.Decide, journaled
//	intent     journaled and fsynced        (writes only; before the device is touched)
//	actuation  drivers.Device.Write, then a read-back
//	outcome    journaled and fsynced
//	events     decision and actuation published to MQTT
//
// There is no second path to a device.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/journal"
)

// Events receives what the core reports for dashboards; the telemetry
// publisher implements it. Publish must not block.
type Events interface {
	Publish(subtopic string, payload []byte)
}

// Core executes calls through the gate and the journal.
type Core struct {
	gate    *capability.Gate
	journal *journal.Journal
	devices map[string]drivers.Device
	points  map[string]*drivers.Index // device -> its points, for their units
	live    *Live
	events  Events
	obs     Observer // nil: none
	logger  *slog.Logger
	now     func() time.Time

	// decideMu makes snapshot, decision and admission one step, so that
	// two concurrent calls cannot both pass one rate limit.
	decideMu  sync.Mutex
	usage     *usage
	approvals *approvals
	writable  func() error
}

// CoreOptions configures a Core.
type CoreOptions struct {
	Gate    *capability.Gate
	Journal *journal.Journal
	Devices map[string]drivers.Device
	Configs []drivers.DeviceConfig
	Live    *Live
	Events  Events // may be nil
	// Observer, when set, is told of decisions, device requests, episodes
	// and model requests (see observe.go).
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
	// ApprovalTTL is how long a pending call waits for an operator's
	// approval. Zero: DefaultApprovalTTL.
	ApprovalTTL time.Duration
	// Writable, when set, is asked before every call: an error refuses the
	// call as journal_unavailable before anything is journaled (the
	// journal's disk is full, say). Nil: always writable.
	Writable func() error
}

// NewCore builds the core.
func NewCore(o CoreOptions) *Core {
	c := &Core{
		gate:    o.Gate,
		journal: o.Journal,
		devices: o.Devices,
		points:  make(map[string]*drivers.Index, len(o.Configs)),
		live:    o.Live,
		events:  o.Events,
		obs:     o.Observer,
		logger:  o.Logger,
		now:     o.Now,

		writable: o.Writable,
	}
	for _, d := range o.Configs {
		c.points[d.Name] = drivers.NewIndex(d)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.obs != nil {
		c.devices = observe(c.devices, c.obs)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.live == nil {
		c.live = NewLive()
	}
	c.approvals = newApprovals(o.ApprovalTTL)
	c.usage = newUsage()
	if err := c.restoreUsage(); err != nil {
		c.logger.Error("restore rate and cooldown counters from the journal", "err", err)
	}
	return c
}

// Gate returns the gate the core decides with.
func (c *Core) Gate() *capability.Gate { return c.gate }

// Journal returns the journal the core records to, for reading.
func (c *Core) Journal() *journal.Journal { return c.journal }

// DecisionEvent is published for every decision.
type DecisionEvent struct {
	Seq        uint64            `json:"seq"`
	Time       time.Time         `json:"ts"`
	Principal  string            `json:"principal"`
	Episode    string            `json:"episode,omitempty"`
	Capability string            `json:"capability"`
	Args       string            `json:"args"`
	Outcome    string            `json:"outcome"`
	Reason     capability.Reason `json:"reason,omitempty"`
	Detail     string            `json:"detail,omitempty"`
}

// ActuationEvent is published for every executed action.
type ActuationEvent struct {
	Seq        uint64            `json:"seq"` // the intent's sequence number
	Time       time.Time         `json:"ts"`
	Principal  string            `json:"principal"`
	Capability string            `json:"capability"`
	Device     string            `json:"device"`
	Point      string            `json:"point"`
	Value      drivers.Value     `json:"value"`
	ReadBack   *drivers.Value    `json:"read_back,omitempty"`
	OK         bool              `json:"ok"`
	Reason     capability.Reason `json:"reason,omitempty"`
	Duration   float64           `json:"duration_ms"`
}

// decisionBody is the journaled decision.
type decisionBody struct {
	capability.Decision
	DryRun bool `json:"dry_run,omitempty"`
}

// intentBody is the journaled intent of a write.
type intentBody struct {
	Decision uint64                 `json:"decision"`
	Action   *capability.Authorized `json:"action"`
}

// outcomeBody is the journaled outcome of an action.
type outcomeBody struct {
	OK       bool              `json:"ok"`
	Reason   capability.Reason `json:"reason,omitempty"`
	Error    string            `json:"error,omitempty"`
	ReadBack *drivers.Value    `json:"read_back,omitempty"`
	Values   map[string]any    `json:"values,omitempty"`
}

// CallOptions modify one call.
type CallOptions struct {
	// DryRun decides and journals the decision but executes nothing.
	DryRun bool
}

// Call takes one proposed call from principal p through the gate, the journal
// and, if allowed, a device. The result is what the caller may see: a fixed
// reason code on failure, never a raw driver error.
func (c *Core) Call(ctx context.Context, p capability.Principal, episode string, call capability.Call, opts CallOptions) capability.Result {
	log := c.logger.With("principal", string(p), "capability", call.Capability)
	if c.writable != nil {
		if err := c.writable(); err != nil {
			log.Warn("journal cannot take the call; refusing it", "err", err)
			return capability.Failed(capability.ReasonJournalUnavailable)
		}
	}
	if _, err := c.journal.Append(journal.Entry{Kind: journal.KindProposal, Principal: string(p), Episode: episode, Body: call}); err != nil {
		log.Error("journal proposal failed; refusing the call", "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}

	return c.decideAndRun(ctx, p, episode, call, opts, nil, log)
}

// decideAndRun decides a call (with an operator's approval, for a pending
// call being approved), journals the decision and carries out what it
// allows.
func (c *Core) decideAndRun(ctx context.Context, p capability.Principal, episode string, call capability.Call, opts CallOptions, approval *capability.Approval, log *slog.Logger) capability.Result {
	c.decideMu.Lock()
	snap := c.snapshot(call.Capability, approval)
	d := c.gate.Decide(p, call, snap)
	if d.Outcome == capability.Allow && !opts.DryRun {
		c.usage.admit(d.Capability, p, snap.Time, c.gate.Horizon(d.Capability))
	}
	c.decideMu.Unlock()
	if c.obs != nil {
		c.obs.Decided(d.Outcome, d.Reason)
	}
	drec, err := c.journal.Append(journal.Entry{Kind: journal.KindDecision, Principal: string(p), Episode: episode, Body: decisionBody{d, opts.DryRun}})
	if err != nil {
		log.Error("journal decision failed; refusing the call", "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}
	c.publish("decisions", DecisionEvent{
		Seq: drec.Seq, Time: snap.Time, Principal: string(p), Episode: episode,
		Capability: call.Capability, Args: call.Args, Outcome: d.Outcome.String(),
		Reason: d.Reason, Detail: d.Detail,
	})
	if d.Outcome == capability.Pending {
		res := d.Result()
		if !opts.DryRun {
			var pc PendingCall
			pc, res.ID = c.approvals.add(drec.Seq, p, episode, call, d)
			c.publishApproval("pending", pc, "", nil)
		}
		log.Info("call pending approval", "id", res.ID, "digest", d.Digest)
		return res
	}
	if d.Outcome != capability.Allow || d.Action == nil {
		log.Info("call denied", "reason", string(d.Reason), "detail", d.Detail)
		return d.Result()
	}
	log.Debug("call allowed", "seq", drec.Seq, "dry_run", opts.DryRun)
	if opts.DryRun {
		res := capability.Result{OK: true, DryRun: true}
		if d.Action.Kind() == capability.KindWrite {
			res.Value, res.Unit = d.Action.Value().Value, c.unit(d.Action.Device(), d.Action.Point())
		}
		return res
	}

	switch d.Action.Kind() {
	case capability.KindRead:
		return c.read(ctx, p, episode, drec.Seq, d.Action, log)
	case capability.KindWrite:
		return c.write(ctx, p, episode, drec.Seq, d.Action, log)
	case capability.KindPulse:
		return c.pulse(ctx, p, episode, drec.Seq, d.Action, log)
	case capability.KindSequence:
		return c.sequence(ctx, p, episode, drec.Seq, d.Action, log)
	}
	log.Error("allowed action of unknown kind", "kind", string(d.Action.Kind()))
	return capability.Failed(capability.ReasonDeviceError)
}

// read performs an authorised read. Reads touch nothing, so they need no
// intent; their outcome is journaled like any other.
func (c *Core) read(ctx context.Context, p capability.Principal, episode string, decision uint64, a *capability.Authorized, log *slog.Logger) capability.Result {
	byDevice := map[string][]string{}
	var order []string
	for _, r := range a.Reads() {
		if _, seen := byDevice[r.Device]; !seen {
			order = append(order, r.Device)
		}
		byDevice[r.Device] = append(byDevice[r.Device], r.Point)
	}
	values := map[string]any{}
	var reason capability.Reason
	var errText string
	for _, dev := range order {
		d, ok := c.devices[dev]
		if !ok {
			reason, errText = capability.ReasonDeviceUnavailable, "no such device "+dev
			break
		}
		rs, err := d.Read(ctx, byDevice[dev])
		if err != nil {
			reason, errText = driverReason(err), err.Error()
			break
		}
		c.live.Update(dev, rs)
		for _, r := range rs {
			if r.Quality != drivers.QualityGood {
				values[dev+"."+r.Point] = map[string]any{"quality": r.Quality.String()}
				continue
			}
			values[dev+"."+r.Point] = map[string]any{"value": r.Value, "unit": c.unit(dev, r.Point)}
		}
	}
	out := outcomeBody{OK: reason == capability.ReasonNone, Reason: reason, Error: errText, Values: values}
	if _, err := c.journal.Append(journal.Entry{Kind: journal.KindOutcome, Principal: string(p), Episode: episode, Ref: decision, Body: out}); err != nil {
		log.Error("journal read outcome failed", "err", err)
	}
	if reason != capability.ReasonNone {
		log.Warn("read failed", "reason", string(reason), "err", errText)
		return capability.Failed(reason)
	}
	return capability.Result{OK: true, Value: values}
}

// write performs an authorised write: intent durable first, then the device,
// then the outcome.
func (c *Core) write(ctx context.Context, p capability.Principal, episode string, decision uint64, a *capability.Authorized, log *slog.Logger) capability.Result {
	intent, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindIntent, Principal: string(p), Episode: episode, Ref: decision, Body: intentBody{Decision: decision, Action: a}})
	if err != nil {
		// Fail closed: no durable intent, no actuation.
		log.Error("journal intent failed; not actuating", "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}
	enc := a.Value()
	ev := ActuationEvent{
		Seq: intent.Seq, Time: c.now().UTC(), Principal: string(p), Capability: a.Capability(),
		Device: a.Device(), Point: a.Point(), Value: enc.Value,
	}
	start := time.Now()
	out := outcomeBody{OK: true}
	dev, ok := c.devices[a.Device()]
	switch {
	case !ok:
		out = outcomeBody{Reason: capability.ReasonDeviceUnavailable, Error: "no such device " + a.Device()}
	default:
		if err := dev.Write(ctx, a.Point(), enc); err != nil {
			out = outcomeBody{Reason: driverReason(err), Error: err.Error()}
			break
		}
		rs, err := dev.Read(ctx, []string{a.Point()})
		if err == nil && len(rs) == 1 && rs[0].Quality == drivers.QualityGood {
			v := rs[0].Value
			out.ReadBack = &v
			c.live.Update(a.Device(), rs)
		}
	}
	ev.Duration = float64(time.Since(start).Microseconds()) / 1000
	ev.OK, ev.Reason, ev.ReadBack = out.OK, out.Reason, out.ReadBack
	if _, err := c.journal.AppendSync(journal.Entry{Kind: journal.KindOutcome, Principal: string(p), Episode: episode, Ref: intent.Seq, Body: out}); err != nil {
		// The write happened (or not) but its outcome is not durable: recovery
		// resolves the open intent at the next start.
		log.Error("journal outcome failed", "seq", intent.Seq, "err", err)
	}
	c.publish("actuations", ev)
	if !out.OK {
		log.Warn("write failed", "device", a.Device(), "point", a.Point(), "reason", string(out.Reason), "err", out.Error)
		return capability.Failed(out.Reason)
	}
	log.Info("write done", "device", a.Device(), "point", a.Point(), "value", enc.Value.String(), "seq", intent.Seq)
	res := capability.Result{OK: true, Value: enc.Value, Unit: c.unit(a.Device(), a.Point())}
	if out.ReadBack != nil {
		res.Value = *out.ReadBack
	}
	return res
}

func (c *Core) publish(topic string, v any) {
	if c.events == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.logger.Error("encode event", "topic", topic, "err", err)
		return
	}
	c.events.Publish(topic, b)
}

// driverReason maps a driver error to the fixed code the caller sees.
func driverReason(err error) capability.Reason {
	switch {
	case errors.Is(err, drivers.ErrUnavailable):
		return capability.ReasonDeviceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return capability.ReasonTimeout
	default:
		return capability.ReasonDeviceError
	}
}

// unit returns the engineering unit of a point of a device.
func (c *Core) unit(device, point string) string {
	if x := c.points[device]; x != nil {
		p, _ := x.Point(point)
		return p.Unit
	}
	return ""
}

// unitOf returns the unit of a point written as device.point.
func (c *Core) unitOf(key string) string {
	device, point, _ := strings.Cut(key, ".")
	return c.unit(device, point)
}
