package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
)

// Secret holds secret bytes (a retained secret, a private key). Its
// String, GoString, Format and LogValue methods print a fixed marker, never
// the bytes, so a Secret that ends up in a log line or an error leaks
// nothing.
type Secret struct {
	b []byte
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret { return Secret{b: bytes.Clone(b)} }

// Bytes returns the secret bytes. The caller must not log them and should
// clear them when done.
func (s Secret) Bytes() []byte { return s.b }

// Len returns the number of secret bytes.
func (s Secret) Len() int { return len(s.b) }

// Clear overwrites the bytes with zeros. This is best effort: copies made
// by the runtime or by callers are not reached.
func (s Secret) Clear() { clear(s.b) }

const redacted = "store.Secret(REDACTED)"

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the secret.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%x and %q included)
// prints the marker.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, redacted) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Stored secret encoding: one format byte, then the payload.
const (
	formatPlain  = 0x00 // payload is the secret
	formatSealed = 0x01 // payload is nonce || XChaCha20-Poly1305(secret)
)

// seal encodes secret for storage under the record named by path.
func (d *DB) seal(secret []byte, path ...string) ([]byte, error) {
	if d.aead == nil {
		return append([]byte{formatPlain}, secret...), nil
	}
	ns := d.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(secret)+d.aead.Overhead())
	out[0] = formatSealed
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return d.aead.Seal(out, out[1:], secret, additionalData(path)), nil
}

// open decodes a value written by seal under the same path.
func (d *DB) open(v []byte, path ...string) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty value", ErrUnseal)
	}
	switch v[0] {
	case formatPlain:
		return bytes.Clone(v[1:]), nil
	case formatSealed:
		if d.aead == nil {
			return nil, ErrSealed
		}
		ns := d.aead.NonceSize()
		if len(v) < 1+ns+d.aead.Overhead() {
			return nil, ErrUnseal
		}
		p, err := d.aead.Open(nil, v[1:1+ns], v[1+ns:], additionalData(path))
		if err != nil {
			return nil, ErrUnseal
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w: unknown format %#x", ErrUnseal, v[0])
	}
}

// additionalData binds a sealed value to its record, so that it cannot be
// copied to another record and still open.
func additionalData(path []string) []byte {
	ad := []byte("esn-store-v1")
	for _, p := range path {
		ad = binary.AppendUvarint(ad, uint64(len(p)))
		ad = append(ad, p...)
	}
	return ad
}
