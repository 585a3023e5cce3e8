package crypt

import (
	"crypto/sha256"
	"encoding/xml"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// detReader is deterministic "randomness" for tests: SHA-256 in counter
// mode over a seed.
type detReader struct {
	seed []byte
	n    uint64
	buf  []byte
}

func newDetReader(seed string) *detReader { return &detReader{seed: []byte(seed)} }

func (r *detReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		h := sha256.New()
		h.Write(r.seed)
		h.Write(big.NewInt(int64(r.n)).Bytes())
		r.n++
		r.buf = h.Sum(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

var _ io.Reader = (*detReader)(nil)

// chatStanza is <message type='chat'> with a thread, a body and a chat state.
func chatStanza(body string) *xmltree.Element {
	m := xmltree.New(NSClient, "message",
		xml.Attr{Name: xml.Name{Local: "to"}, Value: "bob@example.com/laptop"},
		xml.Attr{Name: xml.Name{Local: "from"}, Value: "alice@example.org/pda"},
		xml.Attr{Name: xml.Name{Local: "type"}, Value: "chat"},
		xml.Attr{Name: xml.Name{Local: "id"}, Value: "m1"})
	m.AddChild(xmltree.New(NSClient, "thread").AddText("ffd7076498744578d10edabfe7f4a866"))
	m.AddChild(xmltree.New(NSClient, "body").AddText(body))
	m.AddChild(xmltree.New("http://jabber.org/protocol/chatstates", "active"))
	return m
}

// parseStanza parses serialized output as the transport would.
func parseStanza(t testing.TB, b []byte) *xmltree.Element {
	t.Helper()
	el, err := xmltree.Parse(b, xmltree.Limits{})
	if err != nil {
		t.Fatalf("parsing %s: %v", b, err)
	}
	return el
}

// parseC returns the XEP-0200 <c/> of a serialized stanza (or of a bare
// <c/>).
func parseC(t testing.TB, b []byte) *xmltree.Element {
	t.Helper()
	el := parseStanza(t, b)
	if el.Name.Local == "c" {
		return el
	}
	c := el.Child(NS, "c")
	if c == nil {
		t.Fatalf("no <c/> in %s", b)
	}
	return c
}

type pairOpts struct {
	suite     Suite
	rekeyFreq uint32
	budget    uint64
	maxOut    int
	publish   bool
	now       func() time.Time
	seed      string
}

// newPair builds Alice's and Bob's streams from a real negotiation's
// primitives: group 14 key pairs, K, the six keys, a generated counter.
func newPair(t testing.TB, o pairOpts) (alice, bob *Stream) {
	t.Helper()
	if o.suite.Profile == "" {
		o.suite = XEPSuite()
	}
	if o.seed == "" {
		o.seed = t.Name()
	}
	if o.rekeyFreq == 0 {
		o.rekeyFreq = 1
	}
	r := newDetReader(o.seed)
	g := mustGroup(t, 14)
	x, err := g.GenerateKey(r, ShortExponent)
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.GenerateKey(r, ShortExponent)
	if err != nil {
		t.Fatal(err)
	}
	k, err := o.suite.SharedKey(x, y.Public())
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := o.suite.SessionKeys(k, Initiator), o.suite.SessionKeys(k, Responder)
	cA, err := GenerateCounter(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(send, recv DirectionKeys, sc, rc Counter, own *PrivateKey, peer *big.Int) StreamConfig {
		return StreamConfig{
			Suite: o.suite, SendCipher: send.Cipher, SendMAC: send.MAC, SendCounter: sc,
			RecvCipher: recv.Cipher, RecvMAC: recv.MAC, RecvCounter: rc,
			Group: g, Own: own, PeerPublic: peer, RekeyFreq: o.rekeyFreq,
			BlockBudget: o.budget, MaxOutstandingRekeys: o.maxOut, PublishOldMACKeys: o.publish,
			Now: o.now, Rand: r,
		}
	}
	if o.rekeyFreq == NoRekey {
		alice, err = NewStream(StreamConfig{Suite: o.suite, SendCipher: ka.Cipher, SendMAC: ka.MAC, SendCounter: cA,
			RecvCipher: kb.Cipher, RecvMAC: kb.MAC, RecvCounter: cA.Peer(), RekeyFreq: NoRekey, BlockBudget: o.budget, Now: o.now})
		if err != nil {
			t.Fatal(err)
		}
		bob, err = NewStream(StreamConfig{Suite: o.suite, SendCipher: kb.Cipher, SendMAC: kb.MAC, SendCounter: cA.Peer(),
			RecvCipher: ka.Cipher, RecvMAC: ka.MAC, RecvCounter: cA, RekeyFreq: NoRekey, BlockBudget: o.budget, Now: o.now})
		if err != nil {
			t.Fatal(err)
		}
		return alice, bob
	}
	alice, err = NewStream(cfg(ka, kb, cA, cA.Peer(), x, y.Public()))
	if err != nil {
		t.Fatal(err)
	}
	bob, err = NewStream(cfg(kb, ka, cA.Peer(), cA, y, x.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

// send seals st at from and opens it at to.
func send(t testing.TB, from, to *Stream, st *xmltree.Element) Opened {
	t.Helper()
	out, err := from.AppendSeal(nil, st)
	if err != nil {
		t.Fatalf("AppendSeal: %v", err)
	}
	res, err := to.Open(parseC(t, out))
	if err != nil {
		t.Fatalf("Open: %v\nstanza: %s", err, out)
	}
	return res
}
