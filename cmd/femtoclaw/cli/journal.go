package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/journal"
)

func newJournalCmd() *cobra.Command {
	var dataDir, cfgPath string
	cmd := &cobra.Command{
		Use:   "journal verify|show|replay",
		Short: "Inspect the journal of a stopped gateway",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "", "data dir (default: from -c, else /var/lib/femtoclaw)")
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir to use")

	open := func() (*journal.Journal, error) {
		dir, err := resolveDataDir(dataDir, cfgPath)
		if err != nil {
			return nil, err
		}
		j, err := journal.OpenReadOnly(filepath.Join(dir, "journal"), journal.Options{})
		if err != nil {
			return nil, withCode(ExitFailed, err)
		}
		return j, nil
	}

	var asJSON bool
	show := &cobra.Command{
		Use:   "show [--json]",
		Short: "Print every record",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			j, err := open()
			if err != nil {
				return err
			}
			defer j.Close()
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			err = j.Scan(1, func(r journal.Record) error {
				if asJSON {
					return enc.Encode(r)
				}
				return printRecord(w, r)
			})
			return withCode(ExitFailed, err)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "one JSON object per record")

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain; name the first record where it breaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			j, err := open()
			if err != nil {
				return err
			}
			defer j.Close()
			res, err := j.Verify()
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if !res.OK {
				return withCode(ExitFailed, fmt.Errorf("journal: chain broken at seq %d: %s (%d records checked)", res.BadSeq, res.Problem, res.Records))
			}
			if res.Pruned > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "journal ok: %d records after the %d pruned, chain intact\n", res.Records, res.Pruned)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "journal ok: %d records, chain intact\n", res.Records)
			return nil
		},
	}
	cmd.AddCommand(show, verify, newReplayCmd(open, &cfgPath))
	return cmd
}

func printRecord(w io.Writer, r journal.Record) error {
	who := r.Principal
	if r.Episode != "" {
		who += " " + r.Episode
	}
	ref := ""
	if r.Ref != 0 {
		ref = fmt.Sprintf(" ref=%d", r.Ref)
	}
	_, err := fmt.Fprintf(w, "%6d %s %-8s %s%s %s\n", r.Seq, r.Time.Format("2006-01-02T15:04:05.000Z07:00"), r.Kind, who, ref, r.Body)
	return err
}
