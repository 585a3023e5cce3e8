package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// esn receive's --timeout shadows the global flag wherever it stands on
// the command line (cobra parses every flag with the subcommand's flag
// set): it is the receive duration, and the server and reply timeout keeps
// the config file's value. Other commands take --timeout as the global
// flag.
func TestReceiveTimeoutShadowing(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte("timeout = \"7s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, envConfig: cfgPath, envStateDir: filepath.Join(dir, "state")}
	tests := []struct {
		args        []string
		wantReceive time.Duration // receive's --timeout; -1 = not receive
		wantTimeout time.Duration // the settings' server/reply timeout
		wantSource  string
	}{
		{[]string{"receive", "--timeout", "2s"}, 2 * time.Second, 7 * time.Second, fromConfig},
		{[]string{"--timeout", "3s", "receive"}, 3 * time.Second, 7 * time.Second, fromConfig},
		{[]string{"receive"}, 0, 7 * time.Second, fromConfig},
		{[]string{"send", "--timeout", "4s", "bob@example.org", "hi"}, -1, 4 * time.Second, fromFlag},
		{[]string{"--timeout", "5s", "negotiate", "bob@example.org"}, -1, 5 * time.Second, fromFlag},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
			root := newRootCmd(a)
			root.SetArgs(tc.args)
			root.SetOut(&out)
			root.SetErr(&errOut)
			cmd, err := root.ExecuteContextC(context.Background())
			// No account is configured: the command fails after resolving
			// its settings, before any network access.
			if err == nil || !strings.Contains(err.Error(), "account") {
				t.Fatalf("err = %v, want the missing-account error", err)
			}
			if a.s.Timeout != tc.wantTimeout || a.s.Source["timeout"] != tc.wantSource {
				t.Errorf("server/reply timeout %v from %s, want %v from %s", a.s.Timeout, a.s.Source["timeout"], tc.wantTimeout, tc.wantSource)
			}
			if tc.wantReceive >= 0 {
				got, err := cmd.Flags().GetDuration("timeout")
				if err != nil || got != tc.wantReceive {
					t.Errorf("receive duration %v (%v), want %v", got, err, tc.wantReceive)
				}
			}
		})
	}
}
