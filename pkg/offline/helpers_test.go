package offline

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/xml"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

const (
	aliceBare = "alice@example.org"
	aliceFull = "alice@example.org/pda"
	bobBare   = "bob@example.com"
	bobFull   = "bob@example.com/laptop"
)

var (
	keysOnce sync.Once
	testKeys []*rsa.PrivateKey
)

// keys returns three 2048-bit RSA keys, generated once per test binary:
// alice, bob, mallory.
func keys(t testing.TB) (alice, bob, mallory *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		for range 3 {
			k, err := pubkey.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k)
		}
	})
	return testKeys[0], testKeys[1], testKeys[2]
}

// ring is an in-memory trust store: trusted keys per bare JID, and an
// optional trust-on-first-use policy that records what it accepts.
type ring struct {
	mu      sync.Mutex
	trusted map[string][]*rsa.PublicKey
	tofu    bool
	checked int
}

func newRing() *ring { return &ring{trusted: map[string][]*rsa.PublicKey{}} }

func (r *ring) trust(jid string, k *rsa.PublicKey) *ring {
	r.trusted[jid] = append(r.trusted[jid], k)
	return r
}

func (r *ring) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*rsa.PublicKey(nil), r.trusted[peer]...), nil
}

func (r *ring) CheckKey(peer string, key *rsa.PublicKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked++
	for _, k := range r.trusted[peer] {
		if pubkey.SameKey(k, key) {
			return nil
		}
	}
	if r.tofu {
		r.trusted[peer] = append(r.trusted[peer], key)
		return nil
	}
	return &pubkey.UntrustedKeyError{JID: peer, Reason: pubkey.ErrUnknownKey}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wire serializes and re-parses an element, as the network would.
func wire(t testing.TB, el *xmltree.Element) *xmltree.Element {
	t.Helper()
	out, err := xmltree.Parse([]byte(el.String()), xmltree.Limits{})
	if err != nil {
		t.Fatalf("re-parsing %s: %v", el, err)
	}
	return out
}

// stored adds the delay stamp a XEP-0160 server adds to a stored message.
func stored(st *xmltree.Element, at time.Time) *xmltree.Element {
	st.AddChild(xmltree.New(NSDelay, "delay",
		xml.Attr{Name: xml.Name{Local: "from"}, Value: "example.org"},
		xml.Attr{Name: xml.Name{Local: "stamp"}, Value: at.UTC().Format(time.RFC3339)}))
	return st
}

// party holds the state of one test exchange.
type party struct {
	clk      *clock
	alice    *rsa.PrivateKey
	bob      *rsa.PrivateKey
	pub      *Published
	bobRing  *ring
	aliceRng *ring
}

func newParty(t testing.TB, set Set, matchResource string) *party {
	t.Helper()
	a, b, _ := keys(t)
	p := &party{clk: newClock(), alice: a, bob: b}
	var err error
	p.pub, err = Prepare(PublishConfig{Set: set, Owner: aliceBare, MatchResource: matchResource,
		Signers: []crypto.Signer{a}, Now: p.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	p.bobRing = newRing().trust(aliceBare, &a.PublicKey)
	p.aliceRng = newRing().trust(bobBare, &b.PublicKey)
	return p
}

// fetch is Bob's fetch and verification of the published options.
func (p *party) fetch(t testing.TB) *Options {
	t.Helper()
	o, err := ParseOptions(wire(t, p.pub.Form), p.pub.Secrets.Set, aliceBare)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Verify(p.bobRing); err != nil {
		t.Fatal(err)
	}
	return o
}

func (p *party) start(t testing.TB, oneShot bool) *Session {
	t.Helper()
	s, err := Start(p.fetch(t), SendConfig{Local: bobFull, Signer: p.bob, OneShot: oneShot, Now: p.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *party) receiver(t testing.TB, replay ReplayStore) *Receiver {
	t.Helper()
	b, err := p.pub.Secrets.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := ParseSecrets(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiver(ReceiverConfig{Local: aliceFull, Sets: []*Secrets{sec}, Keys: p.aliceRng, Replay: replay, Now: p.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func messages(evs []Event) []MessageEvent {
	var out []MessageEvent
	for _, e := range evs {
		if m, ok := e.(MessageEvent); ok {
			out = append(out, m)
		}
	}
	return out
}

func describe(evs []Event) string { return fmt.Sprintf("%#v", evs) }

func mustParse(t testing.TB, s string) *xmltree.Element {
	t.Helper()
	el, err := xmltree.Parse([]byte(s), xmltree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return el
}
