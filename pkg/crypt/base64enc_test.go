package crypt

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestAppendBase64 compares the stanza-path encoder with encoding/base64 at
// every length up to 300 (every alignment of the main loop and every tail),
// for all-zero, all-one and random bytes, appended to a prefix.
func TestAppendBase64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 300; n++ {
		random := make([]byte, n)
		for i := range random {
			random[i] = byte(rng.Uint32())
		}
		for _, src := range [][]byte{make([]byte, n), bytes.Repeat([]byte{0xff}, n), random} {
			checkAppendBase64(t, []byte("prefix"), src)
		}
	}
	// The 64 characters in every position of a group.
	var all []byte
	for i := range 64 {
		for j := range 3 {
			v := i << (6 * (3 - j)) // character i at position j of 4
			all = append(all, byte(v>>16), byte(v>>8), byte(v))
		}
	}
	checkAppendBase64(t, nil, all)
}

// TestAppendBase64Grow checks that appendBase64 grows a full buffer and
// leaves the bytes before it alone.
func TestAppendBase64Grow(t *testing.T) {
	src := []byte("some bytes to encode, more than one step of the main loop")
	for c := 0; c < 100; c++ {
		dst := make([]byte, 3, 3+c)
		copy(dst, "abc")
		got := appendBase64(dst, src)
		if want := "abc" + base64.StdEncoding.EncodeToString(src); string(got) != want {
			t.Fatalf("cap %d: got %q, want %q", 3+c, got, want)
		}
	}
}

func checkAppendBase64(t *testing.T, prefix, src []byte) {
	t.Helper()
	want := base64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
	if got := appendBase64(bytes.Clone(prefix), src); !bytes.Equal(got, want) {
		t.Fatalf("appendBase64(%x) = %q, want %q", src, got, want)
	}
}

// FuzzAppendBase64 checks the stanza-path encoder against encoding/base64.
func FuzzAppendBase64(f *testing.F) {
	for _, s := range []string{"", "\x00", "\xff\xfe", "abc", "The quick brown fox jumps", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"} {
		f.Add([]byte(s), 0)
	}
	f.Fuzz(func(t *testing.T, src []byte, spare int) {
		if spare < 0 || spare > 64 {
			spare = 0
		}
		dst := make([]byte, 1, 1+spare)
		want := base64.StdEncoding.AppendEncode(bytes.Clone(dst), src)
		if got := appendBase64(dst, src); !bytes.Equal(got, want) {
			t.Fatalf("appendBase64(%x) = %q, want %q", src, got, want)
		}
	})
}

// BenchmarkAppendBase64 compares the encoder with encoding/base64 at the
// sizes of the stanza path: a MAC, and the ciphertext of chat messages.
func BenchmarkAppendBase64(b *testing.B) {
	for _, n := range []int{32, 1100, 8 << 10} {
		src := make([]byte, n)
		newDetReader("bench").Read(src)
		dst := make([]byte, 0, base64.StdEncoding.EncodedLen(n))
		b.Run(fmt.Sprintf("esn/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				dst = appendBase64(dst[:0], src)
			}
		})
		b.Run(fmt.Sprintf("std/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				dst = base64.StdEncoding.AppendEncode(dst[:0], src)
			}
		})
	}
}
