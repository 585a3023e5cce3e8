package esn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

// checkRaw verifies the Output.Raw contract: never longer than Send, and
// every serialized stanza is the element next to it (or, with
// Config.BytesOnly, has no element next to it), with an id.
func checkRaw(t *testing.T, what string, out Output, wantRaw []bool, bytesOnly bool) {
	t.Helper()
	if len(out.Raw) > len(out.Send) {
		t.Fatalf("%s: %d raw stanzas for %d stanzas", what, len(out.Raw), len(out.Send))
	}
	if len(out.Send) != len(wantRaw) {
		t.Fatalf("%s: %d stanzas, want %d", what, len(out.Send), len(wantRaw))
	}
	for i, st := range out.Send {
		raw := out.RawAt(i)
		if (raw != nil) != wantRaw[i] {
			t.Fatalf("%s: stanza %d has raw bytes: %v, want %v", what, i, raw != nil, wantRaw[i])
		}
		if raw == nil {
			continue
		}
		parsed, err := xmltree.Parse(raw, xmltree.Limits{})
		if err != nil {
			t.Fatalf("%s: stanza %d: %v\n%s", what, i, err, raw)
		}
		if bytesOnly {
			if st != nil {
				t.Fatalf("%s: stanza %d: an element next to the bytes with BytesOnly", what, i)
			}
		} else if st == nil || parsed.String() != st.String() {
			t.Fatalf("%s: stanza %d: bytes\n%s\nelement\n%s", what, i, parsed, st)
		}
		if parsed.Attribute("id") == "" || parsed.Child("http://www.xmpp.org/extensions/xep-0200.html#ns", "c") == nil {
			t.Fatalf("%s: stanza %d without id or <c/>: %s", what, i, raw)
		}
	}
}

// TestOutputRaw: every encrypted stanza comes with its bytes, and the
// peer reads those bytes (not the element) as the same stanza; with
// Config.BytesOnly, the bytes alone.
func TestOutputRaw(t *testing.T) {
	for _, bytesOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("BytesOnly=%v", bytesOnly), func(t *testing.T) { testOutputRaw(t, bytesOnly) })
	}
}

func testOutputRaw(t *testing.T, bytesOnly bool) {
	pr := DefaultPreferences(ProfileXEP0116)
	pr.RekeyFreq = 1
	p := newPair(t, pairOpts{prefsA: pr, prefsB: pr, tweak: func(a, b *Config) {
		a.BytesOnly, b.BytesOnly = bytesOnly, bytesOnly
	}})
	thread := p.negotiate()

	// deliver hands the stanzas to the other side as bytes where there are
	// bytes, as transport.Conn.SendRaw does, and returns what it provoked.
	deliver := func(to *endpoint, out Output) Output {
		t.Helper()
		var all Output
		for i, st := range out.Send {
			if raw := out.RawAt(i); raw != nil {
				var err error
				if st, err = xmltree.Parse(raw, xmltree.Limits{}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := to.m.Receive(st)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			all.merge(res)
		}
		return all
	}

	out, err := p.a.m.EncryptBody(thread, "raw <&> body")
	if err != nil {
		t.Fatal(err)
	}
	checkRaw(t, "EncryptBody", out, []bool{true}, bytesOnly)
	res := deliver(p.b, out)
	if ev, ok := findEvent[MessageEvent](res.Events); !ok || ev.Body != "raw <&> body" {
		t.Fatalf("Bob got %v", res.Events)
	}

	out, err = p.a.m.Rekey(thread)
	if err != nil {
		t.Fatal(err)
	}
	checkRaw(t, "Rekey", out, []bool{true}, bytesOnly)
	deliver(p.b, out)

	out, err = p.a.m.Terminate(thread)
	if err != nil {
		t.Fatal(err)
	}
	checkRaw(t, "Terminate", out, []bool{true}, bytesOnly)
	ack := deliver(p.b, out)
	checkRaw(t, "terminate acknowledgement", ack, []bool{true}, bytesOnly)
	fin := deliver(p.a, ack)
	if ev, ok := findEvent[TerminatedEvent](fin.Events); !ok || ev.Err != nil || !ev.Acknowledged {
		t.Fatalf("Alice got %v", fin.Events)
	}

	// A negotiation stanza has no bytes.
	_, out, err = p.a.m.Initiate("bob@example.com", InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRaw(t, "Initiate", out, []bool{false}, bytesOnly)
}

// TestOutputMergeRaw: merging keeps Raw aligned with Send whatever mix of
// stanzas with and without bytes.
func TestOutputMergeRaw(t *testing.T) {
	el := func(name string) *xmltree.Element { return xmltree.New("jabber:client", name) }
	plain := Output{Send: []*xmltree.Element{el("p1")}}
	enc := Output{}
	enc.addSealed(sealed{el: el("e1"), raw: []byte("<e1/>")})
	tests := []struct {
		name  string
		parts []Output
		want  string // per stanza: name=raw or name=-
	}{
		{"plain only", []Output{plain, plain}, "p1=- p1=-"},
		{"plain then sealed", []Output{plain, enc}, "p1=- e1=<e1/>"},
		{"sealed then plain", []Output{enc, plain}, "e1=<e1/> p1=-"},
		{"mixed", []Output{plain, enc, plain, plain, enc}, "p1=- e1=<e1/> p1=- p1=- e1=<e1/>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Output
			for _, p := range tc.parts {
				o.merge(p)
			}
			var got []string
			for i, st := range o.Send {
				r := "-"
				if b := o.RawAt(i); b != nil {
					r = string(b)
				}
				got = append(got, st.Name.Local+"="+r)
			}
			if len(o.Raw) > len(o.Send) || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q (raw %d), want %q", strings.Join(got, " "), len(o.Raw), tc.want)
			}
		})
	}
}
