package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/esn-project/esn/internal/config"
	"github.com/spf13/cobra"
)

func newConfigCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Create or inspect the configuration file",
		Long: `Create or inspect the configuration file.

The file is TOML, at --config, ESN_CONFIG or $XDG_CONFIG_HOME/esn/config.toml.
See docs/configuration.md.`,
		Example: `  esn config init --account alice@example.org
  esn config show
  esn config show --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	c.AddCommand(newConfigInitCmd(a), newConfigShowCmd(a))
	return c
}

func newConfigInitCmd(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Write a commented config file to start from",
		Long: `Write a commented config file (mode 0600) to the config path. The account
given with --account or ESN_ACCOUNT becomes the default account. An existing
file is kept unless --force is given.`,
		Example: `  esn config init --account alice@example.org
  esn --config ./esn.toml config init --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _ := configLocation(a.flags, a.getenv)
			account := a.flags.account
			if !a.flags.set("account") {
				account = a.getenv(envAccount)
			}
			err := config.WriteTemplate(path, account, force)
			if errors.Is(err, config.ErrExists) {
				return withHint(err, "use --force to replace it, or edit it")
			}
			if err != nil {
				return err
			}
			if a.flags.json {
				return a.ui.emitJSON(map[string]string{"path": path})
			}
			a.ui.noticef("wrote %s", path)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "replace an existing file")
	return c
}

// shownSettings is the JSON form of `esn config show`.
type shownSettings struct {
	ConfigFile  string            `json:"config_file"`
	ConfigFound bool              `json:"config_found"`
	Effective   map[string]any    `json:"effective"`
	Sources     map[string]string `json:"sources"`
	File        *config.File      `json:"file"`
}

func newConfigShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the effective settings and the config file, secrets redacted",
		Long: `Show the settings esn would use, where each comes from (flag, env, config
or default), and the config file's content. Passwords are shown as REDACTED;
the password itself is never read or run.`,
		Example: `  esn config show
  ESN_ACCOUNT=bob@example.org esn config show --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.load(); err != nil {
				return err
			}
			s := a.s
			eff := map[string]any{
				"account":         s.Account,
				"password":        s.PasswordFrom.String(),
				"server":          s.Server,
				"ca-file":         s.CAFile,
				"direct-tls":      s.DirectTLS,
				"tls-skip-verify": s.TLSSkipVerify,
				"allow-plaintext": s.AllowPlaintext,
				"resource":        s.Resource,
				"state-dir":       s.StateDir,
				"timeout":         s.Timeout.String(),
				"no-color":        s.NoColor,
			}
			out := shownSettings{
				ConfigFile: s.ConfigPath, ConfigFound: a.cfg.Path != "",
				Effective: eff, Sources: s.Source, File: a.cfg.Redact(),
			}
			if a.flags.json {
				return a.ui.emitJSON(out)
			}
			found := ""
			if !out.ConfigFound {
				found = " (not found)"
			}
			a.ui.printf("%-16s %s%s\n", "config", s.ConfigPath, found)
			for _, k := range []string{"account", "password", "server", "ca-file", "direct-tls", "tls-skip-verify",
				"allow-plaintext", "resource", "state-dir", "timeout", "no-color"} {
				v := fmt.Sprint(eff[k])
				src := s.Source[k]
				if k == "password" {
					src = ""
				}
				if v == "" {
					v = "-"
				}
				if src != "" {
					v += " (" + src + ")"
				}
				a.ui.printf("%-16s %s\n", k, v)
			}
			if out.ConfigFound {
				var buf bytes.Buffer
				if err := toml.NewEncoder(&buf).Encode(out.File); err != nil {
					return fmt.Errorf("encode config: %w", err)
				}
				a.ui.printf("\n# %s (secrets redacted)\n%s", s.ConfigPath, strings.TrimLeft(buf.String(), "\n"))
			}
			return nil
		},
	}
}
