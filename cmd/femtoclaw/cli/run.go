package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/gateway"
	"github.com/femtoclaw/femtoclaw/gateway/config"
)

func newCheckCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check -c FILE",
		Short: "Validate a config; each problem as FILE:LINE:COL: message",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d devices, %d capabilities, %d agents)\n", path, len(cfg.Devices), len(cfg.Capabilities), len(cfg.Agents))
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (required)")
	cmd.MarkFlagRequired("config")
	return cmd
}

// loadConfig loads and validates a config; any problem is a usage error.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			// Problems print as FILE:LINE:COL: message, one per line.
			return nil, withCode(ExitUsage, fmt.Errorf("%d problem(s) in %s:\n%w", len(ps), path, err))
		}
		return nil, withCode(ExitUsage, err)
	}
	return cfg, nil
}

func newRunCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run the gateway in the foreground until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.Gateway.LogLevel)
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := gateway.New(cfg, logger).Run(ctx); err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (required)")
	cmd.MarkFlagRequired("config")
	return cmd
}
