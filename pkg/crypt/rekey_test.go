package crypt

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

func allZero(k Key) bool { return k.Len() > 0 && bytes.Count(k.b, []byte{0}) == k.Len() }

// T-R01: Alice re-keys; the <key/> stanza uses the old keys, later ones the
// new; Bob switches both directions; the old send KC is erased.
func TestRekeyBasic(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	send(t, alice, bob, chatStanza("before"))
	oldKC := alice.send.kc
	oldKMBob := bob.send.km
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	if !alice.Stats().RekeyPending {
		t.Fatal("no pending re-key")
	}
	res := send(t, alice, bob, chatStanza("with key"))
	if !res.Rekeyed || len(res.Children) == 0 {
		t.Fatalf("re-key stanza: %+v", res)
	}
	if !allZero(oldKC) {
		t.Error("old send KC not erased")
	}
	if !allZero(oldKMBob) {
		t.Error("Bob's old send KM not erased (publication is off)")
	}
	ctrA, ctrB := alice.sendCtr, bob.sendCtr
	for i := range 5 {
		send(t, alice, bob, chatStanza("alice after"))
		r := send(t, bob, alice, chatStanza("bob after"))
		if i == 0 && r.Acknowledged != 1 {
			t.Errorf("Bob's first stanza after the re-key: <new/> = %d, want 1", r.Acknowledged)
		}
	}
	if alice.Stats().ReceiveSets != 1 || bob.Stats().ReceiveSets != 1 {
		t.Errorf("receive sets: %d, %d", alice.Stats().ReceiveSets, bob.Stats().ReceiveSets)
	}
	// Counters ran on across the re-key (D-14).
	if alice.sendCtr == ctrA || bob.sendCtr == ctrB || alice.sendCtr != bob.recvCtr || bob.sendCtr != alice.recvCtr {
		t.Error("counters out of step after the re-key")
	}
}

// T-R03: both sides send <key/> before receiving the other's.
func TestRekeyConcurrent(t *testing.T) {
	for _, order := range []string{"alice first", "bob first"} {
		t.Run(order, func(t *testing.T) {
			alice, bob := newPair(t, pairOpts{})
			send(t, alice, bob, chatStanza("warm up"))
			if err := alice.Rekey(); err != nil {
				t.Fatal(err)
			}
			if err := bob.Rekey(); err != nil {
				t.Fatal(err)
			}
			oa, err := alice.AppendSeal(nil, chatStanza("alice key"))
			if err != nil {
				t.Fatal(err)
			}
			ob, err := bob.AppendSeal(nil, chatStanza("bob key"))
			if err != nil {
				t.Fatal(err)
			}
			if order == "alice first" {
				mustOpen(t, bob, oa)
				mustOpen(t, alice, ob)
			} else {
				mustOpen(t, alice, ob)
				mustOpen(t, bob, oa)
			}
			for range 4 {
				send(t, alice, bob, chatStanza("a"))
				send(t, bob, alice, chatStanza("b"))
				send(t, bob, alice, chatStanza("b2"))
				send(t, alice, bob, chatStanza("a2"))
			}
			if alice.Stats().ReceiveSets != 1 || bob.Stats().ReceiveSets != 1 {
				t.Errorf("receive sets after convergence: %d, %d", alice.Stats().ReceiveSets, bob.Stats().ReceiveSets)
			}
			// And another re-key each way still works.
			if err := bob.Rekey(); err != nil {
				t.Fatal(err)
			}
			send(t, bob, alice, chatStanza("again"))
			send(t, alice, bob, chatStanza("ack"))
			send(t, bob, alice, chatStanza("new keys"))
		})
	}
}

func mustOpen(t *testing.T, s *Stream, out []byte) Opened {
	t.Helper()
	res, err := s.Open(parseC(t, out))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return res
}

// T-R04: two outstanding re-keys, then <new>2</new> selects the newest set
// and destroys the older ones.
func TestRekeyTwoOutstanding(t *testing.T) {
	alice, bob := newPair(t, pairOpts{maxOut: 2})
	send(t, alice, bob, chatStanza("warm up"))
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	o1, err := alice.AppendSeal(nil, chatStanza("key 1"))
	if err != nil {
		t.Fatal(err)
	}
	alice.stanzasSinceKex = 1 // rekey_freq 1: one more stanza would do as well
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	o2, err := alice.AppendSeal(nil, chatStanza("key 2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Rekey(); !errors.Is(err, ErrRekeyRefused) {
		t.Errorf("third outstanding re-key: %v", err)
	}
	old0, old1 := alice.recv[0], alice.recv[1]
	mustOpen(t, bob, o1)
	mustOpen(t, bob, o2)
	ob, err := bob.AppendSeal(nil, chatStanza("ack both"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ob), "<new>2</new>") {
		t.Fatalf("Bob's stanza lacks <new>2</new>: %s", ob)
	}
	res := mustOpen(t, alice, ob)
	if res.Acknowledged != 2 || alice.Stats().ReceiveSets != 1 {
		t.Errorf("acknowledged %d, sets %d", res.Acknowledged, alice.Stats().ReceiveSets)
	}
	if old0.priv.x != nil || old1.priv.x != nil || old0.kc.Len() != 0 {
		t.Error("superseded sets not destroyed")
	}
	send(t, alice, bob, chatStanza("on"))
	send(t, bob, alice, chatStanza("on"))
}

// T-R05: <new/> beyond the stored sets.
func TestRekeyNewOutOfRange(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	bob.keysRecvSinceSend = 1 // Bob claims a <key/> Alice never sent
	out, err := bob.AppendSeal(nil, chatStanza("bogus new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Open(parseC(t, out)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrProtocol", err)
	}
}

// T-R02: <key/> values out of range terminate; T-N25-style long values are
// rejected before any exponentiation.
func TestRekeyBadValues(t *testing.T) {
	g := mustGroup(t, 14)
	p := g.P()
	for name, v := range map[string]*big.Int{
		"0": big.NewInt(0), "1": big.NewInt(1),
		"p-1": new(big.Int).Sub(p, big.NewInt(1)), "p": p, "p+1": new(big.Int).Add(p, big.NewInt(1)),
		"longer than p": new(big.Int).Lsh(big.NewInt(1), uint(g.Bits()+8)),
	} {
		t.Run(name, func(t *testing.T) {
			alice, bob := newPair(t, pairOpts{})
			if err := alice.Rekey(); err == nil {
				t.Fatal("rekey_freq 1 allowed a re-key before any stanza")
			}
			alice.stanzasSinceKex = 1
			if err := alice.Rekey(); err != nil {
				t.Fatal(err)
			}
			alice.pending.keyB64 = EncodeBase64(I2B(v))
			out, err := alice.AppendSeal(nil, chatStanza("bad key"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bob.Open(parseC(t, out)); !errors.Is(err, ErrDHRange) {
				t.Fatalf("got %v, want ErrDHRange", err)
			}
		})
	}
}

// T-R06: the sender enforces rekey_freq; a receiver accepts an early-looking
// <key/>; XEP-0217 forbids re-keying.
func TestRekeyFrequency(t *testing.T) {
	alice, bob := newPair(t, pairOpts{rekeyFreq: 3})
	send(t, alice, bob, chatStanza("1"))
	send(t, bob, alice, chatStanza("2"))
	if err := alice.Rekey(); !errors.Is(err, ErrRekeyRefused) {
		t.Fatalf("after 2 of 3 stanzas: %v", err)
	}
	send(t, alice, bob, chatStanza("3"))
	if !alice.CanRekey() {
		t.Fatal("after 3 stanzas a re-key is still refused")
	}
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	send(t, alice, bob, chatStanza("key"))

	// Crossing stanzas with rekey_freq 1 (the D-22 example).
	alice, bob = newPair(t, pairOpts{rekeyFreq: 1, maxOut: 2})
	send(t, bob, alice, chatStanza("warm"))
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	k1, err := alice.AppendSeal(nil, chatStanza("K1"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := bob.AppendSeal(nil, chatStanza("S crosses K1"))
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, alice, s) // Alice's count is 1 again
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	k2, err := alice.AppendSeal(nil, chatStanza("K2"))
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, bob, k1)
	if res := mustOpen(t, bob, k2); !res.Rekeyed { // early by Bob's count: accepted
		t.Error("K2 not accepted")
	}
	send(t, bob, alice, chatStanza("in sync"))
	send(t, alice, bob, chatStanza("in sync"))
}

func TestRekeyForbiddenUnder0217(t *testing.T) {
	alice, bob := newPair(t, pairOpts{rekeyFreq: NoRekey})
	send(t, alice, bob, chatStanza("x"))
	if err := alice.Rekey(); !errors.Is(err, ErrRekeyRefused) {
		t.Fatalf("Rekey under XEP-0217: %v", err)
	}
	// A peer that sends <key/> anyway: forge one with Alice's own keys.
	g := mustGroup(t, 14)
	priv, err := g.GenerateKey(newDetReader("k"), ShortExponent)
	if err != nil {
		t.Fatal(err)
	}
	same, err := alice.newDirKeys(NewKey(alice.send.kc.b), NewKey(alice.send.km.b))
	if err != nil {
		t.Fatal(err)
	}
	alice.pending = &pendingRekey{keyB64: EncodeBase64(priv.PublicBytes()), send: same, set: &recvSet{priv: priv}}
	out, err := alice.AppendSeal(nil, chatStanza("unexpected key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Open(parseC(t, out)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrProtocol", err)
	}
}

// T-R07: after the grace period a stanza under the superseded receive key
// fails.
func TestRekeyGrace(t *testing.T) {
	for _, wait := range []time.Duration{10 * time.Second, 61 * time.Second} {
		now := time.Unix(1e9, 0)
		clock := func() time.Time { return now }
		alice, bob := newPair(t, pairOpts{now: clock})
		send(t, alice, bob, chatStanza("warm"))
		if err := alice.Rekey(); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.AppendSeal(nil, chatStanza("K1, lost in transit")); err != nil {
			t.Fatal(err)
		}
		s, err := bob.AppendSeal(nil, chatStanza("under the old key"))
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(wait)
		_, err = alice.Open(parseC(t, s))
		if wait < DefaultRekeyGrace && err != nil {
			t.Errorf("within the grace period: %v", err)
		}
		if wait > DefaultRekeyGrace && err != ErrMAC {
			t.Errorf("after the grace period: %v, want ErrMAC", err)
		}
	}
}

// T-R08 / OLD-02: old MAC keys are published only once allowed, and <old/>
// is covered by the MAC but otherwise ignored.
func TestPublishOldMACKeys(t *testing.T) {
	alice, bob := newPair(t, pairOpts{publish: true})
	send(t, alice, bob, chatStanza("warm"))
	oldKMA := NewKey(alice.send.km.b)
	if err := alice.Rekey(); err != nil {
		t.Fatal(err)
	}
	send(t, alice, bob, chatStanza("key"))
	out, err := alice.AppendSeal(nil, chatStanza("too early to publish"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "<old>") {
		t.Fatal("published before the peer used the new key")
	}
	mustOpen(t, bob, out)
	// Bob accepted Alice's key: he may publish Alice's old KM right away.
	ob, err := bob.AppendSeal(nil, chatStanza("ack"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ob), "<old>"+EncodeBase64(oldKMA.b)+"</old>") {
		t.Errorf("Bob does not publish Alice's old KM: %s", ob)
	}
	mustOpen(t, alice, ob)
	// Alice has sent a re-key and received a stanza under her new key.
	if n := alice.Stats().PublishableOldKeys; n != 2 {
		t.Errorf("Alice can publish %d old keys, want 2 (her old KM_A and Bob's old KM_B)", n)
	}
	out, err = alice.AppendSeal(nil, chatStanza("publishing"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "<old>") != 2 || !strings.Contains(string(out), EncodeBase64(oldKMA.b)) {
		t.Errorf("Alice's <old/> elements: %s", out)
	}
	mustOpen(t, bob, out)
	if alice.Stats().PublishableOldKeys != 0 {
		t.Error("published keys kept")
	}
}

// T-R09: the block budget forces a re-key, or stops when none is possible.
func TestBlockBudget(t *testing.T) {
	const budget = 64
	alice, bob := newPair(t, pairOpts{budget: budget})
	body := strings.Repeat("b", 100) // 7 blocks with the tags
	sawKey := false
	for range 40 {
		out, err := alice.AppendSeal(nil, xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddText(body)))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "<key>") {
			sawKey = true
		}
		mustOpen(t, bob, out)
		send(t, bob, alice, xmltree.New(NSClient, "message")) // acknowledges re-keys
		if alice.Stats().BlocksSinceKeyExchange > budget {
			t.Fatalf("%d blocks under one key", alice.Stats().BlocksSinceKeyExchange)
		}
	}
	if !sawKey {
		t.Error("no automatic re-key")
	}

	alice, bob = newPair(t, pairOpts{budget: budget, rekeyFreq: NoRekey})
	var err error
	for i := 0; i < 40 && err == nil; i++ {
		var out []byte
		out, err = alice.AppendSeal(nil, xmltree.New(NSClient, "message").AddChild(xmltree.New(NSClient, "body").AddText(body)))
		if err == nil {
			mustOpen(t, bob, out)
		}
	}
	if !errors.Is(err, ErrKeyExhausted) {
		t.Fatalf("XEP-0217 at the budget: %v, want ErrKeyExhausted", err)
	}
	if alice.Stats().BlocksSinceKeyExchange > budget {
		t.Fatal("budget exceeded")
	}
}

func TestCloseErases(t *testing.T) {
	alice, bob := newPair(t, pairOpts{})
	send(t, alice, bob, chatStanza("x"))
	keys := []Key{alice.send.kc, alice.send.km, alice.recv[0].kc, alice.recv[0].km}
	priv := alice.recv[0].priv
	alice.Close()
	for i, k := range keys {
		if !allZero(k) {
			t.Errorf("key %d not erased", i)
		}
	}
	if priv.x != nil {
		t.Error("DH exponent kept")
	}
	if _, err := alice.AppendSeal(nil, chatStanza("x")); err != ErrClosed {
		t.Errorf("Seal after Close: %v", err)
	}
	if err := alice.Rekey(); !errors.Is(err, ErrClosed) {
		t.Errorf("Rekey after Close: %v", err)
	}

	// D-24: CloseSend keeps the receive side.
	alice, bob = newPair(t, pairOpts{})
	alice.CloseSend()
	send(t, bob, alice, chatStanza("acknowledgement"))
}

func TestNewStreamChecks(t *testing.T) {
	suite := XEPSuite()
	k16, k32 := NewKey(make([]byte, 16)), NewKey(make([]byte, 32))
	base := StreamConfig{Suite: suite, SendCipher: k16, SendMAC: k32, RecvCipher: k16, RecvMAC: k32, RekeyFreq: NoRekey}
	if _, err := NewStream(base); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*StreamConfig){
		"short cipher key": func(c *StreamConfig) { c.SendCipher = NewKey(make([]byte, 15)) },
		"long cipher key":  func(c *StreamConfig) { c.RecvCipher = k32 },
		"no MAC key":       func(c *StreamConfig) { c.RecvMAC = Key{} },
	} {
		c := base
		mod(&c)
		if _, err := NewStream(c); !errors.Is(err, ErrKeySize) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := base
	c.RekeyFreq = 10
	if _, err := NewStream(c); err == nil {
		t.Error("re-keying stream without DH state")
	}
}
