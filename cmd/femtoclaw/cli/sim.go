package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers/sim"
)

func newSimCmd() *cobra.Command {
	var modbusAddr string
	cmd := &cobra.Command{
		Use:   "sim [--modbus ADDR]",
		Short: "Run the plant simulator on its own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger(cmd.ErrOrStderr(), "info")
			plant := sim.New(sim.Options{Logger: logger})
			addr, err := plant.ListenModbus(modbusAddr)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "simulator: modbus tcp://%s (unit 1)\n", addr)
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := plant.Run(ctx); err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modbusAddr, "modbus", "127.0.0.1:5020", "Modbus TCP listen address")
	return cmd
}
