package cli

import (
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

func newSimCmd() *cobra.Command {
	var modbusAddr, opcuaAddr, writeLogPath string
	cmd := &cobra.Command{
		Use:   "sim [--modbus ADDR] [--opcua ADDR]",
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
	cmd.Flags().StringVar(&writeLogPath, "write-log", "", "append every write the simulator accepts to FILE as a JSON line, fsynced")
	return cmd
}
