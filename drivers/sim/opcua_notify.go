//go:build !nosimopcua

package sim

import (
	"context"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// opcuaSampling is how often the OPC UA server looks for changed values to
// report to its subscriptions.
const opcuaSampling = 50 * time.Millisecond

// notifyOPCUA reports every change of a plant node's value to the
// server's monitored items until ctx is done. The server library samples
// nothing itself: it reports a node only when told that it changed, and it
// reads the value through the node, so p.mu must not be held here.
func (p *Plant) notifyOPCUA(ctx context.Context, srv *server.Server, ns uint16) {
	nodes := OPCUANodes()
	ids := make([]*ua.NodeID, len(nodes))
	for i, n := range nodes {
		ids[i] = ua.NewStringNodeID(ns, n.ID)
	}
	last := make([]any, len(nodes))
	t := time.NewTicker(opcuaSampling)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		now := make([]any, len(nodes))
		for i, n := range nodes {
			now[i] = p.opcuaValue(n.ID)
		}
		p.mu.Unlock()
		for i := range nodes {
			if now[i] != last[i] {
				srv.ChangeNotification(ids[i])
			}
		}
		last = now
	}
}
