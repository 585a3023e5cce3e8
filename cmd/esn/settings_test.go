package main

import (
	"errors"
	"testing"
	"time"

	"github.com/esn-project/esn/internal/config"
)

func TestResolveSettingsPrecedence(t *testing.T) {
	cfgText := `default_account = "alice@example.org"
timeout = "10s"
state_dir = "/cfg/state"
[accounts."alice@example.org"]
password_cmd = "echo pw"
server = "cfg.example:5222"
ca_file = "/cfg/ca.pem"
direct_tls = true
resource = "cfgres"
[accounts."bob@example.org"]
password = "bobpw"
server = "bob.example:5222"
tls_skip_verify = true
`
	cfg, err := config.Parse("test.toml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	empty := &config.File{}
	home := map[string]string{"HOME": "/home/u"}

	tests := []struct {
		name    string
		flags   map[string]string // flags the user set
		env     map[string]string
		cfg     *config.File
		tty     bool
		check   func(t *testing.T, s settings)
		wantErr bool
	}{
		{
			name: "defaults",
			cfg:  empty,
			check: func(t *testing.T, s settings) {
				want(t, "account", s.Account, "")
				want(t, "server", s.Server, "")
				want(t, "timeout", s.Timeout, defaultTimeout)
				want(t, "state-dir", s.StateDir, "/home/u/.local/state/esn")
				want(t, "config", s.ConfigPath, "/home/u/.config/esn/config.toml")
				want(t, "config explicit", s.ConfigExplicit, false)
				want(t, "password", s.PasswordFrom, passwordNone)
				want(t, "source server", s.Source["server"], fromDefault)
			},
		},
		{
			name: "config only",
			cfg:  cfg,
			check: func(t *testing.T, s settings) {
				want(t, "account", s.Account, "alice@example.org")
				want(t, "source account", s.Source["account"], fromConfig)
				want(t, "server", s.Server, "cfg.example:5222")
				want(t, "ca", s.CAFile, "/cfg/ca.pem")
				want(t, "direct-tls", s.DirectTLS, true)
				want(t, "resource", s.Resource, "cfgres")
				want(t, "timeout", s.Timeout, 10*time.Second)
				want(t, "state-dir", s.StateDir, "/cfg/state")
				want(t, "password", s.PasswordFrom, passwordCmd)
				want(t, "password cmd", s.PasswordCmd, "echo pw")
			},
		},
		{
			name: "env over config",
			cfg:  cfg,
			env: map[string]string{envAccount: "bob@example.org", envServer: "env.example:1", envCAFile: "/env/ca",
				envStateDir: "/env/state", envPassword: "x", envNoColor: "1", envConfig: "/env/config.toml"},
			check: func(t *testing.T, s settings) {
				want(t, "account", s.Account, "bob@example.org")
				want(t, "account key", s.AccountKey, "bob@example.org")
				want(t, "server", s.Server, "env.example:1")
				want(t, "source server", s.Source["server"], fromEnv)
				want(t, "ca", s.CAFile, "/env/ca")
				want(t, "state-dir", s.StateDir, "/env/state")
				want(t, "password", s.PasswordFrom, passwordEnv)
				want(t, "no-color", s.NoColor, true)
				want(t, "config", s.ConfigPath, "/env/config.toml")
				want(t, "config explicit", s.ConfigExplicit, true)
				// bob's table applies once bob is the account.
				want(t, "tls-skip-verify", s.TLSSkipVerify, true)
				want(t, "direct-tls", s.DirectTLS, false)
			},
		},
		{
			name: "flags over env",
			cfg:  cfg,
			flags: map[string]string{"account": "carol@example.org", "server": "flag.example:2", "ca-file": "/flag/ca",
				"state-dir": "/flag/state", "timeout": "5s", "direct-tls": "false", "resource": "flagres",
				"password-file": "/flag/pw", "no-color": "false", "config": "/flag/config.toml"},
			env: map[string]string{envAccount: "bob@example.org", envServer: "env.example:1", envCAFile: "/env/ca",
				envStateDir: "/env/state", envPassword: "x", envNoColor: "1", envConfig: "/env/config.toml"},
			check: func(t *testing.T, s settings) {
				want(t, "account", s.Account, "carol@example.org")
				want(t, "account key", s.AccountKey, "")
				want(t, "server", s.Server, "flag.example:2")
				want(t, "source server", s.Source["server"], fromFlag)
				want(t, "ca", s.CAFile, "/flag/ca")
				want(t, "state-dir", s.StateDir, "/flag/state")
				want(t, "timeout", s.Timeout, 5*time.Second)
				want(t, "resource", s.Resource, "flagres")
				want(t, "password", s.PasswordFrom, passwordFile)
				want(t, "password file", s.PasswordFile, "/flag/pw")
				want(t, "no-color", s.NoColor, false)
				want(t, "config", s.ConfigPath, "/flag/config.toml")
			},
		},
		{
			name:  "explicit false flag beats config true",
			cfg:   cfg,
			flags: map[string]string{"direct-tls": "false"},
			check: func(t *testing.T, s settings) {
				want(t, "direct-tls", s.DirectTLS, false)
				want(t, "source", s.Source["direct-tls"], fromFlag)
			},
		},
		{
			name: "config password beats prompt",
			cfg:  cfg,
			env:  map[string]string{envAccount: "bob@example.org"},
			tty:  true,
			check: func(t *testing.T, s settings) {
				want(t, "password", s.PasswordFrom, passwordConfig)
			},
		},
		{
			name:  "prompt when nothing else and a terminal",
			cfg:   empty,
			flags: map[string]string{"account": "dave@example.org"},
			tty:   true,
			check: func(t *testing.T, s settings) { want(t, "password", s.PasswordFrom, passwordPrompt) },
		},
		{
			name:  "full JID finds the bare account table",
			cfg:   cfg,
			flags: map[string]string{"account": "bob@example.org/phone"},
			check: func(t *testing.T, s settings) {
				want(t, "account key", s.AccountKey, "bob@example.org")
				want(t, "server", s.Server, "bob.example:5222")
			},
		},
		{
			name: "single account is the default",
			cfg:  mustParse(t, "[accounts.\"erin@example.org\"]\nserver = \"e:1\"\n"),
			check: func(t *testing.T, s settings) {
				want(t, "account", s.Account, "erin@example.org")
				want(t, "server", s.Server, "e:1")
			},
		},
		{
			name:  "XDG paths",
			cfg:   empty,
			env:   map[string]string{"XDG_CONFIG_HOME": "/x/c", "XDG_STATE_HOME": "/x/s"},
			check: func(t *testing.T, s settings) { want(t, "state", s.StateDir, "/x/s/esn") },
		},
		{name: "plaintext to remote IP", cfg: empty, flags: map[string]string{"allow-plaintext": "true", "server": "192.0.2.1:5222"}, wantErr: true},
		{name: "plaintext with direct TLS", cfg: empty, flags: map[string]string{"allow-plaintext": "true", "direct-tls": "true"}, wantErr: true},
		{name: "plaintext to loopback", cfg: empty, flags: map[string]string{"allow-plaintext": "true", "server": "127.0.0.1:5222"},
			check: func(t *testing.T, s settings) { want(t, "plaintext", s.AllowPlaintext, true) }},
		{name: "plaintext to ::1", cfg: empty, flags: map[string]string{"allow-plaintext": "true", "server": "[::1]:5222"},
			check: func(t *testing.T, s settings) { want(t, "plaintext", s.AllowPlaintext, true) }},
		{name: "zero timeout", cfg: empty, flags: map[string]string{"timeout": "0s"}, wantErr: true},
		{name: "bad account JID", cfg: cfg, flags: map[string]string{"account": "a@@b"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fl := flagValuesFrom(t, tc.flags)
			env := map[string]string{}
			for k, v := range home {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			s, err := resolveSettings(fl, func(k string) string { return env[k] }, tc.cfg, tc.tty)
			if tc.wantErr {
				var u *usageError
				if !errors.As(err, &u) {
					t.Fatalf("resolveSettings: %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveSettings: %v", err)
			}
			tc.check(t, s)
		})
	}
}

func mustParse(t *testing.T, s string) *config.File {
	t.Helper()
	f, err := config.Parse("t.toml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// flagValuesFrom parses set through the real root command's flag set, so
// that the test covers the flag names too.
func flagValuesFrom(t *testing.T, set map[string]string) flagValues {
	t.Helper()
	a := &app{getenv: func(string) string { return "" }}
	root := newRootCmd(a)
	fs := root.PersistentFlags()
	for k, v := range set {
		if err := fs.Set(k, v); err != nil {
			t.Fatalf("set --%s=%s: %v", k, v, err)
		}
	}
	a.flags.changed = func(name string) bool {
		f := fs.Lookup(name)
		return f != nil && f.Changed
	}
	return a.flags
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
