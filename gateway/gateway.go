// Package gateway wires a commissioned gateway together and runs it: the
// journal, the devices and their pollers, the gate, the MQTT publisher (and
// the embedded broker when no broker is configured) and the agents, all under
// one errgroup. Its parts live in the packages below it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/femtoclaw/femtoclaw/brain"
	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/gateway/broker"
	"github.com/femtoclaw/femtoclaw/gateway/config"
	"github.com/femtoclaw/femtoclaw/gateway/metrics"
	"github.com/femtoclaw/femtoclaw/gateway/sdnotify"
	"github.com/femtoclaw/femtoclaw/gateway/sparkplug"
	"github.com/femtoclaw/femtoclaw/gateway/telemetry"
	"github.com/femtoclaw/femtoclaw/journal"

	_ "github.com/femtoclaw/femtoclaw/drivers/all" // every compiled-in driver
)

// Gateway is one running gateway.
type Gateway struct {
	cfg    *config.Config
	logger *slog.Logger

	ready      chan struct{}
	mu         sync.Mutex
	brokerAddr string
	mcpAddr    string
	core       *agent.Core
}

// New prepares a gateway from a validated config. Nothing is opened or
// started until Run.
func New(cfg *config.Config, logger *slog.Logger) *Gateway {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gateway{cfg: cfg, logger: logger, ready: make(chan struct{})}
}

// Ready is closed once the journal is open, the devices are built and the
// publisher is running.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// BrokerAddr is the embedded broker's address, once Ready; empty when an
// external broker is configured.
func (g *Gateway) BrokerAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.brokerAddr
}

// Core is the agent core, once Ready: the one path to a device.
func (g *Gateway) Core() *agent.Core {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.core
}

// Run runs the gateway until ctx is done or a component fails. Every
// goroutine it starts has ended when it returns.
func (g *Gateway) Run(ctx context.Context) (err error) {
	cfg := g.cfg
	log := g.logger

	if err := os.MkdirAll(cfg.Gateway.DataDir, 0o750); err != nil {
		return fmt.Errorf("gateway: data dir: %w", err)
	}
	key, err := cfg.Journal.Key()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	j, err := journal.Open(filepath.Join(cfg.Gateway.DataDir, "journal"), journal.Options{Logger: log.With("component", "journal"), Key: key})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer func() { err = errors.Join(err, j.Close()) }()

	devices := make(map[string]drivers.Device, len(cfg.Devices))
	defer func() {
		for _, d := range devices {
			d.Close()
		}
	}()
	resolvers := make(map[string]capability.Resolver, len(cfg.Devices))
	for _, dc := range cfg.Devices {
		d, err := drivers.Open(dc, log)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		devices[dc.Name] = d
		resolvers[dc.Name] = d
	}

	gate, err := capability.New(cfg.Capabilities, cfg.Principals(), cfg.Devices, resolvers)
	if err != nil {
		return fmt.Errorf("gateway: capabilities: %w", err)
	}
	// Resolve the actions a crash interrupted before anything can call a
	// device (see recover.go).
	if _, err := Recover(ctx, j, devices, log.With("component", "recovery")); err != nil {
		return err
	}

	brokerURL := cfg.MQTT.Broker
	if brokerURL == "" {
		b, err := broker.Start(cfg.MQTT.Listen, log)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		defer b.Close()
		brokerURL = "tcp://" + b.Addr()
		g.mu.Lock()
		g.brokerAddr = b.Addr()
		g.mu.Unlock()
	}
	pub, err := newPublisher(cfg, brokerURL, j, log)
	if err != nil {
		return err
	}
	hl := newHealth()
	hl.watchPublisher(pub.Stats, publisherMaxStall)
	publishCommissioning(cfg.Gateway.DataDir, pub.PublishRetained, log)
	publishDiscovery(cfg, pub, log)

	met := newMetrics(cfg, pub)
	space := newJournalSpace(cfg.Gateway.DataDir, JournalReserve, log.With("component", "journal"))
	live := agent.NewLive(cfg.Devices...)
	core := agent.NewCore(agent.CoreOptions{
		Gate: gate, Journal: j, Devices: devices, Configs: cfg.Devices,
		Live: live, Events: pub, Observer: met, Logger: log.With("component", "core"),
		ApprovalTTL: cfg.Approvals.TTL.D(), Writable: space.check,
	})
	g.mu.Lock()
	g.core = core
	g.mu.Unlock()
	spark, err := newSparkplug(cfg, brokerURL, core, log)
	if err != nil {
		return err
	}

	var agents []*agent.Agent
	for _, ac := range cfg.Agents {
		a, err := g.newAgent(ac, core, j)
		if err != nil {
			return fmt.Errorf("gateway: agent %q: %w", ac.Name, err)
		}
		agents = append(agents, a)
	}

	apiSrv := api.New(filepath.Join(cfg.Gateway.DataDir, api.SocketName), cfg.Gateway.ID, core, log.With("component", "api"))
	apiSrv.SetAgents(agents)
	apiSrv.SetMetrics(met.Handler())
	apiSrv.SetReadiness(func() []string { return readiness(space, hl) })
	serveMCP, err := g.serveMCP(core, apiSrv)
	if err != nil {
		return err
	}
	ln, err := apiSrv.Listen()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return apiSrv.Serve(gctx, ln) })
	if serveMCP != nil {
		grp.Go(func() error { return serveMCP(gctx) })
	}
	grp.Go(func() error { return pub.Run(gctx) })
	if spark != nil {
		grp.Go(func() error { return spark.Run(gctx) })
	}
	grp.Go(func() error { return space.Run(gctx, pub.PublishRetained) })
	ret := cfg.Journal.Retention
	pruner := journal.NewPruner(j, journal.Retention{MaxAge: ret.MaxAge.D(), MaxBytes: ret.MaxBytes}, ret.CheckInterval.D(), log.With("component", "retention"))
	grp.Go(func() error { return pruner.Run(gctx) })
	bufs := newReadingBufs(2)
	for i, dc := range cfg.Devices {
		p := &poller{cfg: dc, dev: devices[dc.Name], live: live, pub: pub, logger: log.With("device", dc.Name), points: cfg.MQTT.PointTopics, metrics: met, spark: spark,
			alive: hl.heartbeat("poller "+dc.Name, pollerMaxGap(dc.Poll.D(), dc.Timeout.D())),
			phase: i, phases: len(cfg.Devices), bufs: bufs}
		grp.Go(func() error { return p.Run(gctx) })
		if s, ok := devices[dc.Name].(drivers.Subscriber); ok {
			grp.Go(func() error { return s.Subscribe(gctx) })
		}
	}
	for _, a := range agents {
		grp.Go(func() error { return a.Run(gctx) })
	}
	log.Info("gateway started", "id", cfg.Gateway.ID, "devices", len(devices), "capabilities", len(cfg.Capabilities), "agents", len(agents), "broker", brokerURL)
	close(g.ready)
	grp.Go(func() error {
		return supervise(gctx, sdnotify.FromEnv(), hl, fmt.Sprintf("running: %d devices, %d agents", len(devices), len(agents)), log.With("component", "watchdog"))
	})
	err = grp.Wait()
	log.Info("gateway stopped")
	return err
}

func (g *Gateway) provider(ac config.Agent) (brain.Provider, error) {
	switch ac.Brain.Provider {
	case "scripted":
		path := ac.Brain.Script
		if !filepath.IsAbs(path) && g.cfg.Path != "" {
			path = filepath.Join(filepath.Dir(g.cfg.Path), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("script: %w", err)
		}
		s, err := brain.ParseScript(data)
		if err != nil {
			return nil, fmt.Errorf("script %s: %w", path, err)
		}
		return brain.NewScripted(s), nil
	}
	return nil, fmt.Errorf("unknown brain provider %q", ac.Brain.Provider)
}

// poller reads every point of one device each poll interval and publishes
// the values, one message per device per cycle.
type poller struct {
	cfg    drivers.DeviceConfig
	dev    drivers.Device
	live   *agent.Live
	pub    *telemetry.Publisher
	points bool // also publish one topic per point
	logger *slog.Logger
	seq    uint64
	alive  *heartbeat // beats once per cycle, for the watchdog
	// metrics counts cycles and device requests; nil counts nothing.
	metrics *metrics.Metrics
	// spark is the Sparkplug B edge node; nil publishes nothing.
	spark *sparkplug.Node
	// pointNames are the device's point names; see names.
	pointNames []string
	// bufs lends the slices a drivers.ReaderInto reads into.
	bufs *readingBufs
	// phase of phases: after its first cycle, the poller keeps its cycles
	// phase/phases of an interval after the first poller's, so that ten
	// devices of 10,000 points are not all read, encoded and published in
	// the same instant (which would hold ten polls' buffers at once and
	// make a write wait behind all of them).
	phase, phases int
}

func (p *poller) Run(ctx context.Context) error {
	interval := p.cfg.Poll.D()
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	failing := false
	p.cycle(ctx, interval, &failing)
	if p.phases > 1 && p.phase > 0 {
		offset := interval * time.Duration(p.phase) / time.Duration(p.phases)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(start.Add(offset))):
		}
		p.cycle(ctx, interval, &failing)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.cycle(ctx, interval, &failing)
	}
}

// cycle polls once and accounts for it.
func (p *poller) cycle(ctx context.Context, interval time.Duration, failing *bool) {
	start := time.Now()
	p.poll(ctx, failing)
	p.metrics.PollCycle(p.cfg.Name, time.Since(start), interval)
	p.alive.beat()
}

// readingBufs is a free list of the slices pollers read into. Their
// cycles kept apart, a couple serve every device: a slice per device would
// keep 800 KB for each device of 10,000 points, and a new slice per cycle
// would make as much garbage every second. The zero value lends nothing.
type readingBufs struct{ free chan []drivers.Reading }

// newReadingBufs returns a free list that keeps at most n slices.
func newReadingBufs(n int) *readingBufs {
	return &readingBufs{free: make(chan []drivers.Reading, n)}
}

// get returns a free slice, or nil.
func (b *readingBufs) get() []drivers.Reading {
	if b == nil {
		return nil
	}
	select {
	case s := <-b.free:
		return s
	default:
		return nil
	}
}

// put gives a slice back, or lets it go when enough are kept.
func (b *readingBufs) put(s []drivers.Reading) {
	if b == nil || cap(s) == 0 {
		return
	}
	select {
	case b.free <- s[:0]:
	default:
	}
}

// names returns the names of the device's points, made when first needed:
// a device that answers never needs them, and a range of 10,000 points
// would keep 10,000 strings for it.
func (p *poller) names() []string {
	if p.pointNames == nil {
		p.pointNames = make([]string, 0, p.cfg.NumPoints())
		for _, entry := range p.cfg.Points {
			p.pointNames = append(p.pointNames, entry.Names()...)
		}
	}
	return p.pointNames
}

// subscribed returns the values a live subscription reported, if the
// device has one; otherwise the poller reads.
func (p *poller) subscribed() ([]drivers.Reading, bool) {
	if s, ok := p.dev.(drivers.Subscriber); ok {
		return s.Latest()
	}
	return nil, false
}

func (p *poller) poll(ctx context.Context, failing *bool) {
	timeout := p.cfg.Timeout.D()
	if timeout <= 0 {
		timeout = time.Second
	}
	rs, live := p.subscribed()
	var err error
	if !live {
		rctx, cancel := context.WithTimeout(ctx, timeout*2)
		start := time.Now()
		if ri, ok := p.dev.(drivers.ReaderInto); ok {
			// Into a slice lent for the cycle: the live store, the encoder
			// and Sparkplug copy what they keep.
			buf := p.bufs.get()
			rs, err = ri.ReadInto(rctx, buf)
			if err != nil {
				p.bufs.put(buf)
			} else {
				defer p.bufs.put(rs)
			}
		} else {
			rs, err = p.dev.Read(rctx, nil)
		}
		p.metrics.DeviceRequest(p.cfg.Name, metrics.SourcePoller, agent.OpRead, time.Since(start), err)
		cancel()
	}
	now := time.Now().UTC()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if !*failing {
			p.logger.Warn("poll failed; values are stale until the device answers", "err", err)
			*failing = true
		}
		rs = p.live.MarkStale(p.cfg.Name, p.names(), now)
	} else {
		if *failing {
			p.logger.Info("device answers again")
			*failing = false
		}
		p.live.Update(p.cfg.Name, rs)
	}
	p.seq++
	p.pub.PublishPoll(p.cfg, p.seq, now, rs, p.points)
	p.spark.Report(p.cfg.Name, rs)
}
