package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esn-project/esn/internal/esnstore"
	"github.com/esn-project/esn/pkg/store"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

func newSessionsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sessions [JID]",
		Short: "List the retained-secret chains shared with contacts",
		Long: `List the retained secrets of XEP-0116 kept for the account, one chain per
contact client: the contact's bare JIDs, whether the chain was verified by a
SAS comparison ('esn sas confirm'), when it started and when its secret last
changed, and the SAS of the last session. Secrets are never shown. With a
JID, only the chains of that contact.

This reads the state file only; it does not connect.`,
		Example: `  esn sessions
  esn sessions --json bob@example.org`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			peer := ""
			if len(args) == 1 {
				j, err := jid.Parse(args[0])
				if err != nil {
					return usagef("%q is not a JID: %v", args[0], err)
				}
				peer = j.Bare().String()
			}
			if err := a.load(); err != nil {
				return err
			}
			sec, account, err := a.secretsStore()
			if err != nil {
				return err
			}
			chains, err := sec.Chains(account, peer)
			if err != nil {
				return a.explainStoreError(err)
			}
			return a.printChains(chains)
		},
	}
}

// secretsStore returns the retained-secret store of the account.
func (a *app) secretsStore() (*esnstore.Secrets, string, error) {
	acct, err := a.s.accountJID()
	if errors.Is(err, errNoAccount) {
		return nil, "", withHint(err, "set --account JID, ESN_ACCOUNT, or default_account in %s", a.s.ConfigPath)
	}
	if err != nil {
		return nil, "", err
	}
	dir := a.s.StateDir
	return esnstore.New(func() (*store.DB, error) {
		return store.OpenDir(dir, store.Options{LockTimeout: store.DefaultLockTimeout})
	}), acct.Bare().String(), nil
}

func (a *app) explainStoreError(err error) error {
	var pe *store.PermissionError
	switch {
	case errors.As(err, &pe):
		return withHint(err, "run: %s", pe.Fix)
	case errors.Is(err, store.ErrLocked):
		return withHint(err, "another esn is using %s; wait for it, or use --state-dir", a.s.StateDir)
	}
	return err
}

func (a *app) printChains(chains []esnstore.Chain) error {
	if a.flags.json {
		for _, c := range chains {
			if err := a.ui.emitJSON(c); err != nil {
				return err
			}
		}
		return nil
	}
	if len(chains) == 0 {
		a.ui.noticef("no retained secrets yet: they start with the first negotiated session")
		return nil
	}
	for _, c := range chains {
		v := "not verified"
		if c.Verified {
			v = "verified"
		}
		a.ui.printf("%s  %s  updated %s ago, started %s", strings.Join(c.Peers, ","), v, age(c.Updated), c.Created.Local().Format("2006-01-02 15:04"))
		if c.LastSAS != nil {
			a.ui.printf("  last SAS %s (%s)", c.LastSAS.SAS, c.LastSAS.Time.Local().Format("2006-01-02 15:04"))
		}
		a.ui.printf("\n")
	}
	return nil
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
