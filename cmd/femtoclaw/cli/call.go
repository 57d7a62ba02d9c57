package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/gateway/api"
)

func newCallCmd() *cobra.Command {
	var (
		as      string
		dryRun  bool
		dataDir string
		cfgPath string
	)
	cmd := &cobra.Command{
		Use:   "call [--as P] [--dry-run] CAP ['JSON']",
		Short: "Make one call through the running gateway's gate; print the result as JSON",
		Long: `call sends one capability call to the running gateway over its local API
(the unix socket in its data dir). It takes the same path as a model's call:
gate, journal, device. Exit 0 when done, 3 when denied, 1 when it failed.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveDataDir(dataDir, cfgPath)
			if err != nil {
				return err
			}
			req := api.CallRequest{Principal: as, Capability: args[0], Args: "{}", DryRun: dryRun}
			if len(args) == 2 {
				req.Args = args[1]
			}
			res, err := api.NewClient(filepath.Join(dir, api.SocketName)).Call(cmd.Context(), req)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			return printResult(cmd, res)
		},
	}
	cmd.Flags().StringVar(&as, "as", "operator", "principal to call as")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "decide only; execute nothing")
	cmd.Flags().StringVar(&dataDir, "data", "", "data dir of the running gateway (default: from -c, else /var/lib/femtoclaw)")
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir to use")
	return cmd
}

// resolveDataDir picks the data dir from --data, else the config's, else the
// packaged default.
func resolveDataDir(dataDir, cfgPath string) (string, error) {
	if dataDir != "" {
		return dataDir, nil
	}
	if cfgPath != "" {
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.Gateway.DataDir, nil
	}
	return "/var/lib/femtoclaw", nil
}
