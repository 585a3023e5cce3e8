package pubkey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is a SHA-256 XEP-0189 print (XEP-0189 §2, algo sha-256).
type Fingerprint [sha256.Size]byte

// ErrBadFingerprint is returned by ParseFingerprint.
var ErrBadFingerprint = errors.New("pubkey: not a SHA-256 fingerprint")

// ComputePrint is the XEP-0189 §2 formula over the exact character data:
//
//	SHA-256(UTF-8(begin + end + jid + modulus + exponent))
//
// where modulus and exponent are decimal strings.
func ComputePrint(begin, end, jid, modulus, exponent string) Fingerprint {
	h := sha256.New()
	for _, s := range []string{begin, end, jid, modulus, exponent} {
		h.Write([]byte(s))
	}
	var f Fingerprint
	h.Sum(f[:0])
	return f
}

// Base64 is the form of the <print/> element (Base64 of the raw hash).
func (f Fingerprint) Base64() string { return base64.StdEncoding.EncodeToString(f[:]) }

// Hex is lower-case hex without separators: the PEP item id of a key when
// there are several (digest §8 #17), and the form `esn keys trust` prints.
func (f Fingerprint) Hex() string { return hex.EncodeToString(f[:]) }

// String shows the fingerprint to people: 16 groups of 4 upper-case hex
// digits, to read aloud and compare.
func (f Fingerprint) String() string {
	h := strings.ToUpper(f.Hex())
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// IsZero reports whether f is unset.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// Equal compares in constant time.
func (f Fingerprint) Equal(g Fingerprint) bool { return subtle.ConstantTimeCompare(f[:], g[:]) == 1 }

// ParseFingerprint accepts the forms esn prints and the payload carries:
// 64 hex digits, in any case, optionally separated by spaces or colons
// (digest §8 #21: revocation examples use hex), or the Base64 of the
// 32-byte hash.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return f, fmt.Errorf("%w: %d characters", ErrBadFingerprint, len(s))
	}
	compact := strings.NewReplacer(" ", "", ":", "", "\t", "", "\n", "", "\r", "").Replace(s)
	if len(compact) == 2*len(f) {
		if b, err := hex.DecodeString(compact); err == nil {
			copy(f[:], b)
			return f, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(compact); err == nil && len(b) == len(f) {
		copy(f[:], b)
		return f, nil
	}
	return f, fmt.Errorf("%w: %q", ErrBadFingerprint, truncate(s))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
