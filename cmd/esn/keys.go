package main

// esn keys: XEP-0189 public keys. See docs/keys.md.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/esn-project/esn/internal/term"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

// defaultKeyDays is the validity period of a new key.
const defaultKeyDays = 365

// maxImportFile bounds `esn keys import FILE`.
const maxImportFile = 1 << 20

func newKeysCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Manage public keys (XEP-0189): generate, publish, fetch, trust",
		Long: `Public keys let an encrypted session prove who is at the other end without
comparing a short authentication string (esn negotiate/send --auth key).

Your key pair lives under the state directory (mode 600), optionally
encrypted with a passphrase (ESN_KEY_PASSPHRASE or a prompt). 'esn keys
publish' puts the public key on your account's PEP node (urn:xmpp:pubkey:2);
others 'esn keys fetch' it, compare its fingerprint with you out of band, and
'esn keys trust' it. esn never trusts a key silently: a session with an
unknown key fails (exit 77) and prints the trust command, unless --tofu.
See docs/keys.md.`,
		Example: `  esn keys generate && esn keys publish
  esn keys fetch alice@example.org
  esn keys trust alice@example.org 8a87fc2c...   # after comparing with alice
  esn send --auth key alice@example.org <<< 'hello'`,
	}
	c.AddCommand(newKeysGenerateCmd(a), newKeysImportCmd(a), newKeysExportCmd(a), newKeysPublishCmd(a),
		newKeysListCmd(a), newKeysRevokeCmd(a), newKeysFetchCmd(a), newKeysTrustCmd(a), newKeysUntrustCmd(a))
	return c
}

// keyJSON is one key in --json output.
type keyJSON struct {
	JID         string `json:"jid"`
	Fingerprint string `json:"fingerprint"` // hex, what esn keys trust takes
	Print       string `json:"print"`       // Base64, as in the payload
	Begin       string `json:"begin"`
	End         string `json:"end"`
	Bits        int    `json:"bits"`
	State       string `json:"state"` // valid, expired, not-yet-valid, revoked, refused
	Local       bool   `json:"local,omitempty"`
	Published   *bool  `json:"published,omitempty"`
	Encrypted   bool   `json:"encrypted,omitempty"`
	Trusted     *bool  `json:"trusted,omitempty"`
	Error       string `json:"error,omitempty"`
}

func keyState(k *pubkey.PublicKey, revoked bool, now time.Time) string {
	switch {
	case revoked:
		return "revoked"
	case now.Before(k.Begin):
		return "not-yet-valid"
	case now.After(k.End):
		return "expired"
	}
	return "valid"
}

func newKeyJSON(k *pubkey.PublicKey, state string) keyJSON {
	fp := k.Fingerprint()
	return keyJSON{JID: k.JID, Fingerprint: fp.Hex(), Print: fp.Base64(), Begin: pubkey.FormatTime(k.Begin),
		End: pubkey.FormatTime(k.End), Bits: k.Key.N.BitLen(), State: state}
}

// printKey writes one key for people (stdout) or as a JSON line.
func (a *app) printKey(j keyJSON) error {
	if a.flags.json {
		return a.ui.emitJSON(j)
	}
	a.ui.printf("%s  %s\n", j.JID, fingerprintOf(j))
	var notes []string
	notes = append(notes, j.State, fmt.Sprintf("%d bits", j.Bits))
	if j.Local {
		notes = append(notes, "local")
	}
	if j.Published != nil {
		if *j.Published {
			notes = append(notes, "published")
		} else {
			notes = append(notes, "not published")
		}
	}
	if j.Encrypted {
		notes = append(notes, "passphrase")
	}
	if j.Trusted != nil {
		if *j.Trusted {
			notes = append(notes, "trusted")
		} else {
			notes = append(notes, "not trusted")
		}
	}
	if j.Error != "" {
		notes = append(notes, j.Error)
	}
	a.ui.printf("  valid %s to %s; %s\n", j.Begin, j.End, joinNotes(notes))
	return nil
}

func fingerprintOf(j keyJSON) string {
	fp, err := pubkey.ParseFingerprint(j.Fingerprint)
	if err != nil {
		return j.Fingerprint
	}
	return fp.String()
}

func joinNotes(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// accountBare returns the account's bare JID, with the usual hint.
func (a *app) accountBare() (string, error) {
	acct, err := a.s.accountJID()
	if errors.Is(err, errNoAccount) {
		return "", withHint(err, "set --account JID, ESN_ACCOUNT, or default_account in %s", a.s.ConfigPath)
	}
	if err != nil {
		return "", err
	}
	return acct.Bare().String(), nil
}

// loadAccount loads the settings and returns the account's bare JID.
func (a *app) loadAccount() (string, error) {
	if err := a.load(); err != nil {
		return "", err
	}
	return a.accountBare()
}

// loadTrustDB is loadAccount, then returns the account's trust store.
func (a *app) loadTrustDB() (*trustDB, error) {
	account, err := a.loadAccount()
	if err != nil {
		return nil, err
	}
	return &trustDB{a: a, account: account}, nil
}

// loadKeystore is loadAccount, then opens the account key directory.
func (a *app) loadKeystore() (string, *pubkey.Keystore, error) {
	account, err := a.loadAccount()
	if err != nil {
		return "", nil, err
	}
	ks, err := a.openKeystore()
	if err != nil {
		return "", nil, err
	}
	return account, ks, nil
}

// localKey returns the key named by fpArg, or the current one.
func localKey(ks *pubkey.Keystore, account, fpArg string) (*pubkey.LocalKey, error) {
	if fpArg == "" {
		k, err := ks.Current(account)
		if errors.Is(err, pubkey.ErrNoKey) {
			return nil, withHint(err, "run: esn keys generate (or esn keys import FILE)")
		}
		return k, ksErr(err)
	}
	fp, err := parseFingerprintArg(fpArg)
	if err != nil {
		return nil, err
	}
	k, err := ks.Get(account, fp)
	if errors.Is(err, pubkey.ErrNoKey) {
		return nil, withHint(err, "esn keys list shows your keys")
	}
	return k, ksErr(err)
}

func newKeysGenerateCmd(a *app) *cobra.Command {
	var bits, days int
	var noPass bool
	c := &cobra.Command{
		Use:   "generate",
		Short: "Generate a new RSA key pair for the account",
		Long: `Generate an RSA key pair (XEP-0189 v0.14 keys are RSA) valid from now for
--days days, and keep it under the state directory (mode 600). The private
key is encrypted under the passphrase in ESN_KEY_PASSPHRASE or, on a
terminal, one you type (empty for none). The new key becomes the one esn
publishes and signs with.`,
		Example: `  esn keys generate
  esn keys generate --bits 4096 --days 730`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if bits < pubkey.MinBits || bits > 8192 {
				return usagef("--bits must be between %d and 8192", pubkey.MinBits)
			}
			if days < 1 {
				return usagef("--days must be positive")
			}
			account, ks, err := a.loadKeystore()
			if err != nil {
				return err
			}
			pass, err := a.newKeyPassphrase(noPass)
			if err != nil {
				return err
			}
			defer clear(pass)
			a.ui.infof("generating a %d-bit RSA key for %s", bits, account)
			priv, err := pubkey.GenerateKey(rand.Reader, bits)
			if err != nil {
				return err
			}
			return a.addLocalKey(ks, account, priv, days, pass)
		},
	}
	c.Flags().IntVar(&bits, "bits", pubkey.DefaultBits, "RSA modulus size in `BITS` (2048 to 8192)")
	c.Flags().IntVar(&days, "days", defaultKeyDays, "validity period in `DAYS`")
	c.Flags().BoolVar(&noPass, "no-passphrase", false, "do not encrypt the private key (it relies on the file mode alone)")
	return c
}

func (a *app) addLocalKey(ks *pubkey.Keystore, account string, rk *rsa.PrivateKey, days int, pass []byte) error {
	now := time.Now()
	pk := pubkey.NewPublicKey(&rk.PublicKey, account, now, now.AddDate(0, 0, days))
	lk, err := ks.Add(pk, rk, pass)
	if err != nil {
		return err
	}
	if len(pass) == 0 {
		a.ui.warnf("the private key is not encrypted: it is protected by its file mode only (%s)", lk.Path())
	}
	a.ui.noticef("new key %s; publish it with: esn keys publish", pk.Fingerprint())
	j := newKeyJSON(pk, keyState(pk, false, now))
	j.Local, j.Published, j.Encrypted = true, ptr(false), lk.Encrypted
	return a.printKey(j)
}

func newKeysImportCmd(a *app) *cobra.Command {
	var days int
	var noPass bool
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import an RSA private key from a PEM file (PKCS#1 or PKCS#8, as openssl writes)",
		Long: `Import an RSA private key made elsewhere, for instance with
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem
The file may be PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 (BEGIN RSA PRIVATE KEY),
unencrypted; keys below 2048 bits are refused. The key is stored like a
generated one, valid from now for --days days.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if days < 1 {
				return usagef("--days must be positive")
			}
			account, err := a.loadAccount()
			if err != nil {
				return err
			}
			data, err := readLimited(args[0], maxImportFile)
			if err != nil {
				return err
			}
			defer clear(data)
			priv, err := pubkey.ParsePrivateKeyPEM(data)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", errBadData, args[0], err)
			}
			ks, err := a.openKeystore()
			if err != nil {
				return err
			}
			pass, err := a.newKeyPassphrase(noPass)
			if err != nil {
				return err
			}
			defer clear(pass)
			return a.addLocalKey(ks, account, priv, days, pass)
		},
	}
	c.Flags().IntVar(&days, "days", defaultKeyDays, "validity period in `DAYS`")
	c.Flags().BoolVar(&noPass, "no-passphrase", false, "do not encrypt the private key")
	return c
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", errBadData, path, max)
	}
	return b, nil
}

func newKeysExportCmd(a *app) *cobra.Command {
	var private bool
	var fpArg string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the account's public (or, with --private, private) key as PEM on stdout",
		Long: `Write the current key (or --fingerprint FP) as PEM, in the forms OpenSSL reads:
the public key as SubjectPublicKeyInfo (BEGIN PUBLIC KEY), the private key
with --private as unencrypted PKCS#8 (BEGIN PRIVATE KEY). Protect the
private key file yourself (umask 077).`,
		Example: `  esn keys export | openssl pkey -pubin -noout -text
  (umask 077; esn keys export --private > key.pem)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			account, ks, err := a.loadKeystore()
			if err != nil {
				return err
			}
			lk, err := localKey(ks, account, fpArg)
			if err != nil {
				return err
			}
			var out []byte
			if private {
				if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(f) {
					a.ui.warnf("writing a private key to the terminal")
				}
				priv, err := a.unlockKey(lk)
				if err != nil {
					return err
				}
				if out, err = pubkey.MarshalPrivateKeyPEM(priv); err != nil {
					return err
				}
				defer clear(out)
			} else if out, err = pubkey.MarshalPublicKeyPEM(lk.Public.Key); err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	c.Flags().BoolVar(&private, "private", false, "export the private key (unencrypted PKCS#8)")
	c.Flags().StringVar(&fpArg, "fingerprint", "", "export the key with this `FINGERPRINT` instead of the current one")
	return c
}

// connectPEP logs in for requests bounded by the command timeout (PEP
// operations here; connectArchive builds on it).
func (a *app) connectPEP(ctx context.Context) (*transport.Conn, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
	conn, err := a.connect(ctx, nil)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return conn, ctx, cancel, nil
}

// nodeConfig is the XEP-0222 configuration of the key nodes (digest §3.2).
func nodeConfig(access string, maxItems int) transport.NodeConfig {
	return transport.NodeConfig{AccessModel: access, MaxItems: maxItems, Fields: map[string]string{
		"pubsub#persist_items": "true", "pubsub#send_last_published_item": "never"}}
}

func checkAccess(access string) error {
	if access != "open" && access != "presence" {
		return usagef("--access must be open or presence")
	}
	return nil
}

func newKeysPublishCmd(a *app) *cobra.Command {
	var access, fpArg string
	c := &cobra.Command{
		Use:   "publish",
		Short: "Publish the account's public key on its PEP node",
		Long: `Publish the current key (or --fingerprint FP) as item 'current' of the
account's PEP node urn:xmpp:pubkey:2 (XEP-0189 §3, XEP-0222: persistent,
never pushed on presence). With --access open (the default) anyone can fetch
it, including people not yet on your roster; --access presence restricts it
to contacts with a presence subscription.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAccess(access); err != nil {
				return err
			}
			account, ks, err := a.loadKeystore()
			if err != nil {
				return err
			}
			lk, err := localKey(ks, account, fpArg)
			if err != nil {
				return err
			}
			if lk.Revoked() {
				return withCode(exitUsage, fmt.Errorf("key %s is revoked", lk.Public.Fingerprint()))
			}
			conn, ctx, cancel, err := a.connectPEP(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			defer conn.Close()
			if err := conn.PEPPublish(ctx, pubkey.Node, pubkey.ItemCurrent, lk.Public.Element(), nodeConfig(access, 0)); err != nil {
				return err
			}
			lk.Published = true
			if err := ks.Update(lk); err != nil {
				return err
			}
			a.ui.noticef("published key %s on %s (access %s)", lk.Public.Fingerprint(), pubkey.Node, access)
			j := newKeyJSON(lk.Public, keyState(lk.Public, false, time.Now()))
			j.Local, j.Published, j.Encrypted = true, ptr(true), lk.Encrypted
			return a.printKey(j)
		},
	}
	c.Flags().StringVar(&access, "access", "open", "who may fetch the key: `open` (anyone) or presence (contacts)")
	c.Flags().StringVar(&fpArg, "fingerprint", "", "publish the key with this `FINGERPRINT` instead of the current one")
	return c
}

func newKeysListCmd(a *app) *cobra.Command {
	var local bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the account's keys, local and published, with fingerprints",
		Long: `List the account's keys with their fingerprints (the XEP-0189 print, in
16 groups of 4 hex digits to read aloud), validity dates and state, and
which are published on the account's PEP node (esn connects to find out,
unless --local). A published key that is not stored here is listed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			account, ks, err := a.loadKeystore()
			if err != nil {
				return err
			}
			keys, err := ks.List(account)
			if err != nil {
				return ksErr(err)
			}
			var published []*pubkey.PublicKey
			if !local {
				conn, ctx, cancel, err := a.connectPEP(cmd.Context())
				if err != nil {
					return err
				}
				items, err := fetchKeys(ctx, conn, jid.JID{})
				conn.Close()
				cancel()
				if err != nil {
					return err
				}
				for _, it := range items {
					if it.Err == nil {
						published = append(published, it.Key)
					} else {
						a.ui.warnf("published item %q does not parse: %v", it.ItemID, it.Err)
					}
				}
			}
			now := time.Now()
			isPublished := func(k *pubkey.PublicKey) bool {
				return slices.ContainsFunc(published, func(p *pubkey.PublicKey) bool { return p.Fingerprint().Equal(k.Fingerprint()) })
			}
			for _, lk := range keys {
				j := newKeyJSON(lk.Public, keyState(lk.Public, lk.Revoked(), now))
				j.Local, j.Encrypted = true, lk.Encrypted
				if !local {
					j.Published = ptr(isPublished(lk.Public))
				}
				if err := a.printKey(j); err != nil {
					return err
				}
			}
			for _, p := range published {
				if slices.ContainsFunc(keys, func(lk *pubkey.LocalKey) bool { return lk.Public.Fingerprint().Equal(p.Fingerprint()) }) {
					continue
				}
				j := newKeyJSON(p, keyState(p, false, now))
				j.Published = ptr(true)
				if err := a.printKey(j); err != nil {
					return err
				}
			}
			if len(keys) == 0 && len(published) == 0 {
				a.ui.noticef("%s has no keys; make one with: esn keys generate", account)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&local, "local", false, "do not connect: list the local keys only")
	return c
}

func newKeysRevokeCmd(a *app) *cobra.Command {
	var access string
	c := &cobra.Command{
		Use:   "revoke FINGERPRINT",
		Short: "Revoke one of the account's keys: publish the revocation and retract the key",
		Long: `Sign a revocation of the key with the key itself (XEP-0189 §2.2: over
key | keyprint | revocationprint | revocationtime, rsa-sha256), publish it on
the PEP node urn:xmpp:revoke:2 (item id = the key's hex fingerprint), and
retract the key from urn:xmpp:pubkey:2. Peers that fetch your keys (esn keys
fetch, or before a keyed session) then refuse it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAccess(access); err != nil {
				return err
			}
			account, ks, err := a.loadKeystore()
			if err != nil {
				return err
			}
			lk, err := localKey(ks, account, args[0])
			if err != nil {
				return err
			}
			priv, err := a.unlockKey(lk)
			if err != nil {
				return err
			}
			rv := lk.Revocation
			if rv == nil {
				if rv, err = pubkey.NewRevocation(rand.Reader, lk.Public, lk.Public, priv, time.Now()); err != nil {
					return err
				}
			}
			conn, ctx, cancel, err := a.connectPEP(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			defer conn.Close()
			fp := lk.Public.Fingerprint()
			if err := conn.PEPPublish(ctx, pubkey.RevokeNode, fp.Hex(), rv.Element(), nodeConfig(access, transport.MaxItemsMax)); err != nil {
				return err
			}
			// Retract the key wherever it is published on our node.
			items, err := fetchKeys(ctx, conn, jid.JID{})
			if err != nil {
				return err
			}
			for _, it := range items {
				if it.Err == nil && pubkey.SameKey(it.Key.Key, lk.Public.Key) {
					if err := conn.PEPRetract(ctx, pubkey.Node, it.ItemID); err != nil {
						return err
					}
				}
			}
			lk.Revocation, lk.Published = rv, false
			if err := ks.Update(lk); err != nil {
				return err
			}
			a.ui.noticef("revoked key %s; generate and publish a new one with: esn keys generate && esn keys publish", fp)
			j := newKeyJSON(lk.Public, "revoked")
			j.Local, j.Published = true, ptr(false)
			return a.printKey(j)
		},
	}
	c.Flags().StringVar(&access, "access", "open", "who may fetch the revocation: `open` or presence")
	return c
}

func newKeysFetchCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "fetch JID",
		Short: "Fetch and check a contact's published keys",
		Long: `Fetch JID's keys from its PEP node (urn:xmpp:pubkey:2) and revocations
(urn:xmpp:revoke:2), and check each key: well-formed, its print matches,
within its validity period, not revoked, and its <jid/> is JID. Valid keys
are printed with their fingerprints and remembered (not trusted: compare the
fingerprint with JID out of band, then esn keys trust JID FINGERPRINT).
Exits 69 when JID publishes no key, 77 when every published key is refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			peer, err := parseJIDArg(args[0])
			if err != nil {
				return err
			}
			t, err := a.loadTrustDB()
			if err != nil {
				return err
			}
			conn, ctx, cancel, err := a.connectPEP(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			defer conn.Close()
			keys, err := a.fetchPeerKeys(ctx, conn, t, peer)
			if err != nil {
				return err
			}
			stored, err := t.peerKeys(peer.Bare().String())
			if err != nil {
				return err
			}
			valid := 0
			now := time.Now()
			for _, fk := range keys {
				if fk.Key == nil {
					a.ui.warnf("%s: item %q refused: %v", peer.Bare(), fk.ItemID, fk.Err)
					continue
				}
				state := keyState(fk.Key, errors.Is(fk.Err, pubkey.ErrRevoked), now)
				if fk.Err != nil && state == "valid" {
					state = "refused"
				}
				j := newKeyJSON(fk.Key, state)
				if fk.Err != nil {
					j.Error = trimPrefix(fk.Err)
					a.ui.warnf("%s: key %s refused: %s", peer.Bare(), fk.Key.Fingerprint(), trimPrefix(fk.Err))
				} else {
					valid++
					trusted := slices.ContainsFunc(stored, func(pk *peerKey) bool {
						return pk.published && pk.print.Equal(fk.Key.Fingerprint()) && pk.usable(now)
					})
					j.Trusted = ptr(trusted)
				}
				if err := a.printKey(j); err != nil {
					return err
				}
			}
			switch {
			case len(keys) == 0:
				return withCode(exitUnavailable, fmt.Errorf("%s publishes no key", peer.Bare()))
			case valid == 0:
				return withCode(exitNoPerm, fmt.Errorf("none of the keys %s publishes can be used", peer.Bare()))
			}
			return nil
		},
	}
	return c
}

// findPeerKey finds peer's stored key with fingerprint fp (published print
// or key-only fingerprint).
func findPeerKey(keys []*peerKey, fp pubkey.Fingerprint) *peerKey {
	for _, pk := range keys {
		if pk.print.Equal(fp) {
			return pk
		}
	}
	return nil
}

func newKeysTrustCmd(a *app) *cobra.Command {
	var petname string
	c := &cobra.Command{
		Use:   "trust JID FINGERPRINT",
		Short: "Trust a contact's key, after comparing its fingerprint out of band",
		Long: `Mark JID's key FINGERPRINT as trusted for key-authenticated sessions. The
key must be one JID published (esn fetches JID's keys if needed) or one JID
presented in a failed negotiation. Compare the fingerprint with JID over a
channel you trust first: that comparison is what makes the key trustworthy.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			peer, err := parseJIDArg(args[0])
			if err != nil {
				return err
			}
			fp, err := parseFingerprintArg(args[1])
			if err != nil {
				return err
			}
			t, err := a.loadTrustDB()
			if err != nil {
				return err
			}
			bare := peer.Bare().String()
			keys, err := t.peerKeys(bare)
			if err != nil {
				return err
			}
			pk := findPeerKey(keys, fp)
			if pk == nil {
				conn, ctx, cancel, err := a.connectPEP(cmd.Context())
				if err != nil {
					return err
				}
				_, ferr := a.fetchPeerKeys(ctx, conn, t, peer)
				conn.Close()
				cancel()
				if ferr != nil {
					return ferr
				}
				if keys, err = t.peerKeys(bare); err != nil {
					return err
				}
				if pk = findPeerKey(keys, fp); pk == nil {
					return withCode(exitDataErr, withHint(fmt.Errorf("%s has no valid key %s", bare, fp),
						"esn keys fetch %s lists its valid published keys", bare))
				}
			}
			if pk.revoked() {
				return withCode(exitNoPerm, fmt.Errorf("key %s of %s was revoked on %s", fp, bare, pubkey.FormatTime(*pk.data.Revoked)))
			}
			if pk.payload != nil && !pk.payload.ValidAt(time.Now()) {
				return withCode(exitNoPerm, fmt.Errorf("key %s of %s is outside its validity period", fp, bare))
			}
			err = t.update(func(tx *store.Tx) error {
				rec := pk.rec
				rec.Verified = true
				if petname != "" {
					rec.Petname = petname
				}
				if !slices.Contains(rec.JIDs, bare) {
					rec.JIDs = append(rec.JIDs, bare)
				}
				pk.data.TOFU = false
				return putRecord(tx, t.account, rec, pk.data)
			})
			if err != nil {
				return err
			}
			a.ui.noticef("trusted key %s for %s", fp, bare)
			if a.flags.json {
				return a.ui.emitJSON(map[string]any{"jid": bare, "fingerprint": fp.Hex(), "trusted": true, "petname": petname})
			}
			return nil
		},
	}
	c.Flags().StringVar(&petname, "petname", "", "your own `NAME` for the key, shown before the JID")
	return c
}

func newKeysUntrustCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "untrust JID [FINGERPRINT]",
		Short: "Stop trusting a contact's key (or all of its keys)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			peer, err := parseJIDArg(args[0])
			if err != nil {
				return err
			}
			var fp *pubkey.Fingerprint
			if len(args) == 2 {
				f, err := parseFingerprintArg(args[1])
				if err != nil {
					return err
				}
				fp = &f
			}
			t, err := a.loadTrustDB()
			if err != nil {
				return err
			}
			bare := peer.Bare().String()
			keys, err := t.peerKeys(bare)
			if err != nil {
				return err
			}
			n := 0
			err = t.update(func(tx *store.Tx) error {
				for _, pk := range keys {
					if !pk.rec.Verified || (fp != nil && !pk.print.Equal(*fp)) {
						continue
					}
					rec := pk.rec
					rec.Verified = false
					if err := putRecord(tx, t.account, rec, pk.data); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n == 0 {
				return withCode(exitDataErr, fmt.Errorf("no trusted key of %s matches", bare))
			}
			a.ui.noticef("%s: %d key(s) no longer trusted", bare, n)
			return nil
		},
	}
	return c
}
