package main

import (
	"errors"
	"fmt"

	"github.com/esn-project/esn/internal/esnstore"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

func newSASCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "sas",
		Short: "Confirm short authentication strings (SAS)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return usagef("esn sas: missing subcommand (confirm)") },
	}
	c.AddCommand(newSASConfirmCmd(a))
	return c
}

func newSASConfirmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm JID [SAS]",
		Short: "Mark the retained-secret chain with a contact verified",
		Long: `After you compared the SAS of a session with the contact over another channel
and it matched, mark the current retained-secret chain with JID verified.
Later sessions that share a secret of this chain then report
"verified": true without a new comparison, and a man in the middle would
have to have been there since the first session (XEP-0116 §10).

Give the SAS you compared to have esn check it against the one of the last
session with JID; without it, the current chain is marked as it is.`,
		Example: `  esn sas confirm bob@example.org
  esn sas confirm bob@example.org ac5d1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := jid.Parse(args[0])
			if err != nil {
				return usagef("%q is not a JID: %v", args[0], err)
			}
			sas := ""
			if len(args) == 2 {
				sas = args[1]
			}
			if err := a.load(); err != nil {
				return err
			}
			sec, account, err := a.secretsStore()
			if err != nil {
				return err
			}
			peer := j.Bare().String()
			c, err := sec.Confirm(account, peer, sas)
			switch {
			case errors.Is(err, esnstore.ErrNoChain):
				return withHint(fmt.Errorf("no retained secret is shared with %s", peer), "negotiate a session first: esn negotiate %s", peer)
			case errors.Is(err, esnstore.ErrSASMismatch):
				return withHint(withCode(exitDataErr, fmt.Errorf("SAS %q is not the one of the last session with %s: nothing marked", sas, peer)),
					"a different SAS can mean a man in the middle; negotiate again and compare")
			case err != nil:
				return a.explainStoreError(err)
			}
			if a.flags.json {
				return a.ui.emitJSON(c)
			}
			a.ui.noticef("marked the retained-secret chain with %s verified", peer)
			return nil
		},
	}
}
