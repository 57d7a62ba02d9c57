package journal

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// syncFailureDir names, in the environment of a child test process, the
// journal that TestSyncFailure's child writes until a WAL sync fails.
const syncFailureDir = "FEMTOCLAW_JOURNAL_SYNC_FAILURE_DIR"

// TestSyncFailure checks what happens when the WAL cannot be synced. Pebble
// treats that as fatal, and the journal lets it be: the process dies before
// AppendSync can return, so no caller goes on to touch a device. The test
// runs the failing journal in a child process, then reopens it and checks
// that the records synced before the failure survived in a verified chain.
func TestSyncFailure(t *testing.T) {
	if dir := os.Getenv(syncFailureDir); dir != "" {
		syncFailureChild(t, dir)
		return
	}
	dir := t.TempDir() + "/journal"
	cmd := exec.Command(os.Args[0], "-test.run=^TestSyncFailure$", "-test.count=1")
	cmd.Env = append(os.Environ(), syncFailureDir+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: got %v, want it to die\n%s", err, out)
	}
	if !strings.Contains(string(out), "fatal commit error") || strings.Contains(string(out), "AppendSync returned") {
		t.Fatalf("child output does not show a fatal commit error before AppendSync returned:\n%s", out)
	}

	j := mustOpen(t, dir, nil)
	seq, _ := j.Last()
	if seq < 3 {
		t.Fatalf("after the failure, Last() = %d, want at least the 3 records synced before it", seq)
	}
	mustVerify(t, j, seq)
	if _, err := j.AppendSync(Entry{Kind: KindNote, Body: "recovered"}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, j, seq+1)
}

func syncFailureChild(t *testing.T, dir string) {
	var armed atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if armed.Load() && strings.HasSuffix(op.Path, ".log") {
				return errorfs.ErrInjected
			}
		}
		return nil
	}))
	j, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := j.AppendSync(Entry{Kind: KindIntent}); err != nil {
			t.Fatal(err)
		}
	}
	armed.Store(true)
	_, err = j.AppendSync(Entry{Kind: KindIntent})
	t.Fatalf("AppendSync returned %v with a failing WAL sync, want the process to die", err)
}
