package telemetry

import (
	"strconv"
	"time"
)

// Members the publisher adds to every JSON object payload as it sends it.
const (
	// SeqMember is the message's seq in the outbox: one counter for every
	// message the gateway publishes, never reused (across restarts with the
	// durable outbox). A message that arrives twice (at-least-once
	// delivery) carries the same msg_seq both times: it is the
	// subscribers' de-duplication key.
	SeqMember = "msg_seq"
	// HistoricalMember is true on a message that was queued while the
	// gateway had no connection to the broker and is sent late, once the
	// connection is back. Retained messages are never flagged: they are
	// state, and a flag would stay on the broker with them.
	HistoricalMember = "historical"
)

// stamp returns the payload of m as it is sent on a connection that came
// up at up: a JSON object payload gets "msg_seq":<seq> as its first
// member, followed by "historical":true when m was queued before up and is
// not retained. Any other payload is returned as it is. The stored payload
// is never modified.
func stamp(m Message, up time.Time) []byte {
	b := m.Payload
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' || m.Seq == 0 {
		return b
	}
	historical := !m.Retained && !m.Time.IsZero() && m.Time.Before(up)
	rest := b[i+1:]
	empty := skipSpace(rest, 0) < len(rest) && rest[skipSpace(rest, 0)] == '}'
	out := make([]byte, 0, len(b)+48)
	out = append(out, '{', '"')
	out = append(out, SeqMember...)
	out = append(out, '"', ':')
	out = strconv.AppendUint(out, m.Seq, 10)
	if historical {
		out = append(out, ',', '"')
		out = append(out, HistoricalMember...)
		out = append(out, `":true`...)
	}
	if !empty {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
