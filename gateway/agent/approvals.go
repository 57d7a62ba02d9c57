package agent

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/journal"
)

// DefaultApprovalTTL is how long a pending call waits for approval unless
// the config says otherwise.
const DefaultApprovalTTL = 15 * time.Minute

// PendingCall is a call waiting for an operator's approval.
type PendingCall struct {
	// ID is what femtoclaw approve|reject takes: the seq of the pending
	// decision in the journal.
	ID        string               `json:"id"`
	Principal capability.Principal `json:"principal"`
	Episode   string               `json:"episode,omitempty"`
	Call      capability.Call      `json:"call"`
	// Action is the resolved action an approval binds, and Digest its
	// digest.
	Action  json.RawMessage `json:"action"`
	Digest  string          `json:"digest"`
	Created time.Time       `json:"created"`
	Expires time.Time       `json:"expires"`
}

// approvals holds the pending calls in memory. A restart drops them: the
// proposer asks again.
type approvals struct {
	mu      sync.Mutex
	ttl     time.Duration
	pending map[string]PendingCall
}

func newApprovals(ttl time.Duration) *approvals {
	if ttl <= 0 {
		ttl = DefaultApprovalTTL
	}
	return &approvals{ttl: ttl, pending: make(map[string]PendingCall)}
}

// add files a pending decision and returns it and its id.
func (a *approvals) add(seq uint64, p capability.Principal, episode string, call capability.Call, d capability.Decision) (PendingCall, string) {
	id := strconv.FormatUint(seq, 10)
	action, _ := json.Marshal(d.Proposed)
	a.mu.Lock()
	defer a.mu.Unlock()
	pc := PendingCall{
		ID: id, Principal: p, Episode: episode, Call: call, Action: action, Digest: d.Digest,
		Created: d.Snapshot.Time, Expires: d.Snapshot.Time.Add(a.ttl),
	}
	a.pending[id] = pc
	return pc, id
}

// take removes and returns a pending call: an approval or a rejection is
// used once.
func (a *approvals) take(id string) (PendingCall, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pc, ok := a.pending[id]
	delete(a.pending, id)
	return pc, ok
}

// Pending lists the calls waiting for approval, oldest first, dropping
// those that have expired.
func (c *Core) Pending() []PendingCall {
	now := c.now().UTC()
	a := c.approvals
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]PendingCall, 0, len(a.pending))
	for id, pc := range a.pending {
		if !now.Before(pc.Expires) {
			delete(a.pending, id)
			c.publishApproval("expired", pc, "", nil)
			continue
		}
		out = append(out, pc)
	}
	slices.SortFunc(out, func(x, y PendingCall) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// Approve approves the pending call id as approver. digest, when not
// empty, is the digest of the action the approver saw; empty means the one
// filed. The call is decided again with the approval in its snapshot (the
// approver must not be the proposer, the approval must not have expired,
// the call must resolve to the approved action and pass every limit now),
// journaled, and carried out if allowed. The pending call is used up
// whatever the outcome.
func (c *Core) Approve(ctx context.Context, id string, approver capability.Principal, digest string) capability.Result {
	log := c.logger.With("approval", id, "approver", string(approver))
	pc, ok := c.approvals.take(id)
	if !ok {
		log.Info("approval of an unknown call")
		return capability.Result{Code: "denied", Reason: capability.ReasonUnknownApproval}
	}
	if digest == "" {
		digest = pc.Digest
	}
	log = log.With("principal", string(pc.Principal), "capability", pc.Call.Capability)
	ap := &capability.Approval{ID: id, Approver: approver, Digest: digest, Expires: pc.Expires}
	res := c.decideAndRun(ctx, pc.Principal, pc.Episode, pc.Call, CallOptions{}, ap, log)
	c.publishApproval("approved", pc, approver, &res)
	return res
}

// rejectionBody is the journaled rejection of a pending call.
type rejectionBody struct {
	Rejected string `json:"rejected"`
	Digest   string `json:"digest"`
}

// Reject drops the pending call id and journals who rejected it.
func (c *Core) Reject(id string, by capability.Principal) capability.Result {
	pc, ok := c.approvals.take(id)
	if !ok {
		return capability.Result{Code: "denied", Reason: capability.ReasonUnknownApproval}
	}
	if _, err := c.journal.Append(journal.Entry{Kind: journal.KindNote, Principal: string(by), Episode: pc.Episode, Body: rejectionBody{Rejected: id, Digest: pc.Digest}}); err != nil {
		c.logger.Error("journal rejection failed", "approval", id, "err", err)
		return capability.Failed(capability.ReasonJournalUnavailable)
	}
	c.logger.Info("pending call rejected", "approval", id, "by", string(by))
	c.publishApproval("rejected", pc, by, nil)
	return capability.Result{OK: true}
}
