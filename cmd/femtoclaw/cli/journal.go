package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/femtoclaw/femtoclaw/drivers"
	"github.com/femtoclaw/femtoclaw/gateway/api"
	"github.com/femtoclaw/femtoclaw/journal"
)

func newJournalCmd() *cobra.Command {
	var dataDir, cfgPath, keyRef string
	cmd := &cobra.Command{
		Use:   "journal verify|show|export|replay",
		Short: "Inspect the journal: of a stopped gateway, or through a running one's local API",
		Long: `journal reads the journal in the data dir. While a gateway runs it holds the
journal's lock; verify, show and export then ask that gateway through its
socket in the data dir instead.

With an HMAC key (--key, or journal.hmac_key of the config given with -c),
verify also checks every record's MAC.`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "", "data dir (default: from -c, else /var/lib/femtoclaw)")
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "config file whose data dir (and journal.hmac_key) to use")
	cmd.PersistentFlags().StringVar(&keyRef, "key", "", "HMAC key as env:NAME or file:PATH (default: the config's journal.hmac_key)")

	// locate returns the data dir and the HMAC key, nil if none.
	locate := func() (string, []byte, error) {
		dir, key := dataDir, []byte(nil)
		if cfgPath != "" {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return "", nil, err
			}
			if dir == "" {
				dir = cfg.Gateway.DataDir
			}
			if key, err = cfg.Journal.Key(); err != nil {
				return "", nil, withCode(ExitUsage, err)
			}
		}
		if keyRef != "" {
			s, err := drivers.NewSecret(keyRef)
			if err != nil {
				return "", nil, withCode(ExitUsage, fmt.Errorf("--key: %w", err))
			}
			k, err := s.Reveal()
			if err != nil {
				return "", nil, withCode(ExitUsage, fmt.Errorf("--key: %w", err))
			}
			key = []byte(k)
		}
		if dir == "" {
			dir = "/var/lib/femtoclaw"
		}
		return dir, key, nil
	}

	open := func() (*journal.Journal, error) {
		dir, key, err := locate()
		if err != nil {
			return nil, err
		}
		j, err := journal.OpenReadOnly(filepath.Join(dir, "journal"), journal.Options{Key: key})
		if err != nil {
			return nil, withCode(ExitFailed, err)
		}
		return j, nil
	}

	// source opens the journal, or reaches the running gateway that holds
	// it.
	source := func() (journalSource, error) {
		dir, key, err := locate()
		if err != nil {
			return nil, err
		}
		j, err := journal.OpenReadOnly(filepath.Join(dir, "journal"), journal.Options{Key: key})
		if err == nil {
			return localJournal{j: j, keyed: key != nil}, nil
		}
		socket := filepath.Join(dir, api.SocketName)
		if c, derr := net.DialTimeout("unix", socket, time.Second); derr == nil {
			c.Close()
			return remoteJournal{c: api.NewClient(socket)}, nil
		}
		return nil, withCode(ExitFailed, err)
	}

	var since string
	scan := func(cmd *cobra.Command, fn func(journal.Record) error) error {
		s, err := journal.ParseSince(since)
		if err != nil {
			return withCode(ExitUsage, err)
		}
		src, err := source()
		if err != nil {
			return err
		}
		defer src.Close()
		return withCode(ExitFailed, src.scan(cmd.Context(), s, fn))
	}

	var asJSON bool
	show := &cobra.Command{
		Use:   "show [--json] [--since SEQ|RFC3339]",
		Short: "Print the records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			return scan(cmd, func(r journal.Record) error {
				if asJSON {
					return enc.Encode(r)
				}
				return printRecord(w, r)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "one JSON object per record")
	show.Flags().StringVar(&since, "since", "", "from this seq, or from this RFC 3339 time, on")

	export := &cobra.Command{
		Use:   "export [--since SEQ|RFC3339]",
		Short: "Write the records as JSON lines, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			return scan(cmd, func(r journal.Record) error { return enc.Encode(r) })
		},
	}
	export.Flags().StringVar(&since, "since", "", "from this seq, or from this RFC 3339 time, on")

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain (and MACs, given the key); name the first record where it breaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := source()
			if err != nil {
				return err
			}
			defer src.Close()
			res, err := src.verify(cmd.Context())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if !res.OK {
				return withCode(ExitFailed, fmt.Errorf("journal: chain broken at seq %d: %s (%d records checked)", res.BadSeq, res.Problem, res.Records))
			}
			msg := fmt.Sprintf("journal ok: %d records, chain intact", res.Records)
			if res.Pruned > 0 {
				msg = fmt.Sprintf("journal ok: %d records after the %d pruned, chain intact", res.Records, res.Pruned)
			}
			switch {
			case res.Signed > 0 && src.macsChecked():
				msg += fmt.Sprintf("; %d signed, MACs checked", res.Signed)
			case res.Signed > 0:
				msg += fmt.Sprintf("; %d signed, MACs not checked without the key", res.Signed)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg+src.via())
			return nil
		},
	}
	cmd.AddCommand(show, export, verify, newReplayCmd(open, &cfgPath))
	return cmd
}

// journalSource is a journal read directly or through a running gateway.
type journalSource interface {
	scan(ctx context.Context, since journal.Since, fn func(journal.Record) error) error
	verify(ctx context.Context) (journal.VerifyResult, error)
	// macsChecked reports whether verify checks MACs.
	macsChecked() bool
	// via says, for the user, where the journal was read.
	via() string
	io.Closer
}

// localJournal is the journal of a stopped gateway, opened read-only.
type localJournal struct {
	j     *journal.Journal
	keyed bool
}

func (l localJournal) scan(_ context.Context, since journal.Since, fn func(journal.Record) error) error {
	return l.j.ScanSince(since, fn)
}

func (l localJournal) verify(context.Context) (journal.VerifyResult, error) { return l.j.Verify() }
func (l localJournal) macsChecked() bool                                    { return l.keyed }
func (l localJournal) via() string                                          { return "" }
func (l localJournal) Close() error                                         { return l.j.Close() }

// remoteJournal is the journal of a running gateway, read through its
// local API. The gateway verifies with its own key, if it has one.
type remoteJournal struct {
	c *api.Client
}

func (r remoteJournal) scan(ctx context.Context, since journal.Since, fn func(journal.Record) error) error {
	return r.c.Journal(ctx, since, fn)
}

func (r remoteJournal) verify(ctx context.Context) (journal.VerifyResult, error) {
	return r.c.VerifyJournal(ctx)
}

func (r remoteJournal) macsChecked() bool { return true }
func (r remoteJournal) via() string       { return " (verified by the running gateway)" }
func (r remoteJournal) Close() error      { return nil }

var (
	_ journalSource = localJournal{}
	_ journalSource = remoteJournal{}
)

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
