package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/gateway/agent"
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
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pending [--json]",
		Short: "List the calls waiting for approval",
		Long: `pending lists the calls of the running gateway that wait for an operator's
approval, oldest first: a table by default, one JSON object per line with
--json (the full digest, for approve --digest, is in both).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			list, err := c.Pending(cmd.Context())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, p := range list {
					if err := enc.Encode(p); err != nil {
						return withCode(ExitFailed, err)
					}
				}
				return nil
			}
			return writePendingTable(cmd.OutOrStdout(), list, time.Now())
		},
	}
	f.add(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

// writePendingTable writes the pending calls as an aligned table: what
// each would do, who proposed it, how long it may still wait and the
// digest an approval binds.
func writePendingTable(w io.Writer, list []agent.PendingCall, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no calls wait for approval")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROPOSED BY\tCAPABILITY\tACTION\tEXPIRES IN\tDIGEST")
	for _, p := range list {
		left := p.Expires.Sub(now).Round(time.Second)
		if left < 0 {
			left = 0
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Principal, p.Call.Capability, actionSummary(p.Action), left, p.Digest)
	}
	return tw.Flush()
}

// actionSummary words a pending action's journal form in one line:
// "tank.outlet_valve = 40", "tank.heater = true for 2s, then false", the
// steps of a sequence separated by "; ". Text it cannot read is shown as
// it is.
func actionSummary(raw json.RawMessage) string {
	type encoded struct {
		Value json.RawMessage `json:"value"`
	}
	type step struct {
		Device string  `json:"device"`
		Point  string  `json:"point"`
		Value  encoded `json:"value"`
	}
	var a struct {
		Kind       capability.Kind `json:"kind"`
		Device     string          `json:"device"`
		Point      string          `json:"point"`
		Value      encoded         `json:"value"`
		Restore    encoded         `json:"restore"`
		DurationMS int64           `json:"duration_ms"`
		Steps      []step          `json:"steps"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return string(raw)
	}
	switch a.Kind {
	case capability.KindWrite:
		return fmt.Sprintf("%s.%s = %s", a.Device, a.Point, a.Value.Value)
	case capability.KindPulse:
		return fmt.Sprintf("%s.%s = %s for %s, then %s", a.Device, a.Point, a.Value.Value, time.Duration(a.DurationMS)*time.Millisecond, a.Restore.Value)
	case capability.KindSequence:
		parts := make([]string, len(a.Steps))
		for i, s := range a.Steps {
			parts[i] = fmt.Sprintf("%s.%s = %s", s.Device, s.Point, s.Value.Value)
		}
		return strings.Join(parts, "; ")
	}
	return string(raw)
}
