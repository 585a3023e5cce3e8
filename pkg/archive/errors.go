package archive

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers test for them with errors.Is; the typed errors
// below wrap them.
var (
	// ErrMalformed marks an archiving element (a server reply, a push, an
	// event line or a decrypted payload) that breaks the XEP-0136 or
	// XEP-0241 syntax. The message quotes what was wrong.
	ErrMalformed = errors.New("archive: malformed archive data")

	// ErrTooLarge marks input beyond one of the package's bounds.
	ErrTooLarge = errors.New("archive: archive data exceeds a size limit")

	// ErrDecrypt is the single, opaque error for a wrapped key that does
	// not unwrap or a ciphertext that does not authenticate: the message
	// never says which check failed.
	ErrDecrypt = errors.New("archive: decryption failed (wrong key or tampered data)")

	// ErrNoKey is wrapped by [*NoKeyError].
	ErrNoKey = errors.New("archive: no private key for this collection")

	// ErrUnsupportedAlgorithm is wrapped by [*AlgorithmError] for an
	// algorithm this package does not implement.
	ErrUnsupportedAlgorithm = errors.New("archive: unsupported encryption algorithm")

	// ErrLegacyAlgorithm is wrapped by [*AlgorithmError] for the
	// unauthenticated algorithms of XEP-0241's examples (aes*-cbc,
	// rsa-1_5), which [Decrypt] reads only with DecryptOptions.AllowLegacy.
	ErrLegacyAlgorithm = errors.New("archive: legacy (unauthenticated) encryption algorithm refused")

	// ErrMixed marks a collection holding both plaintext messages and
	// XEP-0241 encrypted data (XEP-0241 §2: MUST NOT).
	ErrMixed = errors.New("archive: a collection cannot hold both plaintext and encrypted messages")

	// ErrLoggingForbidden is wrapped by [*LoggingError] when the session
	// negotiated logging=mustnot (OTR): nothing of it may be stored, not
	// even encrypted (XEP-0136 §3.2, XEP-0200 §11.2).
	ErrLoggingForbidden = errors.New("archive: the session forbids logging (off the record)")

	// ErrLoggingUnknown is wrapped by [*LoggingError] when it is not known
	// whether the session allows logging, and the caller did not assume it.
	ErrLoggingUnknown = errors.New("archive: the session's logging mode is unknown")
)

// malformed wraps ErrMalformed with detail.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// tooLarge wraps ErrTooLarge with detail.
func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, args...))
}

// AlgorithmError names an encryption algorithm URI that [Decrypt] will not
// use. It wraps ErrUnsupportedAlgorithm or, for the legacy algorithms of
// XEP-0241's examples, ErrLegacyAlgorithm.
type AlgorithmError struct {
	Algorithm string // the URI as received
	Legacy    bool
}

func (e *AlgorithmError) Error() string {
	if e.Legacy {
		return fmt.Sprintf("archive: algorithm %q is unauthenticated legacy encryption; refused unless explicitly allowed", e.Algorithm)
	}
	return fmt.Sprintf("archive: unsupported encryption algorithm %q", e.Algorithm)
}

func (e *AlgorithmError) Unwrap() error {
	if e.Legacy {
		return ErrLegacyAlgorithm
	}
	return ErrUnsupportedAlgorithm
}

// NoKeyError reports that none of the collection's <EncryptedKey/>
// elements is for one of our keys. Wanted lists the public-key names the
// collection's keys were wrapped for; Have lists ours.
type NoKeyError struct {
	Wanted []string
	Have   []string
}

func (e *NoKeyError) Error() string {
	var b strings.Builder
	b.WriteString("archive: no private key for this collection")
	if len(e.Wanted) == 0 {
		b.WriteString(" (it carries no <EncryptedKey/> for its data)")
	} else {
		fmt.Fprintf(&b, "; it is encrypted for key(s) %s", quoteList(e.Wanted))
	}
	if len(e.Have) > 0 {
		fmt.Fprintf(&b, "; ours: %s", quoteList(e.Have))
	}
	return b.String()
}

func (e *NoKeyError) Unwrap() error { return ErrNoKey }

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// LoggingError reports a message that may not be archived because of the
// logging mode of its session. It wraps ErrLoggingForbidden (the session
// is off the record) or ErrLoggingUnknown.
type LoggingError struct {
	Peer, Thread string
	Unknown      bool
}

func (e *LoggingError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("archive: it is not known whether session %q with %s allows logging; refusing to archive it", e.Thread, e.Peer)
	}
	return fmt.Sprintf("archive: session %q with %s is off the record (logging=mustnot): it must not be archived, not even encrypted", e.Thread, e.Peer)
}

func (e *LoggingError) Unwrap() error {
	if e.Unknown {
		return ErrLoggingUnknown
	}
	return ErrLoggingForbidden
}
