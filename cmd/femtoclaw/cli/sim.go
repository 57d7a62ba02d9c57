package cli

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

func newSimCmd() *cobra.Command {
	var modbusAddr, opcuaAddr, writeLogPath string
	var bulk, bulkRegisters int
	cmd := &cobra.Command{
		Use:   "sim [--modbus ADDR] [--opcua ADDR] | sim --bulk N [--registers M]",
		Short: "Run the plant simulator on its own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger(cmd.ErrOrStderr(), "info")
			if writeLogPath != "" {
				h, closeLog, err := newWriteLog(writeLogPath, logger.Handler())
				if err != nil {
					return withCode(ExitFailed, err)
				}
				defer closeLog()
				logger = slog.New(h)
			}
			if bulk > 0 {
				return runBulk(cmd, logger, modbusAddr, bulk, bulkRegisters)
			}
			plant := sim.New(sim.Options{Logger: logger})
			addr, err := plant.ListenModbus(modbusAddr)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "simulator: modbus tcp://%s (unit 1)\n", addr)
			if opcuaAddr != "" {
				// The OPC UA server library narrates its start-up through
				// the standard logger; nothing else here uses it.
				log.SetOutput(io.Discard)
				ep, err := plant.ListenOPCUA(opcuaAddr)
				if err != nil {
					plant.Close()
					return withCode(ExitFailed, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "simulator: opcua %s (security None, nodes ns=1;s=tank.*)\n", ep)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := plant.Run(ctx); err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modbusAddr, "modbus", "127.0.0.1:5020", "Modbus TCP listen address")
	cmd.Flags().StringVar(&opcuaAddr, "opcua", "", "also serve OPC UA (security None) on this address, e.g. 127.0.0.1:4840")
	cmd.Flags().IntVar(&bulk, "bulk", 0, "instead of the plant, serve N load-test devices of plain holding registers, one Modbus TCP server each on the ports from --modbus's on (port 0: free ports)")
	cmd.Flags().IntVar(&bulkRegisters, "registers", 10000, "holding registers of each --bulk device")
	cmd.Flags().StringVar(&writeLogPath, "write-log", "", "append every write the simulator accepts to FILE as a JSON line, fsynced")
	return cmd
}

// runBulk serves the load-test devices of --bulk and prints one line per
// device with its address.
func runBulk(cmd *cobra.Command, logger *slog.Logger, modbusAddr string, n, registers int) error {
	host, portText, err := net.SplitHostPort(modbusAddr)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("--modbus %q: %w", modbusAddr, err))
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("--modbus %q: port: %w", modbusAddr, err))
	}
	b, err := sim.ListenBulk(sim.BulkOptions{Devices: n, Registers: registers, Host: host, Port: port, Logger: logger})
	if err != nil {
		return withCode(ExitFailed, err)
	}
	for i, a := range b.Addrs() {
		fmt.Fprintf(cmd.OutOrStdout(), "simulator: bulk device %d modbus tcp://%s (%d holding registers)\n", i, a, registers)
	}
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	if err := b.Run(ctx); err != nil {
		return withCode(ExitFailed, err)
	}
	return nil
}
