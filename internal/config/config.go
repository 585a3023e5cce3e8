// Package config reads esn's configuration file and password sources.
//
// The file is TOML:
//
//	default_account = "alice@example.org"
//	state_dir = "/home/alice/.local/state/esn"   # optional
//	timeout = "30s"                               # optional
//
//	[accounts."alice@example.org"]
//	password_cmd = "pass show xmpp/alice"   # or: password = "..."
//	server = "xmpp.example.org:5222"
//	ca_file = "/etc/ssl/my-ca.pem"
//	direct_tls = false
//	resource = "esn"
//
// A file that holds a password must not be readable by group or others,
// and a file that names a password command must not be writable by them;
// Load refuses such a file with a *PermissionError that names the chmod
// that fixes it. Unknown keys are errors, so that a typo is not silently
// ignored.
package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds the size of a configuration or password file.
const MaxFileSize = 1 << 20

// MaxPasswordSize bounds a password read from a file or a command.
const MaxPasswordSize = 4096

// File is a parsed configuration file.
type File struct {
	DefaultAccount string             `toml:"default_account,omitempty" json:"default_account,omitempty"`
	StateDir       string             `toml:"state_dir,omitempty" json:"state_dir,omitempty"`
	Timeout        Duration           `toml:"timeout,omitempty" json:"timeout,omitzero"`
	Accounts       map[string]Account `toml:"accounts,omitempty" json:"accounts,omitempty"`

	// Path is where the file was read from; "" for an absent default file.
	Path string `toml:"-" json:"-"`
}

// Account holds the settings of one account, keyed by its JID in
// File.Accounts.
type Account struct {
	Password       string `toml:"password,omitempty" json:"password,omitempty"`
	PasswordCmd    string `toml:"password_cmd,omitempty" json:"password_cmd,omitempty"`
	Server         string `toml:"server,omitempty" json:"server,omitempty"`
	CAFile         string `toml:"ca_file,omitempty" json:"ca_file,omitempty"`
	DirectTLS      *bool  `toml:"direct_tls,omitempty" json:"direct_tls,omitempty"`
	TLSSkipVerify  *bool  `toml:"tls_skip_verify,omitempty" json:"tls_skip_verify,omitempty"`
	AllowPlaintext *bool  `toml:"allow_plaintext,omitempty" json:"allow_plaintext,omitempty"`
	Resource       string `toml:"resource,omitempty" json:"resource,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	if d.Duration == 0 {
		return nil, nil
	}
	return []byte(d.Duration.String()), nil
}

// IsZero lets encoders omit an unset duration.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// Redacted is the value that replaces secrets in Redact's result.
const Redacted = "REDACTED"

// ParseError reports a configuration file that is not valid TOML or holds
// unknown keys or bad values.
type ParseError struct {
	Path string
	Line int // 0 when unknown
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config file %s, line %d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("config file %s: %s", e.Path, e.Msg)
}

// PermissionError reports a file holding a secret (or naming a command)
// that other users can read (or change). Fix is the command that repairs it.
type PermissionError struct {
	Path string
	Mode fs.FileMode
	What string // "holds a password", "names a password command"
	Fix  string // "chmod 600 FILE"
}

func (e *PermissionError) Error() string {
	who := "readable"
	if strings.Contains(e.What, "command") {
		who = "writable"
	}
	return fmt.Sprintf("%s %s but is %s by group or others (mode %#o); fix it with: %s",
		e.Path, e.What, who, e.Mode.Perm(), e.Fix)
}

// DefaultPath returns $XDG_CONFIG_HOME/esn/config.toml, with
// XDG_CONFIG_HOME defaulting to $HOME/.config, using getenv for the
// environment.
func DefaultPath(getenv func(string) string) string {
	base := getenv("XDG_CONFIG_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(getenv("HOME"), ".config")
	}
	return filepath.Join(base, "esn", "config.toml")
}

// DefaultStateDir returns $XDG_STATE_HOME/esn, with XDG_STATE_HOME
// defaulting to $HOME/.local/state.
func DefaultStateDir(getenv func(string) string) string {
	base := getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(getenv("HOME"), ".local", "state")
	}
	return filepath.Join(base, "esn")
}

// Load reads and checks the file at path. When mustExist is false (the
// default path, not named by the user) a missing file yields an empty File.
func Load(path string, mustExist bool) (*File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &ParseError{Path: path, Msg: "not a regular file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.checkMode(fi.Mode()); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse parses data as a configuration file named path (used in errors).
// It does not check file modes.
func Parse(path string, data []byte) (*File, error) {
	var c File
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ParseError{Path: path, Line: pe.Position.Line, Msg: pe.Message}
		}
		return nil, &ParseError{Path: path, Msg: err.Error()}
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		msg := "unknown key " + k.String()
		if s := suggest(k[len(k)-1], knownKeys(len(k) > 1)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, &ParseError{Path: path, Msg: msg}
	}
	c.Path = path
	for name, a := range c.Accounts {
		if name == "" || !strings.Contains(name, "@") && !strings.Contains(name, ".") {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("account %q is not a JID", name)}
		}
		if a.Password != "" && a.PasswordCmd != "" {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("account %q sets both password and password_cmd; keep one", name)}
		}
	}
	if c.DefaultAccount != "" && len(c.Accounts) > 0 {
		if _, ok := c.Accounts[c.DefaultAccount]; !ok {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("default_account %q has no [accounts.%q] table", c.DefaultAccount, c.DefaultAccount)}
		}
	}
	return &c, nil
}

func knownKeys(inAccount bool) []string {
	if inAccount {
		return []string{"password", "password_cmd", "server", "ca_file", "direct_tls", "tls_skip_verify", "allow_plaintext", "resource"}
	}
	return []string{"default_account", "state_dir", "timeout", "accounts"}
}

// HasPassword reports whether any account stores a password in the file.
func (c *File) HasPassword() bool {
	for _, a := range c.Accounts {
		if a.Password != "" {
			return true
		}
	}
	return false
}

func (c *File) hasPasswordCmd() bool {
	for _, a := range c.Accounts {
		if a.PasswordCmd != "" {
			return true
		}
	}
	return false
}

func (c *File) checkMode(mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	perm := mode.Perm()
	if c.HasPassword() && perm&0o044 != 0 {
		return &PermissionError{Path: c.Path, Mode: mode, What: "holds a password", Fix: "chmod 600 " + c.Path}
	}
	if c.hasPasswordCmd() && perm&0o022 != 0 {
		return &PermissionError{Path: c.Path, Mode: mode, What: "names a password command", Fix: "chmod go-w " + c.Path}
	}
	return nil
}

// Account returns the settings for the account whose key is name, and
// whether there is one.
func (c *File) Account(name string) (Account, bool) {
	a, ok := c.Accounts[name]
	return a, ok
}

// Redact returns a copy of c with every password replaced by Redacted.
func (c *File) Redact() *File {
	r := *c
	r.Accounts = make(map[string]Account, len(c.Accounts))
	for k, a := range c.Accounts {
		if a.Password != "" {
			a.Password = Redacted
		}
		r.Accounts[k] = a
	}
	return &r
}

// AccountNames returns the account keys in sorted order.
func (c *File) AccountNames() []string {
	names := make([]string, 0, len(c.Accounts))
	for k := range c.Accounts {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// ReadPasswordFile reads a password from the first line of path. The file
// must not be readable by group or others.
func ReadPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o044 != 0 {
		return nil, &PermissionError{Path: path, Mode: fi.Mode(), What: "holds a password", Fix: "chmod 600 " + path}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPasswordSize+1))
	if err != nil {
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	pw, err := firstLine(data)
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	return pw, nil
}

// RunPasswordCmd runs command with the system shell ("sh -c" on Unix,
// "cmd /C" on Windows) and returns the first line of its standard output.
// Its standard error goes to stderr; its exit status, not its output,
// appears in errors.
func RunPasswordCmd(ctx context.Context, command string, stderr io.Writer) ([]byte, error) {
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", command)
	}
	var out limitedBuffer
	out.max = MaxPasswordSize + 1
	cmd.Stdout = &out
	cmd.Stderr = stderr
	// A killed shell may leave children holding stdout open; do not wait
	// for them past the context.
	cmd.WaitDelay = 500 * time.Millisecond
	if err := cmd.Run(); err != nil {
		clear(out.buf)
		return nil, fmt.Errorf("password_cmd %q failed: %w", command, err)
	}
	pw, err := firstLine(out.buf)
	if err != nil {
		clear(out.buf)
		return nil, fmt.Errorf("password_cmd %q: %w", command, err)
	}
	return pw, nil
}

type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - len(b.buf)
	if room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// firstLine returns data up to its first line ending, as a new slice.
func firstLine(data []byte) ([]byte, error) {
	if len(data) > MaxPasswordSize {
		return nil, fmt.Errorf("longer than %d bytes", MaxPasswordSize)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, errors.New("empty password")
	}
	return bytes.Clone(line), nil
}

// suggest returns the candidate closest to s, if it is close enough.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Suggest is suggest for callers outside the package (flag names).
func Suggest(s string, candidates []string) string { return suggest(s, candidates) }

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
