package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/gateway/api"
)

func newAskCmd() *cobra.Command {
	var dataDir, cfgPath string
	cmd := &cobra.Command{
		Use:   "ask AGENT \"TEXT\"",
		Short: "Run one episode of an agent now, with an operator's question; print its summary as JSON",
		Long: `ask starts one episode of AGENT in the running gateway, through its local API,
with TEXT given to the model as the operator's question. Every call the model
proposes still passes the gate. Prints the episode's summary as JSON. Exit 0
when the episode ended "done", 1 otherwise (another status, an agent busy in
an episode, no such agent, no gateway).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveDataDir(dataDir, cfgPath)
			if err != nil {
				return err
			}
			req := api.AskRequest{Agent: args[0], Text: strings.Join(args[1:], " ")}
			sum, err := api.NewClient(filepath.Join(dir, api.SocketName)).Ask(cmd.Context(), req)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			b, err := json.Marshal(sum)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			if sum.Status != "done" {
				return withCode(ExitFailed, fmt.Errorf("episode ended %s", sum.Status))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data dir of the running gateway (default: from -c, else /var/lib/femtoclaw)")
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir to use")
	return cmd
}
