package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
			if err := bridgeMCP(cmd.Context(), filepath.Join(dir, api.SocketName)); err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data dir of the running gateway (default: from -c, else /var/lib/femtoclaw)")
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir to use")
	return cmd
}

// bridgeMCP connects to the gateway's MCP endpoint on the socket and serves
// its tools on stdio until the client goes away.
func bridgeMCP(ctx context.Context, socket string) error {
	client := mcp.NewClient(&mcp.Implementation{Name: "femtoclaw-mcp-bridge", Version: version}, nil)
	up, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://femtoclaw" + api.MCPPath,
		HTTPClient: api.NewClient(socket).HTTPClient(),
	}, nil)
	if err != nil {
		return fmt.Errorf("mcp: is the gateway running? %w", err)
	}
	defer up.Close()
	tools, err := up.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("mcp: list tools: %w", err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "femtoclaw", Version: version}, nil)
	forward := func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return up.CallTool(ctx, &mcp.CallToolParams{Name: req.Params.Name, Arguments: req.Params.Arguments})
	}
	for _, t := range tools.Tools {
		srv.AddTool(t, forward)
	}
	// Calls to tools not listed go to the gateway too, which refuses them
	// through its gate.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok {
					return up.CallTool(ctx, &mcp.CallToolParams{Name: p.Name, Arguments: p.Arguments})
				}
			}
			return next(ctx, method, req)
		}
	})
	return srv.Run(ctx, &mcp.StdioTransport{})
}
