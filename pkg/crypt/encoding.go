package crypt

import (
	"encoding/base64"
	"encoding/binary"
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

// appendBase64 appends the padded Base64 of src to dst. It is the hot path
// of [Stream.Seal]: it encodes through a table of 12-bit pairs and stores
// eight characters at once, about twice as fast as encoding/base64 for
// chat-sized input.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	dst = grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	di, si := 0, 0
	// Each step encodes 12 bytes through two 8-byte reads (using 6 bytes of
	// each), so it stops 2 bytes early.
	for ; si+14 <= len(src) && di+16 <= len(out); si, di = si+12, di+16 {
		s := src[si : si+14]
		v := binary.BigEndian.Uint64(s[0:8])
		u := binary.BigEndian.Uint64(s[6:14])
		o := out[di : di+16]
		binary.LittleEndian.PutUint64(o[0:8], b64eight(v))
		binary.LittleEndian.PutUint64(o[8:16], b64eight(u))
	}
	if si < len(src) {
		b64.Encode(out[di:], src[si:])
	}
	return dst[:len(dst)+n]
}

// b64eight encodes the top 48 bits of v as eight characters, the first in
// the low byte.
func b64eight(v uint64) uint64 {
	return uint64(b64pairs[v>>52]) | uint64(b64pairs[v>>40&0xfff])<<16 |
		uint64(b64pairs[v>>28&0xfff])<<32 | uint64(b64pairs[v>>16&0xfff])<<48
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// b64pairs maps 12 bits to the two Base64 characters that encode them, the
// first in the low byte. It is computed once and never written afterwards.
var b64pairs = func() (t [4096]uint16) {
	for i := range t {
		t[i] = uint16(b64alphabet[i>>6]) | uint16(b64alphabet[i&63])<<8
	}
	return t
}()

// grow makes room for n more bytes in b without changing its length.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
