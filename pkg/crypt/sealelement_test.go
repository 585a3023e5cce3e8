package crypt

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// TestAppendSealElementMatchesBytes checks that the element
// AppendSealElement builds is the stanza its bytes serialize (as a parser
// reads them), for every shape of stanza, with re-keys (<key/>, <new/>),
// published old MAC keys (<old/>) and the Gajim notice, and that the peer
// opens the element.
func TestAppendSealElementMatchesBytes(t *testing.T) {
	gajim := GajimSuite()
	padded := XEPSuite()
	padded.Padding = PadSpaces16
	none, err := XEPSuite().WithAlgorithms("none", "sha256")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  pairOpts
		rekey bool
	}{
		{"xep", pairOpts{publish: true}, true},
		{"pad16", pairOpts{suite: padded}, false},
		{"none", pairOpts{suite: none}, false},
		{"gajim", pairOpts{suite: gajim, rekeyFreq: NoRekey}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1e9, 0)
			tc.opts.now = func() time.Time { return now }
			tc.opts.seed = tc.name
			alice, bob := newPair(t, tc.opts)
			r := mrand.New(mrand.NewPCG(7, uint64(len(tc.name))))
			sawKey, sawNew, sawOld := false, false, false
			for i := range 200 {
				from, to := alice, bob
				if r.IntN(3) == 0 {
					from, to = bob, alice
				}
				if tc.rekey && r.IntN(10) == 0 && from.CanRekey() {
					if err := from.Rekey(); err != nil {
						t.Fatal(err)
					}
				}
				now = now.Add(time.Minute) // lets old MAC keys be published
				st, _, _ := randomStanza(r)
				var enc []*xmltree.Element // what the suite encrypts
				for _, c := range st.Children() {
					if !from.suite.isClear(c.Name.Space, c.Name.Local) {
						enc = append(enc, c)
					}
				}
				dst := []byte("prefix")
				out, el, err := from.AppendSealElement(dst, st)
				if err != nil {
					t.Fatalf("stanza %d: %v", i, err)
				}
				if string(out[:len(dst)]) != "prefix" {
					t.Fatalf("stanza %d: dst overwritten", i)
				}
				b := out[len(dst):]
				if got, want := el.String(), parseStanza(t, b).String(); got != want {
					t.Fatalf("stanza %d: element\n%s\nbytes\n%s", i, got, want)
				}
				c := el.Child(NS, "c")
				sawKey = sawKey || c.Child(NS, "key") != nil
				sawNew = sawNew || c.Child(NS, "new") != nil
				sawOld = sawOld || c.Child(NS, "old") != nil
				_, res, err := to.OpenStanza(el)
				if err != nil {
					t.Fatalf("stanza %d: opening the element: %v\n%s", i, err, b)
				}
				if got, want := ser(res.Children), ser(enc); got != want {
					t.Fatalf("stanza %d: plaintext\n%q\nwant\n%q", i, got, want)
				}
			}
			if tc.rekey && !(sawKey && sawNew && sawOld) {
				t.Errorf("not every <c/> child was exercised: key %v new %v old %v", sawKey, sawNew, sawOld)
			}
		})
	}
}

// TestAppendSealElementErrors: on error nothing is consumed, dst is
// returned unchanged and there is no element.
func TestAppendSealElementErrors(t *testing.T) {
	alice, _ := newPair(t, pairOpts{})
	st := chatStanza("x")
	st.AddChild(xmltree.New(NS, "c"))
	dst := []byte("keep")
	ctr := alice.sendCtr
	out, el, err := alice.AppendSealElement(dst, st)
	if err == nil || el != nil || string(out) != "keep" || alice.sendCtr != ctr {
		t.Fatalf("got %q %v %v", out, el, err)
	}
}

// TestInheritNS: empty namespaces become the inherited one in a copy; the
// input is untouched, and a tree without them is returned as is.
func TestInheritNS(t *testing.T) {
	amp := xmltree.New("http://jabber.org/protocol/amp", "amp").
		AddChild(xmltree.New("", "rule", attr("action", "error")))
	thread := xmltree.New(NSClient, "thread").AddText("t")
	bare := xmltree.New("", "thread").AddText("t")
	tests := []struct {
		name   string
		in     *xmltree.Element
		same   bool
		wantNS []string // the namespaces of in and its first child, after
	}{
		{"explicit", thread, true, []string{NSClient}},
		{"child inherits", amp, false, []string{"http://jabber.org/protocol/amp", "http://jabber.org/protocol/amp"}},
		{"element inherits", bare, false, []string{NSClient}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.String()
			got := inheritNS(tc.in, NSClient)
			if (got == tc.in) != tc.same {
				t.Errorf("returned the input: %v, want %v", got == tc.in, tc.same)
			}
			if tc.in.String() != before {
				t.Errorf("input modified: %s", tc.in)
			}
			if got.Name.Space != tc.wantNS[0] {
				t.Errorf("namespace %q, want %q", got.Name.Space, tc.wantNS[0])
			}
			if len(tc.wantNS) > 1 && got.Children()[0].Name.Space != tc.wantNS[1] {
				t.Errorf("child namespace %q, want %q", got.Children()[0].Name.Space, tc.wantNS[1])
			}
		})
	}
}

// TestSealErrorErasesPlaintext: a seal that fails after part of the
// plaintext was serialized leaves none of it in the reused buffer.
func TestSealErrorErasesPlaintext(t *testing.T) {
	tests := []struct {
		name string
		bad  *xmltree.Element // added after a body holding the secret
	}{
		{"invalid character", xmltree.New(NSClient, "subject").AddText("bad \x00 text")},
		{"nested encrypted element", xmltree.New(NS, "c")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alice, _ := newPair(t, pairOpts{})
			st := chatStanza("the secret words")
			st.AddChild(tc.bad)
			if _, err := alice.AppendSeal(nil, st); err == nil {
				t.Fatal("AppendSeal succeeded")
			}
			buf := alice.plain[:cap(alice.plain)]
			if len(buf) == 0 {
				t.Fatal("the plaintext buffer was not kept for reuse")
			}
			if bytes.Contains(buf, []byte("secret")) || len(bytes.Trim(buf, "\x00")) != 0 {
				t.Fatalf("plaintext left in the buffer: %q", buf)
			}
		})
	}
}
