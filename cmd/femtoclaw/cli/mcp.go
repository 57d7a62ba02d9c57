package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/gateway/api"
)

func newMCPCmd() *cobra.Command {
	var dataDir, cfgPath string
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the running gateway's MCP tools on stdin/stdout, for desktop MCP clients",
		Long: `mcp is a stdio bridge: a desktop MCP client starts it as a command, and it
forwards the client's requests to the running gateway's MCP endpoint on the
local socket. The client is the principal "mcp": it sees and may call only
the capabilities in the config's mcp.allow, through the same gate and journal
as every other call.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := resolveDataDir(dataDir, cfgPath)
			if err != nil {
				return err
			}
			c := api.NewClient(filepath.Join(dir, api.SocketName))
			if err := c.BridgeMCP(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()); err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data dir of the running gateway (default: from -c, else /var/lib/femtoclaw)")
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir to use")
	return cmd
}
