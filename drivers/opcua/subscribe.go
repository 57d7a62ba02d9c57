package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Subscriptions.
//
// With opcua.subscribe the device keeps one subscription with a monitored
// item per point on its session; the server sends the changes it sees
// every publish interval, and Latest serves them to the gateway's poller
// instead of a read of every point per poll.
//
// The subscription counts as lost, and Latest reports false so that the
// poller reads again, when the session it lives on is gone (the library
// saw the connection fail, or a read or write dropped the client), when
// the server reports it closed or the publish loop fails, and when the
// server does not answer a read of its state, sent every keep-alive period
// because a silent network only shows when a request goes unanswered. It
// is then re-created, after the backoff of the connection, on whatever
// session the device has by then.
//
// The subscription's lifetime on the server is three keep-alive periods
// (about 15 s), so one the gateway lost with its session does not outlive
// it there for long; one the gateway gives up on while the session is
// still up is deleted.

// Subscription timing.
const (
	// keepAlivePeriod is about how often a server reports a subscription
	// that saw no change, and how often the session is checked.
	keepAlivePeriod = 5 * time.Second
	// subMaxRetry caps the wait between attempts to re-create a
	// subscription.
	subMaxRetry = 5 * time.Second
)

// errSubscriptionLost ends one subscription whose session is gone.
var errSubscriptionLost = errors.New("opcua: subscription lost with its session")

// subState is what a device's subscription has reported. Its mutex guards
// every field but interval, which is set once by New.
type subState struct {
	interval time.Duration

	mu       sync.Mutex
	client   *opcua.Client     // the client the live subscription is on
	live     bool              // the subscription exists and reports
	latest   []drivers.Reading // by point index
	reported []bool            // by point index
	missing  int               // points not reported yet
	notes    chan *opcua.PublishNotificationData
}

// Subscribe keeps a subscription to every point of the device until ctx
// is done, when opcua.subscribe is set; otherwise it returns nil at once.
// A server that does not support subscriptions is logged and left to
// polling. Subscribe always returns nil.
func (d *Device) Subscribe(ctx context.Context) error {
	if !d.conf.Subscribe || len(d.points) == 0 {
		return nil
	}
	d.sub.mu.Lock()
	if d.sub.notes == nil {
		// One channel for the device's life: the library blocks its
		// publish loop on a full channel, so notes of a subscription given
		// up are drained by the next one, which skips them.
		d.sub.notes = make(chan *opcua.PublishNotificationData, 64)
	}
	notes := d.sub.notes
	d.sub.mu.Unlock()

	retry := time.Duration(0)
	failures := 0
	for {
		if retry > 0 {
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		err := d.subscribeOnce(ctx, notes)
		d.setLive(nil)
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil
		}
		var sc ua.StatusCode
		if errors.As(err, &sc) && sc == ua.StatusBadServiceUnsupported {
			d.logger.Warn("opcua server does not support subscriptions; polling", "url", d.url)
			return nil
		}
		if d.established() {
			failures = 0
			d.logger.Warn("opcua subscription lost; polling until it is re-created", "url", d.url, "err", err)
		} else if failures++; failures == 1 {
			d.logger.Warn("opcua subscription not created; polling", "url", d.url, "err", err)
		} else {
			d.logger.Debug("opcua subscription not created", "url", d.url, "err", err)
		}
		retry = min(minBackoff<<min(failures, 6), subMaxRetry)
	}
}

// established reports, and forgets, that a subscription was made since
// the last call.
func (d *Device) established() bool {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	ok := d.sub.client != nil
	d.sub.client = nil
	return ok
}

// subscribeOnce creates the subscription on the device's session and
// serves its notifications until it is lost or ctx is done.
func (d *Device) subscribeOnce(ctx context.Context, notes chan *opcua.PublishNotificationData) error {
	c, sub, err := d.createSubscription(ctx, notes)
	if err != nil {
		return err
	}
	d.setLive(c)
	d.logger.Info("opcua subscription live", "url", d.url, "points", len(d.points),
		"publish_interval", sub.RevisedPublishingInterval)
	defer func() {
		// At the end closing the session deletes the subscription too.
		if ctx.Err() == nil {
			d.cancelSubscription(c, sub)
		}
	}()

	watch := time.NewTicker(min(d.sub.interval, time.Second))
	defer watch.Stop()
	lastPing := d.now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-notes:
			if n.SubscriptionID != 0 && n.SubscriptionID != sub.SubscriptionID {
				continue // a subscription given up before
			}
			if err := d.note(n); err != nil {
				return err
			}
		case <-watch.C:
			if d.cur.Load() != c || c.State() != opcua.Connected {
				return errSubscriptionLost
			}
			if d.now().Sub(lastPing) >= keepAlivePeriod {
				if err := d.ping(ctx, c); err != nil {
					return err
				}
				lastPing = d.now()
			}
		}
	}
}

// createSubscription connects if need be and creates the subscription
// with one monitored item per point; the item's client handle is the
// point's index.
func (d *Device) createSubscription(ctx context.Context, notes chan *opcua.PublishNotificationData) (*opcua.Client, *opcua.Subscription, error) {
	if err := d.acquire(ctx); err != nil {
		return nil, nil, err
	}
	defer d.release()
	c, err := d.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The library's Subscribe waits on a publish loop that a dead
	// connection has ended: never call it on one.
	if c.State() != opcua.Connected {
		return nil, nil, d.fail(errSubscriptionLost)
	}
	keepAlive := uint32(max(3, keepAlivePeriod/d.sub.interval))
	params := &opcua.SubscriptionParameters{
		Interval:          d.sub.interval,
		MaxKeepAliveCount: keepAlive,
		LifetimeCount:     3 * keepAlive,
	}
	sctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	sub, err := c.Subscribe(sctx, params, notes)
	if err != nil {
		return nil, nil, d.subFailure(ctx, "create subscription", err)
	}
	items := make([]*ua.MonitoredItemCreateRequest, len(d.points))
	for i, p := range d.points {
		items[i] = opcua.NewMonitoredItemCreateRequestWithDefaults(p.node, ua.AttributeIDValue, uint32(i))
		items[i].RequestedParameters.SamplingInterval = float64(d.sub.interval.Milliseconds())
		items[i].RequestedParameters.QueueSize = 1
	}
	d.sub.mu.Lock()
	d.sub.latest = make([]drivers.Reading, len(d.points))
	d.sub.reported = make([]bool, len(d.points))
	d.sub.missing = len(d.points)
	d.sub.mu.Unlock()
	resp, err := sub.Monitor(sctx, ua.TimestampsToReturnNeither, items...)
	if err == nil && len(resp.Results) != len(items) {
		err = fmt.Errorf("server answered %d results for %d monitored items", len(resp.Results), len(items))
	}
	if err != nil {
		d.cancelLocked(c, sub)
		return nil, nil, d.subFailure(ctx, "monitor", err)
	}
	now := d.now()
	for i, r := range resp.Results {
		if r.StatusCode != ua.StatusOK {
			// The point never reports: it reads as bad, as a refused read.
			d.logger.Debug("opcua monitored item refused", "point", d.points[i].name, "status", r.StatusCode.Error())
			d.report(i, drivers.Reading{Point: d.points[i].name, Quality: drivers.QualityBad, Time: now})
		}
	}
	return c, sub, nil
}

// subFailure classifies an error of a subscription service: a transport
// failure drops the client as a failed read does. The caller holds the
// semaphore.
func (d *Device) subFailure(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		switch sc {
		case ua.StatusBadTimeout, ua.StatusBadSessionIDInvalid, ua.StatusBadSessionClosed, ua.StatusBadSessionNotActivated,
			ua.StatusBadSecureChannelClosed, ua.StatusBadConnectionClosed, ua.StatusBadServerNotConnected:
		default:
			// The server refused the service; the session is fine.
			return fmt.Errorf("opcua: device %q: %s: %w", d.name, op, err)
		}
	}
	return d.fail(fmt.Errorf("%s: %w", op, err))
}

// note applies one notification of the live subscription.
func (d *Device) note(n *opcua.PublishNotificationData) error {
	if n.Error != nil {
		return fmt.Errorf("opcua: device %q: subscription: %w", d.name, n.Error)
	}
	switch v := n.Value.(type) {
	case *ua.DataChangeNotification:
		now := d.now()
		for _, item := range v.MonitoredItems {
			if item == nil || int(item.ClientHandle) >= len(d.points) {
				continue
			}
			i := int(item.ClientHandle)
			d.report(i, d.reading(&d.points[i], item.Value, now))
		}
	case *ua.StatusChangeNotification:
		return fmt.Errorf("opcua: device %q: subscription closed by the server: %w", d.name, v.Status)
	}
	return nil
}

// report records the reading of point i.
func (d *Device) report(i int, r drivers.Reading) {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	if d.sub.reported == nil {
		return
	}
	d.sub.latest[i] = r
	if !d.sub.reported[i] {
		d.sub.reported[i] = true
		d.sub.missing--
	}
}

// setLive marks the subscription on c live, or lost when c is nil.
func (d *Device) setLive(c *opcua.Client) {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	d.sub.live = c != nil
	if c != nil {
		d.sub.client = c
		return
	}
	d.sub.latest, d.sub.reported, d.sub.missing = nil, nil, 0
}

// ping reads the server's state, proving that the session still answers.
func (d *Device) ping(ctx context.Context, c *opcua.Client) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	if d.client != c {
		return errSubscriptionLost
	}
	req := &ua.ReadRequest{
		TimestampsToReturn: ua.TimestampsToReturnNeither,
		NodesToRead:        []*ua.ReadValueID{{NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_State), AttributeID: ua.AttributeIDValue}},
	}
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	_, err := c.Read(rctx, req)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if transportFailure(err) {
			return d.fail(fmt.Errorf("session check: %w", err))
		}
	}
	return nil
}

// cancelSubscription deletes a subscription given up while its session is
// still up, so that it does not live on in the server.
func (d *Device) cancelSubscription(c *opcua.Client, sub *opcua.Subscription) {
	if d.closed.Load() || d.cur.Load() != c || c.State() != opcua.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	if err := d.acquire(ctx); err != nil {
		return
	}
	defer d.release()
	if d.client == c {
		d.cancelLocked(c, sub)
	}
}

// cancelLocked deletes a subscription; the caller holds the semaphore.
func (d *Device) cancelLocked(c *opcua.Client, sub *opcua.Subscription) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	if err := sub.Cancel(ctx); err != nil {
		d.logger.Debug("opcua delete subscription", "url", d.url, "err", err)
	}
}

// Latest returns the last reading the subscription reported for every
// point, stamped now, in the order of the device's points; false while no
// subscription is live on the current session or a point has not
// reported yet.
func (d *Device) Latest() ([]drivers.Reading, bool) {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	c := d.sub.client
	if !d.sub.live || d.sub.missing > 0 || c == nil || d.cur.Load() != c || c.State() != opcua.Connected {
		return nil, false
	}
	now := d.now()
	out := make([]drivers.Reading, len(d.sub.latest))
	for i, r := range d.sub.latest {
		r.Time = now
		out[i] = r
	}
	return out, true
}

var _ drivers.Subscriber = (*Device)(nil)
