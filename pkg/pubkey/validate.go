package pubkey

import (
	"errors"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"
)

// Reasons a well-formed key is refused, for errors.Is.
var (
	ErrNotYetValid = errors.New("pubkey: key is not valid yet")
	ErrExpired     = errors.New("pubkey: key has expired")
	ErrRevoked     = errors.New("pubkey: key has been revoked")
	ErrJIDMismatch = errors.New("pubkey: key belongs to another JID")
)

// KeyError reports a key that failed validation. It unwraps to the
// reason (ErrExpired, ErrNotYetValid, ErrRevoked, ErrJIDMismatch,
// ErrWeakKey).
type KeyError struct {
	JID         string // where the key came from
	Fingerprint Fingerprint
	Err         error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("pubkey: key %s of %s refused: %v", e.Fingerprint, e.JID, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// SameJID reports whether a and b are the same JID after RFC 7622
// preparation (so case in the domain does not matter).
func SameJID(a, b string) bool {
	ja, err1 := jid.Parse(a)
	jb, err2 := jid.Parse(b)
	return err1 == nil && err2 == nil && ja.Equal(jb)
}

// Validate makes the checks of digest §3.6 on a parsed key fetched from
// owner (a bare JID): the <jid/> equals owner, now lies within
// [Begin, End], the key is large enough, and no revocation in revs that
// verifies names it. A revocation verifies if it is signed by k itself or
// by one of signers, matched by print; others are ignored, as are
// revocations whose signature esn cannot check (digest §8 #23). The print
// was already checked by ParsePublicKey.
func Validate(k *PublicKey, owner string, now time.Time, revs []*Revocation, signers []*PublicKey) error {
	fail := func(err error) error { return &KeyError{JID: owner, Fingerprint: k.Fingerprint(), Err: err} }
	if err := CheckPublicKey(k.Key); err != nil {
		return fail(err)
	}
	if !SameJID(k.JID, owner) {
		return fail(fmt.Errorf("%w: <jid/> is %q", ErrJIDMismatch, truncate(k.JID)))
	}
	if now.Before(k.Begin) {
		return fail(fmt.Errorf("%w: valid from %s", ErrNotYetValid, FormatTime(k.Begin)))
	}
	if now.After(k.End) {
		return fail(fmt.Errorf("%w: valid until %s", ErrExpired, FormatTime(k.End)))
	}
	if rv := RevokedBy(k, revs, signers); rv != nil {
		return fail(fmt.Errorf("%w on %s", ErrRevoked, FormatTime(rv.Time)))
	}
	return nil
}

// RevokedBy returns the first revocation in revs that names k (by print
// or by key) and verifies with k or one of signers, or nil.
func RevokedBy(k *PublicKey, revs []*Revocation, signers []*PublicKey) *Revocation {
	fp := k.Fingerprint()
	for _, rv := range revs {
		if rv == nil || (!rv.KeyPrint.Equal(fp) && !SameKey(rv.Key, k.Key)) {
			continue
		}
		for _, s := range append([]*PublicKey{k}, signers...) {
			if s.Fingerprint().Equal(rv.RevocationPrint) && rv.Verify(s) == nil {
				return rv
			}
		}
	}
	return nil
}
