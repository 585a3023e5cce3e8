package main

import (
	"context"
	"strings"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

func newNegotiateCmd(a *app) *cobra.Command {
	var (
		sf   sessionFlags
		keep bool
		oss  ossFlag
	)
	c := &cobra.Command{
		Use:   "negotiate JID",
		Short: "Negotiate an encrypted session, show its parameters and SAS, and end it",
		Long: `Negotiate an encrypted session with JID (the 4-message exchange of XEP-0116 or
its simplified profile XEP-0217), print the parameters the responder chose,
the short authentication string (SAS) and whether the retained-secret chain
with the contact was verified earlier, then terminate the session and wait
for the acknowledgement.

Compare the SAS with the contact over another channel (a call, in person).
If it matches, run 'esn sas confirm JID': later sessions that share the
retained secret are then reported as verified without a new comparison.

With --keep, the session stays open and each line of stdin is sent as a
message until EOF, as 'esn send --lines' does.

--modp lists the Diffie-Hellman groups offered, in order of preference;
group 5 (1536 bits) is offered only when listed. The responder chooses.`,
		Example: `  esn negotiate bob@example.org
  esn negotiate --json --profile xep0116 --modp 15,14 bob@example.org
  esn --trace --keylog keys.log negotiate bob@example.org 2>trace.log
  esn negotiate --keep bob@example.org < notes.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, prefs, err := a.sessionArgs(args[0], &sf, &oss)
			if err != nil {
				return err
			}
			if err := a.load(); err != nil {
				return err
			}
			return identityHint(a.negotiate(cmd.Context(), target, sf, prefs, keep))
		},
	}
	sf.register(c, "xep0217")
	oss.register(c)
	c.Flags().BoolVar(&keep, "keep", false, "keep the session and send each stdin line as a message until EOF")
	return c
}

func (a *app) negotiate(ctx context.Context, target jid.JID, sf sessionFlags, prefs esn.Preferences, keep bool) error {
	l, thread, neg, err := a.negotiateWith(ctx, target, sf, prefs)
	if err != nil {
		return err
	}
	defer l.close()
	if !a.flags.json {
		p := neg.Params
		a.ui.printf("peer:       %s\nthread:     %s\nprofile:    %s\ngroup:      %d\ncipher:     %s\nhash:       %s\nstanzas:    %s\nrekey_freq: %d\nlogging:    %s\nSAS:        %s\nverified:   %v\n",
			neg.Peer, neg.Thread, p.Profile, p.Group, p.Cipher, p.Hash, strings.Join(p.Stanzas, " "), p.RekeyFreq, p.Logging, neg.SAS, neg.Verified)
	}
	n := 0
	if keep {
		n, err = l.sendLines(ctx, thread, a.readLines())
	}
	if err := l.end(thread, n, err); err != nil {
		return err
	}
	if !l.gajim {
		a.ui.infof("session terminated and acknowledged")
	}
	return nil
}
