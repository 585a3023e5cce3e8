package crypt

import (
	"errors"
	"fmt"
)

// Errors callers branch on. Use errors.Is: most are returned wrapped, with
// context that never contains key material.
//
// Every error returned by [Stream.Open] means the ESession must be
// terminated (XEP-0200 §8, esession-core.md D-21); the classes only say why,
// for the user and for tests.
var (
	// ErrMAC is returned for every authentication failure: a tampered,
	// truncated-but-well-formed, replayed, reordered or lost stanza, a
	// counter desynchronisation, or keys of the wrong direction. The error
	// never says which check failed. See [XEP-0200] §8 step 3.
	ErrMAC = errors.New("crypt: message authentication failed")

	// ErrReplay is an [ErrMAC] that was recognised as an exact copy of a
	// stanza accepted earlier in this stream. errors.Is(ErrReplay, ErrMAC)
	// holds, so callers that only care about authentication need not test
	// for it.
	ErrReplay = fmt.Errorf("crypt: replayed stanza: %w", ErrMAC)

	// ErrMalformed is the class of parse errors in received data: a <c/>
	// that breaks the XEP-0200 §4 schema, bad Base64, a bad integer, a
	// zero-length <data/>. A [*ParseError] wraps it.
	ErrMalformed = errors.New("crypt: malformed input")

	// ErrTooLarge is an [ErrMalformed] for input over a size bound
	// (esession-core.md §8.6).
	ErrTooLarge = fmt.Errorf("crypt: input exceeds size limit: %w", ErrMalformed)

	// ErrFragment is an [ErrMalformed] for a decrypted plaintext that is not
	// a well-formed XML fragment or carries elements that must never be
	// encrypted (XEP-0200 §8 step 6, esession-core.md D-26).
	ErrFragment = fmt.Errorf("crypt: bad decrypted fragment: %w", ErrMalformed)

	// ErrDHRange is returned for a Diffie-Hellman value outside
	// 1 < v < p−1, or longer than p (XEP-0116 §Diffie-Hellman Key
	// Agreement, esession-core.md §8.2).
	ErrDHRange = errors.New("crypt: Diffie-Hellman value out of range")

	// ErrProtocol is returned for a received stanza that is authentic but
	// breaks the XEP-0200 rules: a <new/> that selects no stored key set,
	// or a <key/> under a profile that forbids re-keying (D-22).
	ErrProtocol = errors.New("crypt: stanza encryption protocol violation")

	// ErrUnsupported is returned for an algorithm or group this package
	// does not implement or refuses to offer. An [*UnsupportedError] wraps
	// it.
	ErrUnsupported = errors.New("crypt: unsupported algorithm")

	// ErrWeakGroup is returned for a MODP group below the configured
	// minimum (esession-core.md D-7).
	ErrWeakGroup = errors.New("crypt: MODP group below the configured minimum")

	// ErrRekeyRefused is returned by [Stream.Rekey] when a re-key may not
	// be initiated now: fewer than rekey_freq stanzas since the last key
	// exchange, too many own re-keys outstanding, or a profile (XEP-0217)
	// without re-keying. See [XEP-0200] §9.1.
	ErrRekeyRefused = errors.New("crypt: re-key not allowed now")

	// ErrKeyExhausted is returned by [Stream.Seal] when sending would
	// exceed the 2^32-block budget of the current keys and no re-key is
	// possible: the session must be renegotiated ([XEP-0200] §11.4).
	ErrKeyExhausted = errors.New("crypt: block budget of the current keys exhausted")

	// ErrClosed is returned after [Stream.Close] (or, for Seal, after
	// [Stream.CloseSend]).
	ErrClosed = errors.New("crypt: stream closed")

	// ErrKeySize is returned by constructors given a key of the wrong
	// length.
	ErrKeySize = errors.New("crypt: wrong key size")
)

// ParseError describes malformed input. Field names the element or value
// (e.g. "data", "new", "counter"); Reason is fixed text from this package.
// Peer-supplied text never appears in it.
type ParseError struct {
	Field  string
	Reason string
	Err    error // the class: ErrMalformed, ErrTooLarge or ErrFragment
}

func (e *ParseError) Error() string {
	msg := "crypt: malformed"
	if e.Err == ErrTooLarge {
		msg = "crypt: too large"
	} else if e.Err == ErrFragment {
		msg = "crypt: bad decrypted fragment"
	}
	if e.Field != "" {
		msg += " " + e.Field
	}
	return msg + ": " + e.Reason
}

// Unwrap returns the class sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

func malformed(field, reason string) error {
	return &ParseError{Field: field, Reason: reason, Err: ErrMalformed}
}

func tooLarge(field, reason string) error {
	return &ParseError{Field: field, Reason: reason, Err: ErrTooLarge}
}

func badFragment(reason string) error {
	return &ParseError{Field: "plaintext", Reason: reason, Err: ErrFragment}
}

// UnsupportedError names an algorithm or group that was asked for but is
// not available. Kind is "cipher", "hash", "modp", "sas" or "compress".
type UnsupportedError struct {
	Kind string
	Name string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("crypt: unsupported %s %q", e.Kind, e.Name)
}

// Unwrap returns [ErrUnsupported].
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }
