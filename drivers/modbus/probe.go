package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	mb "github.com/simonvetter/modbus"
)

// ProbeOptions say what Probe reads.
type ProbeOptions struct {
	URL     string        // as in a device config
	Unit    uint8         // 0: 1
	Table   Table         // Holding or Input
	Start   uint16        // first wire address
	Count   int           // registers, at least 1
	Timeout time.Duration // per request; 0: 1s
}

// Probe reads a range of registers from a device for commissioning, in
// requests of at most 125 registers, and returns them as read. It opens
// and closes its own connection.
func Probe(ctx context.Context, o ProbeOptions) ([]uint16, error) {
	if o.Table != Holding && o.Table != Input {
		return nil, fmt.Errorf("modbus: probe: table %s (want holding or input)", o.Table)
	}
	if o.Count < 1 || int(o.Start)+o.Count > 0x10000 {
		return nil, fmt.Errorf("modbus: probe: %d registers from %d do not fit the address space", o.Count, o.Start)
	}
	conf, err := clientConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("modbus: probe: url %q: %w", o.URL, err)
	}
	if strings.HasPrefix(conf.URL, "tcp+tls://") {
		return nil, errors.New("modbus: probe: tcp+tls is not supported by the probe")
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Unit == 0 {
		o.Unit = defaultUnit
	}
	conf.Timeout = o.Timeout
	conf.Logger = log.New(io.Discard, "", 0)
	l := &link{sem: make(chan struct{}, 1), conf: conf}
	c, err := l.connect(ctx, o.Timeout, 0)
	if err != nil {
		return nil, fmt.Errorf("modbus: probe: connect %s: %w", conf.URL, err)
	}
	defer l.drop()
	if err := c.SetUnitId(o.Unit); err != nil {
		return nil, fmt.Errorf("modbus: probe: %w", err)
	}
	rt := mb.HOLDING_REGISTER
	if o.Table == Input {
		rt = mb.INPUT_REGISTER
	}
	regs := make([]uint16, 0, o.Count)
	for addr := int(o.Start); addr < int(o.Start)+o.Count; addr += maxRegisters {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(maxRegisters, int(o.Start)+o.Count-addr)
		got, err := c.ReadRegisters(uint16(addr), uint16(n), rt)
		if ex, ok := exception(err); ok {
			return nil, fmt.Errorf("modbus: probe: %s %d-%d: %w", o.Table, addr, addr+n-1, ex)
		}
		if err != nil {
			return nil, fmt.Errorf("modbus: probe: %s %d-%d: %w", o.Table, addr, addr+n-1, err)
		}
		regs = append(regs, got...)
	}
	return regs, nil
}

// WriteInterpretations prints registers read from start in every type and
// byte order side by side, so that whoever commissions a device can see
// which reading makes sense. For each address it shows the raw words and
// the value of every type that starts there and fits in the range.
func WriteInterpretations(w io.Writer, table Table, start uint16, regs []uint16) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	types := []Type{Uint16, Int16, Uint32, Int32, Float32, Uint64, Int64, Float64}
	for i := range regs {
		addr := int(start) + i
		var raw []string
		for _, r := range regs[i:min(i+4, len(regs))] {
			raw = append(raw, fmt.Sprintf("%04x", r))
		}
		fmt.Fprintf(tw, "%s %d\t[%s]\tABCD\tCDAB\tBADC\tDCBA\t\n", table, addr, strings.Join(raw, " "))
		for _, t := range types {
			n := t.Words()
			if i+n > len(regs) {
				continue
			}
			if n == 1 {
				// For one register only the byte order in it matters.
				a, _ := DecodeRaw(regs[i:i+1], t, ABCD)
				b, _ := DecodeRaw(regs[i:i+1], t, BADC)
				fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t\n", t, formatValue(t, a), formatValue(t, a), formatValue(t, b), formatValue(t, b))
				continue
			}
			cells := make([]string, 0, 4)
			for _, o := range []Order{ABCD, CDAB, BADC, DCBA} {
				v, _ := DecodeRaw(regs[i:i+n], t, o)
				cells = append(cells, formatValue(t, v))
			}
			fmt.Fprintf(tw, "\t%s\t%s\t\n", t, strings.Join(cells, "\t"))
		}
		s1, s2 := DecodeString(regs[i:i+1], ABCD), DecodeString(regs[i:i+1], BADC)
		fmt.Fprintf(tw, "\tchars\t%q\t%q\t%q\t%q\t\n", s1, s1, s2, s2)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(regs) > 1 {
		_, err := fmt.Fprintf(w, "\nas text: ABCD %q, BADC %q\n", DecodeString(regs, ABCD), DecodeString(regs, BADC))
		return err
	}
	return nil
}

// formatValue prints a decoded raw value: integers in full, floats in the
// shortest form that reads back the same.
func formatValue(t Type, v float64) string {
	switch t {
	case Float32:
		return strconv.FormatFloat(v, 'g', -1, 32)
	case Float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	if math.Abs(v) < 1<<53 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 17, 64)
}

// SnippetOptions shape the config snippet WriteSnippet prints.
type SnippetOptions struct {
	Name  string // the device name; "" is "plc"
	URL   string
	Unit  uint8
	Table Table
	Start uint16 // counted from Base
	Count int
	Base  uint8 // the device's address base, 0 or 1
	Type  Type  // 0: Uint16
	Order Order // 0: ABCD
}

// WriteSnippet prints a device entry for the commissioning file covering
// the probed range with points of one type and order, named after their
// table and address, ready to paste under devices: and rename.
func WriteSnippet(w io.Writer, o SnippetOptions) error {
	if o.Name == "" {
		o.Name = "plc"
	}
	if o.Type == 0 {
		o.Type = Uint16
	}
	if o.Order == 0 {
		o.Order = ABCD
	}
	if o.Unit == 0 {
		o.Unit = defaultUnit
	}
	if o.Type == Bool || o.Type == String {
		return fmt.Errorf("modbus: snippet: type %s (want a numeric type)", o.Type)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    driver: modbus\n    url: %s\n    unit: %d\n    poll: 1s\n    timeout: 1s\n", o.Name, o.URL, o.Unit)
	if o.Base == 1 {
		b.WriteString("    address_base: 1\n")
	}
	b.WriteString("    points:\n")
	prefix := map[Table]string{Holding: "hr", Input: "ir"}[o.Table]
	n := o.Type.Words()
	for a := int(o.Start); a+n <= int(o.Start)+o.Count; a += n {
		fmt.Fprintf(&b, "      - name: %s_%d\n        register: %s\n        address: %d\n        type: %s\n", prefix, a, o.Table, a, o.Type)
		if n > 1 {
			fmt.Fprintf(&b, "        order: %s\n", o.Order)
		} else if o.Order == BADC || o.Order == DCBA {
			fmt.Fprintf(&b, "        order: BADC\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
