package brain

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrReplayExhausted is returned by a Replay asked for more responses than
// were recorded: the re-run has diverged from the recording.
var ErrReplayExhausted = errors.New("brain: replay: no more recorded responses")

// Replay is the provider that re-runs a recorded episode: it answers each
// request with the next recorded response, ignoring the request. Its caller
// reads the responses from wherever they were recorded (the gateway reads
// them from the journal) and hands them over; the brain knows nothing of
// the journal.
type Replay struct {
	mu        sync.Mutex
	responses []Response
	next      int
}

// NewReplay returns a provider answering with responses, in order.
func NewReplay(responses []Response) *Replay {
	return &Replay{responses: append([]Response(nil), responses...)}
}

// Complete returns the next recorded response.
func (r *Replay) Complete(ctx context.Context, _ Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("brain: replay: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next >= len(r.responses) {
		return Response{}, ErrReplayExhausted
	}
	resp := r.responses[r.next]
	r.next++
	resp.ToolCalls = append([]ToolCall(nil), resp.ToolCalls...)
	return resp, nil
}

// Remaining is how many recorded responses have not been asked for.
func (r *Replay) Remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.responses) - r.next
}

var _ Provider = (*Replay)(nil)
