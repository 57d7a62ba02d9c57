package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers/modbus"
)

func newProbeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Read a device directly while commissioning it",
		Long:  "probe reads a device directly, outside any gateway, capability or journal, to find out how its values are laid out.",
	}
	cmd.AddCommand(newProbeModbusCmd())
	return cmd
}

func newProbeModbusCmd() *cobra.Command {
	var (
		unit            uint8
		holding, input  string
		base            uint8
		timeout         time.Duration
		snippet         bool
		name, typ, ordr string
	)
	cmd := &cobra.Command{
		Use:   "modbus URL (--holding FROM-TO | --input FROM-TO)",
		Short: "Print a range of Modbus registers in every type and byte order",
		Long: `Reads a range of holding or input registers and prints, for every address, the
value of each type that starts there in each byte order (ABCD, CDAB, BADC,
DCBA) side by side: the right interpretation is the one that makes sense.
With --snippet it prints a device entry for the commissioning file instead,
with points of --type and --order over the range.

URL is as in the config: tcp://host:502, rtu:///dev/ttyUSB0?baud=9600,
rtuovertcp://host:port. Addresses count from --base (0 as on the wire, or 1).`,
		Example: "  femtoclaw probe modbus tcp://192.168.1.10 --unit 1 --holding 0-20\n" +
			"  femtoclaw probe modbus tcp://192.168.1.10 --holding 0-20 --snippet --type float32 --order CDAB",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (holding == "") == (input == "") {
				return withCode(ExitUsage, errors.New("probe modbus: give exactly one of --holding or --input"))
			}
			table, rng := modbus.Holding, holding
			if input != "" {
				table, rng = modbus.Input, input
			}
			if base > 1 {
				return withCode(ExitUsage, fmt.Errorf("probe modbus: --base %d (want 0 or 1)", base))
			}
			from, to, err := parseRange(rng)
			if err != nil {
				return withCode(ExitUsage, fmt.Errorf("probe modbus: --%s: %w", table, err))
			}
			if base == 1 && from == 0 {
				return withCode(ExitUsage, errors.New("probe modbus: address 0 does not exist with --base 1"))
			}
			t, err := modbus.ParseType(typ)
			if err != nil {
				return withCode(ExitUsage, fmt.Errorf("probe modbus: --type: %w", err))
			}
			o, err := modbus.ParseOrder(ordr)
			if err != nil {
				return withCode(ExitUsage, fmt.Errorf("probe modbus: --order: %w", err))
			}
			count := to - from + 1
			wire := uint16(from - int(base))
			if snippet {
				return withCode(ExitUsage, modbus.WriteSnippet(cmd.OutOrStdout(), modbus.SnippetOptions{
					Name: name, URL: args[0], Unit: unit, Table: table, Start: uint16(from), Count: count, Type: t, Order: o, Base: base,
				}))
			}
			regs, err := modbus.Probe(cmd.Context(), modbus.ProbeOptions{
				URL: args[0], Unit: unit, Table: table, Start: wire, Count: count, Timeout: timeout,
			})
			if err != nil {
				return withCode(ExitFailed, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s registers %d-%d of %s, unit %d (addresses from %d)\n\n", table, from, to, args[0], max(unit, 1), base)
			return withCode(ExitFailed, modbus.WriteInterpretations(w, table, uint16(from), regs))
		},
	}
	f := cmd.Flags()
	f.Uint8Var(&unit, "unit", 1, "Modbus unit (slave) id")
	f.StringVar(&holding, "holding", "", "holding registers to read, FROM-TO (inclusive) or one address")
	f.StringVar(&input, "input", "", "input registers to read, FROM-TO (inclusive) or one address")
	f.Uint8Var(&base, "base", 0, "address base: 0 as on the wire, 1 when the device's register 1 is wire address 0")
	f.DurationVar(&timeout, "timeout", time.Second, "timeout of each request")
	f.BoolVar(&snippet, "snippet", false, "print a config entry for the range instead of reading it")
	f.StringVar(&name, "name", "plc", "device name in the snippet")
	f.StringVar(&typ, "type", "uint16", "point type in the snippet")
	f.StringVar(&ordr, "order", "ABCD", "byte order in the snippet")
	return cmd
}

// parseRange parses "FROM-TO" or "ADDR" into an inclusive range of at most
// 65536 addresses.
func parseRange(s string) (from, to int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if from, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("%q is not FROM-TO", s)
	}
	to = from
	if isRange {
		if to, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("%q is not FROM-TO", s)
		}
	}
	if from < 0 || to > 65535 || to < from {
		return 0, 0, fmt.Errorf("%q is not a range within 0-65535", s)
	}
	return from, to, nil
}
