package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/capability"
	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/journal"

	_ "github.com/femtoclaw/femtoclaw/drivers/all" // resolvers of every compiled-in driver
)

// newReplayCmd re-decides every decision in the journal with the gate built
// from the config file.
func newReplayCmd(open func() (*journal.Journal, error), cfgPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "replay -c FILE [--data DIR]",
		Short: "Re-decide every recorded decision from its recorded inputs; report any difference",
		Long: `replay rebuilds the gate from the config file and decides every decision in
the journal again from the inputs it recorded: principal, call and snapshot
(live values, earlier admissions, approval, time). It prints each decision
that comes out differently and exits 1 if there is any. A decision recorded
under another configuration (its config digest differs) is reported too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *cfgPath == "" {
				return withCode(ExitUsage, errors.New("journal replay needs the config file: -c FILE"))
			}
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				return err
			}
			resolvers := make(map[string]capability.Resolver, len(cfg.Devices))
			for _, dc := range cfg.Devices {
				// Building a device dials nothing; only its Resolve is used.
				d, err := drivers.Open(dc, slog.New(slog.DiscardHandler))
				if err != nil {
					return withCode(ExitFailed, err)
				}
				defer d.Close()
				resolvers[dc.Name] = d
			}
			gate, err := capability.New(cfg.Capabilities, cfg.Principals(), cfg.Devices, resolvers)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			j, err := open()
			if err != nil {
				return err
			}
			defer j.Close()
			st, err := replayJournal(cmd.OutOrStdout(), j, gate)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d decisions: %d reproduced, %d differ, %d under another config\n", st.decisions, st.decisions-st.differ, st.differ, st.otherConfig)
			if st.differ > 0 {
				return withCode(ExitFailed, fmt.Errorf("journal: %d decision(s) differ on replay", st.differ))
			}
			return nil
		},
	}
}

type replayStats struct {
	decisions, differ, otherConfig int
}

// replayJournal re-decides every decision record and prints the ones that
// differ.
func replayJournal(w io.Writer, j *journal.Journal, gate *capability.Gate) (replayStats, error) {
	var st replayStats
	err := j.Scan(1, func(r journal.Record) error {
		if r.Kind != journal.KindDecision {
			return nil
		}
		st.decisions++
		var rec capability.Recorded
		if err := json.Unmarshal(r.Body, &rec); err != nil {
			st.differ++
			fmt.Fprintf(w, "seq %d: cannot decode the decision: %v\n", r.Seq, err)
			return nil
		}
		var diffs []string
		if rec.Config != gate.Digest() {
			st.otherConfig++
			diffs = append(diffs, fmt.Sprintf("config: recorded %q, now %q", rec.Config, gate.Digest()))
		}
		_, ds := gate.Replay(rec)
		if len(ds) == 0 {
			return nil
		}
		st.differ++
		for _, d := range append(diffs, ds...) {
			fmt.Fprintf(w, "seq %d %s %s: %s\n", r.Seq, rec.Principal, rec.Call.Capability, d)
		}
		return nil
	})
	return st, err
}
