package crypt

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// redacted is what every formatting verb prints for a Key.
const redacted = "crypt.Key(REDACTED)"

// Key is secret key material: a session key (KC, KM, KS), the shared
// secret K, a retained secret, a re-key secret. Its bytes are unexported, and
// every formatting path (fmt verbs, %#v, slog) prints "crypt.Key(REDACTED)".
//
// A Key is a small handle around a byte slice: copies of a Key share the
// bytes, and [Key.Erase] on any copy clears them for all. The zero Key is
// empty (Len 0) and means "absent" where a key is optional.
//
// Erasure is best effort: Go may have copied the bytes (the garbage
// collector does not move heap objects today, but the hash and cipher
// states derived from a key keep their own copies, which cannot be cleared).
type Key struct {
	b []byte
}

// NewKey returns a Key holding a copy of b. Callers should clear b
// afterwards when it was secret. It is how retained secrets come back from
// the store.
func NewKey(b []byte) Key {
	if len(b) == 0 {
		return Key{}
	}
	return Key{b: append([]byte(nil), b...)}
}

// Len returns the key length in bytes (0 for an absent or erased key).
func (k Key) Len() int { return len(k.b) }

// IsZero reports whether the key is absent.
func (k Key) IsZero() bool { return len(k.b) == 0 }

// Equal reports, in constant time, whether two keys hold the same bytes.
func (k Key) Equal(o Key) bool {
	return subtle.ConstantTimeCompare(k.b, o.b) == 1
}

// MarshalPrivate returns a copy of the key bytes. It is the only way to get
// them out, and only the key store should call it (to persist a retained
// secret) or tests comparing against vectors.
func (k Key) MarshalPrivate() []byte {
	return append([]byte(nil), k.b...)
}

// Erase overwrites the key bytes with zeros, for every copy of the Key.
// Afterwards Len still reports the old length; use a fresh Key{} where
// absence matters.
func (k Key) Erase() { clear(k.b) }

// String returns the redaction marker.
func (k Key) String() string { return redacted }

// GoString returns the redaction marker, so %#v does not print the bytes.
func (k Key) GoString() string { return redacted }

// Format prints the redaction marker for every verb, including %x and %q.
func (k Key) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue keeps keys out of structured logs.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Key{}
	_ fmt.GoStringer = Key{}
	_ fmt.Formatter  = Key{}
	_ slog.LogValuer = Key{}
)
