package main

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/esn-project/esn/internal/config"
	"mellium.im/xmpp/jid"
)

// defaultTimeout is the --timeout default.
const defaultTimeout = 30 * time.Second

// Environment variables esn reads. Their names are part of the interface
// (docs/configuration.md).
const (
	envAccount  = "ESN_ACCOUNT"
	envPassword = "ESN_PASSWORD"
	envServer   = "ESN_SERVER"
	envCAFile   = "ESN_CA_FILE"
	envConfig   = "ESN_CONFIG"
	envStateDir = "ESN_STATE_DIR"
	envNoColor  = "NO_COLOR"
)

// flagValues are the global flags as parsed, with a way to ask whether
// the user set each one (so that a flag left at its default does not
// override the environment or the config file).
type flagValues struct {
	account, server, caFile, configPath, stateDir, resource, passwordFile string

	timeout                                  time.Duration
	directTLS, tlsSkipVerify, allowPlaintext bool
	json, trace, noColor, verbose            bool

	changed func(name string) bool
}

func (f *flagValues) set(name string) bool { return f.changed != nil && f.changed(name) }

// Where a setting came from, for `esn config show` and -v.
const (
	fromFlag    = "flag"
	fromEnv     = "env"
	fromConfig  = "config"
	fromDefault = "default"
)

// passwordSource says how the password will be obtained.
type passwordSource int

const (
	passwordNone   passwordSource = iota
	passwordFile                  // --password-file
	passwordEnv                   // ESN_PASSWORD
	passwordConfig                // password in the config file
	passwordCmd                   // password_cmd in the config file
	passwordPrompt                // ask on the terminal
)

func (p passwordSource) String() string {
	switch p {
	case passwordFile:
		return "--password-file"
	case passwordEnv:
		return envPassword
	case passwordConfig:
		return "config password"
	case passwordCmd:
		return "config password_cmd"
	case passwordPrompt:
		return "terminal prompt"
	default:
		return "none"
	}
}

// settings are the effective global settings after applying flag > env >
// config > default.
type settings struct {
	ConfigPath     string
	ConfigExplicit bool // named by --config or ESN_CONFIG: it must exist

	Account        string // as given; "" when none could be found
	AccountKey     string // the [accounts] key that matched, if any
	Server         string
	CAFile         string
	DirectTLS      bool
	TLSSkipVerify  bool
	AllowPlaintext bool
	Resource       string
	StateDir       string
	Timeout        time.Duration
	JSON           bool
	Trace          bool
	NoColor        bool
	Verbose        bool

	PasswordFrom passwordSource
	PasswordFile string // with passwordFile
	PasswordCmd  string // with passwordCmd

	// Source maps a setting name (as in docs/configuration.md) to where
	// its value came from.
	Source map[string]string
}

// configLocation applies flag > env > default to the config file path.
func configLocation(fl flagValues, getenv func(string) string) (path string, explicit bool) {
	switch {
	case fl.set("config"):
		return fl.configPath, true
	case getenv(envConfig) != "":
		return getenv(envConfig), true
	default:
		return config.DefaultPath(getenv), false
	}
}

// resolveSettings computes the effective settings. cfg is the loaded
// config file (possibly empty). stdinTTY says whether a password prompt is
// possible. It does no I/O beyond what getenv does.
func resolveSettings(fl flagValues, getenv func(string) string, cfg *config.File, stdinTTY bool) (settings, error) {
	s := settings{Source: map[string]string{}}
	s.ConfigPath, s.ConfigExplicit = configLocation(fl, getenv)
	s.Source["config"] = fromDefault
	if fl.set("config") {
		s.Source["config"] = fromFlag
	} else if s.ConfigExplicit {
		s.Source["config"] = fromEnv
	}

	pickString := func(name string, flagVal, env, cfgVal, def string) string {
		switch {
		case fl.set(name):
			s.Source[name] = fromFlag
			return flagVal
		case env != "" && getenv(env) != "":
			s.Source[name] = fromEnv
			return getenv(env)
		case cfgVal != "":
			s.Source[name] = fromConfig
			return cfgVal
		default:
			s.Source[name] = fromDefault
			return def
		}
	}
	pickBool := func(name string, flagVal bool, cfgVal *bool) bool {
		switch {
		case fl.set(name):
			s.Source[name] = fromFlag
			return flagVal
		case cfgVal != nil:
			s.Source[name] = fromConfig
			return *cfgVal
		default:
			s.Source[name] = fromDefault
			return false
		}
	}

	// The account picks the [accounts] table the other settings come from.
	single := ""
	if cfg.DefaultAccount == "" && len(cfg.Accounts) == 1 {
		single = cfg.AccountNames()[0]
	}
	s.Account = pickString("account", fl.account, envAccount, cmpOr(cfg.DefaultAccount, single), "")
	var acct config.Account
	if s.Account != "" {
		var err error
		s.AccountKey, acct, err = findAccount(cfg, s.Account)
		if err != nil {
			return s, err
		}
	}

	s.Server = pickString("server", fl.server, envServer, acct.Server, "")
	s.CAFile = pickString("ca-file", fl.caFile, envCAFile, acct.CAFile, "")
	s.DirectTLS = pickBool("direct-tls", fl.directTLS, acct.DirectTLS)
	s.TLSSkipVerify = pickBool("tls-skip-verify", fl.tlsSkipVerify, acct.TLSSkipVerify)
	s.AllowPlaintext = pickBool("allow-plaintext", fl.allowPlaintext, acct.AllowPlaintext)
	s.Resource = pickString("resource", fl.resource, "", acct.Resource, "")
	s.StateDir = pickString("state-dir", fl.stateDir, envStateDir, cfg.StateDir, config.DefaultStateDir(getenv))

	switch {
	case fl.set("timeout"):
		s.Timeout, s.Source["timeout"] = fl.timeout, fromFlag
	case cfg.Timeout.Duration > 0:
		s.Timeout, s.Source["timeout"] = cfg.Timeout.Duration, fromConfig
	default:
		s.Timeout, s.Source["timeout"] = defaultTimeout, fromDefault
	}
	if s.Timeout <= 0 {
		return s, usagef("--timeout must be positive, not %v", s.Timeout)
	}

	switch {
	case fl.set("no-color"):
		s.NoColor, s.Source["no-color"] = fl.noColor, fromFlag
	case getenv(envNoColor) != "":
		s.NoColor, s.Source["no-color"] = true, fromEnv
	default:
		s.NoColor, s.Source["no-color"] = false, fromDefault
	}
	s.JSON, s.Trace, s.Verbose = fl.json, fl.trace, fl.verbose

	// The password: --password-file > ESN_PASSWORD > config password >
	// config password_cmd > prompt.
	switch {
	case fl.set("password-file"):
		s.PasswordFrom, s.PasswordFile = passwordFile, fl.passwordFile
	case getenv(envPassword) != "":
		s.PasswordFrom = passwordEnv
	case acct.Password != "":
		s.PasswordFrom = passwordConfig
	case acct.PasswordCmd != "":
		s.PasswordFrom, s.PasswordCmd = passwordCmd, acct.PasswordCmd
	case stdinTTY:
		s.PasswordFrom = passwordPrompt
	default:
		s.PasswordFrom = passwordNone
	}

	if s.AllowPlaintext && s.DirectTLS {
		return s, usagef("--allow-plaintext and --direct-tls contradict each other; keep one")
	}
	if s.AllowPlaintext && s.Server != "" {
		if err := checkLoopback(s.Server); err != nil {
			return s, err
		}
	}
	return s, nil
}

// findAccount finds the [accounts] table for account: by exact key, or
// by comparing bare JIDs. A missing table is not an error.
func findAccount(cfg *config.File, account string) (string, config.Account, error) {
	if a, ok := cfg.Account(account); ok {
		return account, a, nil
	}
	j, err := jid.Parse(account)
	if err != nil {
		return "", config.Account{}, usagef("account %q is not a valid JID: %v", account, err)
	}
	for _, name := range cfg.AccountNames() {
		k, err := jid.Parse(name)
		if err == nil && k.Bare().Equal(j.Bare()) {
			a, _ := cfg.Account(name)
			return name, a, nil
		}
	}
	return "", config.Account{}, nil
}

// checkLoopback refuses --allow-plaintext to an address that is an IP
// literal outside loopback. Host names are checked by pkg/transport once
// resolved.
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return usagef("--server %q is not HOST:PORT: %v", hostport, err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		return usagef("--allow-plaintext is allowed only to a loopback address, not %s", host)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// errNoAccount is returned when a command needs an account and none is set.
var errNoAccount = errors.New("no account given")

// accountJID parses s.Account and applies s.Resource.
func (s settings) accountJID() (jid.JID, error) {
	if s.Account == "" {
		return jid.JID{}, usageErr(errNoAccount)
	}
	j, err := jid.Parse(s.Account)
	if err != nil {
		return jid.JID{}, usagef("account %q is not a valid JID: %v", s.Account, err)
	}
	if j.Localpart() == "" {
		return jid.JID{}, usagef("account %q has no local part (want user@domain)", s.Account)
	}
	if s.Resource != "" {
		j, err = j.WithResource(s.Resource)
		if err != nil {
			return jid.JID{}, usagef("resource %q: %v", s.Resource, err)
		}
	}
	return j, nil
}

// osGetenv is the real environment, used only by main.
func osGetenv(k string) string { return os.Getenv(k) }
