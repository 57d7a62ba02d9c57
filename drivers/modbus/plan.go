package modbus

import (
	"cmp"
	"slices"
)

// Protocol limits and the driver's default policy for coalescing reads.
const (
	maxRegisters = 125  // registers in one read request
	maxBits      = 2000 // coils or discrete inputs in one read request
	defaultGap   = 16   // unused addresses bridged inside one request
)

// limits say how reads may be coalesced for one device.
type limits struct {
	registers int  // most registers in one request
	bits      int  // most coils or discrete inputs in one request
	gap       int  // most unused addresses bridged
	single    bool // one request per point
}

// defaultLimits are the protocol's.
var defaultLimits = limits{registers: maxRegisters, bits: maxBits, gap: defaultGap}

// block is one read request covering several points of a table.
type block struct {
	table   Table
	start   uint16 // wire address
	count   int
	members []int // indexes into the points being read
}

// plan groups points into as few read requests as lim allows: per table,
// in address order, a point joins the current request when the addresses
// between them number at most lim.gap and the request stays within its
// size limit. With lim.single every point is a request of its own.
func plan(pts []*point, lim limits) []block {
	var blocks []block
	for _, t := range []Table{Holding, Input, Coil, Discrete} {
		var idx []int
		for i, p := range pts {
			if p.table == t {
				idx = append(idx, i)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(pts[a].address, pts[b].address) })
		limit := lim.registers
		if t.bits() {
			limit = lim.bits
		}
		var cur *block
		for _, i := range idx {
			p := pts[i]
			start, end := int(p.address), int(p.address)+p.span()
			if cur != nil && !lim.single {
				curEnd := int(cur.start) + cur.count
				if start <= curEnd+lim.gap && max(curEnd, end)-int(cur.start) <= limit {
					cur.count = max(curEnd, end) - int(cur.start)
					cur.members = append(cur.members, i)
					continue
				}
			}
			blocks = append(blocks, block{table: t, start: p.address, count: end - start, members: []int{i}})
			cur = &blocks[len(blocks)-1]
		}
	}
	return blocks
}
