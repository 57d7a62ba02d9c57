package brain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPOptions are the settings both HTTP providers share. The zero value of
// every field but BaseURL and Model has a usable default.
type HTTPOptions struct {
	// BaseURL is the API root: https://api.openai.com/v1,
	// http://127.0.0.1:11434/v1 (Ollama), https://api.anthropic.com.
	BaseURL string
	// Model names the model.
	Model string
	// APIKey is sent as a bearer token (OpenAI) or x-api-key (Anthropic);
	// empty sends none.
	APIKey Secret
	// Timeout bounds one attempt, body included. Default 60s.
	Timeout time.Duration
	// Retries is how many further attempts follow a 429, a 5xx, a timeout or
	// a transport error. Default 2; -1 means none.
	Retries int
	// MaxWait bounds one wait between attempts. A Retry-After longer than
	// this ends the request instead of being cut short. Default 30s.
	MaxWait time.Duration
	// MaxTokens bounds the tokens of one response. Default 1024.
	MaxTokens int
	// Client sends the requests. Nil: a client of its own.
	Client *http.Client
	// Logger receives one line per retry. Nil: discarded.
	Logger *slog.Logger
	// Sleep waits between attempts; a test seam. Nil: a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// The defaults of HTTPOptions.
const (
	DefaultTimeout   = 60 * time.Second
	DefaultRetries   = 2
	DefaultMaxWait   = 30 * time.Second
	DefaultMaxTokens = 1024

	// maxResponse bounds a response body.
	maxResponse = 4 << 20
	// backoffBase is the first wait when the server names none.
	backoffBase = 500 * time.Millisecond
)

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Failure says how a provider request failed; the agent journals it.
type Failure string

// Failures.
const (
	FailureStatus    Failure = "http_status"        // the server answered with an error status
	FailureTimeout   Failure = "timeout"            // an attempt took longer than Timeout
	FailureTransport Failure = "transport"          // no answer: connection refused, reset
	FailureTruncated Failure = "truncated"          // the body ended before it was complete
	FailureMalformed Failure = "malformed_response" // the body is not the protocol's JSON
	FailureCancelled Failure = "cancelled"          // the caller's context ended
)

// Error is a failed provider request. It never contains the API key or the
// request body.
type Error struct {
	// Provider is "openai" or "anthropic".
	Provider string
	// Failure classifies the error.
	Failure Failure
	// Status is the last HTTP status, or 0.
	Status int
	// Attempts is how many requests were sent.
	Attempts int
	// Err is the underlying error.
	Err error
}

// Error describes the failure.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brain: %s: %s", e.Provider, e.Failure)
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d", e.Status)
	}
	fmt.Fprintf(&b, " after %d attempt(s)", e.Attempts)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// post sends body to url as JSON and decodes a 200 answer into out,
// retrying as HTTPOptions says. header adds the provider's headers.
func post(ctx context.Context, o *HTTPOptions, provider, url string, header http.Header, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return &Error{Provider: provider, Failure: FailureMalformed, Err: err}
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		wait, err := once(ctx, o, url, header, payload, out)
		if err == nil {
			return nil
		}
		err.Provider, err.Attempts = provider, attempt
		last = err
		if ctx.Err() != nil {
			err.Failure, err.Err = FailureCancelled, ctx.Err()
			return err
		}
		if wait < 0 || attempt > o.Retries {
			return last
		}
		if wait == 0 {
			// Exponential backoff with full jitter.
			d := backoffBase << (attempt - 1)
			wait = d/2 + rand.N(d/2+1)
		}
		if wait > o.MaxWait {
			last.Err = fmt.Errorf("retry after %s exceeds the %s limit: %w", wait, o.MaxWait, last.Err)
			return last
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			last.Err = fmt.Errorf("retry after %s would pass the deadline: %w", wait, last.Err)
			return last
		}
		o.Logger.Warn("model request failed; retrying", "provider", provider, "failure", string(err.Failure), "status", err.Status, "wait", wait)
		if serr := o.Sleep(ctx, wait); serr != nil {
			last.Failure, last.Err = FailureCancelled, serr
			return last
		}
	}
}

// once sends one attempt. On failure wait says what to do: negative, give
// up; zero, retry after a backoff; positive, retry after exactly that long.
func once(ctx context.Context, o *HTTPOptions, url string, header http.Header, payload []byte, out any) (time.Duration, *Error) {
	actx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return -1, &Error{Failure: FailureTransport, Err: err}
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := o.Client.Do(req)
	if err != nil {
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, &Error{Failure: FailureTimeout, Err: fmt.Errorf("no answer within %s", o.Timeout)}
		}
		return 0, &Error{Failure: FailureTransport, Err: scrub(err)}
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if rerr != nil {
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, &Error{Failure: FailureTimeout, Status: resp.StatusCode, Err: fmt.Errorf("body not complete within %s", o.Timeout)}
		}
		return -1, &Error{Failure: FailureTruncated, Status: resp.StatusCode, Err: rerr}
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Failure: FailureStatus, Status: resp.StatusCode, Err: errors.New(snippet(data))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return retryAfter(resp.Header.Get("Retry-After")), e
		}
		return -1, e
	}
	if len(data) > maxResponse {
		return -1, &Error{Failure: FailureMalformed, Status: resp.StatusCode, Err: fmt.Errorf("body larger than %d bytes", maxResponse)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return -1, &Error{Failure: FailureMalformed, Status: resp.StatusCode, Err: err}
	}
	return 0, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Absent or
// unreadable gives 0 (back off on our own).
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		if n == 0 {
			return time.Nanosecond // retry now, but still honour it
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return time.Nanosecond
	}
	return 0
}

// snippet returns the start of an error body, for the journal and logs.
func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "..."
	}
	if s == "" {
		return "empty body"
	}
	return s
}

// scrub drops the URL from a transport error; it may hold a key in its query.
func scrub(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
