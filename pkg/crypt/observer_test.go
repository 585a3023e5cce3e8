package crypt

import (
	"errors"
	"math/big"
	"testing"
)

// hookedPair is newPair with an OnRekey hook on both streams, set through
// StreamConfig; it also returns the initial send keys and counters of both
// sides, for observers.
type hookedPair struct {
	alice, bob   *Stream
	events       map[string][]RekeyEvent // "alice", "bob"; Secret copied
	ka, kb       DirectionKeys
	cA, cB       Counter
	suite        Suite
	group        *Group
	aliceWire    [][]byte // what alice sent, in order
	bobWire      [][]byte
	pendingAlice [][]byte // sealed by alice, not yet opened by bob
	pendingBob   [][]byte
}

func newHookedPair(t *testing.T, rekeyFreq uint32) *hookedPair {
	t.Helper()
	p := &hookedPair{events: map[string][]RekeyEvent{}, suite: XEPSuite(), group: mustGroup(t, 14)}
	r := newDetReader(t.Name())
	x, err := p.group.GenerateKey(r, ShortExponent)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.group.GenerateKey(r, ShortExponent)
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.suite.SharedKey(x, y.Public())
	if err != nil {
		t.Fatal(err)
	}
	p.ka, p.kb = p.suite.SessionKeys(k, Initiator), p.suite.SessionKeys(k, Responder)
	if p.cA, err = GenerateCounter(r); err != nil {
		t.Fatal(err)
	}
	p.cB = p.cA.Peer()
	hook := func(who string) func(RekeyEvent) {
		return func(e RekeyEvent) {
			e.Secret = NewKey(e.Secret.MarshalPrivate())
			p.events[who] = append(p.events[who], e)
		}
	}
	mk := func(who string, send, recv DirectionKeys, sc, rc Counter, own *PrivateKey, peer *big.Int) *Stream {
		cfg := StreamConfig{Suite: p.suite, SendCipher: send.Cipher, SendMAC: send.MAC, SendCounter: sc,
			RecvCipher: recv.Cipher, RecvMAC: recv.MAC, RecvCounter: rc, RekeyFreq: rekeyFreq,
			Rand: r, OnRekey: hook(who)}
		if rekeyFreq != NoRekey {
			cfg.Group, cfg.Own, cfg.PeerPublic = p.group, own, peer
		}
		s, err := NewStream(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p.alice = mk("alice", p.ka, p.kb, p.cA, p.cB, x, y.Public())
	p.bob = mk("bob", p.kb, p.ka, p.cB, p.cA, y, x.Public())
	return p
}

// seal seals a stanza at one side and queues it for the other.
func (p *hookedPair) seal(t *testing.T, fromAlice bool, body string) {
	t.Helper()
	from, wire, pending := p.bob, &p.bobWire, &p.pendingBob
	if fromAlice {
		from, wire, pending = p.alice, &p.aliceWire, &p.pendingAlice
	}
	out, err := from.AppendSeal(nil, chatStanza(body))
	if err != nil {
		t.Fatal(err)
	}
	*wire = append(*wire, out)
	*pending = append(*pending, out)
}

// deliver opens everything queued for the other side.
func (p *hookedPair) deliver(t *testing.T, toBob bool) {
	t.Helper()
	to, pending := p.alice, &p.pendingBob
	if toBob {
		to, pending = p.bob, &p.pendingAlice
	}
	for _, b := range *pending {
		if _, err := to.Open(parseC(t, b)); err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	*pending = nil
}

// The hook reports every re-key on both sides with the same secret and
// sequence number, and the secret derives the keys the streams use.
func TestRekeyHook(t *testing.T) {
	p := newHookedPair(t, 1)
	p.seal(t, true, "a0")
	p.deliver(t, true)
	if err := p.alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	p.seal(t, true, "a1 with key")
	p.deliver(t, true)
	p.seal(t, false, "b1 with new")
	p.deliver(t, false)
	if err := p.bob.Rekey(); err != nil {
		t.Fatal(err)
	}
	p.seal(t, false, "b2 with key")
	p.deliver(t, false)
	p.seal(t, true, "a2")
	p.deliver(t, true)
	if err := p.alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	p.seal(t, true, "a3 with key")
	p.deliver(t, true)

	want := []struct {
		sent bool
		seq  uint64
	}{{true, 1}, {false, 1}, {true, 2}}
	a, b := p.events["alice"], p.events["bob"]
	if len(a) != len(want) || len(b) != len(want) {
		t.Fatalf("events: alice %d, bob %d, want %d each", len(a), len(b), len(want))
	}
	for i, w := range want {
		if a[i].Sent != w.sent || a[i].Seq != w.seq {
			t.Errorf("alice event %d: sent=%v seq=%d, want sent=%v seq=%d", i, a[i].Sent, a[i].Seq, w.sent, w.seq)
		}
		if b[i].Sent != !w.sent || b[i].Seq != w.seq {
			t.Errorf("bob event %d: sent=%v seq=%d, want sent=%v seq=%d", i, b[i].Sent, b[i].Seq, !w.sent, w.seq)
		}
		if !a[i].Secret.Equal(b[i].Secret) || a[i].Secret.Len() > p.group.ByteLen() || a[i].Secret.Len() < p.group.ByteLen()-4 {
			t.Errorf("event %d: the two sides report different secrets (or not I2B(K))", i)
		}
	}
	// The last re-key was alice's: her send keys are the initiator keys of
	// its secret, bob's the acceptor keys.
	last := a[len(a)-1].Secret
	kc, km := p.suite.RekeyKeys(last, RekeyInitiator)
	if !p.alice.send.kc.Equal(kc) || !p.alice.send.km.Equal(km) {
		t.Error("alice's send keys are not RekeyKeys(secret, initiator)")
	}
	p.seal(t, false, "b3 with new")
	p.deliver(t, false)
	kc, km = p.suite.RekeyKeys(last, RekeyAcceptor)
	if !p.bob.send.kc.Equal(kc) || !p.bob.send.km.Equal(km) {
		t.Error("bob's send keys are not RekeyKeys(secret, acceptor)")
	}
}

// An observer given the keys derived from the reported secrets decrypts
// both directions across re-keys; wrong keys fail with ErrMAC and leave it
// unchanged.
func TestObserverAcrossRekeys(t *testing.T) {
	p := newHookedPair(t, 1)
	p.seal(t, true, "a0")
	p.deliver(t, true)
	p.seal(t, false, "b0")
	p.deliver(t, false)
	if err := p.alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	p.seal(t, true, "a1 with key")
	p.seal(t, false, "b1 crossing, old keys")
	p.deliver(t, true)
	p.deliver(t, false)
	p.seal(t, false, "b2 with new")
	p.deliver(t, false)
	p.seal(t, true, "a2")
	p.deliver(t, true)
	z := p.events["alice"][0].Secret

	obsA, err := NewObserver(ObserverConfig{Suite: p.suite, Cipher: p.ka.Cipher, MAC: p.ka.MAC, Counter: p.cA, Rekey: true, Group: p.group})
	if err != nil {
		t.Fatal(err)
	}
	defer obsA.Close()
	bodies := []string{"a0", "a1 with key", "a2"}
	for i, w := range p.aliceWire {
		if i == 2 {
			// Wrong keys first: the acceptor's.
			kc, km := p.suite.RekeyKeys(z, RekeyAcceptor)
			if err := obsA.SetKeys(kc, km); err != nil {
				t.Fatal(err)
			}
			ctr := obsA.Counter()
			if _, err := obsA.Open(parseC(t, w)); !errors.Is(err, ErrMAC) {
				t.Fatalf("under wrong keys: %v, want ErrMAC", err)
			}
			if obsA.Counter() != ctr {
				t.Fatal("a failed Open moved the counter")
			}
			kc, km = p.suite.RekeyKeys(z, RekeyInitiator)
			if err := obsA.SetKeys(kc, km); err != nil {
				t.Fatal(err)
			}
		}
		res, err := obsA.Open(parseC(t, w))
		if err != nil {
			t.Fatalf("alice stanza %d: %v", i, err)
		}
		if got := res.Children[0].Text(); got != bodies[i] {
			t.Errorf("alice stanza %d: body %q", i, got)
		}
		if (res.Key != nil) != (i == 1) {
			t.Errorf("alice stanza %d: key %v", i, res.Key)
		}
	}

	obsB, err := NewObserver(ObserverConfig{Suite: p.suite, Cipher: p.kb.Cipher, MAC: p.kb.MAC, Counter: p.cB, Rekey: true, Group: p.group})
	if err != nil {
		t.Fatal(err)
	}
	defer obsB.Close()
	for i, w := range p.bobWire {
		if i == 2 {
			kc, km := p.suite.RekeyKeys(z, RekeyAcceptor)
			if err := obsB.SetKeys(kc, km); err != nil {
				t.Fatal(err)
			}
		}
		res, err := obsB.Open(parseC(t, w))
		if err != nil {
			t.Fatalf("bob stanza %d: %v", i, err)
		}
		if (res.Acknowledged == 1) != (i == 2) {
			t.Errorf("bob stanza %d: <new/> = %d", i, res.Acknowledged)
		}
	}
	// A replayed stanza is recognised.
	if _, err := obsB.Open(parseC(t, p.bobWire[2])); !errors.Is(err, ErrReplay) {
		t.Errorf("replay: %v, want ErrReplay", err)
	}
}

// Without Rekey an observer treats <key/> as a protocol violation, as a
// XEP-0217 stream does.
func TestObserverNoRekey(t *testing.T) {
	p := newHookedPair(t, 1)
	p.seal(t, true, "before")
	if err := p.alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	p.seal(t, true, "with key")
	obs, err := NewObserver(ObserverConfig{Suite: p.suite, Cipher: p.ka.Cipher, MAC: p.ka.MAC, Counter: p.cA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Open(parseC(t, p.aliceWire[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Open(parseC(t, p.aliceWire[1])); !errors.Is(err, ErrProtocol) {
		t.Errorf("<key/> without Rekey: %v, want ErrProtocol", err)
	}
	if _, err := NewObserver(ObserverConfig{Suite: p.suite, Cipher: p.ka.Cipher, MAC: p.ka.MAC, Rekey: true}); err == nil {
		t.Error("Rekey without a group accepted")
	}
}
