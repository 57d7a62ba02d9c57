// Package cli is femtoclaw's command line: one cobra command per verb of the
// CLI contract in the design. Every command returns an error carrying its
// exit code; Main turns it into the process's exit status.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/lmittmann/tint"
	"github.com/spf13/cobra"
)

// Set at build time with -ldflags "-X ...cli.version=... -X ...cli.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes of the CLI contract.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2 // bad usage or bad config: nothing started, nothing written
	ExitDenied = 3
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "femtoclaw:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are usage errors (unknown flag, wrong arguments).
	fmt.Fprintln(stderr, "femtoclaw:", err)
	return ExitUsage
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "femtoclaw",
		Short:         "The gateway between a language model and the machines of a plant",
		Long:          "femtoclaw lets a language model propose actions on PLCs through named, typed, gated capabilities.\nThe model only proposes; femtoclaw decides, journals and executes.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVersionCmd(),
		newCheckCmd(),
		newRunCmd(),
		newDemoCmd(),
		newSimCmd(),
		newJournalCmd(),
		newCallCmd(),
		newAskCmd(),
		newMCPCmd(),
		newProbeCmd(),
		newBrowseCmd(),
		newApproveCmd(),
		newRejectCmd(),
		newPendingCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version and target",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "femtoclaw %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// newLogger renders logs with tint on a terminal and as JSON otherwise.
func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return slog.New(tint.NewHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
