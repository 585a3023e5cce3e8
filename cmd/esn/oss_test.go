package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOSSFlag(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		file     string
		env      string
		want     string // the secret; "" = none
		wantCode int    // exit code of the error; 0 = no error
	}{
		{"none", "", "", "", 0},
		{"env", "", "from env", "from env", 0},
		{"file, trailing newline removed", file("nl", "s3cret\n", 0o600), "", "s3cret", 0},
		{"file, CRLF removed", file("crlf", "s3cret\r\n", 0o600), "", "s3cret", 0},
		{"file kept exactly otherwise", file("exact", " two words \n\n", 0o600), "", " two words \n", 0},
		{"file beats env", file("beats", "file", 0o600), "env", "file", 0},
		{"readable by others", file("open", "s3cret", 0o644), "", "", exitNoPerm},
		{"empty", file("empty", "\n", 0o600), "", "", exitUsage},
		{"too long", file("long", strings.Repeat("x", maxOSS+1), 0o600), "", "", exitUsage},
		{"env too long", "", strings.Repeat("x", maxOSS+1), "", exitUsage},
		{"missing", filepath.Join(dir, "nope"), "", "", exitUsage},
		{"directory", dir, "", "", exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ossFlag{file: tc.file}
			got, from, err := o.load(func(k string) string {
				if k == envOSS {
					return tc.env
				}
				return ""
			})
			if tc.wantCode != 0 {
				if err == nil || exitCode(err) != tc.wantCode {
					t.Fatalf("err = %v (exit %d), want exit %d", err, exitCode(err), tc.wantCode)
				}
				if tc.env != "" && strings.Contains(err.Error(), tc.env) {
					t.Error("the error shows the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || (tc.want == "") != (got == nil) {
				t.Errorf("secret %q, want %q", got, tc.want)
			}
			if tc.want != "" && (from == "" || strings.Contains(from, tc.want)) {
				t.Errorf("source %q", from)
			}
		})
	}
}

// The secret is never accepted on the command line.
func TestOSSNotOnArgv(t *testing.T) {
	for _, cmd := range []string{"negotiate", "send", "receive"} {
		c, _, err := newRootCmd(&app{getenv: func(string) string { return "" }}).Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags().Lookup("oss-file") == nil {
			t.Errorf("%s has no --oss-file", cmd)
		}
		for _, name := range []string{"oss", "oss-secret"} {
			if c.Flags().Lookup(name) != nil {
				t.Errorf("%s takes the secret itself as --%s", cmd, name)
			}
		}
	}
}
