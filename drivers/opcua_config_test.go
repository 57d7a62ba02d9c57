package drivers

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	t.Setenv("FEMTOCLAW_TEST_SECRET", "hunter2")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref, want string
		wantErr   bool
	}{
		{ref: "env:FEMTOCLAW_TEST_SECRET", want: "hunter2"},
		{ref: "file:" + file, want: "s3cret"},
		{ref: "env:FEMTOCLAW_TEST_UNSET_SECRET", wantErr: true},
		{ref: "file:" + file + ".missing", wantErr: true},
		{ref: "hunter2", wantErr: true},
		{ref: "env:", wantErr: true},
	}
	for _, tc := range cases {
		var s Secret
		if err := s.UnmarshalText([]byte(tc.ref)); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", tc.ref, err)
		}
		got, err := s.Reveal()
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Reveal(%q): got %q, %v; want %q, error %v", tc.ref, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrSecret) {
			t.Errorf("Reveal(%q): got %v, want ErrSecret", tc.ref, err)
		}
		// However it is printed, a secret never shows what it holds, and
		// a malformed reference (maybe a password) never shows at all.
		c := OPCUAConfig{Username: "u", Password: s}
		b, _ := json.Marshal(c)
		for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", c, c, c, s), string(b)} {
			if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cret") {
				t.Errorf("printing a config with secret %q: got %s, want no secret in it", tc.ref, out)
			}
		}
	}
}
