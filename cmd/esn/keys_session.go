package main

// Public-key authentication of the session commands (negotiate, send,
// receive): --auth, --tofu, the KeyRing and the reporting of the peer's
// key. See docs/keys.md.

import (
	"errors"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/spf13/cobra"
)

// registerAuthFlags adds --auth and --tofu.
func registerAuthFlags(c *cobra.Command, auth *string, tofu *bool) {
	c.Flags().StringVar(auth, "auth", "auto", "authentication: `sas` (compare a short string), key (public keys, see esn keys), or auto (keys when both sides trust each other's, else SAS)")
	c.Flags().BoolVar(tofu, "tofu", false, "trust an unknown peer key on first use (this run), and say so")
}

// parseAuthFlag parses --auth.
func parseAuthFlag(s string) (esn.Auth, error) {
	a, err := esn.ParseAuth(s)
	if err != nil {
		return a, usagef("--auth must be sas, key or auto, not %q", s)
	}
	return a, nil
}

// sessionKeyRing returns the KeyRing of a session command, or nil for
// --auth sas. With --auth auto a key that cannot be unlocked (no
// passphrase available) is skipped with a warning; with --auth key it is
// an error.
func (a *app) sessionKeyRing(account string, auth esn.Auth, tofu bool) (*keyRing, error) {
	if auth == esn.AuthSAS {
		if tofu {
			return nil, usagef("--tofu needs --auth key or auto")
		}
		return nil, nil
	}
	r, err := a.newKeyRing(account, tofu)
	if err != nil && auth == esn.AuthAuto && (errors.Is(err, pubkey.ErrNeedPassphrase) || errors.Is(err, pubkey.ErrWrongPassphrase)) {
		a.ui.warnf("not using your key for this session: %v", err)
		r, err = &keyRing{a: a, db: &trustDB{a: a, account: account}, tofu: tofu}, nil
	}
	if err != nil {
		return nil, err
	}
	if auth == esn.AuthKey && r.signer == nil {
		return nil, withHint(esn.ErrNoIdentity, "make a key with: esn keys generate && esn keys publish")
	}
	return r, nil
}

// esnKeyRing returns r as an esn.KeyRing; nil stays a nil interface.
func (r *keyRing) esnKeyRing() esn.KeyRing {
	if r == nil {
		return nil
	}
	return r
}

// authOf says how a negotiated session was authenticated: "key" when the
// peer identified with a verified, trusted key, else "sas".
func authOf(ev esn.NegotiatedEvent) string {
	if ev.PeerKey != nil {
		return "key"
	}
	return "sas"
}

// authJSON adds auth and peer_fingerprint to a negotiated event's JSON.
func (l *liveSession) authJSON(j map[string]any, ev esn.NegotiatedEvent) map[string]any {
	j["auth"] = authOf(ev)
	if ev.PeerKey != nil && l.ring != nil {
		j["peer_fingerprint"] = l.ring.peerFingerprint(bareOf(ev.Peer), ev.PeerKey).Hex()
	}
	if ev.ThreeMessage {
		j["messages"] = 3
	} else {
		j["messages"] = 4
	}
	return j
}

// reportAuth tells the user how the peer was authenticated.
func (l *liveSession) reportAuth(ev esn.NegotiatedEvent) {
	if ev.PeerKey == nil || l.ring == nil {
		return
	}
	variant := "4-message"
	if ev.ThreeMessage {
		variant = "3-message"
	}
	l.a.ui.noticef("%s authenticated by its key %s (%s negotiation)", bareOf(ev.Peer),
		l.ring.peerFingerprint(bareOf(ev.Peer), ev.PeerKey), variant)
}

// keyErrorHint adds the trust advice to an untrusted-key error.
func keyErrorHint(err error) error {
	if h, ok := keyTrustHint(err); ok {
		return withHint(err, "%s", h)
	}
	if errors.Is(err, esn.ErrUntrustedKey) {
		return withHint(err, "esn keys fetch PEER shows the peer's published keys; esn keys trust PEER FINGERPRINT trusts one")
	}
	return err
}
