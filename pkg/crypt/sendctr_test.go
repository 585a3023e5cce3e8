package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
	"golang.org/x/crypto/twofish"
)

// TestCTRCursor checks the kept keystream against a fresh cipher.NewCTR for
// runs of consecutive stanzas (every length up to three blocks and some
// longer), empty calls, and jumps of the counter back and forth.
func TestCTRCursor(t *testing.T) {
	key := make([]byte, 32)
	newDetReader("ctr cursor").Read(key)
	a, err := aes.NewCipher(key[:16])
	if err != nil {
		t.Fatal(err)
	}
	tf, err := twofish.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, block := range []cipher.Block{a, tf} {
		cur := &ctrCursor{Block: block}
		var iv [16]byte
		// Start just below a 64-bit carry, then near the 128-bit wrap.
		for _, ctr := range []Counter{{hi: 7, lo: ^uint64(0) - 40}, {hi: ^uint64(0), lo: ^uint64(0) - 40}} {
			for i := 0; i < 300; i++ {
				n := i % 50
				if i%7 == 0 {
					n = rng.IntN(3000)
				}
				switch {
				case i%23 == 0:
					ctr = ctr.Add(rng.Uint64N(5)) // skip ahead (an empty stanza uses one block)
				case i%31 == 0:
					ctr = Counter{hi: ctr.hi, lo: ctr.lo - 3} // go back: must not reuse
				}
				src := make([]byte, n)
				for j := range src {
					src[j] = byte(rng.Uint32())
				}
				want := make([]byte, n)
				fiv := ctr.Fixed()
				cipher.NewCTR(block, fiv[:]).XORKeyStream(want, src)
				// Room up to the next block boundary or not: both ways of
				// finishing the last block.
				got := append(make([]byte, 0, n+rng.IntN(BlockSize)), src...)
				cur.xorCTR(ctr, got, &iv)
				if !bytes.Equal(got, want) {
					t.Fatalf("%T: %d bytes at counter %v differ from a fresh CTR", block, n, ctr)
				}
				if cur.pad != [BlockSize]byte{} || !allZeroBytes(got[n:cap(got)]) {
					t.Fatal("keystream left in the pad or past the data")
				}
				ctr = ctr.Add(uint64((n + BlockSize - 1) / BlockSize))
			}
		}
	}
}

// TestSendStreamMatchesFreshCTR seals the same stanzas on two identical
// streams, one of which starts a fresh keystream for every stanza, and
// expects the same bytes, across empty stanzas, every padding remainder and
// a re-key, for each cipher family and both profiles.
func TestSendStreamMatchesFreshCTR(t *testing.T) {
	twofishSuite, err := XEPSuite().WithAlgorithms("twofish256-ctr", "sha256")
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range []Suite{XEPSuite(), twofishSuite, GajimSuite()} {
		t.Run(suite.Profile+"/"+suite.Cipher.name, func(t *testing.T) {
			kept, _ := newPair(t, pairOpts{suite: suite, seed: "fresh ctr"})
			fresh, _ := newPair(t, pairOpts{suite: suite, seed: "fresh ctr"})
			for i := 0; i < 60; i++ {
				if i == 30 {
					for _, s := range []*Stream{kept, fresh} {
						if err := s.Rekey(); err != nil {
							t.Fatal(err)
						}
					}
				}
				st := chatStanza(strings.Repeat("x", i*7%53))
				if i%10 == 9 { // nothing to encrypt: the counter moves by one block
					st = xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "thread").AddText("t"))
				}
				if cur, ok := fresh.send.block.(*ctrCursor); ok {
					cur.stream = nil
				}
				a, err := kept.AppendSeal(nil, st)
				if err != nil {
					t.Fatal(err)
				}
				b, err := fresh.AppendSeal(nil, st)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("stanza %d:\nkept  %s\nfresh %s", i, a, b)
				}
			}
			if kept.sendCtr != fresh.sendCtr {
				t.Fatal("counters differ")
			}
		})
	}
}

func allZeroBytes(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }
