package agent

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/journal"
)

// usage holds the recent admissions of every capability, which its rates
// and cooldown read through the snapshot. It keeps no more than each
// capability's horizon. After a restart it is rebuilt from the allowed,
// executed decisions in the journal, so a restart does not reset a rate.
type usage struct {
	mu       sync.Mutex
	admitted map[string][]capability.Admission // oldest first
}

func newUsage() *usage { return &usage{admitted: make(map[string][]capability.Admission)} }

// admit records an admission and drops those older than horizon.
func (u *usage) admit(name string, p capability.Principal, t time.Time, horizon time.Duration) {
	if horizon <= 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	as := append(u.admitted[name], capability.Admission{Time: t, Principal: p})
	cut := 0
	for cut < len(as) && !as[cut].Time.After(t.Add(-horizon)) {
		cut++
	}
	u.admitted[name] = slices.Clone(as[cut:])
}

// since returns a copy of the admissions of name after t.
func (u *usage) since(name string, t time.Time) []capability.Admission {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []capability.Admission
	for _, a := range u.admitted[name] {
		if a.Time.After(t) {
			out = append(out, a)
		}
	}
	return out
}

// snapshot builds what a decision on the named capability reads: the
// time, the live values it needs (only those) and its recent admissions.
func (c *Core) snapshot(name string, approval *capability.Approval) capability.Snapshot {
	now := c.now().UTC()
	snap := capability.Snapshot{Time: now, Approval: approval}
	if keys := c.gate.Needs(name); len(keys) > 0 {
		snap.Values = c.live.Values(keys)
	}
	if h := c.gate.Horizon(name); h > 0 {
		snap.Admitted = c.usage.since(name, now.Add(-h))
	}
	return snap
}

// recordedDecision is the part of a journaled decision the counters need.
type recordedDecision struct {
	Outcome    capability.Outcome `json:"outcome"`
	Capability string             `json:"capability"`
	Principal  string             `json:"principal"`
	DryRun     bool               `json:"dry_run"`
	Snapshot   struct {
		Time time.Time `json:"time"`
	} `json:"snapshot"`
}

// restoreUsage rebuilds the admissions within each capability's horizon
// from the journal's decisions.
func (c *Core) restoreUsage() error {
	if c.journal == nil || c.gate == nil {
		return nil
	}
	now := c.now().UTC()
	return c.journal.Scan(1, func(r journal.Record) error {
		if r.Kind != journal.KindDecision {
			return nil
		}
		var d recordedDecision
		if json.Unmarshal(r.Body, &d) != nil || d.Outcome != capability.Allow || d.DryRun {
			return nil
		}
		h := c.gate.Horizon(d.Capability)
		if h > 0 && d.Snapshot.Time.After(now.Add(-h)) {
			c.usage.admit(d.Capability, capability.Principal(d.Principal), d.Snapshot.Time, h)
		}
		return nil
	})
}
