package capability

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Recorded is a decision as the journal holds it: its inputs (config
// digest, principal, call, snapshot) and what was decided.
type Recorded struct {
	Outcome    Outcome         `json:"outcome"`
	Reason     Reason          `json:"reason,omitempty"`
	Detail     string          `json:"detail,omitempty"`
	Principal  Principal       `json:"principal"`
	Call       Call            `json:"call"`
	Capability string          `json:"capability,omitempty"`
	Snapshot   Snapshot        `json:"snapshot"`
	Config     string          `json:"config,omitempty"`
	Action     json.RawMessage `json:"action,omitempty"`
	Proposed   json.RawMessage `json:"proposed,omitempty"`
	Digest     string          `json:"digest,omitempty"`
}

// Replay decides a recorded decision again from its recorded inputs and
// returns the new decision and every difference from the recorded one,
// each worded "field: recorded X, now Y". No difference means the gate
// reproduces the decision.
func (g *Gate) Replay(r Recorded) (Decision, []string) {
	d := g.Decide(r.Principal, r.Call, r.Snapshot)
	var diffs []string
	diff := func(field string, was, now any) {
		if fmt.Sprint(was) != fmt.Sprint(now) {
			diffs = append(diffs, fmt.Sprintf("%s: recorded %q, now %q", field, fmt.Sprint(was), fmt.Sprint(now)))
		}
	}
	diff("outcome", r.Outcome, d.Outcome)
	diff("reason", r.Reason, d.Reason)
	diff("detail", r.Detail, d.Detail)
	diff("capability", r.Capability, d.Capability)
	diff("digest", r.Digest, d.Digest)
	diff("action", compact(r.Action), marshalAction(d.Action))
	diff("proposed", compact(r.Proposed), marshalAction(d.Proposed))
	return d, diffs
}

func compact(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func marshalAction(a *Authorized) string {
	if a == nil {
		return ""
	}
	b, err := a.MarshalJSON()
	if err != nil {
		return err.Error()
	}
	return compact(b)
}
