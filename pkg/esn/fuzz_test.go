package esn

import (
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// fuzzSeeds returns the stanzas of a real negotiation and exchange.
func fuzzSeeds(t testing.TB) []string {
	pr := DefaultPreferences(ProfileXEP0217)
	pr.Groups = []int{5}
	return sessionWire(t, pr, 5)
}

// sessionWire returns the stanzas of a negotiation between two peers with
// prefs pr, one message and the termination.
func sessionWire(t testing.TB, pr Preferences, minGroup int) []string {
	suite := crypt.XEPSuite()
	suite.MinGroup = minGroup
	p := newPair(t, pairOpts{prefsA: pr, prefsB: pr, tweak: func(a, b *Config) { a.Suite, b.Suite = &suite, &suite }})
	thread, _, _ := p.mustNegotiate()
	p.send(p.a, thread, "hello")
	out, _ := p.a.m.Terminate(thread)
	p.run(p.a, out.Send)
	return p.wire
}

// FuzzReceive feeds arbitrary stanzas to a fresh responder and to a
// responder with an established session (the stanza is re-addressed to
// that session). Nothing may panic, and nothing may be delivered or
// established from input the fuzzer cannot authenticate.
func FuzzReceive(f *testing.F) {
	seeds := fuzzSeeds(f)
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, s := range gajimFuzzSeeds(f, 5) { // gajim_test.go: Gajim-shaped stanzas
		f.Add([]byte(s))
	}
	f.Add([]byte(`<message xmlns='jabber:client' from='a@b/c' type='error'><thread>t</thread><error><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`))
	pr := DefaultPreferences(ProfileXEP0217)
	pr.Groups = []int{1} // the cheapest group: fuzzing instruments math/big too
	f.Fuzz(fuzzReceive(pr))
}

// fuzzReceive is the body of the receive fuzz targets for peers with
// prefs pr (group 1 allowed): a fresh responder and an established
// session get the input.
func fuzzReceive(pr Preferences) func(*testing.T, []byte) {
	suite := crypt.XEPSuite()
	suite.MinGroup = 1
	var p *pair
	var thread string
	return func(t *testing.T, data []byte) {
		st, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 1 << 16})
		if err != nil {
			return
		}
		fresh, err := NewManager(Config{Local: "bob@example.com/laptop", Preferences: pr, Suite: &suite})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := fresh.Receive(st)
		for _, ev := range out.Events {
			switch ev.(type) {
			case NegotiatedEvent, MessageEvent:
				t.Fatalf("fresh responder reported %T", ev)
			}
		}
		// Established session: readdress the stanza to it. The session is
		// reused across inputs (a negotiation per input is too slow to
		// fuzz) and renegotiated once an input ended it.
		if p == nil || p.b.m.Len() == 0 {
			p = newPair(t, pairOpts{prefsA: pr, prefsB: pr, tweak: func(a, b *Config) { a.Suite, b.Suite = &suite, &suite }})
			thread, _, _ = p.mustNegotiate()
		}
		p.t = t
		st.SetAttr("from", p.a.jid)
		if th := st.Child("", "thread"); th != nil {
			th.Nodes = []xmltree.Node{{Text: thread}}
		}
		out, _ = p.b.m.Receive(st)
		for _, ev := range out.Events {
			if m, ok := ev.(MessageEvent); ok && !strings.Contains(string(data), "<c") {
				t.Fatalf("delivered %q without a <c/>", m.Body)
			}
			if _, ok := ev.(NegotiatedEvent); ok {
				t.Fatal("negotiated again")
			}
		}
	}
}
