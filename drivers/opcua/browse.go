package opcua

import (
	"context"
	"fmt"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// NodeInfo describes one variable node found by Browse.
type NodeInfo struct {
	// NodeID is the node's id as the config writes it, e.g. ns=2;s=tank.level.
	NodeID string `json:"node"`
	// Path is the browse names from the start node down to this one.
	Path string `json:"path"`
	// Type is the node's data type as a point's type, or "" if the driver
	// does not support it; DataType is its OPC UA name or node id.
	Type     string `json:"type,omitempty"`
	DataType string `json:"data_type"`
	// Readable and Writable are the current-value bits of the node's
	// access level for this session's user.
	Readable bool `json:"readable"`
	Writable bool `json:"writable"`
}

// Browse connects as the device would and lists the variable nodes below
// start (the Objects folder when empty), following hierarchical references
// down to depth levels.
func (d *Device) Browse(ctx context.Context, start string, depth int) ([]NodeInfo, error) {
	root := ua.NewNumericNodeID(0, id.ObjectsFolder)
	if start != "" {
		n, err := ua.ParseNodeID(start)
		if err != nil {
			return nil, fmt.Errorf("opcua: browse: start node %q: %w", start, err)
		}
		root = n
	}
	if err := d.acquire(ctx); err != nil {
		return nil, err
	}
	defer d.release()
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	var out []NodeInfo
	seen := map[string]bool{root.String(): true}
	var walk func(n *ua.NodeID, path string, level int) error
	walk = func(n *ua.NodeID, path string, level int) error {
		refs, err := c.Node(n).References(ctx, id.HierarchicalReferences, ua.BrowseDirectionForward,
			ua.NodeClassObject|ua.NodeClassVariable, true)
		if err != nil {
			return fmt.Errorf("opcua: browse %s: %w", n, err)
		}
		for _, r := range refs {
			if r.NodeID == nil || r.NodeID.NodeID == nil || seen[r.NodeID.NodeID.String()] {
				continue
			}
			child := r.NodeID.NodeID
			seen[child.String()] = true
			name := child.String()
			if r.BrowseName != nil && r.BrowseName.Name != "" {
				name = r.BrowseName.Name
			}
			p := name
			if path != "" {
				p = path + "/" + name
			}
			if r.NodeClass == ua.NodeClassVariable {
				info, err := d.describe(ctx, c.Node(child).Attributes, child, p)
				if err != nil {
					return err
				}
				out = append(out, info)
			}
			// Skip the standard Server object: its diagnostics are not
			// field values.
			if level+1 < depth && !(child.Namespace() == 0 && child.IntID() == id.Server) {
				if err := walk(child, p, level+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root, "", 0); err != nil {
		if !transportFailure(err) {
			return out, err
		}
		return out, d.fail(err)
	}
	return out, nil
}

// describe reads a variable's data type and access level.
func (d *Device) describe(ctx context.Context, attrs func(context.Context, ...ua.AttributeID) ([]*ua.DataValue, error), n *ua.NodeID, path string) (NodeInfo, error) {
	info := NodeInfo{NodeID: n.String(), Path: path}
	dvs, err := attrs(ctx, ua.AttributeIDDataType, ua.AttributeIDUserAccessLevel, ua.AttributeIDAccessLevel)
	if err != nil {
		return info, fmt.Errorf("opcua: browse %s: %w", n, err)
	}
	if len(dvs) == 3 {
		if dv := dvs[0]; dv != nil && dv.Status == ua.StatusOK && dv.Value != nil {
			var dt *ua.NodeID
			switch v := dv.Value.Value().(type) {
			case *ua.NodeID:
				dt = v
			case *ua.ExpandedNodeID:
				dt = v.NodeID
			}
			if dt != nil {
				info.DataType = dt.String()
				if dt.Namespace() == 0 {
					if t, ok := TypeOfDataTypeNode(dt.IntID()); ok && dt.Type() != ua.NodeIDTypeString {
						info.Type, info.DataType = t.String(), t.UAName()
					}
				}
			}
		}
		for _, dv := range dvs[1:] {
			if dv == nil || dv.Status != ua.StatusOK || dv.Value == nil {
				continue
			}
			var al uint8
			switch v := dv.Value.Value().(type) {
			case uint8:
				al = v
			case uint32:
				al = uint8(v)
			default:
				continue
			}
			info.Readable = al&uint8(ua.AccessLevelTypeCurrentRead) != 0
			info.Writable = al&uint8(ua.AccessLevelTypeCurrentWrite) != 0
			break // the user's access level wins when the server has one
		}
	}
	return info, nil
}

// PointName turns a browse path into a point name: lower case letters,
// digits and '_' only, at most 64 characters.
func PointName(path string) string {
	var b strings.Builder
	last := byte('_')
	for _, r := range strings.ToLower(path) {
		c := byte('_')
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			c = byte(r)
		}
		if c == '_' && last == '_' {
			continue
		}
		b.WriteByte(c)
		last = c
	}
	s := strings.TrimSuffix(b.String(), "_")
	if len(s) > 64 {
		s = s[len(s)-64:]
	}
	if s == "" {
		s = "point"
	}
	return s
}
