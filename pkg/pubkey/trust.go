package pubkey

import (
	"errors"
	"fmt"
)

// Reasons a key presented in a negotiation is not trusted (XEP-0116 §7.4
// Key Associations: alert when a JID presents an unknown or a different
// key, or another JID presents a known key).
var (
	ErrUnknownKey    = errors.New("the key is not trusted yet")
	ErrKeyChanged    = errors.New("it is not the key you trusted for this JID")
	ErrKeyOfOtherJID = errors.New("the key is trusted for another JID")
)

// UntrustedKeyError reports a peer key that esn refused to rely on. Its
// message names the key and, where trusting it is the remedy, the exact
// command; cmd/esn exits 77 for it.
type UntrustedKeyError struct {
	JID string
	// Fingerprint names the key as `esn keys fetch` and `esn keys list`
	// show it: the XEP-0189 print when Published, else the fingerprint of
	// the key alone (SHA-256 of its normalized <KeyValue/>), for a key the
	// peer did not publish.
	Fingerprint Fingerprint
	Published   bool
	// Reason is ErrUnknownKey, ErrKeyChanged, ErrKeyOfOtherJID or
	// ErrRevoked (possibly wrapped).
	Reason error
}

func (e *UntrustedKeyError) Error() string {
	kind := "key"
	if !e.Published {
		kind = "unpublished key"
	}
	msg := fmt.Sprintf("%s presented %s %s: %v", e.JID, kind, e.Fingerprint, e.Reason)
	if cmd := e.TrustCommand(); cmd != "" {
		msg += "; if " + e.JID + " confirms this fingerprint out of band, trust it with: " + cmd
	}
	return msg
}

func (e *UntrustedKeyError) Unwrap() error { return e.Reason }

// TrustCommand is the command that trusts the key, or "" when trusting it
// is not the remedy (a revoked key, or one trusted for another JID).
func (e *UntrustedKeyError) TrustCommand() string {
	if errors.Is(e.Reason, ErrRevoked) || errors.Is(e.Reason, ErrKeyOfOtherJID) {
		return ""
	}
	return "esn keys trust " + e.JID + " " + e.Fingerprint.Hex()
}
