package config

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" = success
		check   func(t *testing.T, f *File)
	}{
		{name: "empty", in: ""},
		{
			name: "full",
			in: `default_account = "alice@example.org"
timeout = "5s"
state_dir = "/tmp/s"
[accounts."alice@example.org"]
password = "pw"
server = "127.0.0.1:5222"
ca_file = "/ca.pem"
direct_tls = true
resource = "r"
`,
			check: func(t *testing.T, f *File) {
				a, ok := f.Account("alice@example.org")
				if !ok || a.Password != "pw" || a.Server != "127.0.0.1:5222" || a.CAFile != "/ca.pem" ||
					a.DirectTLS == nil || !*a.DirectTLS || a.Resource != "r" {
					t.Errorf("account = %+v", a)
				}
				if f.Timeout.Duration != 5*time.Second || f.StateDir != "/tmp/s" || f.DefaultAccount != "alice@example.org" {
					t.Errorf("file = %+v", f)
				}
			},
		},
		{name: "syntax error", in: "default_account = \n", wantErr: "line 1"},
		{name: "unknown top key", in: `default_acount = "a@b"`, wantErr: `unknown key default_acount (did you mean "default_account"?)`},
		{name: "unknown account key", in: "[accounts.\"a@b\"]\npasword = \"x\"\n", wantErr: `did you mean "password"?`},
		{name: "both password sources", in: "[accounts.\"a@b\"]\npassword = \"x\"\npassword_cmd = \"echo x\"\n", wantErr: "both password and password_cmd"},
		{name: "bad timeout", in: `timeout = "soon"`, wantErr: `invalid duration "soon"`},
		{name: "negative timeout", in: `timeout = "-1s"`, wantErr: "positive"},
		{name: "default without table", in: "default_account = \"x@y\"\n[accounts.\"a@b\"]\n", wantErr: "default_account"},
		{name: "bad account name", in: "[accounts.nobody]\n", wantErr: "not a JID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("test.toml", []byte(tc.in))
			if tc.wantErr != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse: %v, want *ParseError containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "test.toml") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestLoadModes(t *testing.T) {
	const withPW = "[accounts.\"a@b\"]\npassword = \"pw\"\n"
	const withCmd = "[accounts.\"a@b\"]\npassword_cmd = \"echo pw\"\n"
	const plain = "[accounts.\"a@b\"]\nserver = \"h:1\"\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantFix string // "" = accepted
	}{
		{"password 600", withPW, 0o600, ""},
		{"password 400", withPW, 0o400, ""},
		{"password 644", withPW, 0o644, "chmod 600 "},
		{"password 640", withPW, 0o640, "chmod 600 "},
		{"password 604", withPW, 0o604, "chmod 600 "},
		{"no secret 644", plain, 0o644, ""},
		{"command 644", withCmd, 0o644, ""},
		{"command 664", withCmd, 0o664, "chmod go-w "},
		{"command 646", withCmd, 0o646, "chmod go-w "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "config.toml", tc.content, tc.mode)
			_, err := Load(path, true)
			if tc.wantFix == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var pe *PermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("Load: %v, want *PermissionError", err)
			}
			if want := tc.wantFix + path; pe.Fix != want || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want fix %q", err, want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.toml")
	f, err := Load(path, false)
	if err != nil || f.Path != "" || len(f.Accounts) != 0 {
		t.Errorf("Load(missing, false) = %+v, %v", f, err)
	}
	if _, err := Load(path, true); err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Errorf("Load(missing, true) = %v, want an error naming the file", err)
	}
}

func TestRedact(t *testing.T) {
	f, err := Parse("x", []byte("[accounts.\"a@b\"]\npassword = \"s3cret\"\n[accounts.\"c@d\"]\npassword_cmd = \"echo\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Redact()
	if r.Accounts["a@b"].Password != Redacted || r.Accounts["c@d"].Password != "" {
		t.Errorf("Redact = %+v", r.Accounts)
	}
	if f.Accounts["a@b"].Password != "s3cret" {
		t.Error("Redact changed the original")
	}
}

func TestReadPasswordFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		wantErr string
	}{
		{"one line", "s3cr3t-pw\n", 0o600, "s3cr3t-pw", ""},
		{"crlf", "s3cr3t-pw\r\nrest", 0o600, "s3cr3t-pw", ""},
		{"no newline", "p w", 0o400, "p w", ""},
		{"empty", "\n", 0o600, "", "empty password"},
		{"readable", "s3cr3t-pw\n", 0o644, "", "chmod 600 "},
		{"group readable", "s3cr3t-pw\n", 0o640, "", "chmod 600 "},
		{"too long", strings.Repeat("x", MaxPasswordSize+1), 0o600, "", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "pw", tc.content, tc.mode)
			got, err := ReadPasswordFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadPasswordFile: %v, want error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tc.content)) && tc.content != "\n" {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ReadPasswordFile = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRunPasswordCmd(t *testing.T) {
	tests := []struct {
		cmd, want, wantErr string
	}{
		{"printf 'pw-1\\nsecond'", "pw-1", ""},
		{"echo hunter2; exit 3", "", "exit status 3"},
		{"true", "", "empty password"},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			got, err := RunPasswordCmd(context.Background(), tc.cmd, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("RunPasswordCmd: %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2\n") {
					t.Errorf("error contains the output: %v", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("RunPasswordCmd = %q, %v", got, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := RunPasswordCmd(ctx, "sleep 5", io.Discard); err == nil {
		t.Error("a command outliving its context succeeded")
	}
}

func TestDefaultPaths(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		env              map[string]string
		config, stateDir string
	}{
		{map[string]string{"HOME": "/h"}, "/h/.config/esn/config.toml", "/h/.local/state/esn"},
		{map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "/x/c", "XDG_STATE_HOME": "/x/s"}, "/x/c/esn/config.toml", "/x/s/esn"},
		{map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "rel"}, "/h/.config/esn/config.toml", "/h/.local/state/esn"},
	}
	for _, tc := range tests {
		if got := DefaultPath(env(tc.env)); got != tc.config {
			t.Errorf("DefaultPath(%v) = %q, want %q", tc.env, got, tc.config)
		}
		if got := DefaultStateDir(env(tc.env)); got != tc.stateDir {
			t.Errorf("DefaultStateDir(%v) = %q, want %q", tc.env, got, tc.stateDir)
		}
	}
}

func TestWriteTemplate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config.toml")
	if err := WriteTemplate(path, "bob@example.org", false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v, mode %v", err, fi.Mode())
	}
	f, err := Load(path, true)
	if err != nil {
		t.Fatalf("the template does not load: %v", err)
	}
	if f.DefaultAccount != "bob@example.org" {
		t.Errorf("default_account = %q", f.DefaultAccount)
	}
	if err := WriteTemplate(path, "", false); !errors.Is(err, ErrExists) {
		t.Errorf("second WriteTemplate: %v, want ErrExists", err)
	}
	if err := WriteTemplate(path, "carol@example.org", true); err != nil {
		t.Errorf("WriteTemplate with force: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Template("")))
	f.Add([]byte("default_account = \"a@b\"\n[accounts.\"a@b\"]\npassword = \"x\"\n"))
	f.Add([]byte("timeout = \"1s\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			return
		}
		for _, a := range c.Accounts {
			if a.Password != "" && a.PasswordCmd != "" {
				t.Fatal("accepted both password and password_cmd")
			}
		}
		_ = c.Redact()
	})
}
