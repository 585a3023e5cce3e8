package main

// esn archive: XEP-0136 message archiving with XEP-0241 encryption. See
// docs/archive.md. The work is done by pkg/archive; these files only parse
// flags, pick keys and print.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

// Bounds of the archive commands.
const (
	archivePageSize    = 100   // RSM page size asked for
	archiveMaxEntries  = 50000 // entries esn archive get retrieves at most
	archiveFindLimit   = 2000  // collections searched for a thread to append to
	archiveMaxXMLInput = 16 << 20
)

func newArchiveCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "archive",
		Short: "Keep messages in your server's archive (XEP-0136), encrypted to your own keys (XEP-0241)",
		Long: `Message archiving (XEP-0136) on your own server, for the decrypted messages of
encrypted sessions: their session keys are destroyed when a session ends, so
what the server may have recorded of the session itself can never be read
again.

'esn archive save' uploads the messages that 'esn receive --json' printed,
one collection per peer and thread, encrypted by default (XEP-0241) under a
fresh key wrapped for each of your own public keys ('esn keys generate'):
the server stores ciphertext only. Sessions that negotiated off the record
(logging=mustnot) are never archived.

'esn archive list', 'get' and 'remove' manage the archive; 'get' decrypts
with your private key. 'esn archive prefs' shows and sets the archiving
preferences the server keeps (XEP-0136 §2). See docs/archive.md.`,
		Example: `  esn receive --json --count 10 > session.jsonl
  esn archive save session.jsonl
  esn archive list --with alice@example.org
  esn archive get alice@example.org/laptop 2024-05-01T10:00:00Z
  esn archive remove --with alice@example.org/laptop --start 2024-05-01T10:00:00Z`,
	}
	c.AddCommand(newArchivePrefsCmd(a), newArchiveSaveCmd(a), newArchiveListCmd(a), newArchiveGetCmd(a),
		newArchiveDecryptCmd(a), newArchiveRemoveCmd(a))
	return c
}

// archiveSession is a connection for archive requests.
type archiveSession struct {
	conn *transport.Conn
	c    *archive.Client
	ctx  context.Context
	stop context.CancelFunc
}

func (s *archiveSession) close() {
	s.conn.Close()
	s.stop()
}

// connectArchive logs in (without presence: nothing is routed to this
// client) for archive requests bounded by the command timeout.
func (a *app) connectArchive(ctx context.Context) (*archiveSession, error) {
	conn, ctx, cancel, err := a.connectPEP(ctx)
	if err != nil {
		return nil, err
	}
	return &archiveSession{conn: conn, c: archive.NewClient(conn), ctx: ctx, stop: cancel}, nil
}

// archiveErr adds what the user needs to act on a failed archive request.
func archiveErr(err error) error {
	var se *transport.StanzaError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && (se.Condition == "service-unavailable" || se.Condition == "feature-not-implemented") &&
		!errors.Is(err, archive.ErrMalformed):
		return withHint(err, "the server may not support XEP-0136 message archiving (esn probe YOUR-DOMAIN lists its features)")
	case errors.As(err, &se) && se.Condition == "item-not-found":
		return withHint(err, "no such collection: esn archive list shows the collections (with and start)")
	}
	return err
}

// parseArchiveTime reads a collection start or a range bound: RFC 3339
// (XEP-0082), e.g. 2024-05-01T10:00:00Z.
func parseArchiveTime(flag, s string) (time.Time, error) {
	t, err := archive.ParseTime(s)
	if err != nil {
		return time.Time{}, usagef("%s %q is not a time like 2024-05-01T10:00:00Z", flag, s)
	}
	return t, nil
}

func parseArchiveJID(flag, s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", usagef("%s %q is not a JID: %v", flag, s, err)
	}
	return j.String(), nil
}

// archiveRange is what --with, --start and --end select; an empty flag
// leaves its field zero.
type archiveRange struct {
	with       string
	start, end time.Time
}

func parseArchiveRange(with, start, end string) (archiveRange, error) {
	var r archiveRange
	var err error
	if with != "" {
		if r.with, err = parseArchiveJID("--with", with); err != nil {
			return r, err
		}
	}
	if start != "" {
		if r.start, err = parseArchiveTime("--start", start); err != nil {
			return r, err
		}
	}
	if end != "" {
		if r.end, err = parseArchiveTime("--end", end); err != nil {
			return r, err
		}
	}
	return r, nil
}

// openInput opens the FILE argument of a command that reads FILE or
// standard input ("-" or none), and returns the name to give in errors.
// Standard input must not be a terminal: then the error is onTerminal.
func (a *app) openInput(args []string, onTerminal error) (io.ReadCloser, string, error) {
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, "", usageErr(err)
		}
		return f, args[0], nil
	}
	if a.stdinIsTerminal() {
		return nil, "", onTerminal
	}
	return io.NopCloser(a.stdin), "standard input", nil
}

// ownRecipients returns the account's own keys that are valid now and not
// revoked: the keys esn generated or imported, so confirmed as the user's
// (XEP-0241 §2 MUST NOT wrap for a key not confirmed as the user's).
func ownRecipients(ks *pubkey.Keystore, account string) ([]archive.Recipient, []*pubkey.LocalKey, error) {
	keys, err := ks.List(account)
	if err != nil {
		return nil, nil, ksErr(err)
	}
	now := time.Now()
	var rs []archive.Recipient
	var used []*pubkey.LocalKey
	for _, k := range keys {
		if k.Revoked() || !k.Public.ValidAt(now) {
			continue
		}
		rs = append(rs, archive.RecipientFor(k.Public))
		used = append(used, k)
	}
	return rs, used, nil
}

// archiveIdentities unlocks the account's keys that col's collection keys
// are wrapped for (any key, even expired or revoked: old archives stay
// readable). Keys col does not need are listed by name only, so a
// NoKeyError can say which keys esn has.
func (a *app) archiveIdentities(account string, col *archive.Collection) ([]archive.Identity, error) {
	ks, err := a.openKeystore()
	if err != nil {
		return nil, err
	}
	keys, err := ks.List(account)
	if err != nil {
		return nil, ksErr(err)
	}
	wanted := map[pubkey.Fingerprint]bool{}
	for _, k := range col.Keys {
		if fp, err := pubkey.ParseFingerprint(k.KeyName); err == nil {
			wanted[fp] = true
		}
	}
	var ids []archive.Identity
	for _, k := range keys {
		id := archive.Identity{KeyName: archive.KeyName(k.Public)}
		if wanted[k.Public.Fingerprint()] {
			priv, err := a.unlockKey(k)
			if err != nil {
				return nil, err
			}
			id.Key = priv
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// decryptCollection returns col's entries, decrypting it if needed.
func (a *app) decryptCollection(account string, col *archive.Collection, legacy bool) ([]archive.Entry, error) {
	if !col.IsEncrypted() {
		return col.Entries, nil
	}
	ids, err := a.archiveIdentities(account, col)
	if err != nil {
		return nil, err
	}
	entries, err := archive.Decrypt(col, ids, archive.DecryptOptions{AllowLegacy: legacy})
	switch {
	case errors.Is(err, archive.ErrNoKey):
		return nil, withHint(err, "the collection was encrypted for another key; esn keys list shows yours (import the right one with esn keys import)")
	case errors.Is(err, archive.ErrLegacyAlgorithm):
		return nil, withHint(err, "--allow-legacy reads XEP-0241's aes128-cbc/rsa-1_5 collections, which are not authenticated")
	}
	return entries, err
}

// collectionJSON is one collection in --json output.
type collectionJSON struct {
	With      string `json:"with"`
	Start     string `json:"start"`
	Thread    string `json:"thread,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Version   *int   `json:"version,omitempty"`
	Encrypted bool   `json:"encrypted"`
	Messages  *int   `json:"messages,omitempty"`
}

func newCollectionJSON(c *archive.Collection) collectionJSON {
	j := collectionJSON{With: c.With, Start: archive.FormatTime(c.Start), Thread: c.Thread, Subject: c.Subject, Encrypted: c.IsEncrypted()}
	if c.Version >= 0 {
		j.Version = ptr(c.Version)
	}
	return j
}

// printCollection writes one collection line.
func (a *app) printCollection(j collectionJSON) error {
	if a.flags.json {
		return a.ui.emitJSON(j)
	}
	var notes []string
	if j.Thread != "" {
		notes = append(notes, "thread "+j.Thread)
	}
	if j.Version != nil {
		notes = append(notes, fmt.Sprintf("version %d", *j.Version))
	}
	if j.Messages != nil {
		notes = append(notes, fmt.Sprintf("%d message(s)", *j.Messages))
	}
	if j.Encrypted {
		notes = append(notes, "encrypted")
	}
	if j.Subject != "" {
		notes = append(notes, fmt.Sprintf("subject %q", j.Subject))
	}
	a.ui.printf("%s  %s  %s\n", j.Start, j.With, strings.Join(notes, ", "))
	return nil
}

// entryJSON is one archived message or note in --json output.
type entryJSON struct {
	With   string `json:"with"`
	Start  string `json:"start"`
	Thread string `json:"thread,omitempty"`
	Kind   string `json:"kind"` // from, to or note
	Time   string `json:"time,omitempty"`
	Body   string `json:"body"`
	Name   string `json:"name,omitempty"`
	JID    string `json:"jid,omitempty"`
}

func (a *app) printEntries(col *archive.Collection, entries []archive.Entry) error {
	for _, e := range entries {
		t := ""
		if !e.Time.IsZero() {
			t = archive.FormatTime(e.Time)
		}
		if a.flags.json {
			if err := a.ui.emitJSON(entryJSON{With: col.With, Start: archive.FormatTime(col.Start), Thread: col.Thread,
				Kind: e.Kind.String(), Time: t, Body: e.Body, Name: e.Name, JID: e.JID}); err != nil {
				return err
			}
			continue
		}
		who := col.With
		switch {
		case e.Kind == archive.KindTo:
			who = "me"
		case e.Kind == archive.KindNote:
			who = "note"
		case e.Name != "":
			who = e.Name
		}
		if t == "" {
			t = strings.Repeat(" ", len("2006-01-02T15:04:05Z"))
		}
		a.ui.printf("%s  %s: %s\n", t, who, e.Body)
	}
	return nil
}
