// Package broker runs the embedded MQTT broker that a gateway without a
// plant broker publishes to, and that the demo and the tests use. It accepts
// every client and every topic: it listens on loopback unless told
// otherwise, and whoever can reach it may read the gateway's telemetry.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is a running embedded MQTT broker.
type Broker struct {
	server *mqtt.Server
	ln     net.Listener
	addr   string
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr (host:port; port 0 picks a free one) and serves
// MQTT there until Close. A busy or invalid address is reported at once.
// A nil logger discards the broker's logs.
func Start(addr string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "broker")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	server := mqtt.New(&mqtt.Options{
		Logger: slog.New(quietHandler{logger.Handler()}),
	})
	fail := func(err error) (*Broker, error) {
		ln.Close()
		return nil, fmt.Errorf("broker: %s: %w", addr, err)
	}
	if err := server.AddHook(new(allowAll), nil); err != nil {
		return fail(err)
	}
	if err := server.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		return fail(err)
	}
	if err := server.Serve(); err != nil {
		server.Close()
		return nil, fmt.Errorf("broker: %s: %w", addr, err)
	}
	b := &Broker{server: server, ln: ln, addr: ln.Addr().String(), logger: logger}
	logger.Info("broker listening", "addr", b.addr)
	return b, nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Run waits for ctx to be done, then closes the broker. It lets an owner
// run the broker under an errgroup like every other component.
func (b *Broker) Run(ctx context.Context) error {
	<-ctx.Done()
	return b.Close()
}

// Close disconnects every client, stops listening and waits for the
// clients' connections to end. It may be called more than once.
//
// The library's own Close can deadlock when a client is going away at the
// same moment (it takes a read lock on its client table twice while the
// departing client waits to write to it), so Close first stops accepting,
// disconnects the clients itself and waits for them to be gone; the
// library's Close then finds nobody left to disconnect.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.ln.Close()
		for _, cl := range b.server.Clients.GetAll() {
			if !cl.Net.Inline {
				_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
		b.server.Listeners.ClientsWg.Wait()
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("broker: close %s: %w", b.addr, err)
		}
		b.logger.Info("broker closed", "addr", b.addr)
	})
	return b.closeErr
}

// allowAll lets every client connect and use every topic. It is written out
// here, visibly, because the broker denies everything without an auth hook.
// (The library's own allow-all hook lives in a package that pulls in a YAML
// decoder the gateway does not need.)
type allowAll struct{ mqtt.HookBase }

// ID names the hook in the library's logs.
func (h *allowAll) ID() string { return "femtoclaw-allow-all" }

// Provides reports the two hook methods allowAll implements.
func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate accepts every client.
func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck allows every topic, for reading and writing.
func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// quietHandler passes on the broker library's warnings and errors and drops
// its chatter. The library logs every client connection that ends without a
// DISCONNECT as a warning with an empty message; those become debug records.
type quietHandler struct{ next slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, level slog.Level) bool {
	// Warnings may be demoted to debug, so they must reach Handle.
	return level >= slog.LevelWarn && (h.next.Enabled(ctx, level) || h.next.Enabled(ctx, slog.LevelDebug))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" {
		if r.Level >= slog.LevelError {
			r.Message = "broker error"
		} else {
			d := slog.NewRecord(r.Time, slog.LevelDebug, "client connection ended", r.PC)
			r.Attrs(func(a slog.Attr) bool { d.AddAttrs(a); return true })
			r = d
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.next.WithAttrs(attrs)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.next.WithGroup(name)}
}

var (
	_ slog.Handler = quietHandler{}
	_ mqtt.Hook    = (*allowAll)(nil)
)
