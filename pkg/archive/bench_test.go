package archive

import (
	"fmt"
	"testing"
	"time"
)

func benchEntries(n int) []Entry {
	start := ts("2024-05-01T10:00:00Z")
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{Kind: Kind(i % 2), Time: start.Add(time.Duration(i) * 3 * time.Second), Body: "a typical chat message of some sixty characters, give or take"}
	}
	return out
}

// BenchmarkSeal encrypts chunks of 10, 50 (the CLI's default) and 500
// messages under one collection key.
func BenchmarkSeal(b *testing.B) {
	s, err := NewSealer(nil, []Recipient{testRecipient(0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, n := range []int{10, 50, 500} {
		entries := benchEntries(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Seal(entries); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecrypt decrypts a collection of one chunk, including the
// RSA-OAEP unwrap (2048-bit), which dominates small collections.
func BenchmarkDecrypt(b *testing.B) {
	ids := []Identity{testIdentity(0)}
	for _, n := range []int{10, 50, 500} {
		c := &Collection{With: "a@b", Start: ts("2024-05-01T10:00:00Z"), Entries: benchEntries(n)}
		if err := Encrypt(nil, c, []Recipient{testRecipient(0)}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decrypt(c, ids, DecryptOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCollection parses a retrieved page of 100 plaintext messages.
func BenchmarkParseCollection(b *testing.B) {
	c := &Collection{With: "a@b", Start: ts("2024-05-01T10:00:00Z"), Entries: benchEntries(100)}
	e, err := c.Element()
	if err != nil {
		b.Fatal(err)
	}
	e.SetAttr("version", "3")
	data := []byte(e.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCollection(mustParse(b, string(data))); err != nil {
			b.Fatal(err)
		}
	}
}
