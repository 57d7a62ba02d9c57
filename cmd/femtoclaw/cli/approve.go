package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/api"
)

// approvalFlags are the flags approve, reject and pending share.
type approvalFlags struct {
	as, dataDir, cfgPath string
}

func (f *approvalFlags) add(cmd *cobra.Command, principal bool) {
	if principal {
		cmd.Flags().StringVar(&f.as, "as", "operator", "principal who decides")
	}
	cmd.Flags().StringVar(&f.dataDir, "data", "", "data dir of the running gateway (default: from -c, else /var/lib/femtoclaw)")
	cmd.Flags().StringVarP(&f.cfgPath, "config", "c", "", "config file whose data dir to use")
}

func (f *approvalFlags) client() (*api.Client, error) {
	dir, err := resolveDataDir(f.dataDir, f.cfgPath)
	if err != nil {
		return nil, err
	}
	return api.NewClient(filepath.Join(dir, api.SocketName)), nil
}

// printResult prints a result as JSON and maps it to the exit code of the
// CLI contract: 0 done, 3 denied or pending, 1 failed.
func printResult(cmd *cobra.Command, res capability.Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
	switch {
	case res.OK:
		return nil
	case res.Code == "denied" || res.Code == "pending":
		return withCode(ExitDenied, fmt.Errorf("%s: %s", res.Code, res.Reason))
	default:
		return withCode(ExitFailed, fmt.Errorf("failed: %s", res.Reason))
	}
}

func newApproveCmd() *cobra.Command {
	var f approvalFlags
	var digest string
	cmd := &cobra.Command{
		Use:   "approve [--as P] [--digest D] ID",
		Short: "Approve a pending call; it is decided again and carried out",
		Long: `approve approves the pending call ID (see femtoclaw pending) through the
running gateway. The gate decides the call again with the approval: the
approver must not be its proposer, the approval must not have expired and
the call must resolve to the very action that was pending (--digest pins
the digest shown by pending). Exit 0 when done, 3 when refused, 1 when it failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := c.Approve(cmd.Context(), api.ApprovalRequest{ID: args[0], Principal: f.as, Digest: digest})
			if err != nil {
				return withCode(ExitFailed, err)
			}
			return printResult(cmd, res)
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&digest, "digest", "", "digest of the action being approved (default: the pending one)")
	return cmd
}

func newRejectCmd() *cobra.Command {
	var f approvalFlags
	cmd := &cobra.Command{
		Use:   "reject [--as P] ID",
		Short: "Reject a pending call",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := c.Reject(cmd.Context(), api.ApprovalRequest{ID: args[0], Principal: f.as})
			if err != nil {
				return withCode(ExitFailed, err)
			}
			return printResult(cmd, res)
		},
	}
	f.add(cmd, true)
	return cmd
}

func newPendingCmd() *cobra.Command {
	var f approvalFlags
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "List the calls waiting for approval, one JSON object per line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			list, err := c.Pending(cmd.Context())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, p := range list {
				if err := enc.Encode(p); err != nil {
					return withCode(ExitFailed, err)
				}
			}
			return nil
		},
	}
	f.add(cmd, false)
	return cmd
}
