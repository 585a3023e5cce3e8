package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Benchmarks named by issue 3. Reproduce the table of docs/performance.md
// with:
//
//	go test -run '^$' -bench . -benchtime 2s -count 5 ./pkg/crypt/

// body1K is a 1 KiB chat body of plain ASCII prose.
var body1K = func() string {
	const s = "The quick brown fox jumps over the lazy dog while Alice and Bob chat. "
	return strings.Repeat(s, 1024/len(s)+1)[:1024]
}()

// fragment1K is the plaintext of the 1 KiB message, as Seal serializes it.
var fragment1K = `<body>` + body1K + `</body><active xmlns="http://jabber.org/protocol/chatstates"/>`

func BenchmarkPrimitives1K(b *testing.B) {
	key := make([]byte, 16)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	mac := hmac.New(sha256.New, make([]byte, 32))
	src := make([]byte, 1024)
	dst := make([]byte, 1024)
	var iv [16]byte
	var sum [32]byte
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		cipher.NewCTR(block, iv[:]).XORKeyStream(dst, src)
		mac.Reset()
		mac.Write(dst)
		mac.Sum(sum[:0])
	}
}

func BenchmarkStdXML1K(b *testing.B) {
	buf := []byte(fragOpen + fragment1K + fragClose)
	var rd bytes.Reader
	b.SetBytes(int64(len(fragment1K)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(buf)
		dec := xml.NewDecoder(&rd)
		dec.Strict = true
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSeal1K(b *testing.B) {
	alice, _ := newPair(b, pairOpts{})
	st := chatStanza(body1K)
	dst := make([]byte, 0, 4096)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		out, err := alice.AppendSeal(dst[:0], st)
		if err != nil {
			b.Fatal(err)
		}
		dst = out
	}
}

func BenchmarkOpen1K(b *testing.B) {
	alice, bob := newPair(b, pairOpts{})
	out, err := alice.AppendSeal(nil, chatStanza(body1K))
	if err != nil {
		b.Fatal(err)
	}
	c := parseC(b, out) // the parsed <c/>, as the transport hands it over
	start := bob.recvCtr
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		bob.recvCtr = start // open the same stanza again
		res, err := bob.Open(c)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Children) != 2 {
			b.Fatal("wrong plaintext")
		}
	}
}

// Sealing and opening at the sizes of chat traffic (style.md §19).
func BenchmarkSeal(b *testing.B) {
	for _, n := range []int{64, 1350, 8 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			alice, _ := newPair(b, pairOpts{})
			st := chatStanza(strings.Repeat("x", n))
			dst := make([]byte, 0, 2*n+1024)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out, err := alice.AppendSeal(dst[:0], st)
				if err != nil {
					b.Fatal(err)
				}
				dst = out
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{64, 1350, 8 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			alice, bob := newPair(b, pairOpts{})
			out, err := alice.AppendSeal(nil, chatStanza(strings.Repeat("x", n)))
			if err != nil {
				b.Fatal(err)
			}
			c := parseC(b, out)
			start := bob.recvCtr
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				bob.recvCtr = start
				if _, err := bob.Open(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var dhGroups = []int{5, 14, 15, 16, 18}

func BenchmarkDHKeygen(b *testing.B) {
	for _, id := range dhGroups {
		g, err := GroupByID(id)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("group=%d", id), func(b *testing.B) {
			for _, mode := range []ExponentMode{ShortExponent, FullExponent} {
				b.Run("exp="+mode.String(), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						k, err := g.GenerateKey(nil, mode)
						if err != nil {
							b.Fatal(err)
						}
						k.Erase()
					}
				})
			}
		})
	}
}

func BenchmarkDHShared(b *testing.B) {
	for _, id := range dhGroups {
		g, err := GroupByID(id)
		if err != nil {
			b.Fatal(err)
		}
		peer, err := g.GenerateKey(nil, FullExponent)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("group=%d", id), func(b *testing.B) {
			for _, mode := range []ExponentMode{ShortExponent, FullExponent} {
				b.Run("exp="+mode.String(), func(b *testing.B) {
					k, err := g.GenerateKey(nil, mode)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						z, err := k.SharedSecret(peer.Public())
						if err != nil {
							b.Fatal(err)
						}
						z.Erase()
					}
				})
			}
		})
	}
}
