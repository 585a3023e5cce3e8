package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/esn-project/esn/internal/config"
	"github.com/esn-project/esn/internal/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app is the state of one esn invocation, shared by the subcommands.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	flags   flagValues
	started bool // PersistentPreRunE ran: errors after this are ours
	ui      *ui

	// Filled by load.
	cfg *config.File
	s   settings
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "esn",
		Short: "XMPP Encrypted Sessions from the command line",
		Long: `esn speaks XMPP Encrypted Sessions (XEP-0116/0217, XEP-0155, XEP-0200)
over an ordinary XMPP account.

The account comes from --account, ESN_ACCOUNT or the config file. The password
comes from --password-file, ESN_PASSWORD, the config file (password or
password_cmd), or a prompt on the terminal; never from the command line.
Settings are taken in this order: flag, environment variable, config file,
default. See docs/configuration.md.

Machine output (--json) is one JSON object per line on stdout; messages for
people go to stderr.

` + exitCodesHelp,
		Example: `  # Ask which ESession features bob's clients support
  ESN_ACCOUNT=alice@example.org esn probe bob@example.org

  # Against a local test server (see scripts/prosody.sh)
  . /tmp/xmpp/esn.env
  ESN_ACCOUNT=alice@localhost ESN_PASSWORD=alice-pw esn probe bob@localhost

  # Write a config file to start from
  esn config init --account alice@example.org`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.started = true
			a.flags.changed = func(name string) bool {
				f := cmd.Flags().Lookup(name)
				return f != nil && f.Changed
			}
			noColor := a.flags.noColor || a.getenv(envNoColor) != ""
			a.ui = newUI(a.stdout, a.stderr, a.flags.json, a.flags.verbose, noColor)
			return nil
		},
	}
	root.SetFlagErrorFunc(flagError)

	fl := &a.flags
	pf := root.PersistentFlags()
	pf.StringVar(&fl.account, "account", "", "account `JID` to log in as (env ESN_ACCOUNT; default: the config's default_account)")
	pf.StringVar(&fl.passwordFile, "password-file", "", "read the password from the first line of `FILE` (must be mode 600)")
	pf.StringVar(&fl.server, "server", "", "connect to `HOST:PORT` instead of looking up the domain (env ESN_SERVER)")
	pf.StringVar(&fl.caFile, "ca-file", "", "also trust the certificate or CA in `FILE` (PEM) (env ESN_CA_FILE)")
	pf.BoolVar(&fl.tlsSkipVerify, "tls-skip-verify", false, "do not verify the server's certificate (insecure; warns on every run)")
	pf.BoolVar(&fl.directTLS, "direct-tls", false, "use TLS from the first byte (XEP-0368) instead of STARTTLS")
	pf.BoolVar(&fl.allowPlaintext, "allow-plaintext", false, "allow an unencrypted connection, to a loopback address only")
	pf.StringVar(&fl.configPath, "config", "", "config `FILE` (env ESN_CONFIG; default $XDG_CONFIG_HOME/esn/config.toml)")
	pf.StringVar(&fl.stateDir, "state-dir", "", "state `DIR` (env ESN_STATE_DIR; default $XDG_STATE_HOME/esn)")
	pf.StringVar(&fl.resource, "resource", "", "XMPP resource `NAME` to bind (default: chosen by the server)")
	pf.DurationVar(&fl.timeout, "timeout", defaultTimeout, "give up on the server or a reply after `DURATION`")
	pf.BoolVar(&fl.json, "json", false, "write results as JSON, one object per line, on stdout")
	pf.BoolVar(&fl.trace, "trace", false, "print every stanza sent and received on stderr (passwords and SASL data redacted)")
	pf.BoolVar(&fl.noColor, "no-color", false, "no colour in messages (also NO_COLOR)")
	pf.BoolVarP(&fl.verbose, "verbose", "v", false, "print progress messages on stderr")

	root.AddCommand(
		newVersionCmd(a),
		newCompletionCmd(a),
		newConfigCmd(a),
		newProbeCmd(a),
		newNegotiateCmd(a),
		newSendCmd(a),
		newReceiveCmd(a),
		newSessionsCmd(a),
		newSASCmd(a),
		newDecodeCmd(a),
		newKeysCmd(a),
		newOfflineCmd(a),
		newArchiveCmd(a),
	)
	// Every subcommand reports bad arguments as usage errors.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes cmd's argument validator (and its subcommands') return
// usage errors.
func wrapArgs(cmd *cobra.Command) {
	if v := cmd.Args; v != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := v(c, args); err != nil {
				return usageErr(fmt.Errorf("%s: %w", c.CommandPath(), err))
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		wrapArgs(c)
	}
}

var unknownFlagRE = regexp.MustCompile(`unknown (?:shorthand )?flag: '?-{1,2}([^' ]+)`)

// flagError turns a pflag parse error into a usage error, with a "did you
// mean" hint for a misspelt flag.
func flagError(cmd *cobra.Command, err error) error {
	ue := usageErr(err)
	m := unknownFlagRE.FindStringSubmatch(err.Error())
	if m == nil {
		return ue
	}
	name := m[1]
	if name == "password" || strings.HasPrefix(name, "password=") {
		return withHint(ue, "esn never takes a password on the command line; use ESN_PASSWORD, --password-file FILE, password_cmd in the config file, or the prompt")
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if s := config.Suggest(name, names); s != "" {
		return withHint(ue, "did you mean --%s?", s)
	}
	return ue
}

// load reads the config file and resolves the settings. Commands that need
// them call it first.
func (a *app) load() error {
	path, explicit := configLocation(a.flags, a.getenv)
	cfg, err := config.Load(path, explicit)
	if err != nil {
		var pe *config.PermissionError
		if errors.As(err, &pe) {
			return withHint(err, "run: %s", pe.Fix)
		}
		return err
	}
	a.cfg = cfg
	tty := false
	if f, ok := a.stdin.(*os.File); ok {
		tty = term.IsTerminal(f)
	}
	s, err := resolveSettings(a.flags, a.getenv, cfg, tty)
	if err != nil {
		return err
	}
	a.s = s
	return nil
}
