package esn

import (
	"fmt"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
)

// BenchmarkNegotiate runs complete 4-message negotiations in memory, both
// sides, serializing and re-parsing every stanza as a server would.
func BenchmarkNegotiate(b *testing.B) {
	for _, g := range []int{5, 14, 15} {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			pr := DefaultPreferences(ProfileXEP0217)
			pr.Groups = []int{g}
			suite := crypt.XEPSuite()
			suite.MinGroup = 5
			p := newPair(b, pairOpts{prefsA: pr, prefsB: pr, tweak: func(a, c *Config) { a.Suite, c.Suite = &suite, &suite }})
			b.ReportAllocs()
			for b.Loop() {
				p.wire = p.wire[:0]
				p.a.events, p.b.events = p.a.events[:0], p.b.events[:0]
				thread, out, err := p.a.m.Initiate("bob@example.com", InitiateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				p.run(p.a, out.Send)
				if _, ok := findEvent[NegotiatedEvent](p.b.events); !ok {
					b.Fatal("not negotiated")
				}
				// Drop the session without a terminate round trip.
				p.a.m.remove(thread)
				p.b.m.remove(thread)
			}
		})
	}
}

// BenchmarkNegotiationModExp measures the four modular exponentiations a
// negotiation needs (two key pairs, two shared secrets), for the ratio in
// docs/performance.md.
func BenchmarkNegotiationModExp(b *testing.B) {
	for _, g := range []int{5, 14, 15} {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			grp, _ := crypt.GroupByID(g)
			for b.Loop() {
				x, _ := grp.GenerateKey(nil, crypt.ShortExponent)
				y, _ := grp.GenerateKey(nil, crypt.ShortExponent)
				x.SharedSecret(y.Public())
				y.SharedSecret(x.Public())
			}
		})
	}
}
