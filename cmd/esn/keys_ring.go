package main

// The trust store of peer keys (pkg/store TrustedKey records) and the
// esn.KeyRing that negotiations consult. See docs/keys.md.

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/internal/term"
	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// envKeyPassphrase holds the passphrase of the account's private key.
const envKeyPassphrase = "ESN_KEY_PASSPHRASE"

// Record sources.
const (
	sourcePEP         = "pep"         // fetched from the peer's PEP node
	sourceNegotiation = "negotiation" // presented in a negotiation, unpublished
)

// unpublishedPrefix marks the store fingerprint of a key known only from a
// negotiation: SHA-256 of its normalized <KeyValue/>, not a XEP-0189 print.
const unpublishedPrefix = "key:"

// keyRecordData is the TrustedKey.Key encoding.
type keyRecordData struct {
	PubKey   string     `json:"pubkey,omitempty"`   // the XEP-0189 payload as fetched
	KeyValue string     `json:"keyvalue,omitempty"` // the key alone, when unpublished
	Revoked  *time.Time `json:"revoked,omitempty"`
	Source   string     `json:"source"`
	TOFU     bool       `json:"tofu,omitempty"`
}

// peerKey is a decoded trust store record.
type peerKey struct {
	rec       store.TrustedKey
	data      keyRecordData
	pub       *rsa.PublicKey
	payload   *pubkey.PublicKey // nil for an unpublished key
	print     pubkey.Fingerprint
	published bool
}

// keyOnlyFingerprint is the fingerprint of an unpublished key.
func keyOnlyFingerprint(pub *rsa.PublicKey) pubkey.Fingerprint {
	return pubkey.Fingerprint(sha256.Sum256(esn.KeyValue(pub)))
}

func decodePeerKey(rec store.TrustedKey) (*peerKey, error) {
	pk := &peerKey{rec: rec}
	if err := json.Unmarshal(rec.Key, &pk.data); err != nil {
		return nil, fmt.Errorf("trust store record %q: %w", rec.Fingerprint, err)
	}
	switch {
	case pk.data.PubKey != "":
		p, err := pubkey.ParsePublicKeyXML([]byte(pk.data.PubKey))
		if err != nil {
			return nil, fmt.Errorf("trust store record %q: %w", rec.Fingerprint, err)
		}
		pk.payload, pk.pub, pk.print, pk.published = p, p.Key, p.Fingerprint(), true
	case pk.data.KeyValue != "":
		el, err := xmltree.Parse([]byte(pk.data.KeyValue), xmltree.Limits{MaxBytes: 8 << 10})
		if err != nil {
			return nil, fmt.Errorf("trust store record %q: %w", rec.Fingerprint, err)
		}
		pub, err := keyValueKey(el)
		if err != nil {
			return nil, fmt.Errorf("trust store record %q: %w", rec.Fingerprint, err)
		}
		pk.pub, pk.print = pub, keyOnlyFingerprint(pub)
	default:
		return nil, fmt.Errorf("trust store record %q holds no key", rec.Fingerprint)
	}
	return pk, nil
}

// keyValueKey reads the RSA key of a normalized <KeyValue/> written by
// esn.KeyValue.
func keyValueKey(el *xmltree.Element) (*rsa.PublicKey, error) {
	rk := el.Child("", "RSAKeyValue")
	if rk == nil {
		return nil, errors.New("no RSAKeyValue")
	}
	n, err1 := decodeB64Int(rk.ChildText("", "Modulus"))
	e, err2 := decodeB64Int(rk.ChildText("", "Exponent"))
	if err1 != nil || err2 != nil || !e.IsInt64() {
		return nil, errors.New("bad RSAKeyValue")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	return pub, pubkey.CheckPublicKey(pub)
}

func (pk *peerKey) revoked() bool { return pk.data.Revoked != nil }

// usable reports whether a trusted record may be relied on now.
func (pk *peerKey) usable(now time.Time) bool {
	return pk.rec.Verified && !pk.revoked() && (pk.payload == nil || pk.payload.ValidAt(now))
}

// trustDB opens the state file per operation, as internal/esnstore does,
// so that a long-running esn does not lock out the others.
type trustDB struct {
	a       *app
	account string
	mu      sync.Mutex
}

func (t *trustDB) update(fn func(*store.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return store.Opener(t.a.openStore).Update(fn)
}

// peerKeys returns the stored keys associated with the bare JID peer.
func (t *trustDB) peerKeys(peer string) ([]*peerKey, error) {
	return t.keys(func(tx *store.Tx) ([]store.TrustedKey, error) { return tx.KeysForJID(t.account, peer) })
}

// allKeys returns every stored key of the account.
func (t *trustDB) allKeys() ([]*peerKey, error) {
	return t.keys(func(tx *store.Tx) ([]store.TrustedKey, error) { return tx.Keys(t.account) })
}

// keys decodes the records that list reads.
func (t *trustDB) keys(list func(*store.Tx) ([]store.TrustedKey, error)) ([]*peerKey, error) {
	var out []*peerKey
	err := t.update(func(tx *store.Tx) error {
		recs, err := list(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			pk, err := decodePeerKey(r)
			if err != nil {
				return err
			}
			out = append(out, pk)
		}
		return nil
	})
	return out, err
}

func putRecord(tx *store.Tx, account string, rec store.TrustedKey, data keyRecordData) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	rec.Key = b
	return tx.PutKey(account, rec)
}

// recordFetched stores a validated published key of peer, keeping the
// trust decision of an existing record; a key that was known only from a
// negotiation moves to its published record.
func (t *trustDB) recordFetched(peer string, k *pubkey.PublicKey) error {
	return t.update(func(tx *store.Tx) error {
		fp := k.Fingerprint().Base64()
		rec, err := tx.Key(t.account, fp)
		if errors.Is(err, store.ErrNotFound) {
			rec, err = store.TrustedKey{Fingerprint: fp}, nil
			// Inherit the trust of the same key seen unpublished.
			old := unpublishedPrefix + keyOnlyFingerprint(k.Key).Base64()
			if prev, err := tx.Key(t.account, old); err == nil {
				rec.Verified, rec.Petname, rec.JIDs = prev.Verified, prev.Petname, prev.JIDs
				if err := tx.DeleteKey(t.account, old); err != nil {
					return err
				}
			}
		}
		if err != nil {
			return err
		}
		var data keyRecordData
		if rec.Key != nil {
			_ = json.Unmarshal(rec.Key, &data)
		}
		data.PubKey, data.Source = k.Element().String(), sourcePEP
		if !slices.Contains(rec.JIDs, peer) {
			rec.JIDs = append(rec.JIDs, peer)
		}
		rec.FirstSeen = time.Time{}
		return putRecord(tx, t.account, rec, data)
	})
}

// applyRevocations marks every stored key of peer that a verifying
// revocation names as revoked.
func (t *trustDB) applyRevocations(peer string, revs []*pubkey.Revocation, signers []*pubkey.PublicKey) ([]*peerKey, error) {
	keys, err := t.peerKeys(peer)
	if err != nil || len(revs) == 0 {
		return nil, err
	}
	var revoked []*peerKey
	err = t.update(func(tx *store.Tx) error {
		for _, pk := range keys {
			if pk.revoked() {
				continue
			}
			self := pk.payload
			if self == nil {
				self = pubkey.NewPublicKey(pk.pub, peer, time.Time{}, time.Time{})
			}
			var hit *pubkey.Revocation
			for _, rv := range revs {
				if !pubkey.SameKey(rv.Key, pk.pub) && !rv.KeyPrint.Equal(pk.print) {
					continue
				}
				// Signed by the key itself (its print needs the payload) or
				// by another published key of the peer.
				for _, s := range append([]*pubkey.PublicKey{self}, signers...) {
					if rv.Verify(s) == nil {
						hit = rv
						break
					}
				}
			}
			if hit == nil {
				continue
			}
			at := hit.Time
			pk.data.Revoked = &at
			if err := putRecord(tx, t.account, pk.rec, pk.data); err != nil {
				return err
			}
			revoked = append(revoked, pk)
		}
		return nil
	})
	return revoked, err
}

// fetchedKey is one item of a peer's key node after validation.
type fetchedKey struct {
	ItemID string
	Key    *pubkey.PublicKey // nil if the payload did not parse
	Err    error             // why the key is refused, nil if valid
}

// fetchPeerKeys fetches and validates peer's published keys and
// revocations (XEP-0189 §3, digest §3.6) and updates the trust store:
// valid keys are recorded (untrusted unless trusted before), revoked ones
// marked. A peer without a key node has no keys.
func (a *app) fetchPeerKeys(ctx context.Context, conn *transport.Conn, t *trustDB, peer jid.JID) ([]fetchedKey, error) {
	bare := peer.Bare().String()
	out, err := fetchKeys(ctx, conn, peer.Bare())
	switch {
	case errors.Is(err, &transport.StanzaError{Condition: "forbidden"}), errors.Is(err, &transport.StanzaError{Condition: "not-authorized"}):
		return nil, withHint(err, "%s publishes its keys to contacts only (access model presence); a presence subscription is needed", bare)
	case err != nil:
		return nil, err
	}
	var revs []*pubkey.Revocation
	if ritems, err := conn.PEPFetch(ctx, peer.Bare(), pubkey.RevokeNode); err == nil {
		for _, it := range ritems {
			if it.Payload == nil {
				continue
			}
			if rv, err := pubkey.ParseRevocation(it.Payload); err == nil {
				revs = append(revs, rv)
			} else {
				a.ui.warnf("%s: ignoring revocation %q: %v", bare, it.ID, err)
			}
		}
	} else if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var signers []*pubkey.PublicKey
	for _, fk := range out {
		if fk.Err == nil {
			signers = append(signers, fk.Key)
		}
	}
	now := time.Now()
	for i := range out {
		if out[i].Key == nil {
			continue
		}
		out[i].Err = pubkey.Validate(out[i].Key, bare, now, revs, signers)
		if out[i].Err == nil {
			if err := t.recordFetched(bare, out[i].Key); err != nil {
				return nil, err
			}
		}
	}
	revoked, err := t.applyRevocations(bare, revs, signers)
	if err != nil {
		return nil, err
	}
	for _, pk := range revoked {
		a.ui.warnf("%s revoked key %s on %s", bare, pk.print, pubkey.FormatTime(*pk.data.Revoked))
	}
	return out, nil
}

// fetchKeys fetches and parses the items of owner's key node (XEP-0189
// §3), the account's own for the zero JID; Err is set for an item that
// does not parse. A missing node has no keys.
func fetchKeys(ctx context.Context, conn *transport.Conn, owner jid.JID) ([]fetchedKey, error) {
	items, err := conn.PEPFetch(ctx, owner, pubkey.Node)
	if errors.Is(err, &transport.StanzaError{Condition: "item-not-found"}) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []fetchedKey
	for _, it := range items {
		if it.Payload == nil {
			continue
		}
		fk := fetchedKey{ItemID: it.ID}
		fk.Key, fk.Err = pubkey.ParsePublicKey(it.Payload)
		out = append(out, fk)
	}
	return out, nil
}

// refreshPeerKeys is fetchPeerKeys for a negotiation: before a keyed
// session esn learns the peer's current keys and revocations, so that a
// revoked key is refused and an unknown one is named by its published
// print. Failures are warnings: the trust store still decides.
func (a *app) refreshPeerKeys(ctx context.Context, conn *transport.Conn, ring *keyRing, peer jid.JID) {
	if ring == nil {
		return
	}
	if _, err := a.fetchPeerKeys(ctx, conn, ring.db, peer); err != nil {
		a.ui.infof("could not refresh the published keys of %s: %v", peer.Bare(), err)
	}
}

// keyRing implements esn.KeyRing over the keystore and the trust store.
type keyRing struct {
	a      *app
	db     *trustDB
	signer crypto.Signer
	own    *pubkey.LocalKey
	tofu   bool
}

var _ esn.KeyRing = (*keyRing)(nil)

// newKeyRing loads the account's current key (asking for its passphrase
// if it is encrypted) and opens the trust store. Without a key, Signer is
// nil: SAS sessions still work, --auth key fails with a hint.
func (a *app) newKeyRing(account string, tofu bool) (*keyRing, error) {
	r := &keyRing{a: a, db: &trustDB{a: a, account: account}, tofu: tofu}
	ks, err := a.openKeystore()
	if err != nil {
		return nil, err
	}
	own, err := ks.Current(account)
	if errors.Is(err, pubkey.ErrNoKey) {
		return r, nil
	}
	if err != nil {
		return nil, ksErr(err)
	}
	priv, err := a.unlockKey(own)
	if err != nil {
		return nil, err
	}
	r.own, r.signer = own, priv
	return r, nil
}

func (r *keyRing) Signer() crypto.Signer {
	if r.signer == nil {
		return nil
	}
	return r.signer
}

func (r *keyRing) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	keys, err := r.db.peerKeys(peer)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []*rsa.PublicKey
	for _, pk := range keys {
		if pk.usable(now) {
			out = append(out, pk.pub)
		}
	}
	return out, nil
}

// CheckKey applies XEP-0116 §7.4: a key trusted for peer is accepted; a
// revoked key, another key than the trusted one, or a key trusted for
// another JID is refused; an unknown key is refused (with the trust
// command) or, with --tofu, trusted and reported.
func (r *keyRing) CheckKey(peer string, key *rsa.PublicKey) error {
	keys, err := r.db.peerKeys(peer)
	if err != nil {
		return err
	}
	now := time.Now()
	var known *peerKey
	trustedOther := false
	for _, pk := range keys {
		if pubkey.SameKey(pk.pub, key) {
			if known == nil || pk.published {
				known = pk
			}
			continue
		}
		trustedOther = trustedOther || pk.usable(now)
	}
	untrusted := func(fp pubkey.Fingerprint, published bool, reason error) error {
		return &pubkey.UntrustedKeyError{JID: peer, Fingerprint: fp, Published: published, Reason: reason}
	}
	if known != nil {
		switch {
		case known.revoked():
			return untrusted(known.print, known.published, fmt.Errorf("%w on %s", pubkey.ErrRevoked, pubkey.FormatTime(*known.data.Revoked)))
		case known.payload != nil && !known.payload.ValidAt(now):
			return untrusted(known.print, true, pubkey.ErrExpired)
		case known.rec.Verified:
			return nil
		}
	}
	fp, published := keyOnlyFingerprint(key), false
	if known != nil {
		fp, published = known.print, known.published
	}
	if trustedOther {
		return untrusted(fp, published, pubkey.ErrKeyChanged)
	}
	if other, err := r.trustedElsewhere(peer, key); err != nil {
		return err
	} else if other != "" {
		return untrusted(fp, published, fmt.Errorf("%w (%s)", pubkey.ErrKeyOfOtherJID, other))
	}
	if r.tofu {
		if err := r.trust(peer, key, known); err != nil {
			return err
		}
		r.a.ui.warnf("--tofu: trusted %s's key %s on first use; compare it with %s out of band", peer, fp, peer)
		return nil
	}
	if known == nil {
		// Remember the key (XEP-0116 §7.4 SHOULD), so that the trust
		// command below finds it.
		if err := r.remember(peer, key); err != nil {
			return err
		}
	}
	return untrusted(fp, published, pubkey.ErrUnknownKey)
}

// trustedElsewhere returns another JID the key is trusted for.
func (r *keyRing) trustedElsewhere(peer string, key *rsa.PublicKey) (string, error) {
	all, err := r.db.allKeys()
	if err != nil {
		return "", err
	}
	for _, pk := range all {
		if pubkey.SameKey(pk.pub, key) && pk.rec.Verified {
			for _, j := range pk.rec.JIDs {
				if j != peer {
					return j, nil
				}
			}
		}
	}
	return "", nil
}

func (r *keyRing) remember(peer string, key *rsa.PublicKey) error {
	return r.db.update(func(tx *store.Tx) error {
		return putRecord(tx, r.db.account, store.TrustedKey{
			Fingerprint: unpublishedPrefix + keyOnlyFingerprint(key).Base64(), JIDs: []string{peer},
		}, keyRecordData{KeyValue: string(esn.KeyValue(key)), Source: sourceNegotiation})
	})
}

func (r *keyRing) trust(peer string, key *rsa.PublicKey, known *peerKey) error {
	return r.db.update(func(tx *store.Tx) error {
		if known != nil {
			rec := known.rec
			rec.Verified = true
			if !slices.Contains(rec.JIDs, peer) {
				rec.JIDs = append(rec.JIDs, peer)
			}
			known.data.TOFU = true
			return putRecord(tx, r.db.account, rec, known.data)
		}
		return putRecord(tx, r.db.account, store.TrustedKey{
			Fingerprint: unpublishedPrefix + keyOnlyFingerprint(key).Base64(), JIDs: []string{peer}, Verified: true,
		}, keyRecordData{KeyValue: string(esn.KeyValue(key)), Source: sourceNegotiation, TOFU: true})
	})
}

// peerFingerprint names a verified peer key as the user knows it: its
// XEP-0189 print if the peer published it, else the key-only fingerprint.
func (r *keyRing) peerFingerprint(peer string, key *rsa.PublicKey) pubkey.Fingerprint {
	if keys, err := r.db.peerKeys(peer); err == nil {
		for _, pk := range keys {
			if pubkey.SameKey(pk.pub, key) && pk.published {
				return pk.print
			}
		}
	}
	return keyOnlyFingerprint(key)
}

// openKeystore opens the account key directory under the state directory.
func (a *app) openKeystore() (*pubkey.Keystore, error) {
	if err := store.EnsureDir(a.s.StateDir); err != nil {
		var pe *store.PermissionError
		if errors.As(err, &pe) {
			return nil, withHint(err, "run: %s", pe.Fix)
		}
		return nil, err
	}
	ks, err := pubkey.OpenKeystore(a.s.StateDir)
	var pe *pubkey.PermissionError
	if errors.As(err, &pe) {
		return nil, withHint(err, "run: %s", pe.Fix)
	}
	return ks, err
}

// stdinIsTerminal reports whether esn may prompt.
func (a *app) stdinIsTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(f)
}

// newKeyPassphrase returns the passphrase for a new key: none with
// --no-passphrase (noPass), else ESN_KEY_PASSPHRASE, else (on a terminal)
// one typed twice, else none.
func (a *app) newKeyPassphrase(noPass bool) ([]byte, error) {
	if noPass {
		return nil, nil
	}
	if p := a.getenv(envKeyPassphrase); p != "" {
		return []byte(p), nil
	}
	if !a.stdinIsTerminal() {
		return nil, nil
	}
	p1, err := term.ReadSecret("passphrase for the private key (empty for none): ")
	if err != nil || len(p1) == 0 {
		return nil, err
	}
	p2, err := term.ReadSecret("the same passphrase again: ")
	if err != nil {
		return nil, err
	}
	defer clear(p2)
	if string(p1) != string(p2) {
		clear(p1)
		return nil, usagef("the passphrases differ")
	}
	return p1, nil
}

// unlockKey returns the private key of k, asking for its passphrase if it
// is encrypted.
func (a *app) unlockKey(k *pubkey.LocalKey) (*rsa.PrivateKey, error) {
	var pass []byte
	if k.Encrypted {
		if p := a.getenv(envKeyPassphrase); p != "" {
			pass = []byte(p)
		} else if a.stdinIsTerminal() {
			var err error
			if pass, err = term.ReadSecret(fmt.Sprintf("passphrase for key %s: ", k.Public.Fingerprint())); err != nil {
				return nil, err
			}
		} else {
			return nil, withCode(exitNoPerm, withHint(pubkey.ErrNeedPassphrase,
				"set %s, or run esn on a terminal to be asked", envKeyPassphrase))
		}
		defer clear(pass)
	}
	priv, err := k.PrivateKey(pass)
	if errors.Is(err, pubkey.ErrWrongPassphrase) {
		return nil, withCode(exitNoPerm, err)
	}
	return priv, err
}

// keyTrustHint is the advice for an untrusted key error (also in its
// message): the command to trust it, or what else to do.
func keyTrustHint(err error) (string, bool) {
	var ue *pubkey.UntrustedKeyError
	if !errors.As(err, &ue) {
		return "", false
	}
	if cmd := ue.TrustCommand(); cmd != "" {
		return fmt.Sprintf("compare the fingerprint %s with %s out of band (esn keys fetch %s shows the published ones), then run: %s",
			ue.Fingerprint, ue.JID, ue.JID, cmd), true
	}
	if errors.Is(ue, pubkey.ErrRevoked) {
		return fmt.Sprintf("%s revoked this key; ask %s to publish a new one (esn keys generate && esn keys publish)", ue.JID, ue.JID), true
	}
	return "", false
}

// trimFingerprintArg accepts a fingerprint argument in any printed form.
func parseFingerprintArg(s string) (pubkey.Fingerprint, error) {
	fp, err := pubkey.ParseFingerprint(strings.TrimSpace(s))
	if err != nil {
		return fp, usageErr(fmt.Errorf("%w (want the 64 hex digits esn keys list or fetch prints)", err))
	}
	return fp, nil
}

// decodeB64Int decodes an xmldsig CryptoBinary.
func decodeB64Int(s string) (*big.Int, error) {
	b, err := crypt.DecodeBase64("KeyValue", s, 2048)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// ksErr adds the chmod hint to a key file others can read.
func ksErr(err error) error {
	var pe *pubkey.PermissionError
	if errors.As(err, &pe) {
		return withHint(err, "run: %s", pe.Fix)
	}
	return err
}
