package esn

import (
	"crypto/rsa"
	"fmt"
	"testing"
)

// BenchmarkNegotiate3 runs complete 3-message (SIGMA-I) negotiations with
// 2048-bit RSA identities on both sides (hash both ways), in memory,
// serializing and re-parsing every stanza as BenchmarkNegotiate does for
// the 4-message one. BenchmarkNegotiate4Key is the 4-message negotiation
// with the same keys, for comparison.
func BenchmarkNegotiate3(b *testing.B) { benchKeyed(b, AuthKey, 3) }

func BenchmarkNegotiate4Key(b *testing.B) { benchKeyed(b, AuthAuto, 4) }

func benchKeyed(b *testing.B, auth Auth, wantSteps int) {
	ka, kb, _ := testKeys(b)
	for _, g := range []int{14} {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			ra := &testRing{signer: ka, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}}
			rb := &testRing{signer: kb, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}}
			p := keyedPair(b, ra, rb, auth, AuthAuto)
			b.ReportAllocs()
			for b.Loop() {
				p.wire = p.wire[:0]
				p.a.events, p.b.events = p.a.events[:0], p.b.events[:0]
				thread, out, err := p.a.m.Initiate(bobBare, InitiateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				p.run(p.a, out.Send)
				ev, ok := findEvent[NegotiatedEvent](p.b.events)
				if !ok || ev.PeerKey == nil {
					b.Fatal("not negotiated with keys")
				}
				if steps, _ := negotiationSteps(b, p); len(steps) != wantSteps {
					b.Fatalf("%d messages, want %d", len(steps), wantSteps)
				}
				p.a.m.remove(thread)
				p.b.m.remove(thread)
			}
		})
	}
}
