package crypt

import (
	"encoding/base64"
	"math/big"
)

// b64 is RFC 4648 §4 Base64 with padding, decoding strictly: non-zero
// padding bits are rejected. Line breaks are rejected by the callers, which
// strip or refuse whitespace before decoding (Go's decoder would skip CR and
// LF silently).
var b64 = base64.StdEncoding.Strict()

// I2B encodes a non-negative integer as its minimal big-endian octets, as
// XEP-0116 §Multiple-Precision Integers requires for e, d, g^xy mod p and
// counters. I2B(0) is the single octet 0x00 (esession-core.md D-1).
// I2B panics on a negative or nil integer, which is a programming error.
func I2B(v *big.Int) []byte {
	if v == nil || v.Sign() < 0 {
		panic("crypt: I2B of a negative or nil integer")
	}
	if v.Sign() == 0 {
		return []byte{0}
	}
	return v.Bytes()
}

// B2I decodes big-endian octets into an integer. Leading zero octets are
// accepted (the value is what counts); callers bound the length.
func B2I(b []byte) *big.Int { return new(big.Int).SetBytes(b) }

// EncodeBase64 returns the RFC 4648 §4 Base64 of b, padded, on one line.
func EncodeBase64(b []byte) string { return b64.EncodeToString(b) }

// DecodeBase64 decodes s strictly (RFC 4648 §4: standard alphabet, correct
// padding, zero padding bits, no whitespace or line breaks) into at most
// maxLen bytes. Input that would decode to more is rejected before any
// decoding work, with an error wrapping [ErrTooLarge]; other failures wrap
// [ErrMalformed]. field names the value in the error.
func DecodeBase64(field, s string, maxLen int) ([]byte, error) {
	if len(s)%4 != 0 {
		if len(s) > base64.StdEncoding.EncodedLen(maxLen) {
			return nil, tooLarge(field, "longer than allowed")
		}
		return nil, malformed(field, "Base64 length is not a multiple of 4")
	}
	if len(s)/4*3 > maxLen+2 {
		return nil, tooLarge(field, "longer than allowed")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' {
			return nil, malformed(field, "line break in Base64")
		}
	}
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, []byte(s))
	if err != nil {
		return nil, malformed(field, "invalid Base64")
	}
	if n > maxLen {
		return nil, tooLarge(field, "longer than allowed")
	}
	return out[:n], nil
}

// DecodeInteger decodes the Base64 of an I2B-encoded integer of at most
// maxLen octets. An empty value is malformed; leading zero octets are
// accepted. It does no range check: see [Group.Validate].
func DecodeInteger(field, s string, maxLen int) (*big.Int, error) {
	b, err := DecodeBase64(field, s, maxLen)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, malformed(field, "empty integer")
	}
	return B2I(b), nil
}

// grow makes room for n more bytes in b without changing its length.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
