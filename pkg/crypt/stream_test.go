package crypt

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

func attr(k, v string) xml.Attr { return xml.Attr{Name: xml.Name{Local: k}, Value: v} }

// texts covers ASCII, markup characters, CR/TAB/LF, non-ASCII and astral
// characters.
var texts = []string{
	"Hello, Bob!",
	"x",
	"<b>not markup</b> & \"quotes\" 'apos' >",
	"line1\r\nline2\ttab\rcr",
	"Grüße, Ærøskøbing — ünïcödé",
	"日本語のテキスト",
	"emoji 😀🔐 and math 𝔘",
	"  leading and trailing spaces  ",
	strings.Repeat("long ", 300),
	"]]> and &amp; literally",
}

// shapes returns every child-element shape of XEP-0200 §5 that a stanza
// may carry, encrypted or clear.
func shapes(r *mrand.Rand) []*xmltree.Element {
	txt := func() string { return texts[r.IntN(len(texts))] }
	body := xmltree.New(NSClient, "body").AddText(txt())
	body.SetAttr("xml:lang", "en") // a plain attribute named like xml:lang
	lang := xmltree.New(NSClient, "body", xml.Attr{Name: xml.Name{Space: xmlNamespace, Local: "lang"}, Value: "de"}).AddText(txt())
	subject := xmltree.New(NSClient, "subject").AddText(txt())
	active := xmltree.New("http://jabber.org/protocol/chatstates", "composing")
	caps := xmltree.New("http://jabber.org/protocol/caps", "c", attr("hash", "sha-1"), attr("node", "https://esn/"), attr("ver", "abc="))
	geo := xmltree.New("http://jabber.org/protocol/geoloc", "geoloc").
		AddChild(xmltree.New("", "lat").AddText("45.44")).
		AddChild(xmltree.New("", "lon").AddText("12.33"))
	nested := xmltree.New("urn:example:deep", "a").AddChild(
		xmltree.New("", "b", attr("k", "v<&\"\t\n\r")).AddText("mixed ").AddChild(
			xmltree.New("urn:example:other", "c").AddText(txt())).AddText(" content"))
	nsAttr := xmltree.New("urn:example:x", "x", xml.Attr{Name: xml.Name{Space: "urn:example:attr", Local: "flag"}, Value: "1"})
	show := xmltree.New(NSClient, "show").AddText("away")
	status := xmltree.New(NSClient, "status").AddText(txt())
	empty := xmltree.New("urn:example:empty", "empty")
	return []*xmltree.Element{body, lang, subject, active, caps, geo, nested, nsAttr, show, status, empty}
}

func clearShapes() []*xmltree.Element {
	return []*xmltree.Element{
		xmltree.New(NSClient, "thread").AddText("ffd7076498744578d10edabfe7f4a866"),
		xmltree.New("http://jabber.org/protocol/amp", "amp", attr("per-hop", "true")).
			AddChild(xmltree.New("", "rule", attr("action", "error"), attr("condition", "match-resource"), attr("value", "exact"))),
		xmltree.New("urn:xmpp:hints", "no-store"),
		xmltree.New("urn:xmpp:hints", "no-copy"),
		xmltree.New("urn:xmpp:carbons:2", "private"),
	}
}

func randomStanza(r *mrand.Rand) (st *xmltree.Element, enc, clr []*xmltree.Element) {
	kinds := []string{"message", "presence", "iq"}
	st = xmltree.New(NSClient, kinds[r.IntN(3)], attr("to", "bob@example.com/laptop"), attr("id", fmt.Sprint(r.Int())))
	all := shapes(r)
	cl := clearShapes()
	n := r.IntN(5)
	for range n + 1 {
		if r.IntN(3) == 0 {
			c := cl[r.IntN(len(cl))]
			st.AddChild(c)
			clr = append(clr, c)
			st.AddText("\n  ") // whitespace between children is insignificant
		}
		e := all[r.IntN(len(all))]
		st.AddChild(e)
		enc = append(enc, e)
	}
	if r.IntN(4) == 0 { // sometimes nothing to encrypt at all
		st.Nodes = nil
		enc = nil
		clr = nil
		st.AddChild(cl[0])
		clr = append(clr, cl[0])
	}
	return st, enc, clr
}

// ser serializes in the jabber:client context, for comparisons.
func ser(els []*xmltree.Element) string {
	var b []byte
	for _, e := range els {
		b = appendElement(b, e, NSClient)
	}
	return string(b)
}

func TestRoundTripRandomStanzas(t *testing.T) {
	suites := map[string]Suite{"xep": XEPSuite()}
	for _, name := range []string{"aes256-ctr", "aes192-ctr", "twofish128-ctr", "twofish192-ctr", "twofish256-ctr", "none"} {
		s, err := XEPSuite().WithAlgorithms(name, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		suites[name] = s
	}
	padded := XEPSuite()
	padded.Padding = PadSpaces16
	suites["pad16"] = padded
	for name, suite := range suites {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := mrand.New(mrand.NewPCG(1, uint64(len(name))))
			alice, bob := newPair(t, pairOpts{suite: suite, seed: name})
			for i := range 300 {
				from, to := alice, bob
				if r.IntN(2) == 0 {
					from, to = bob, alice
				}
				st, enc, clr := randomStanza(r)
				before := from.sendCtr
				out, err := from.AppendSeal(nil, st)
				if err != nil {
					t.Fatalf("stanza %d: %v", i, err)
				}
				wire := parseStanza(t, out)
				// Clear children are in the clear, in order; nothing else is.
				var gotClear []*xmltree.Element
				for _, c := range wire.Children() {
					if c.Name.Space != NS {
						gotClear = append(gotClear, c)
					}
				}
				if ser(gotClear) != ser(clr) {
					t.Fatalf("stanza %d: clear children\n%s\nwant\n%s", i, ser(gotClear), ser(clr))
				}
				if n := len(wire.Children()) - len(gotClear); n != 1 {
					t.Fatalf("stanza %d: %d <c/> elements", i, n)
				}
				opened, res, err := to.OpenStanza(wire)
				if err != nil {
					t.Fatalf("stanza %d: %v\n%s", i, err, out)
				}
				if got, want := ser(res.Children), ser(enc); got != want {
					t.Fatalf("stanza %d: plaintext\n%q\nwant\n%q", i, got, want)
				}
				if opened.Name != wire.Name || len(opened.Children()) != len(clr)+len(enc) {
					t.Fatalf("stanza %d: opened stanza %s", i, opened)
				}
				// Counter continuity.
				if from.sendCtr != to.recvCtr {
					t.Fatalf("stanza %d: send counter %s, receive counter %s", i, from.sendCtr, to.recvCtr)
				}
				m := ser(enc)
				want := uint64(1)
				if len(enc) > 0 && !suite.Cipher.IsNone() {
					n := len(m)
					if suite.Padding == PadSpaces16 {
						n = (n + 15) / 16 * 16
					}
					want = Blocks(n)
				}
				if got := from.sendCtr; got != before.Add(want) {
					t.Fatalf("stanza %d: counter advanced to %s, want %s", i, got, before.Add(want))
				}
			}
		})
	}
}

// T-E08: the counter advances per block or partial block.
func TestCounterAdvance(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want uint64
	}{{0, 1}, {1, 1}, {15, 1}, {16, 1}, {17, 2}, {31, 2}, {32, 2}, {33, 3}} {
		alice, bob := newPair(t, pairOpts{})
		before := alice.sendCtr
		out := alice.appendC(nil, bytes.Repeat([]byte("a"), tc.n), before)
		alice.sendCtr = before.Add(Blocks(tc.n))
		if got := alice.sendCtr; got != before.Add(tc.want) {
			t.Errorf("%d bytes: counter +%v", tc.n, got)
		}
		// The receiver advances identically (no <data/> for n = 0).
		if _, err := bob.Open(parseC(t, out)); err != nil && tc.n > 0 {
			// plaintext "aaa" is not XML: the MAC passed, the fragment failed
			if !errors.Is(err, ErrFragment) {
				t.Errorf("%d bytes: %v", tc.n, err)
			}
		}
		if bob.recvCtr != alice.sendCtr {
			t.Errorf("%d bytes: receiver counter %s, sender %s", tc.n, bob.recvCtr, alice.sendCtr)
		}
	}
}

// T-E09: a counter near 2^128 wraps.
func TestCounterWrapAcrossStanzas(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	top := Counter{hi: ^uint64(0), lo: ^uint64(0) - 1} // 2^128 − 2
	alice.sendCtr, bob.recvCtr = top, top
	st := xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddText(strings.Repeat("z", 48-len("<body></body>"))))
	res := send(t, alice, bob, st)
	if len(res.Children) != 1 || alice.sendCtr != (Counter{lo: 1}) || bob.recvCtr != (Counter{lo: 1}) {
		t.Fatalf("after wrap: %s / %s", alice.sendCtr, bob.recvCtr)
	}
	send(t, alice, bob, chatStanza("after the wrap"))
}

func TestContentlessAndNoneCipher(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	before := alice.sendCtr
	st := xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "thread").AddText("t"))
	out, err := alice.AppendSeal(nil, st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "<data>") {
		t.Errorf("content-less stanza has <data/>: %s", out)
	}
	res, err := bob.Open(parseC(t, out))
	if err != nil || res.Children != nil || alice.sendCtr != before.Add(1) || bob.recvCtr != alice.sendCtr {
		t.Fatalf("content-less: %v %v %s", res, err, alice.sendCtr)
	}

	none, err := XEPSuite().WithAlgorithms("none", "sha256")
	if err != nil {
		t.Fatal(err)
	}
	alice, bob = newPair(t, pairOpts{suite: none})
	out, err = alice.AppendSeal(nil, chatStanza("in the clear, authenticated"))
	if err != nil {
		t.Fatal(err)
	}
	c := parseC(t, out)
	data, _ := base64.StdEncoding.DecodeString(c.ChildText(NS, "data"))
	if !strings.Contains(string(data), "in the clear, authenticated") {
		t.Errorf("cipher none: <data/> is not the Base64 plaintext: %q", data)
	}
	if _, err := bob.Open(c); err != nil {
		t.Fatal(err)
	}
}

// replaceChild returns a copy of c with the text of child name replaced.
func replaceChild(c *xmltree.Element, name, text string) *xmltree.Element {
	out := &xmltree.Element{Name: c.Name, Attr: c.Attr}
	for _, n := range c.Nodes {
		if n.Element != nil && n.Element.Name.Local == name {
			out.AddChild(xmltree.New(NS, name).AddText(text))
		} else {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

func withoutChild(c *xmltree.Element, name string) *xmltree.Element {
	out := &xmltree.Element{Name: c.Name, Attr: c.Attr}
	for _, n := range c.Nodes {
		if n.Element == nil || n.Element.Name.Local != name {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

// T-E01/T-E02: every single-bit flip of <data/> and of <mac/> fails with
// ErrMAC and changes nothing; the genuine stanza still opens afterwards.
func TestBitFlipsExhaustive(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	out, err := alice.AppendSeal(nil, chatStanza("Flip me, bit by bit: ünïcödé"))
	if err != nil {
		t.Fatal(err)
	}
	c := parseC(t, out)
	start := bob.recvCtr
	for _, field := range []string{"data", "mac"} {
		raw, err := base64.StdEncoding.DecodeString(c.ChildText(NS, field))
		if err != nil {
			t.Fatal(err)
		}
		for bit := range len(raw) * 8 {
			b := bytes.Clone(raw)
			b[bit/8] ^= 1 << (bit % 8)
			_, err := bob.Open(replaceChild(c, field, base64.StdEncoding.EncodeToString(b)))
			if err != ErrMAC {
				t.Fatalf("%s bit %d: %v, want ErrMAC", field, bit, err)
			}
			if bob.recvCtr != start {
				t.Fatalf("%s bit %d: counter moved", field, bit)
			}
		}
	}
	if _, err := bob.Open(c); err != nil {
		t.Fatalf("genuine stanza after the flips: %v", err)
	}
}

func TestRejections(t *testing.T) {
	type setup struct {
		alice, bob *Stream
		c1, c2     *xmltree.Element // two consecutive stanzas from Alice
	}
	mk := func(t *testing.T) setup {
		alice, bob := newPair(t, pairOpts{})
		o1, err := alice.AppendSeal(nil, chatStanza("one"))
		if err != nil {
			t.Fatal(err)
		}
		o2, err := alice.AppendSeal(nil, chatStanza("two"))
		if err != nil {
			t.Fatal(err)
		}
		return setup{alice, bob, parseC(t, o1), parseC(t, o2)}
	}
	big := strings.Repeat("QUJD", 10<<20/4)
	for _, tc := range []struct {
		name string
		run  func(s setup) error
		want error
	}{
		{"replay", func(s setup) error {
			if _, err := s.bob.Open(s.c1); err != nil {
				return err
			}
			_, err := s.bob.Open(s.c1)
			return err
		}, ErrReplay},
		{"reorder", func(s setup) error { _, err := s.bob.Open(s.c2); return err }, ErrMAC},
		{"drop", func(s setup) error { _, err := s.bob.Open(s.c2); return err }, ErrMAC},
		{"reflection (other direction's key)", func(s setup) error { _, err := s.alice.Open(s.c1); return err }, ErrMAC},
		{"truncated: no mac", func(s setup) error { _, err := s.bob.Open(withoutChild(s.c1, "mac")); return err }, ErrMalformed},
		{"truncated: data cut by one char", func(s setup) error {
			d := s.c1.ChildText(NS, "data")
			_, err := s.bob.Open(replaceChild(s.c1, "data", d[:len(d)-1]))
			return err
		}, ErrMalformed},
		{"truncated: data cut by a quantum", func(s setup) error {
			d := s.c1.ChildText(NS, "data")
			_, err := s.bob.Open(replaceChild(s.c1, "data", d[:len(d)-4]))
			return err
		}, ErrMAC},
		{"truncated: mac cut", func(s setup) error {
			m := s.c1.ChildText(NS, "mac")
			_, err := s.bob.Open(replaceChild(s.c1, "mac", m[:len(m)-4]))
			return err
		}, ErrMAC},
		{"no data: removed", func(s setup) error { _, err := s.bob.Open(withoutChild(s.c1, "data")); return err }, ErrMAC},
		{"base64 garbage", func(s setup) error { _, err := s.bob.Open(replaceChild(s.c1, "data", "!!!!*&^%")); return err }, ErrMalformed},
		{"base64 non-zero padding bits", func(s setup) error { _, err := s.bob.Open(replaceChild(s.c1, "data", "AB==")); return err }, ErrMalformed},
		{"mac garbage", func(s setup) error {
			_, err := s.bob.Open(replaceChild(s.c1, "mac", strings.Repeat("!", 44)))
			return err
		}, ErrMalformed},
		{"oversized data", func(s setup) error { _, err := s.bob.Open(replaceChild(s.c1, "data", big)); return err }, ErrTooLarge},
		{"zero-length data", func(s setup) error { _, err := s.bob.Open(replaceChild(s.c1, "data", "")); return err }, ErrMalformed},
		{"unknown child", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "foo"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"attribute on data", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.Child(NS, "data").SetAttr("x", "1")
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"two macs", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "mac").AddText(s.c1.ChildText(NS, "mac")))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"element inside data", func(s setup) error {
			c := replaceChild(s.c1, "data", "")
			c.Child(NS, "data").AddChild(xmltree.New(NS, "x"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"text inside c", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddText("junk")
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"foreign namespace child", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New("urn:other", "old"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"too many old", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			for range maxOld + 1 {
				c.AddChild(xmltree.New(NS, "old").AddText("AAAA"))
			}
			_, err := s.bob.Open(c)
			return err
		}, ErrTooLarge},
		{"added old", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "old").AddText("AAAA"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMAC},
		{"new out of range", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "new").AddText("3"))
			_, err := s.bob.Open(c)
			return err
		}, ErrProtocol},
		{"new zero", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "new").AddText("0"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"new huge", func(s setup) error {
			c := replaceChild(s.c1, "data", s.c1.ChildText(NS, "data"))
			c.AddChild(xmltree.New(NS, "new").AddText("18446744073709551616"))
			_, err := s.bob.Open(c)
			return err
		}, ErrMalformed},
		{"children reordered", func(s setup) error {
			c := &xmltree.Element{Name: s.c1.Name}
			c.AddChild(xmltree.New(NS, "mac").AddText(s.c1.ChildText(NS, "mac")))
			c.AddChild(xmltree.New(NS, "new").AddText("1"))
			c.AddChild(xmltree.New(NS, "data").AddText(s.c1.ChildText(NS, "data")))
			c2 := &xmltree.Element{Name: s.c1.Name}
			c2.AddChild(xmltree.New(NS, "new").AddText("1"))
			c2.AddChild(xmltree.New(NS, "data").AddText(s.c1.ChildText(NS, "data")))
			c2.AddChild(xmltree.New(NS, "mac").AddText(s.c1.ChildText(NS, "mac")))
			if _, err := s.bob.Open(c2); !errors.Is(err, ErrProtocol) {
				return fmt.Errorf("setup: %v", err)
			}
			_, err := s.bob.Open(c)
			return err
		}, ErrProtocol},
		{"closed", func(s setup) error { s.bob.Close(); _, err := s.bob.Open(s.c1); return err }, ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mk(t)
			start := s.bob.recvCtr
			err := tc.run(s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == ErrMAC && err != ErrMAC {
				t.Fatalf("authentication failures must be exactly ErrMAC, got %v", err)
			}
			if tc.want != ErrReplay && tc.want != ErrClosed && s.bob.recvCtr != start {
				t.Fatal("a rejected stanza moved the counter")
			}
		})
	}
}

// T-E04: whitespace inside <c/> and inside its values does not matter.
func TestWhitespaceTolerance(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	out, err := alice.AppendSeal(nil, chatStanza("pretty"))
	if err != nil {
		t.Fatal(err)
	}
	c := parseC(t, out)
	d, m := c.ChildText(NS, "data"), c.ChildText(NS, "mac")
	pretty := fmt.Sprintf("<c xmlns='%s'>\n  <data>\n%s\n%s\n  </data>\n  <mac> %s </mac>\n</c>", NS, d[:10], d[10:], m)
	if _, err := bob.Open(parseC(t, []byte(pretty))); err != nil {
		t.Fatal(err)
	}
}

// T-E13 and D-26: decrypted content that is not a clean fragment.
func TestBadFragments(t *testing.T) {
	for _, tc := range []struct {
		name, plain string
		want        error
	}{
		{"not well-formed", "<body>unclosed", ErrFragment},
		{"closes the wrapper", "<body>x</body></fragment><message>", ErrFragment},
		{"closes the wrapper exactly", "<body>x</body></fragment>", ErrFragment},
		{"DOCTYPE", `<!DOCTYPE x [<!ENTITY a "b">]><body>&a;</body>`, ErrFragment},
		{"processing instruction", `<?xml version="1.0"?><body>x</body>`, ErrFragment},
		{"undefined entity", `<body>&bogus;</body>`, ErrFragment},
		{"nested c", `<body><c xmlns="` + NS + `"/></body>`, ErrFragment},
		{"top-level thread", `<thread>t</thread>`, ErrFragment},
		{"top-level amp", `<amp xmlns="http://jabber.org/protocol/amp"/>`, ErrFragment},
		{"top-level error", `<error type="cancel"/>`, ErrFragment},
		{"text outside elements", `hello<body/>`, ErrFragment},
		{"deep nesting", strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40), ErrFragment},
		{"ok: comment dropped", `<!-- c --><body>x</body>`, nil},
		{"ok: whitespace padding", `<body>x</body>      `, nil},
		{"ok: thread below top level", `<forwarded xmlns="urn:xmpp:forward:0"><message><thread>t</thread></message></forwarded>`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := newPair(t, pairOpts{})
			out := alice.appendC(nil, []byte(tc.plain), alice.sendCtr)
			res, err := bob.Open(parseC(t, out))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (%d children), want %v", err, len(res.Children), tc.want)
			}
			if err != nil && res.Children != nil {
				t.Fatal("children returned with an error")
			}
		})
	}
}

func TestOpenStanzaPlacement(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	out, err := alice.AppendSeal(nil, chatStanza("placed"))
	if err != nil {
		t.Fatal(err)
	}
	wire := parseStanza(t, out)
	c := wire.Child(NS, "c")

	two := &xmltree.Element{Name: wire.Name, Attr: wire.Attr, Nodes: append(append([]xmltree.Node(nil), wire.Nodes...), xmltree.Node{Element: c})}
	if _, _, err := bob.OpenStanza(two); !errors.Is(err, ErrMalformed) {
		t.Errorf("two <c/>: %v", err)
	}
	nested := xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddChild(c))
	if _, _, err := bob.OpenStanza(nested); !errors.Is(err, ErrMalformed) {
		t.Errorf("nested <c/>: %v", err)
	}
	if _, _, err := bob.OpenStanza(xmltree.New(NSClient, "message")); !errors.Is(err, ErrMalformed) {
		t.Errorf("no <c/>: %v", err)
	}
	// A clear <body/> notice next to the <c/> is dropped.
	withNotice := &xmltree.Element{Name: wire.Name, Attr: wire.Attr, Nodes: append(append([]xmltree.Node(nil), wire.Nodes...),
		xmltree.Node{Element: xmltree.New(NSClient, "body").AddText("This message is encrypted")})}
	opened, _, err := bob.OpenStanza(withNotice)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, ch := range opened.Children() {
		if ch.Name.Local == "body" {
			bodies = append(bodies, ch.Text())
		}
	}
	if len(bodies) != 1 || bodies[0] != "placed" {
		t.Errorf("bodies = %q", bodies)
	}
	if !IsEncrypted(wire) || IsEncrypted(opened) {
		t.Error("IsEncrypted")
	}

	// D-19: a type='error' stanza with a second <c/> inside <error/>.
	errStanza := xmltree.New(NSClient, "iq", attr("type", "error"), attr("id", "publish1"))
	top, err := alice.AppendSeal(nil, xmltree.New(NSClient, "iq").AddChild(xmltree.New("urn:example:q", "query")))
	if err != nil {
		t.Fatal(err)
	}
	inner := alice.appendC(nil, []byte(`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">secret reason</text>`), alice.sendCtr)
	alice.sendCtr = alice.sendCtr.Add(Blocks(len(`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">secret reason</text>`)))
	errEl := xmltree.New(NSClient, "error", attr("type", "modify")).
		AddChild(xmltree.New("urn:ietf:params:xml:ns:xmpp-stanzas", "not-acceptable")).
		AddChild(parseC(t, inner))
	errStanza.AddChild(parseC(t, top)).AddChild(errEl)
	opened, _, err = bob.OpenStanza(errStanza)
	if err != nil {
		t.Fatal(err)
	}
	e := opened.Child(NSClient, "error")
	if opened.Child("urn:example:q", "query") == nil || e == nil ||
		e.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "text") == nil || e.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "not-acceptable") == nil {
		t.Errorf("opened error stanza: %s", opened)
	}
}

func TestSealRefusals(t *testing.T) {
	alice, _ := newPair(t, pairOpts{})
	already := xmltree.New(NSClient, "message").AddChild(xmltree.New(NS, "c"))
	if _, err := alice.AppendSeal(nil, already); err == nil {
		t.Error("sealing a stanza that already has a <c/>")
	}
	ctl := xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddText("bell\x07"))
	if _, err := alice.AppendSeal(nil, ctl); err == nil {
		t.Error("sealing a control character")
	}
	badUTF8 := xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddText("\xff\xfe"))
	if _, err := alice.AppendSeal(nil, badUTF8); err == nil {
		t.Error("sealing invalid UTF-8")
	}
	before := alice.sendCtr
	dst := []byte("prefix")
	out, err := alice.AppendSeal(dst, ctl)
	if err == nil || string(out) != "prefix" || alice.sendCtr != before {
		t.Error("a failed seal changed dst or the counter")
	}
	alice.CloseSend()
	if _, err := alice.AppendSeal(nil, chatStanza("x")); err != ErrClosed {
		t.Errorf("after CloseSend: %v", err)
	}
}

func TestElementSeal(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	el, err := alice.Seal(chatStanza("as an element"))
	if err != nil {
		t.Fatal(err)
	}
	if el.Child(NS, "c") == nil || el.Child(NSClient, "thread") == nil || el.Child(NSClient, "body") != nil {
		t.Fatalf("sealed element: %s", el)
	}
	if el.Attribute("to") != "bob@example.com/laptop" || el.Attribute("type") != "chat" {
		t.Errorf("attributes: %v", el.Attr)
	}
	_, res, err := bob.OpenStanza(el)
	if err != nil || res.Children[0].Text() != "as an element" {
		t.Fatalf("%v %v", res, err)
	}
}
