package offline

import (
	"errors"
	"fmt"
)

// Errors callers branch on with errors.Is. Text from the network never
// appears in them unquoted.
var (
	// ErrNotOffline is returned by [Receiver.Receive] for a stanza that
	// is not part of an offline ESession we know: the caller hands it to
	// the online machinery (package esn) instead.
	ErrNotOffline = errors.New("offline: not an offline ESession stanza")

	// ErrNoOptions means the contact has published no usable offline
	// options: no item, an empty node, an item without a form, or no
	// access (XEP-0187 §3.2; digest #30). An offline session is
	// impossible; nothing is ever sent in plaintext instead.
	ErrNoOptions = errors.New("offline: the contact published no offline ESession options")

	// ErrMalformed is wrapped by every parse failure of options, forms and
	// stanzas.
	ErrMalformed = errors.New("offline: malformed offline ESession data")

	// ErrBadSignature means no 'signs' value verifies with any key that
	// was tried (XEP-0187 §3.3: Bob MUST stop).
	ErrBadSignature = errors.New("offline: the options' signature does not verify")

	// ErrExpired means the options (Bob) or the secrets of a stored
	// option set (Alice) are past their 'expires' time (XEP-0187 §6.2).
	ErrExpired = errors.New("offline: the offline ESession options have expired")

	// ErrUnsupported means the options offer no acceptable value for some
	// field, or Bob's answer picks a value Alice did not offer.
	ErrUnsupported = errors.New("offline: no acceptable offline ESession parameters")

	// ErrUnknownNonce means an offline <init/> names an N_A for which no
	// secrets are held here: they were destroyed, expired, or stayed on
	// another device (XEP-0160 delivers to whichever resource logs in).
	ErrUnknownNonce = errors.New("offline: no stored secrets for this offline ESession")

	// ErrReplay means an <init/> reuses a d or N_B already received for
	// the same option set (XEP-0187 §6.1).
	ErrReplay = errors.New("offline: replayed offline ESession request")

	// ErrAuthentication means Bob's identity proof (M_B, mac_B or his
	// signature) or a stanza MAC did not verify.
	ErrAuthentication = errors.New("offline: authentication failed")

	// ErrNoIdentity means no signing key was given where one is required
	// (Alice's 'signs', Bob's identity: XEP-0187 needs public keys).
	ErrNoIdentity = errors.New("offline: no identity key (offline ESessions need one)")

	// ErrEnded is returned by a [Session] after it terminated.
	ErrEnded = errors.New("offline: the offline ESession has ended")
)

// FieldError names the form field that made options or an answer
// unusable. It unwraps to its class (ErrMalformed or ErrUnsupported).
type FieldError struct {
	Field  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: field %q: %s", e.Err, e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return e.Err }

func malformed(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrMalformed}
}

func unsupported(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrUnsupported}
}
