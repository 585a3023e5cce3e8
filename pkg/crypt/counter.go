package crypt

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
)

// BlockSize is n/8, the block size in bytes of every cipher XEP-0116 lists
// (AES, Twofish, Serpent).
const BlockSize = 16

// Counter is a 128-bit block counter (XEP-0116 §Generating Session Keys,
// XEP-0200 §6): C_A chosen by the responder, C_B = C_A XOR 2^127. Arithmetic
// is modulo 2^128. Counters are running state for the whole ESession, per
// direction, and are never reset (esession-core.md D-14). They are public
// values: Counter prints in hex.
type Counter struct {
	hi, lo uint64
}

// CounterFromBytes interprets 1..16 big-endian octets (a received 'counter'
// field) as a counter. Other lengths wrap [ErrMalformed].
func CounterFromBytes(b []byte) (Counter, error) {
	if len(b) == 0 || len(b) > 16 {
		return Counter{}, malformed("counter", "must be 1 to 16 octets")
	}
	var full [16]byte
	copy(full[16-len(b):], b)
	return Counter{hi: binary.BigEndian.Uint64(full[:8]), lo: binary.BigEndian.Uint64(full[8:])}, nil
}

// ParseCounter decodes the Base64 'counter' field (esession-core.md D-2).
func ParseCounter(b64value string) (Counter, error) {
	b, err := DecodeBase64("counter", b64value, 16)
	if err != nil {
		return Counter{}, err
	}
	return CounterFromBytes(b)
}

// GenerateCounter draws C_A with its top octet in 0x01..0x7e or 0x81..0xfe,
// so that C_A and C_B = C_A XOR 2^127 both encode to exactly 16 octets under
// the minimal I2B rule for at least 2^120 blocks (esession-core.md D-2).
// rand nil means crypto/rand.
func GenerateCounter(r io.Reader) (Counter, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Counter{}, fmt.Errorf("crypt: drawing a counter: %w", err)
	}
	// Map the top octet onto the 252 allowed values; the bias of
	// 256 mod 252 is irrelevant for a public counter.
	t := b[0] % 252 // 0..251
	if t < 126 {
		b[0] = 0x01 + t // 0x01..0x7e
	} else {
		b[0] = 0x81 + (t - 126) // 0x81..0xfe
	}
	c, _ := CounterFromBytes(b[:])
	return c, nil
}

// Peer returns c XOR 2^127: C_B from C_A (and C_A from C_B).
func (c Counter) Peer() Counter { return Counter{hi: c.hi ^ 1<<63, lo: c.lo} }

// Add returns (c + n) mod 2^128.
func (c Counter) Add(n uint64) Counter {
	lo, carry := bits.Add64(c.lo, n, 0)
	return Counter{hi: c.hi + carry, lo: lo}
}

// Blocks returns max(1, ceil(n/16)): the counter values a stanza with n
// plaintext bytes consumes (XEP-0200 §6; esession-core.md D-15).
func Blocks(n int) uint64 {
	if n <= 0 {
		return 1
	}
	return uint64((n + BlockSize - 1) / BlockSize)
}

// Fixed returns the counter as the 16-byte big-endian block that CTR mode
// encrypts.
func (c Counter) Fixed() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], c.hi)
	binary.BigEndian.PutUint64(b[8:], c.lo)
	return b
}

// AppendI2B appends the minimal big-endian encoding of c (I2B; 0x00 for
// zero), the form used in MAC inputs (esession-core.md D-2).
func (c Counter) AppendI2B(dst []byte) []byte {
	b := c.Fixed()
	i := 0
	for i < 15 && b[i] == 0 {
		i++
	}
	return append(dst, b[i:]...)
}

// AppendPadded16 appends the counter as 16 octets (Gajim's mpi16 form).
func (c Counter) AppendPadded16(dst []byte) []byte {
	b := c.Fixed()
	return append(dst, b[:]...)
}

// Bytes returns I2B(c).
func (c Counter) Bytes() []byte { return c.AppendI2B(nil) }

// String returns the 32 hex digits of the counter.
func (c Counter) String() string {
	b := c.Fixed()
	return hex.EncodeToString(b[:])
}

// CounterEncoding says how a counter enters a MAC input.
type CounterEncoding int

const (
	// CounterMinimal is I2B(C): minimal big-endian octets (XEP-0116
	// §Multiple-Precision Integers, esession-core.md D-2).
	CounterMinimal CounterEncoding = iota
	// CounterPadded16 is C as 16 octets, left-padded with zeros (what
	// Gajim verifies; gajim-compat.md "Stanza encryption").
	CounterPadded16
)

func (e CounterEncoding) appendTo(dst []byte, c Counter) []byte {
	if e == CounterPadded16 {
		return c.AppendPadded16(dst)
	}
	return c.AppendI2B(dst)
}
