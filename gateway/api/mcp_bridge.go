package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBridgeInFlight bounds the messages the stdio bridge forwards at once.
const maxBridgeInFlight = 8

// BridgeMCP serves the gateway's MCP endpoint on a stdio pair, as MCP's
// stdio transport: every line read from in is one JSON-RPC message (or
// batch), forwarded as one POST to MCPPath on the socket; every answer is
// written to out as one line. The session id the gateway issues at
// initialize, and the protocol version it negotiates, go with every later
// message. Initialize is forwarded alone, everything else concurrently.
// When the gateway has lost the session (it restarted), the bridge
// initializes again with the client's initialize and sends the message
// once more, so that a desktop client outlives a gateway restart.
// BridgeMCP returns nil when in ends (after ending the session) or ctx is
// done, and an error when the gateway does not answer at the start.
func (c *Client) BridgeMCP(ctx context.Context, in io.Reader, out io.Writer) error {
	var status map[string]any
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, &status); err != nil {
		return err
	}
	b := &mcpBridge{hc: c.HTTPClient(), out: out}
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		readErr <- readLines(ctx, in, lines)
		close(lines)
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxBridgeInFlight)
	defer func() {
		wg.Wait()
		b.end()
	}()
	for {
		var line []byte
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
					return fmt.Errorf("api: mcp bridge: read: %w", err)
				}
				return nil
			}
			line = l
		}
		var head struct {
			Method string `json:"method"`
		}
		json.Unmarshal(line, &head)
		if head.Method == "initialize" {
			wg.Wait()
			b.mu.Lock()
			b.init = line
			b.mu.Unlock()
			b.forward(ctx, line)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.forward(ctx, line)
		})
	}
}

// readLines sends each non-empty line of in to lines until in ends; a line
// longer than the API's body limit is sent cut short, to be refused.
func readLines(ctx context.Context, in io.Reader, lines chan<- []byte) error {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long: keep what fits (the reader's buffer is reused),
			// skip the rest of the line, and let the gateway refuse it.
			line = bytes.Clone(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
		}
		if l := bytes.TrimSpace(line); len(l) > 0 {
			select {
			case lines <- bytes.Clone(l):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
	}
}

// mcpBridge forwards messages to the gateway and writes the answers.
type mcpBridge struct {
	hc *http.Client

	mu      sync.Mutex // guards out, the session and init
	out     io.Writer
	session string
	version string
	init    []byte // the client's last initialize

	reinit sync.Mutex // one new session at a time
}

// errSessionGone says the gateway no longer knows the session.
var errSessionGone = errors.New("the gateway ended the MCP session (did it restart?)")

// forward sends one line to the gateway and writes its answer; a message
// the gateway did not answer in JSON-RPC gets an internal error with its
// id, when it has one.
func (b *mcpBridge) forward(ctx context.Context, line []byte) {
	answer, sent, err := b.post(ctx, line)
	if errors.Is(err, errSessionGone) && b.initialize(ctx, sent) {
		answer, _, err = b.post(ctx, line)
	}
	if err != nil {
		var id json.RawMessage
		if !isBatch(line) {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if json.Unmarshal(line, &m) == nil {
				if m.Method == "" || m.ID == nil {
					return // a notification or a response gets no answer
				}
				if validID(m.ID) {
					id = m.ID
				}
			}
		}
		answer, _ = json.Marshal(newRPCError(id, codeInternalError, "femtoclaw mcp: %v", err))
	}
	if len(answer) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out.Write(append(answer, '\n'))
}

// initialize starts a new session with the client's initialize after the
// gateway lost session gone, unless another message already did; it
// reports whether there is a new session.
func (b *mcpBridge) initialize(ctx context.Context, gone string) bool {
	b.reinit.Lock()
	defer b.reinit.Unlock()
	b.mu.Lock()
	cur, init := b.session, b.init
	b.mu.Unlock()
	if cur != "" && cur != gone {
		return true
	}
	if init == nil {
		return false
	}
	if _, _, err := b.post(ctx, init); err != nil {
		return false
	}
	b.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.session != ""
}

// post sends one message and returns the answer to write, compacted onto
// one line (nil when there is none: 202), and the session it went with.
func (b *mcpBridge) post(ctx context.Context, line []byte) (answer []byte, sent string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://femtoclaw"+MCPPath, bytes.NewReader(line))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	b.mu.Lock()
	sent = b.session
	if sent != "" {
		req.Header.Set(mcpSessionHeader, sent)
		req.Header.Set(mcpVersionHeader, b.version)
	}
	b.mu.Unlock()
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, sent, fmt.Errorf("is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, sent, fmt.Errorf("read the gateway's answer: %w", err)
	}
	if resp.StatusCode == http.StatusAccepted {
		return nil, sent, nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/event-stream" {
		body = sseData(body)
		mt = "application/json"
	}
	if mt != "application/json" || len(bytes.TrimSpace(body)) == 0 {
		if resp.StatusCode == http.StatusNotFound && sent != "" {
			b.mu.Lock()
			if b.session == sent {
				b.session = ""
			}
			b.mu.Unlock()
			return nil, sent, errSessionGone
		}
		return nil, sent, fmt.Errorf("gateway answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, sent, fmt.Errorf("gateway answered malformed JSON: %w", err)
	}
	if id := resp.Header.Get(mcpSessionHeader); id != "" {
		var init struct {
			Result struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"result"`
		}
		json.Unmarshal(compact.Bytes(), &init)
		b.mu.Lock()
		b.session, b.version = id, init.Result.ProtocolVersion
		b.mu.Unlock()
	}
	return compact.Bytes(), sent, nil
}

// end ends the bridge's session at the gateway, if it has one.
func (b *mcpBridge) end() {
	b.mu.Lock()
	id := b.session
	b.mu.Unlock()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://femtoclaw"+MCPPath, nil)
	if err != nil {
		return
	}
	req.Header.Set(mcpSessionHeader, id)
	if resp, err := b.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// sseData returns the data of the first event of a text/event-stream body.
func sseData(body []byte) []byte {
	var data [][]byte
	for line := range strings.SplitSeq(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" && len(data) > 0 {
			break
		}
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, []byte(strings.TrimPrefix(d, " ")))
		}
	}
	return bytes.Join(data, []byte("\n"))
}
