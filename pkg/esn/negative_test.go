package esn

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// formOf returns the <x/> of a negotiation message, or nil.
func formOf(st *xmltree.Element) *xmltree.Element {
	for _, w := range st.Children() {
		if w.Name.Local == "feature" || w.Name.Local == "init" {
			return w.Child(NSData, "x")
		}
	}
	return nil
}

// step returns the negotiation step of a stanza: 1..4, or 0.
func step(st *xmltree.Element) int {
	x := formOf(st)
	if x == nil {
		return 0
	}
	if st.Child(NSInit, "init") != nil {
		return 4
	}
	switch x.Attribute("type") {
	case "form":
		return 1
	case "submit":
		return 2
	case "result":
		return 3
	}
	return 0
}

func fieldEl(x *xmltree.Element, v string) *xmltree.Element {
	for _, f := range x.Children() {
		if f.Name.Local == "field" && f.Attribute("var") == v {
			return f
		}
	}
	return nil
}

// setValues replaces a field's <value/>s (adding the field if missing).
func setValues(x *xmltree.Element, v string, vals ...string) {
	f := fieldEl(x, v)
	if f == nil {
		f = xmltree.New(NSData, "field")
		f.SetAttr("var", v)
		x.AddChild(f)
	}
	var keep []xmltree.Node
	for _, n := range f.Nodes {
		if n.Element == nil || n.Element.Name.Local != "value" {
			keep = append(keep, n)
		}
	}
	f.Nodes = keep
	for _, val := range vals {
		f.AddChild(textElem(NSData, "value", val))
	}
}

// setOptions replaces a field's <option/>s.
func setOptions(x *xmltree.Element, v string, vals ...string) {
	f := fieldEl(x, v)
	var keep []xmltree.Node
	for _, n := range f.Nodes {
		if n.Element == nil || n.Element.Name.Local != "option" {
			keep = append(keep, n)
		}
	}
	f.Nodes = keep
	for _, val := range vals {
		f.AddChild(xmltree.New(NSData, "option").AddChild(textElem(NSData, "value", val)))
	}
}

func removeField(x *xmltree.Element, v string) {
	var keep []xmltree.Node
	for _, n := range x.Nodes {
		if n.Element != nil && n.Element.Attribute("var") == v {
			continue
		}
		keep = append(keep, n)
	}
	x.Nodes = keep
}

func values(x *xmltree.Element, v string) []string {
	var out []string
	for _, c := range fieldEl(x, v).Children() {
		if c.Name.Local == "value" {
			out = append(out, c.Text())
		}
	}
	return out
}

func flipB64(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func b64Int(v int64) string { return crypt.EncodeBase64(crypt.I2B(bigInt(v))) }

// negErr returns the NegotiationError of the last TerminatedEvent.
func negErr(t *testing.T, e *endpoint) *NegotiationError {
	t.Helper()
	te, ok := lastEvent[TerminatedEvent](e.events)
	if !ok {
		t.Fatalf("no TerminatedEvent in %v (errs %v)", e.events, e.errs)
	}
	var ne *NegotiationError
	if !errors.As(te.Err, &ne) {
		t.Fatalf("termination error %v is not a NegotiationError", te.Err)
	}
	return ne
}

func TestNegotiationNegative(t *testing.T) {
	g14, _ := crypt.GroupByID(14)
	pm1 := new(big_Int).Sub(g14.P(), bigInt(1))
	tests := []struct {
		name string
		// tamper edits the form of negotiation message step n.
		at     int
		tamper func(x *xmltree.Element)
		// who reports the error and what.
		detector  string // "alice" or "bob": the side that sends the error
		cond      string
		fields    []string
		wantAtBob bool
	}{
		{name: "bad He commitment", at: 3, tamper: func(x *xmltree.Element) {
			k, _ := g14.GenerateKey(nil, crypt.ShortExponent)
			setValues(x, "dhkeys", crypt.EncodeBase64(k.PublicBytes()))
		}, detector: "bob", cond: CondFeatureNotImplemented},
		{name: "e out of range with matching commitment", at: 13, detector: "bob", cond: CondFeatureNotImplemented},
		{name: "d = 1", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "dhkeys", b64Int(1)) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"dhkeys"}},
		{name: "d = 0", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "dhkeys", b64Int(0)) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"dhkeys"}},
		{name: "d = p-1", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "dhkeys", crypt.EncodeBase64(pm1.Bytes())) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"dhkeys"}},
		{name: "d longer than p", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "dhkeys", strings.Repeat("AAAA", 400)) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"dhkeys"}},
		{name: "downgrade: option removed from M1", at: 1, tamper: func(x *xmltree.Element) {
			setOptions(x, "modp", "14")
			setValues(x, "dhhashes", values(x, "dhhashes")[0])
		}, detector: "bob", cond: CondFeatureNotImplemented},
		{name: "M1 stanzas reordered", at: 1, tamper: func(x *xmltree.Element) { setOptions(x, "stanzas", "message") },
			detector: "bob", cond: CondFeatureNotImplemented},
		{name: "M2 chosen value changed", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "otr", "false") },
			detector: "alice", cond: CondFeatureNotImplemented, wantAtBob: true},
		{name: "M2 unoffered group", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "modp", "5") },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"modp"}},
		{name: "M2 nonce mismatch", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "nonce", flipB64(values(x, "nonce")[0])) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"nonce"}},
		{name: "M2 reflected nonce", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "my_nonce", values(x, "nonce")[0]) },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"my_nonce"}},
		{name: "M2 missing counter", at: 2, tamper: func(x *xmltree.Element) { removeField(x, "counter") },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"counter"}},
		{name: "M2 rekey_freq lowered", at: 2, tamper: func(x *xmltree.Element) { setValues(x, "rekey_freq", "10") },
			detector: "alice", cond: CondNotAcceptable, fields: []string{"rekey_freq"}},
		{name: "wrong M_A", at: 3, tamper: func(x *xmltree.Element) { setValues(x, "mac", flipB64(values(x, "mac")[0])) },
			detector: "bob", cond: CondFeatureNotImplemented},
		{name: "wrong ID_A", at: 3, tamper: func(x *xmltree.Element) { setValues(x, "identity", flipB64(values(x, "identity")[0])) },
			detector: "bob", cond: CondFeatureNotImplemented},
		{name: "M3 rshashes changed (form_A2)", at: 3, tamper: func(x *xmltree.Element) { setValues(x, "rshashes", crypt.EncodeBase64(make([]byte, 32))) },
			detector: "bob", cond: CondFeatureNotImplemented},
		{name: "M3 nonce mismatch", at: 3, tamper: func(x *xmltree.Element) { setValues(x, "nonce", flipB64(values(x, "nonce")[0])) },
			detector: "bob", cond: CondFeatureNotImplemented},
		{name: "wrong M_B", at: 4, tamper: func(x *xmltree.Element) { setValues(x, "mac", flipB64(values(x, "mac")[0])) },
			detector: "alice", cond: CondFeatureNotImplemented, wantAtBob: true},
		{name: "srshash changed", at: 4, tamper: func(x *xmltree.Element) { setValues(x, "srshash", flipB64(values(x, "srshash")[0])) },
			detector: "alice", cond: CondFeatureNotImplemented, wantAtBob: true},
		{name: "M1 unknown algorithms", at: 1, tamper: func(x *xmltree.Element) {
			setOptions(x, "modp", "3", "99", "abc")
			setValues(x, "dhhashes", values(x, "dhhashes")[0], values(x, "dhhashes")[0], values(x, "dhhashes")[0])
			setValues(x, "crypt_algs", "rc4")
			setValues(x, "sas_algs", "sas99")
		}, detector: "bob", cond: CondNotAcceptable, fields: []string{"crypt_algs", "modp", "sas_algs"}},
		{name: "M1 missing ver", at: 1, tamper: func(x *xmltree.Element) { removeField(x, "ver") },
			detector: "bob", cond: CondNotAcceptable, fields: []string{"ver"}},
		{name: "M1 missing dhhashes", at: 1, tamper: func(x *xmltree.Element) { removeField(x, "dhhashes") },
			detector: "bob", cond: CondNotAcceptable, fields: []string{"dhhashes"}},
		{name: "M1 rekey_freq 2^32", at: 1, tamper: func(x *xmltree.Element) { setValues(x, "rekey_freq", "4294967296") },
			detector: "bob", cond: CondNotAcceptable, fields: []string{"rekey_freq"}},
		{name: "M1 3-message", at: 1, tamper: func(x *xmltree.Element) {
			removeField(x, "dhhashes")
			setValues(x, "dhkeys", "AQ==", "AQ==")
		}, detector: "bob", cond: CondFeatureNotImplemented, fields: []string{"dhkeys"}},
		{name: "M1 without e2e", at: 1, tamper: func(x *xmltree.Element) { setOptions(x, "security", "c2s") },
			detector: "bob", cond: CondNotAcceptable, fields: []string{"security"}},
		{name: "M1 oversized value", at: 1, tamper: func(x *xmltree.Element) { setValues(x, "my_nonce", strings.Repeat("A", 5000)) },
			detector: "bob", cond: CondNotAcceptable, fields: []string{"my_nonce"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := DefaultPreferences(ProfileXEP0217)
			pr.Groups = []int{14, 15}
			pr.Stanzas = []string{"message", "iq"}
			p := newPair(t, pairOpts{prefsA: pr, prefsB: pr, secretsA: &MemorySecrets{}, secretsB: &MemorySecrets{}})
			p.tamper = func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element {
				n := step(st)
				x := formOf(st)
				switch {
				case tc.at == 13 && n == 1: // commit to e = 1 at group 14's index
					h := sha256.Sum256([]byte{1})
					hs := values(x, "dhhashes")
					hs[0] = crypt.EncodeBase64(h[:])
					setValues(x, "dhhashes", hs...)
				case tc.at == 13 && n == 3:
					setValues(x, "dhkeys", b64Int(1))
				case n == tc.at && n != 0:
					tc.tamper(x)
				}
				return []*xmltree.Element{st}
			}
			p.negotiate()
			if _, ok := findEvent[NegotiatedEvent](p.a.events); ok && !tc.wantAtBob {
				t.Fatal("alice negotiated")
			}
			if _, ok := findEvent[NegotiatedEvent](p.b.events); ok && !tc.wantAtBob {
				t.Fatal("bob negotiated")
			}
			det, other := p.b, p.a
			if tc.detector == "alice" {
				det, other = p.a, p.b
			}
			local := negErr(t, det)
			if local.Remote || local.Condition != tc.cond || !slices.Equal(local.Fields, tc.fields) {
				t.Errorf("detector: %+v, want %s %q", local, tc.cond, tc.fields)
			}
			remote := negErr(t, other)
			if !remote.Remote || remote.Condition != tc.cond || !slices.Equal(remote.Fields, tc.fields) {
				t.Errorf("peer: %+v, want remote %s %q", remote, tc.cond, tc.fields)
			}
			if p.a.m.Len() != 0 || p.b.m.Len() != 0 {
				t.Errorf("sessions left: %d %d", p.a.m.Len(), p.b.m.Len())
			}
		})
	}
}
