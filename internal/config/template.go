package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Template returns a commented configuration file. account, when not
// empty, becomes the default account and its table is filled in.
func Template(account string) string {
	if account == "" {
		account = "alice@example.org"
	}
	q := strconv.Quote(account)
	return `# esn configuration file (TOML). See docs/configuration.md.
#
# Settings are taken in this order: command-line flag, environment variable,
# this file, built-in default.

# The account used when neither --account nor ESN_ACCOUNT is given.
default_account = ` + q + `

# Where esn keeps its state (retained secrets, trusted keys).
# Default: $XDG_STATE_HOME/esn, i.e. ~/.local/state/esn.
# state_dir = "/home/alice/.local/state/esn"

# How long to wait for the server and for answers (--timeout).
# timeout = "30s"

[accounts.` + q + `]
# The password, in order of preference:
#  - a command whose first line of output is the password:
# password_cmd = "pass show xmpp/alice"
#  - or the password itself; then this file must be mode 600
#    (esn refuses it otherwise):
# password = "..."
# Without either, esn uses ESN_PASSWORD, --password-file, or asks on the
# terminal.

# Connect to this host:port instead of looking up the domain (--server).
# server = "xmpp.example.org:5222"

# Trust this certificate or CA in addition to the system roots (--ca-file).
# ca_file = "/etc/ssl/certs/my-xmpp-ca.pem"

# TLS from the first byte (XEP-0368) instead of STARTTLS (--direct-tls).
# direct_tls = false

# The resource to bind; empty lets the server choose (--resource).
# resource = "esn"
`
}

// ErrExists is returned by WriteTemplate when the file exists and force is
// false.
var ErrExists = errors.New("config file already exists")

// WriteTemplate writes Template(account) to path with mode 0600, creating
// its directory with mode 0700. It refuses to replace an existing file
// unless force is set.
func WriteTemplate(path, account string, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config init: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("config init: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("config init: %w", err)
	}
	if _, err := f.WriteString(Template(account)); err != nil {
		f.Close()
		return fmt.Errorf("config init: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("config init: %w", err)
	}
	return f.Close()
}
