package cli

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run("version")
	if code != ExitOK || !strings.HasPrefix(out, "femtoclaw ") {
		t.Fatalf("version: exit %d, output %q; want 0 and femtoclaw ...", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"version", "--no-such-flag"},
		{"check"},
		{"call"},
	} {
		if code, _, _ := run(args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

func TestCheckGoodConfigs(t *testing.T) {
	for _, path := range []string{"../../../configs/demo.yaml", "../../../configs/example.yaml"} {
		code, out, errOut := run("check", "-c", path)
		if code != ExitOK {
			t.Errorf("check %s: exit %d, want 0; stderr:\n%s", path, code, errOut)
		}
		if !strings.Contains(out, "ok") {
			t.Errorf("check %s: output %q, want it to say ok", path, out)
		}
	}
}

// TestCheckBadConfigs runs every malformed config of the config package
// through the command: exit 2, and every problem as FILE:LINE:COL: message.
func TestCheckBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../../../gateway/config/testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d malformed configs, want at least 10", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errOut := run("check", "-c", f)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d", code, ExitUsage)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			pos := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f) + `:\d+:\d+: \S`)
			if !pos.MatchString(errOut) {
				t.Errorf("stderr has no %s:LINE:COL: line:\n%s", f, errOut)
			}
		})
	}
}
