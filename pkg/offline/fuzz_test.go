package offline

import (
	"errors"
	"testing"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// FuzzParseOptions feeds arbitrary published items to ParseOptions and
// Verify: no panic, every error of the package's classes, and nothing
// verifies without Alice's signature.
func FuzzParseOptions(f *testing.F) {
	p := newParty(f, SetSubscribers, "pda")
	p2 := newParty(f, SetAll, "")
	signed := map[string]bool{}
	for _, pp := range []*party{p, p2} {
		f.Add([]byte(pp.pub.Form.String()))
		signed[string(esn.NormContent(pp.pub.Form, "signs"))] = true
	}
	f.Add([]byte(`<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:ssn</value></field></x>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 64 << 10})
		if err != nil {
			return
		}
		o, err := ParseOptions(x, SetAll, aliceBare)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		r := newRing()
		if err := o.Verify(r); err == nil {
			t.Fatal("options verified with an empty trust store")
		}
		// A form that verifies carries Alice's signature over its
		// content: it must be the content she signed.
		if err := o.Verify(r.trust(aliceBare, &p.alice.PublicKey)); err == nil && !signed[string(esn.NormContent(x, "signs"))] {
			t.Fatalf("a modified form verified: %s", x)
		}
	})
}

// FuzzReceive feeds arbitrary stanzas to Alice's Receiver, after a genuine
// init: no panic, and every reported message is one Bob sent.
func FuzzReceive(f *testing.F) {
	p := newParty(f, SetSubscribers, "")
	bob := p.start(f, false)
	s1, err := bob.SealBody("one")
	if err != nil {
		f.Fatal(err)
	}
	s2, _ := bob.SealBody("two")
	term, _ := bob.Terminate()
	for _, st := range []*xmltree.Element{s1, s2, term} {
		f.Add([]byte(st.String()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 256 << 10})
		if err != nil {
			return
		}
		r := p.receiver(t, nil)
		defer r.Close()
		// Establish with the genuine first stanza, then the fuzzed one.
		if _, err := r.Receive(wire(t, s1)); err != nil {
			t.Fatal(err)
		}
		evs, _ := r.Receive(st)
		for _, m := range messages(evs) {
			if m.Body != "one" && m.Body != "two" {
				t.Fatalf("a message Bob never sent: %s", describe(evs))
			}
		}
	})
}
