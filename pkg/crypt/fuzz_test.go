package crypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

// fuzzKeys are fixed keys for the fuzz streams: Alice seals the seeds, a
// fresh Bob opens each input.
type fuzzKeys struct {
	suite     Suite
	ka, kb    DirectionKeys
	cA        Counter
	g         *Group
	x, y      *PrivateKey
	withRekey bool
}

func newFuzzKeys(tb testing.TB) *fuzzKeys {
	return newSuiteFuzzKeys(tb, XEPSuite(), "fuzz", GenerateCounter, true)
}

// newSuiteFuzzKeys derives fuzz keys under suite from a deterministic
// stream named seed, with the suite's own counter generator.
func newSuiteFuzzKeys(tb testing.TB, suite Suite, seed string, counter func(io.Reader) (Counter, error), withRekey bool) *fuzzKeys {
	tb.Helper()
	fk := &fuzzKeys{suite: suite, g: mustGroup(tb, 14), withRekey: withRekey}
	r := newDetReader(seed)
	var err error
	if fk.x, err = fk.g.GenerateKey(r, ShortExponent); err != nil {
		tb.Fatal(err)
	}
	if fk.y, err = fk.g.GenerateKey(r, ShortExponent); err != nil {
		tb.Fatal(err)
	}
	k, err := fk.suite.SharedKey(fk.x, fk.y.Public())
	if err != nil {
		tb.Fatal(err)
	}
	fk.ka, fk.kb = fk.suite.SessionKeys(k, Initiator), fk.suite.SessionKeys(k, Responder)
	if fk.cA, err = counter(r); err != nil {
		tb.Fatal(err)
	}
	return fk
}

// stream builds Alice's (sender) or Bob's (receiver) stream. The DH key
// pairs are shared between calls and never erased by Open.
func (fk *fuzzKeys) stream(tb testing.TB, alice bool) *Stream {
	cfg := StreamConfig{Suite: fk.suite, Group: fk.g, RekeyFreq: 1}
	if alice {
		cfg.SendCipher, cfg.SendMAC, cfg.SendCounter = fk.ka.Cipher, fk.ka.MAC, fk.cA
		cfg.RecvCipher, cfg.RecvMAC, cfg.RecvCounter = fk.kb.Cipher, fk.kb.MAC, fk.cA.Peer()
		cfg.Own, cfg.PeerPublic = fk.x, fk.y.Public()
		cfg.Rand = newDetReader("fuzz alice")
	} else {
		cfg.SendCipher, cfg.SendMAC, cfg.SendCounter = fk.kb.Cipher, fk.kb.MAC, fk.cA.Peer()
		cfg.RecvCipher, cfg.RecvMAC, cfg.RecvCounter = fk.ka.Cipher, fk.ka.MAC, fk.cA
		cfg.Own, cfg.PeerPublic = fk.y, fk.x.Public()
	}
	s, err := NewStream(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// openSeeds returns serialized <c/> elements: genuine ones (each the first
// stanza of a fresh stream) and the V5 stanza of the vector file.
func openSeeds(tb testing.TB, fk *fuzzKeys) [][]byte {
	var seeds [][]byte
	for _, st := range []*xmltree.Element{
		chatStanza("Hello, Bob!"),
		chatStanza("Grüße 😀 <&>"),
		xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "thread").AddText("t")),
	} {
		a := fk.stream(tb, true)
		out, err := a.AppendSeal(nil, st)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, []byte(parseC(tb, out).String()))
	}
	a := fk.stream(tb, true)
	a.stanzasSinceKex = 1
	if err := a.Rekey(); err != nil {
		tb.Fatal(err)
	}
	out, err := a.AppendSeal(nil, chatStanza("with a key"))
	if err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, []byte(parseC(tb, out).String()))

	vf := loadVectors(tb)
	seeds = append(seeds, []byte(cOpen+vf.get(tb, "V5", "m_content")+"<mac>"+vf.token(tb, "V5", "a_mac")+"</mac></c>"))
	return seeds
}

func isOpenError(err error) bool {
	return errors.Is(err, ErrMAC) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrDHRange)
}

// FuzzOpen feeds arbitrary bytes, parsed as the transport would, to Open.
// It must not panic, every error must be one of the documented classes, and
// a failed Open must leave the counter alone.
func FuzzOpen(f *testing.F) {
	fk := newFuzzKeys(f)
	seeds := openSeeds(f, fk)
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	for _, s := range gajimOpenSeeds(f, fk) { // gajim_test.go
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 1 << 20})
		if err != nil {
			return
		}
		bob := fk.stream(t, false)
		before := bob.recvCtr
		res, err := bob.Open(c)
		if err != nil {
			if !isOpenError(err) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			if res.Children != nil {
				t.Fatal("children returned with an error")
			}
			if bob.recvCtr != before && !errors.Is(err, ErrFragment) && !errors.Is(err, ErrDHRange) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("counter moved on %v", err)
			}
			return
		}
		if bob.recvCtr == before {
			t.Fatal("success without counter advance")
		}
	})
}

// FuzzDecodeBase64 checks the strict decoder against encoding/base64: what
// it accepts is canonical and decodes identically.
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"", "AA==", "AQID", "AR==", "AQ=\n", "////", "gAAAAAAAAAAAAAAAAAAAAA=="} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		b, err := DecodeBase64("f", s, max)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(b) > max {
			t.Fatalf("decoded %d bytes, limit %d", len(b), max)
		}
		std, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || !bytes.Equal(std, b) {
			t.Fatalf("encoding/base64 disagrees: %x %v", std, err)
		}
		if EncodeBase64(b) != s {
			t.Fatalf("accepted non-canonical %q", s)
		}
	})
}

// FuzzDecodeInteger checks integer decoding and the I2B round trip.
func FuzzDecodeInteger(f *testing.F) {
	for _, s := range []string{"AA==", "AQ==", "/w==", "AQA=", "AAAB", "gAAAAAAAAAAAAAAAAAAAAA==", ""} {
		f.Add(s)
	}
	g := mustGroup(f, 14)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := DecodeInteger("v", s, 16)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		raw, _ := base64.StdEncoding.DecodeString(s)
		if got := I2B(v); !bytes.Equal(got, bytes.TrimLeft(raw, "\x00")) && !(v.Sign() == 0 && bytes.Equal(got, []byte{0})) {
			t.Fatalf("I2B(%v) = %x from %x", v, got, raw)
		}
		if _, err := g.ParsePublic("v", s); err != nil && !errors.Is(err, ErrDHRange) {
			t.Fatalf("ParsePublic: %v", err)
		}
		if c, err := ParseCounter(s); err == nil && !bytes.Equal(c.Bytes(), I2B(v)) {
			t.Fatalf("counter %s vs %v", c, v)
		}
	})
}

// FuzzFragment feeds arbitrary plaintext to the fragment parser. What it
// accepts must survive our serializer: serialize, parse again, and get the
// same bytes.
func FuzzFragment(f *testing.F) {
	for _, s := range []string{
		`<body>Hello, Bob!</body><active xmlns='http://jabber.org/protocol/chatstates'/>`,
		`<body xml:lang="en">a &amp; b &lt; c &#xD;</body>`,
		`<x xmlns="urn:a" xmlns:p="urn:p" p:attr="1"><y>t</y></x>`,
		`<body>x</body></fragment><message>`,
		`<!DOCTYPE x><body/>`,
		`<thread>t</thread>`,
		`<body><![CDATA[<not markup>]]></body>`,
		// Gajim's plaintext: nbxmpp serialization, space-padded to 16.
		`<body>Hello Bob</body><active xmlns="http://jabber.org/protocol/chatstates" />         `,
		`<body>a &lt; b &gt; c &amp; &quot;d&quot;</body>           `,
	} {
		f.Add([]byte(s))
	}
	fk := newFuzzKeys(f)
	f.Fuzz(func(t *testing.T, m []byte) {
		if len(m) > 1<<16 {
			return
		}
		s := fk.stream(t, false)
		buf := append(append([]byte(fragOpen), m...), fragClose...)
		els, err := s.parseFragment(buf)
		if err != nil {
			if !errors.Is(err, ErrFragment) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		var once []byte
		for _, el := range els {
			if err := checkTree(el, 0); err != nil {
				return // e.g. characters the parser let through but we refuse to send
			}
			once = appendElement(once, el, NSClient)
		}
		again, err := s.parseFragment(append(append([]byte(fragOpen), once...), fragClose...))
		if err != nil {
			t.Fatalf("our serialization does not parse: %v\n%s", err, once)
		}
		var twice []byte
		for _, el := range again {
			twice = appendElement(twice, el, NSClient)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("unstable:\n%s\n%s", once, twice)
		}
	})
}
