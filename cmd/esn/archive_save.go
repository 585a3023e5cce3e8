package main

import (
	"errors"
	"fmt"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/spf13/cobra"
)

func newArchiveSaveCmd(a *app) *cobra.Command {
	var (
		plaintext bool
		assumeMay bool
		skipOTR   bool
		subject   string
		chunk     int
	)
	c := &cobra.Command{
		Use:   "save [FILE]",
		Short: "Upload decrypted messages (esn receive --json lines) to the archive, encrypted",
		Long: `Read the JSON lines that 'esn receive --json' (and 'esn send --json') print,
from FILE or standard input, and upload their messages to your server's
archive (XEP-0136 manual archiving): one collection per peer and thread,
appended to the collection already holding that thread if there is one.

By default the messages are encrypted (XEP-0241) under a fresh AES-256 key,
wrapped with RSA-OAEP for each of your own valid keys ('esn keys list'): the
server stores ciphertext, and 'esn archive get' decrypts it with your private
key. Without a key esn refuses; --plaintext uploads readable text instead.

Messages of a session that negotiated off the record (logging=mustnot, shown
in its "negotiated" line) are never archived: esn refuses the whole upload,
or with --skip-off-the-record leaves them out. Messages whose session's
logging mode the input does not show are refused unless
--assume-logging-may.`,
		Example: `  esn receive --json --count 20 | tee session.jsonl
  esn archive save session.jsonl
  esn archive save --plaintext < session.jsonl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if chunk < 1 || chunk > 1000 {
				return usagef("--chunk must be between 1 and 1000")
			}
			in, name, err := a.openInput(args, withHint(usagef("esn archive save reads JSON lines from FILE or standard input, not a terminal"),
				"esn receive --json > session.jsonl; esn archive save session.jsonl"))
			if err != nil {
				return err
			}
			defer in.Close()
			msgs, st, err := archive.ReadEvents(in)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if st.Skipped > 0 {
				a.ui.infof("skipped %d message(s) without a body", st.Skipped)
			}
			cols, err := a.collect(msgs, assumeMay, skipOTR)
			if err != nil {
				return err
			}
			if len(cols) == 0 {
				a.ui.noticef("no messages to archive in %s", name)
				return nil
			}
			if err := a.load(); err != nil {
				return err
			}
			return a.archiveSave(cmd, cols, plaintext, subject, chunk)
		},
	}
	c.Flags().BoolVar(&plaintext, "plaintext", false, "upload readable text instead of encrypting (the server can read it)")
	c.Flags().BoolVar(&assumeMay, "assume-logging-may", false, "archive messages whose session's logging mode the input does not show")
	c.Flags().BoolVar(&skipOTR, "skip-off-the-record", false, "leave out off-the-record sessions instead of refusing the upload")
	c.Flags().StringVar(&subject, "subject", "", "`SUBJECT` of the collections (never encrypted: the server can read it)")
	c.Flags().IntVar(&chunk, "chunk", 50, "upload at most `N` messages per request")
	return c
}

// collect groups messages into collections; an off-the-record session
// fails the whole run unless skipOTR.
func (a *app) collect(msgs []archive.Message, assumeMay, skipOTR bool) ([]*archive.Collection, error) {
	col := archive.Collector{AssumeMay: assumeMay}
	skipped := map[string]bool{}
	for _, m := range msgs {
		err := col.Add(m)
		switch {
		case err == nil:
		case errors.Is(err, archive.ErrLoggingForbidden) && skipOTR:
			if !skipped[m.Thread] {
				a.ui.warnf("left out session %s with %s: it is off the record", shortThread(m.Thread), m.Peer)
				skipped[m.Thread] = true
			}
		case errors.Is(err, archive.ErrLoggingForbidden):
			return nil, withHint(err, "nothing was uploaded; --skip-off-the-record archives the other sessions")
		case errors.Is(err, archive.ErrLoggingUnknown):
			return nil, withHint(err, "pass the whole 'esn receive --json' output (its \"negotiated\" lines say), or --assume-logging-may if you know the session allows logging")
		default:
			return nil, err
		}
	}
	return col.Collections(), nil
}

func (a *app) archiveSave(cmd *cobra.Command, cols []*archive.Collection, plaintext bool, subject string, chunk int) error {
	account, err := a.accountBare()
	if err != nil {
		return err
	}
	var sealer *archive.Sealer
	if !plaintext {
		ks, err := a.openKeystore()
		if err != nil {
			return err
		}
		rs, keys, err := ownRecipients(ks, account)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return withHint(usagef("%s has no valid key to encrypt the archive to", account),
				"esn keys generate makes one; --plaintext uploads without encryption")
		}
		for _, k := range keys {
			a.ui.infof("encrypting to key %s", k.Public.Fingerprint())
		}
		if sealer, err = archive.NewSealer(nil, rs); err != nil {
			return err
		}
		defer sealer.Close()
		if subject != "" {
			a.ui.warnf("the subject %q is not encrypted: the server can read it (XEP-0241 §8)", subject)
		}
	}
	s, err := a.connectArchive(cmd.Context())
	if err != nil {
		return err
	}
	defer s.close()
	for _, col := range cols {
		col.Subject = subject
		// The same thread goes to the same collection (XEP-0136 §4.3).
		if col.Thread != "" {
			prev, err := s.c.FindThread(s.ctx, col.With, col.Thread, archiveFindLimit)
			if err != nil {
				return archiveErr(err)
			}
			switch {
			case prev == nil:
			case prev.IsEncrypted() != (sealer != nil):
				a.ui.warnf("thread %s with %s is already archived %s; starting a new collection", shortThread(col.Thread), col.With,
					map[bool]string{true: "encrypted", false: "as plaintext"}[prev.IsEncrypted()])
				if col.Start.Equal(prev.Start) {
					col.Start = col.Start.Add(1e9)
				}
			default:
				a.ui.infof("appending to collection %s", prev.ID())
				col.Start = prev.Start
			}
		}
		got, err := s.c.Upload(s.ctx, col, archive.UploadOptions{Sealer: sealer, ChunkEntries: chunk})
		if err != nil {
			return archiveErr(fmt.Errorf("collection %s: %w", col.ID(), err))
		}
		j := newCollectionJSON(got)
		j.Encrypted = sealer != nil
		j.Messages = ptr(len(col.Entries))
		if err := a.printCollection(j); err != nil {
			return err
		}
	}
	return nil
}
