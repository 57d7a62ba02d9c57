//go:build !nosimopcua

package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
)

// OPCUANamespace is the URI of the namespace the plant's nodes live in; it
// is namespace index 1 of the simulator's server.
const OPCUANamespace = "urn:femtoclaw:sim"

// OPCUANode describes one node of the plant on the OPC UA server.
type OPCUANode struct {
	// ID is the node's string identifier in namespace 1, e.g. tank.level.
	ID string
	// Type is the node's built-in data type.
	Type ua.TypeID
	// Writable says whether a client may write the node's value.
	Writable bool
}

// OPCUANodes lists the plant's nodes, in the order of the register map.
// Node ids are ns=1;s=<ID>. Values are in engineering units: the heater
// setpoint is a Double in degC (0..100), not tenths.
//
//	node                    type     access   meaning
//	tank.level              Double   read     %, 0..100
//	tank.temperature        Double   read     degC
//	tank.inlet_pump         UInt16   write    pump speed, % (0..100)
//	tank.outlet_valve       UInt16   write    valve opening, % (0..100)
//	tank.heater_setpoint    Double   write    degC (0..100, kept to 0.1)
//	tank.total_inflow       UInt32   read     litres since start
//	tank.heater             Boolean  write
//	tank.high_level_alarm   Boolean  read     level > 90
//
// Subscriptions (monitored items) are served: a node's change is reported
// within 50ms.
//
// A write of another type than the node's is refused with BadTypeMismatch,
// one out of range with BadOutOfRange, one to a read-only node with
// BadNotWritable and one to a node or namespace the plant does not have
// with BadNodeIdUnknown. Accepted writes are recorded in Writes under the
// Modbus table and address they map to, with Remote "opcua".
func OPCUANodes() []OPCUANode {
	return []OPCUANode{
		{"tank.level", ua.TypeIDDouble, false},
		{"tank.temperature", ua.TypeIDDouble, false},
		{"tank.inlet_pump", ua.TypeIDUint16, true},
		{"tank.outlet_valve", ua.TypeIDUint16, true},
		{"tank.heater_setpoint", ua.TypeIDDouble, true},
		{"tank.total_inflow", ua.TypeIDUint32, false},
		{"tank.heater", ua.TypeIDBoolean, true},
		{"tank.high_level_alarm", ua.TypeIDBoolean, false},
	}
}

// opcuaValue returns a node's current value; the caller holds p.mu.
func (p *Plant) opcuaValue(node string) any {
	switch node {
	case "tank.level":
		return p.level
	case "tank.temperature":
		return p.temp
	case "tank.inlet_pump":
		return p.inlet
	case "tank.outlet_valve":
		return p.outlet
	case "tank.heater_setpoint":
		return float64(p.setpoint) / 10
	case "tank.total_inflow":
		return uint32(uint64(p.inflow))
	case "tank.heater":
		return p.heater
	case "tank.high_level_alarm":
		return p.level > alarmLevel
	}
	return nil
}

// opcuaSet applies a write of v to a writable node; the caller holds p.mu
// and has checked the type.
func (p *Plant) opcuaSet(node string, v any) ua.StatusCode {
	switch node {
	case "tank.inlet_pump", "tank.outlet_valve":
		u := v.(uint16)
		if u > 100 {
			return ua.StatusBadOutOfRange
		}
		addr := uint16(RegInletPump)
		if node == "tank.inlet_pump" {
			p.inlet = u
		} else {
			p.outlet, addr = u, RegOutletValve
		}
		p.record("holding", addr, []uint16{u}, "opcua")
	case "tank.heater_setpoint":
		f := v.(float64)
		if math.IsNaN(f) || f < 0 || f > maxSetpoint/10 {
			return ua.StatusBadOutOfRange
		}
		p.setpoint = int16(math.Round(f * 10))
		p.record("holding", RegHeaterSetpoint, []uint16{uint16(p.setpoint)}, "opcua")
	case "tank.heater":
		p.heater = v.(bool)
		w := uint16(0)
		if p.heater {
			w = 1
		}
		p.record("coil", CoilHeater, []uint16{w}, "opcua")
	default:
		return ua.StatusBadNotWritable
	}
	return ua.StatusOK
}

// ListenOPCUA starts an OPC UA server on addr ("127.0.0.1:0" picks a free
// port) serving the plant's nodes (see OPCUANodes) with security None and
// anonymous login, and returns its endpoint URL, opc.tcp://host:port. It
// may be called more than once; Close stops every server.
func (p *Plant) ListenOPCUA(addr string) (endpoint string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("sim: listen opcua %q: %w", addr, err)
	}
	// The server cannot report the port it bound, so port 0 is resolved
	// here first; if another process takes the port in between, try again.
	attempts := 1
	if port == "0" || port == "" {
		attempts = 5
	}
	for i := 0; ; i++ {
		ep, err := p.listenOPCUAOnce(host, port)
		if err == nil {
			p.logger.Info("sim opcua listening", "endpoint", ep)
			return ep, nil
		}
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("sim: listen opcua %s: %w", addr, err)
		}
	}
}

func (p *Plant) listenOPCUAOnce(host, port string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", err
	}
	bound := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		return "", err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	srv := server.New(
		server.EndPoint(host, bound.Port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("femtoclaw plant simulator"),
		server.ManufacturerName("femtoclaw"),
		server.ProductName("femtoclaw sim"),
		server.SetLogger(serverLogger{p.logger.With("server", "opcua")}),
	)
	ns := server.NewNodeNameSpace(srv, OPCUANamespace)
	root, err := srv.Namespace(0)
	if err != nil {
		return "", err
	}
	objects := ns.Objects()
	root.Objects().AddRef(objects, id.HasComponent, true)
	for _, n := range OPCUANodes() {
		objects.AddRef(ns.AddNode(p.opcuaNode(ns.ID(), n)), id.HasComponent, true)
	}
	// Registered before Start, this handler replaces the library's, which
	// dereferences a nil namespace on a write to an unknown one and leaves
	// live values replaced by constants.
	srv.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, p.opcuaWriteHandler(ns.ID()))
	// The library answers endpoints only to a client that dialled the URL
	// the server knows itself by; through a proxy or NAT it would answer
	// none. As the standard has it, an unrecognised URL gets them all.
	srv.RegisterHandler(id.GetEndpointsRequest_Encoding_DefaultBinary, getEndpointsHandler(srv))

	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cancel()
		return "", errors.New("plant closed")
	}
	if err := srv.Start(ctx); err != nil {
		cancel()
		return "", err
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		p.notifyOPCUA(ctx, srv, ns.ID())
	}()
	p.stops = append(p.stops, func() error {
		cancel()
		<-sampled
		if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("opcua: %w", err)
		}
		return nil
	})
	return "opc.tcp://" + net.JoinHostPort(host, strconv.Itoa(bound.Port)), nil
}

// opcuaNode builds the server node of one plant node, its value read live.
func (p *Plant) opcuaNode(ns uint16, n OPCUANode) *server.Node {
	access := byte(ua.AccessLevelTypeCurrentRead)
	if n.Writable {
		access |= byte(ua.AccessLevelTypeCurrentWrite)
	}
	return server.NewNode(
		ua.NewStringNodeID(ns, n.ID),
		map[ua.AttributeID]*ua.DataValue{
			ua.AttributeIDNodeClass:       server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:      server.DataValueFromValue(attrs.BrowseName(n.ID)),
			ua.AttributeIDDisplayName:     server.DataValueFromValue(attrs.DisplayName(n.ID, n.ID)),
			ua.AttributeIDAccessLevel:     server.DataValueFromValue(access),
			ua.AttributeIDUserAccessLevel: server.DataValueFromValue(access),
			// The library's browse reads the data type as an expanded node id.
			ua.AttributeIDDataType: server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, uint32(n.Type))),
		},
		nil,
		func() *ua.DataValue {
			p.mu.Lock()
			v := p.opcuaValue(n.ID)
			p.mu.Unlock()
			now := time.Now()
			return &ua.DataValue{
				EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
				Value:           ua.MustVariant(v),
				SourceTimestamp: now,
				ServerTimestamp: now,
			}
		},
	)
}

// opcuaWriteHandler serves the Write service for the plant's namespace.
func (p *Plant) opcuaWriteHandler(ns uint16) server.Handler {
	types := make(map[string]OPCUANode)
	for _, n := range OPCUANodes() {
		types[n.ID] = n
	}
	return func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.WriteRequest)
		if !ok || req.RequestHeader == nil {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		results := make([]ua.StatusCode, len(req.NodesToWrite))
		for i, w := range req.NodesToWrite {
			results[i] = p.opcuaWrite(ns, types, w)
		}
		return &ua.WriteResponse{
			ResponseHeader:  responseHeader(req.RequestHeader),
			Results:         results,
			DiagnosticInfos: []*ua.DiagnosticInfo{},
		}, nil
	}
}

// getEndpointsHandler serves GetEndpoints: the endpoints of the URL the
// client asked for, or every endpoint if the server has none by that URL.
func getEndpointsHandler(srv *server.Server) server.Handler {
	return func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.GetEndpointsRequest)
		if !ok || req.RequestHeader == nil {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		all := srv.Endpoints()
		var match []*ua.EndpointDescription
		for _, ep := range all {
			if strings.EqualFold(ep.EndpointURL, req.EndpointURL) {
				match = append(match, ep)
			}
		}
		if len(match) == 0 {
			match = all
		}
		return &ua.GetEndpointsResponse{ResponseHeader: responseHeader(req.RequestHeader), Endpoints: match}, nil
	}
}

// responseHeader answers a request successfully.
func responseHeader(req *ua.RequestHeader) *ua.ResponseHeader {
	return &ua.ResponseHeader{
		Timestamp:          time.Now(),
		RequestHandle:      req.RequestHandle,
		ServiceResult:      ua.StatusOK,
		ServiceDiagnostics: &ua.DiagnosticInfo{},
		StringTable:        []string{},
		AdditionalHeader:   ua.NewExtensionObject(nil),
	}
}

// opcuaWrite checks and applies one write.
func (p *Plant) opcuaWrite(ns uint16, types map[string]OPCUANode, w *ua.WriteValue) ua.StatusCode {
	if w == nil || w.NodeID == nil {
		return ua.StatusBadNodeIDInvalid
	}
	if w.NodeID.Namespace() != ns || w.NodeID.Type() != ua.NodeIDTypeString {
		return ua.StatusBadNodeIDUnknown
	}
	n, ok := types[w.NodeID.StringID()]
	switch {
	case !ok:
		return ua.StatusBadNodeIDUnknown
	case w.AttributeID != ua.AttributeIDValue || !n.Writable:
		return ua.StatusBadNotWritable
	case w.IndexRange != "":
		return ua.StatusBadIndexRangeInvalid
	case w.Value == nil || w.Value.Value == nil || w.Value.Value.Type() != n.Type || w.Value.Value.ArrayLength() > 0:
		return ua.StatusBadTypeMismatch
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opcuaSet(n.ID, w.Value.Value.Value())
}

// serverLogger adapts the server library's printf-style log calls. The
// library warns about its own built-in address space and reports every
// closed connection as an error, so everything goes to debug.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Debug(msg string, args ...any) { s.log(msg, args) }
func (s serverLogger) Info(msg string, args ...any)  { s.log(msg, args) }
func (s serverLogger) Warn(msg string, args ...any)  { s.log(msg, args) }
func (s serverLogger) Error(msg string, args ...any) { s.log(msg, args) }

func (s serverLogger) log(format string, args []any) {
	if !s.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.l.Debug("sim opcua server", "detail", fmt.Sprintf(format, args...))
}
