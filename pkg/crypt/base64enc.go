package crypt

import (
	"encoding/base64"
	"encoding/binary"
)

// The Base64 encoder of the stanza path. Sealing a 1 KiB message encodes
// about 1.1 KiB of ciphertext, and the encoding is the largest cost of
// [Stream.AppendSeal] after the MAC itself, so it gets its own encoder: a
// table of 12-bit pairs, about three times as fast as encoding/base64. The
// output is the same, byte for byte (TestAppendBase64, FuzzAppendBase64).

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// b64pairs maps 12 bits to the two Base64 characters that encode them, the
// first in the low byte. It is computed once and never written afterwards.
var b64pairs = func() (t [4096]uint16) {
	for i := range t {
		t[i] = uint16(b64alphabet[i>>6]) | uint16(b64alphabet[i&63])<<8
	}
	return t
}()

// appendBase64 appends the padded Base64 of src to dst.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	dst = grow(dst, n)
	encodeBase64(dst[len(dst):len(dst)+n], src)
	return dst[:len(dst)+n]
}

// encodeBase64 writes the padded Base64 of src to out, which holds exactly
// EncodedLen(len(src)) bytes.
//
// Each step encodes 6 bytes into 8 characters from one 8-byte load, so
// steps stop while fewer than 8 bytes remain; the main loop makes eight
// steps at a time. Written as calls of b64step, the compiler finishes the
// stores of one step before the load of the next and keeps every value in
// a register. Computing the table indices of two steps before their stores,
// or combining the pairs into words, made it spill: 20-25 % slower.
func encodeBase64(out, src []byte) {
	for len(src) >= 50 && len(out) >= 64 {
		s, d := (*[50]byte)(src), (*[64]byte)(out)
		b64step((*[8]byte)(d[0:]), binary.BigEndian.Uint64(s[0:]))
		b64step((*[8]byte)(d[8:]), binary.BigEndian.Uint64(s[6:]))
		b64step((*[8]byte)(d[16:]), binary.BigEndian.Uint64(s[12:]))
		b64step((*[8]byte)(d[24:]), binary.BigEndian.Uint64(s[18:]))
		b64step((*[8]byte)(d[32:]), binary.BigEndian.Uint64(s[24:]))
		b64step((*[8]byte)(d[40:]), binary.BigEndian.Uint64(s[30:]))
		b64step((*[8]byte)(d[48:]), binary.BigEndian.Uint64(s[36:]))
		b64step((*[8]byte)(d[56:]), binary.BigEndian.Uint64(s[42:]))
		src, out = src[48:], out[64:]
	}
	for len(src) >= 8 && len(out) >= 8 {
		b64step((*[8]byte)(out), binary.BigEndian.Uint64(src))
		src, out = src[6:], out[8:]
	}
	for len(src) >= 3 && len(out) >= 4 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		binary.LittleEndian.PutUint32(out, uint32(b64pairs[v>>12])|uint32(b64pairs[v&0xfff])<<16)
		src, out = src[3:], out[4:]
	}
	if len(out) < 4 {
		return
	}
	switch len(src) {
	case 1:
		binary.LittleEndian.PutUint32(out, uint32(b64pairs[uint(src[0])<<4])|'='<<16|'='<<24)
	case 2:
		v := uint(src[0])<<8 | uint(src[1])
		binary.LittleEndian.PutUint32(out, uint32(b64pairs[v>>4])|uint32(b64alphabet[v<<2&63])<<16|'='<<24)
	}
}

// b64step writes the characters of the top 48 bits of v to d.
func b64step(d *[8]byte, v uint64) {
	binary.LittleEndian.PutUint16(d[0:], b64pairs[v>>52])
	binary.LittleEndian.PutUint16(d[2:], b64pairs[v>>40&0xfff])
	binary.LittleEndian.PutUint16(d[4:], b64pairs[v>>28&0xfff])
	binary.LittleEndian.PutUint16(d[6:], b64pairs[v>>16&0xfff])
}
