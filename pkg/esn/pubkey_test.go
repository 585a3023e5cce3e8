package esn

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

var (
	rsaOnce            sync.Once
	rsaAlice, rsaBob   *rsa.PrivateKey
	rsaMallory         *rsa.PrivateKey
	errUnknownTestKey  = errors.New("unknown key")
	errChangedTestKey  = errors.New("key changed")
	testRingsGenerated = false
)

// testKeys returns three 2048-bit keys, generated once per test binary.
func testKeys(t testing.TB) (alice, bob, mallory *rsa.PrivateKey) {
	rsaOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsaAlice, &rsaBob, &rsaMallory} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		testRingsGenerated = true
	})
	return rsaAlice, rsaBob, rsaMallory
}

// untrustedError is what the test ring refuses a key with, like the CLI's
// error carrying the fingerprint and the trust command.
type untrustedError struct {
	Peer, Fingerprint string
	Err               error
}

func (e *untrustedError) Error() string {
	return fmt.Sprintf("%s presented key %s: %v", e.Peer, e.Fingerprint, e.Err)
}
func (e *untrustedError) Unwrap() error { return e.Err }

// testRing is a KeyRing over a map, with an optional TOFU policy.
type testRing struct {
	mu      sync.Mutex
	signer  *rsa.PrivateKey
	trusted map[string][]*rsa.PublicKey
	tofu    bool
	checked []string // peers CheckKey was called for
}

func (r *testRing) Signer() crypto.Signer {
	if r.signer == nil {
		return nil
	}
	return r.signer
}

func (r *testRing) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.trusted[peer]), nil
}

func (r *testRing) CheckKey(peer string, key *rsa.PublicKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = append(r.checked, peer)
	for _, k := range r.trusted[peer] {
		if k.Equal(key) {
			return nil
		}
	}
	if len(r.trusted[peer]) > 0 {
		return &untrustedError{Peer: peer, Fingerprint: KeyFingerprint(key), Err: errChangedTestKey}
	}
	if r.tofu {
		if r.trusted == nil {
			r.trusted = map[string][]*rsa.PublicKey{}
		}
		r.trusted[peer] = append(r.trusted[peer], key)
		return nil
	}
	return &untrustedError{Peer: peer, Fingerprint: KeyFingerprint(key), Err: errUnknownTestKey}
}

const (
	aliceBare = "alice@example.org"
	bobBare   = "bob@example.com"
)

// keyedPair builds a pair whose sides use the given rings and policies.
func keyedPair(t testing.TB, ra, rb *testRing, authA, authB Auth) *pair {
	pa, pb := DefaultPreferences(ProfileXEP0116), DefaultPreferences(ProfileXEP0116)
	pa.Groups, pb.Groups = []int{14}, []int{14}
	pa.Auth, pb.Auth = authA, authB
	return newPair(t, pairOpts{prefsA: pa, prefsB: pb, tweak: func(a, b *Config) {
		if ra != nil {
			a.Keys = ra
		}
		if rb != nil {
			b.Keys = rb
		}
	}})
}

// negotiationSteps returns the step (1..4) of every negotiation stanza on
// the wire, in order, and the number of error stanzas.
func negotiationSteps(t testing.TB, p *pair) (steps []int, errs int) {
	for _, w := range p.wire {
		st, err := xmltree.Parse([]byte(w), xmltree.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Attribute("type") == "error" {
			errs++
			continue
		}
		if s := step(st); s > 0 {
			steps = append(steps, s)
		}
	}
	return steps, errs
}

func exchange(t *testing.T, p *pair, thread string) {
	t.Helper()
	p.send(p.a, thread, "hello bob")
	p.send(p.b, thread, "hello alice")
	if got := bodies(p.b.events); !slices.Equal(got, []string{"hello bob"}) {
		t.Fatalf("bob got %q", got)
	}
	if got := bodies(p.a.events); !slices.Equal(got, []string{"hello alice"}) {
		t.Fatalf("alice got %q", got)
	}
}

// TestNegotiateKeyed covers the keyed negotiations that succeed: SIGMA-I
// and 4-message with keys on both sides or one side.
func TestNegotiateKeyed(t *testing.T) {
	ka, kb, _ := testKeys(t)
	tests := []struct {
		name         string
		ra, rb       *testRing
		authA, authB Auth
		steps        []int
		initM, respM string
		keyAtA       bool // Alice verified Bob's key
		keyAtB       bool // Bob verified Alice's key
	}{
		{
			name:  "3-message, both trusted, hash both ways",
			ra:    &testRing{signer: ka, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}},
			rb:    &testRing{signer: kb, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}},
			authA: AuthKey, authB: AuthAuto,
			steps: []int{1, 2, 3}, initM: PubKeyHash, respM: PubKeyHash, keyAtA: true, keyAtB: true,
		},
		{
			name:  "3-message, Bob learns Alice's key on first use",
			ra:    &testRing{signer: ka, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}},
			rb:    &testRing{signer: kb, tofu: true},
			authA: AuthKey, authB: AuthKey,
			steps: []int{1, 2, 3}, initM: PubKeyKey, respM: PubKeyHash, keyAtA: true, keyAtB: true,
		},
		{
			name:  "4-message, keys both sides, Alice learns Bob's key on first use",
			ra:    &testRing{signer: ka, tofu: true},
			rb:    &testRing{signer: kb, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}},
			authA: AuthKey, authB: AuthAuto,
			steps: []int{1, 2, 3, 4}, initM: PubKeyHash, respM: PubKeyKey, keyAtA: true, keyAtB: true,
		},
		{
			name:  "4-message auto, both trusted",
			ra:    &testRing{signer: ka, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}},
			rb:    &testRing{signer: kb, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}},
			authA: AuthAuto, authB: AuthAuto,
			steps: []int{1, 2, 3, 4}, initM: PubKeyHash, respM: PubKeyHash, keyAtA: true, keyAtB: true,
		},
		{
			name:  "4-message auto, key on Alice's side only",
			ra:    &testRing{signer: ka},
			rb:    &testRing{trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}},
			authA: AuthAuto, authB: AuthAuto,
			steps: []int{1, 2, 3, 4}, initM: PubKeyHash, respM: PubKeyNone, keyAtB: true,
		},
		{
			name:  "4-message auto, key on Bob's side only",
			ra:    &testRing{trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}},
			rb:    &testRing{signer: kb},
			authA: AuthAuto, authB: AuthAuto,
			steps: []int{1, 2, 3, 4}, initM: PubKeyNone, respM: PubKeyHash, keyAtA: true,
		},
		{
			name:  "auto without trusted keys is SAS",
			ra:    &testRing{},
			rb:    &testRing{signer: kb},
			authA: AuthAuto, authB: AuthAuto,
			steps: []int{1, 2, 3, 4}, initM: PubKeyNone, respM: PubKeyNone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := keyedPair(t, tc.ra, tc.rb, tc.authA, tc.authB)
			thread, na, nb := p.mustNegotiate()
			steps, errs := negotiationSteps(t, p)
			if !slices.Equal(steps, tc.steps) || errs != 0 {
				t.Fatalf("steps %v (errors %d), want %v", steps, errs, tc.steps)
			}
			for _, ev := range []NegotiatedEvent{na, nb} {
				if ev.Params.InitPubKey != tc.initM || ev.Params.RespPubKey != tc.respM {
					t.Fatalf("methods %q/%q, want %q/%q", ev.Params.InitPubKey, ev.Params.RespPubKey, tc.initM, tc.respM)
				}
				if ev.ThreeMessage != (len(tc.steps) == 3) {
					t.Fatalf("ThreeMessage = %v", ev.ThreeMessage)
				}
				keyed := tc.initM != PubKeyNone || tc.respM != PubKeyNone
				if keyed != (ev.Params.SignAlg == SignRSASHA256) {
					t.Fatalf("SignAlg = %q", ev.Params.SignAlg)
				}
			}
			if (na.PeerKey != nil) != tc.keyAtA || (tc.keyAtA && !na.PeerKey.Equal(&kb.PublicKey)) {
				t.Fatalf("alice's PeerKey = %v", na.PeerKey)
			}
			if (nb.PeerKey != nil) != tc.keyAtB || (tc.keyAtB && !nb.PeerKey.Equal(&ka.PublicKey)) {
				t.Fatalf("bob's PeerKey = %v", nb.PeerKey)
			}
			if len(tc.steps) == 3 && (na.SAS != "" || nb.SAS != "") {
				t.Fatal("3-message negotiation produced a SAS")
			}
			if len(tc.steps) == 4 && (na.SAS == "" || na.SAS != nb.SAS) {
				t.Fatalf("SAS %q / %q", na.SAS, nb.SAS)
			}
			m1 := p.wire[0]
			if three := strings.Contains(m1, `var="dhkeys"`); three != (len(tc.steps) == 3) ||
				strings.Contains(m1, "sas_algs") == three {
				t.Fatalf("M1 variant wrong:\n%s", m1)
			}
			exchange(t, p, thread)
			// The identity never travels in the clear.
			for _, w := range p.wire {
				if strings.Contains(w, "KeyValue") || strings.Contains(w, "SignatureValue") {
					t.Fatalf("identity in the clear: %s", w)
				}
			}
		})
	}
}

// TestKeyedRefusals covers unknown keys, missing keys and downgrades: no
// session may be established, and the reason must be reported.
func TestKeyedRefusals(t *testing.T) {
	ka, kb, km := testKeys(t)
	trustsBob := func(signer *rsa.PrivateKey) *testRing {
		return &testRing{signer: signer, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}}
	}
	trustsAlice := func(signer *rsa.PrivateKey) *testRing {
		return &testRing{signer: signer, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}}
	}
	tests := []struct {
		name         string
		ra, rb       *testRing
		authA, authB Auth
		tamper       func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element
		// who refuses, with which condition and (optionally) fields
		refuser  string
		cond     string
		fields   []string
		untrusty bool // the refusal wraps ErrUntrustedKey
		wantErr  error
	}{
		{
			name: "3-message, Alice's key unknown to Bob",
			ra:   trustsBob(ka), rb: &testRing{signer: kb}, authA: AuthKey, authB: AuthKey,
			refuser: "bob", cond: CondFeatureNotImplemented, untrusty: true, wantErr: errUnknownTestKey,
		},
		{
			name: "4-message, Bob's key unknown to Alice",
			ra:   &testRing{signer: ka}, rb: trustsAlice(kb), authA: AuthKey, authB: AuthAuto,
			refuser: "alice", cond: CondFeatureNotImplemented, untrusty: true, wantErr: errUnknownTestKey,
		},
		{
			name: "3-message, Bob presents another key than the trusted one",
			ra:   trustsBob(ka), rb: &testRing{signer: km, trusted: map[string][]*rsa.PublicKey{aliceBare: {&ka.PublicKey}}},
			authA: AuthKey, authB: AuthKey,
			refuser: "alice", cond: CondFeatureNotImplemented, untrusty: true,
		},
		{
			name: "4-message, Alice signs with a key Bob has no fingerprint for",
			ra:   &testRing{signer: km, tofu: true}, rb: trustsAlice(kb), authA: AuthKey, authB: AuthAuto,
			tamper: nil, refuser: "bob", cond: CondFeatureNotImplemented, untrusty: true,
		},
		{
			name: "3-message to a responder without keys: no fallback",
			ra:   trustsBob(ka), rb: nil, authA: AuthKey, authB: AuthSAS,
			refuser: "bob", cond: CondFeatureNotImplemented, fields: []string{"dhkeys"},
		},
		{
			name: "sign_algs stripped from M1",
			ra:   &testRing{signer: ka, tofu: true}, rb: trustsAlice(kb), authA: AuthKey, authB: AuthAuto,
			tamper:  editStep(1, func(x *xmltree.Element) { removeField(x, "sign_algs") }),
			refuser: "bob", cond: CondNotAcceptable, fields: []string{"sign_algs"},
		},
		{
			name: "M1 rewritten to offer none: Bob answers none, Alice refuses",
			ra:   &testRing{signer: ka, tofu: true}, rb: trustsAlice(kb), authA: AuthKey, authB: AuthAuto,
			tamper: editStep(1, func(x *xmltree.Element) {
				setOptions(x, "init_pubkey", PubKeyNone)
				setOptions(x, "resp_pubkey", PubKeyNone)
				removeField(x, "sign_algs")
			}),
			refuser: "alice", cond: CondNotAcceptable, fields: []string{"init_pubkey", "resp_pubkey"},
		},
		{
			name: "M2 forced to none where Alice requires keys",
			ra:   &testRing{signer: ka, tofu: true}, rb: trustsAlice(kb), authA: AuthKey, authB: AuthAuto,
			tamper: editStep(2, func(x *xmltree.Element) {
				setValues(x, "init_pubkey", PubKeyNone)
				setValues(x, "resp_pubkey", PubKeyNone)
			}),
			refuser: "alice", cond: CondNotAcceptable, fields: []string{"init_pubkey", "resp_pubkey"},
		},
		{
			name: "Bob requires keys, M1 offers only none",
			ra:   nil, rb: trustsAlice(kb), authA: AuthSAS, authB: AuthKey,
			refuser: "bob", cond: CondNotAcceptable, fields: []string{"init_pubkey", "resp_pubkey"},
		},
		{
			name: "3-message M2 method changed from hash to key",
			ra:   trustsBob(ka), rb: trustsAlice(kb), authA: AuthKey, authB: AuthKey,
			tamper:  editStep(2, func(x *xmltree.Element) { setValues(x, "resp_pubkey", PubKeyKey) }),
			refuser: "alice", cond: CondFeatureNotImplemented,
		},
		{
			name: "3-message M1 sas_algs added",
			ra:   trustsBob(ka), rb: trustsAlice(kb), authA: AuthKey, authB: AuthKey,
			tamper: editStep(1, func(x *xmltree.Element) {
				x.AddChild(xmltree.New(NSData, "field").AddChild(textElem(NSData, "value", SASAlg)))
				fieldEl(x, "").SetAttr("var", "sas_algs")
			}),
			refuser: "bob", cond: CondNotAcceptable, fields: []string{"sas_algs"},
		},
		{
			name: "3-message identity replaced by Mallory's",
			ra:   trustsBob(ka), rb: trustsAlice(kb), authA: AuthKey, authB: AuthKey,
			tamper: editStep(3, func(x *xmltree.Element) {
				setValues(x, "identity", flipB64(values(x, "identity")[0]))
			}),
			refuser: "bob", cond: CondFeatureNotImplemented,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := keyedPair(t, tc.ra, tc.rb, tc.authA, tc.authB)
			p.tamper = tc.tamper
			p.negotiate()
			refuser, other := p.b, p.a
			if tc.refuser == "alice" {
				refuser, other = p.a, p.b
			}
			if _, ok := findEvent[NegotiatedEvent](refuser.events); ok {
				t.Fatalf("%s established a session", tc.refuser)
			}
			ne := negErr(t, refuser)
			if ne.Remote || ne.Condition != tc.cond {
				t.Fatalf("%s: %+v", tc.refuser, ne)
			}
			if tc.fields != nil && !slices.Equal(ne.Fields, tc.fields) {
				t.Fatalf("fields %q, want %q", ne.Fields, tc.fields)
			}
			if errors.Is(ne, ErrUntrustedKey) != tc.untrusty {
				t.Fatalf("ErrUntrustedKey = %v: %v", !tc.untrusty, ne)
			}
			if tc.wantErr != nil {
				var ue *untrustedError
				if !errors.Is(ne, tc.wantErr) || !errors.As(ne, &ue) || ue.Fingerprint == "" {
					t.Fatalf("the ring's reason is lost: %v", ne)
				}
			}
			// The other side ends too (told by the error), and nobody
			// starts another negotiation (no automatic fallback).
			te, ok := lastEvent[TerminatedEvent](other.events)
			if !ok || te.Err == nil {
				t.Fatalf("the other side did not end: %v", other.events)
			}
			steps, _ := negotiationSteps(t, p)
			if slices.Contains(steps[1:], 1) {
				t.Fatalf("a new request was sent: %v", steps)
			}
			if p.a.m.Len() != 0 || p.b.m.Len() != 0 {
				t.Fatal("sessions left")
			}
		})
	}
}

// editStep returns a tamper function that edits the form of negotiation
// step n in transit.
func editStep(n int, edit func(x *xmltree.Element)) func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element {
	return func(from, to *endpoint, st *xmltree.Element) []*xmltree.Element {
		if st.Attribute("type") != "error" && step(st) == n {
			edit(formOf(st))
		}
		return []*xmltree.Element{st}
	}
}

// TestForgedFallbackError: an attacker answers Alice's SIGMA-I request
// with the unauthenticated feature-not-implemented error. Alice ends the
// session and sends nothing more (digest §8.5 item 3).
func TestForgedFallbackError(t *testing.T) {
	ka, kb, _ := testKeys(t)
	ra := &testRing{signer: ka, trusted: map[string][]*rsa.PublicKey{bobBare: {&kb.PublicKey}}}
	p := keyedPair(t, ra, &testRing{signer: kb}, AuthKey, AuthKey)
	thread, out, err := p.a.m.Initiate(bobBare, InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Send) != 1 || !strings.Contains(out.Send[0].String(), `var="dhkeys"`) {
		t.Fatalf("not a SIGMA-I request: %v", out.Send)
	}
	forged := errorMessage("bob@example.com/laptop", p.a.jid, thread, CondFeatureNotImplemented, []string{"dhkeys"}, nil)
	res, err := p.a.m.Receive(wireCopy(t, forged))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Send) != 0 {
		t.Fatalf("Alice answered the forged error: %v", res.Send)
	}
	te, ok := lastEvent[TerminatedEvent](res.Events)
	var ne *NegotiationError
	if !ok || !errors.As(te.Err, &ne) || !ne.Remote || !slices.Equal(ne.Fields, []string{"dhkeys"}) {
		t.Fatalf("termination: %+v", te)
	}
	if p.a.m.Len() != 0 {
		t.Fatal("session left")
	}
}

func TestAuthKeyNeedsIdentity(t *testing.T) {
	p := keyedPair(t, &testRing{}, nil, AuthKey, AuthSAS)
	if _, _, err := p.a.m.Initiate(bobBare, InitiateOptions{}); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Initiate = %v", err)
	}
	p = keyedPair(t, nil, nil, AuthKey, AuthSAS)
	if _, _, err := p.a.m.Initiate(bobBare, InitiateOptions{}); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Initiate without a KeyRing = %v", err)
	}
}

func TestParseAuth(t *testing.T) {
	for _, a := range []Auth{AuthSAS, AuthKey, AuthAuto} {
		got, err := ParseAuth(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAuth(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseAuth("pgp"); err == nil {
		t.Error("ParseAuth(pgp) succeeded")
	}
}

// TestKeyValue pins the xmldsig encoding: CryptoBinary without leading
// zeros, 65537 as AQAB, no namespace.
func TestKeyValue(t *testing.T) {
	ka, _, _ := testKeys(t)
	kv := string(KeyValue(&ka.PublicKey))
	if !strings.HasPrefix(kv, "<KeyValue><RSAKeyValue><Modulus>") ||
		!strings.HasSuffix(kv, "</Modulus><Exponent>AQAB</Exponent></RSAKeyValue></KeyValue>") {
		t.Fatalf("KeyValue = %s", kv)
	}
	el, err := xmltree.Parse([]byte(kv), xmltree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := parseKeyValue(el)
	if err != nil || !pub.Equal(&ka.PublicKey) {
		t.Fatalf("parseKeyValue: %v", err)
	}
	if string(NormElement(el)) != kv {
		t.Fatal("KeyValue is not in normalized form")
	}
	if len(KeyFingerprint(&ka.PublicKey)) != 44 {
		t.Fatal("fingerprint is not Base64 of 32 bytes")
	}
}

func TestParseIdentity(t *testing.T) {
	ka, _, _ := testKeys(t)
	kv := string(KeyValue(&ka.PublicKey))
	sig := "<SignatureValue>AAAA</SignatureValue>"
	good := []string{
		kv + sig,
		strings.ReplaceAll(kv, "<KeyValue>", `<KeyValue xmlns="`+NSXMLDSig+`">`) + sig,
		"<fingerprint>AAAA</fingerprint>" + sig,
		kv + "\n" + sig,
	}
	for _, in := range good {
		if _, _, err := parseIdentity([]byte(in)); err != nil {
			t.Errorf("parseIdentity(%.50q): %v", in, err)
		}
	}
	bad := []string{
		"", kv, sig, kv + sig + sig, sig + kv, kv + "x" + sig,
		kv + sig + "</r><r>", `<KeyValue xmlns="urn:other"/>` + sig,
		kv + sig + "<!-- -->trailing",
		strings.Repeat("<a>", 10) + sig,
		strings.Repeat("x", maxIdentityLen+10),
	}
	for _, in := range bad {
		if _, _, err := parseIdentity([]byte(in)); err == nil {
			t.Errorf("parseIdentity(%.50q) succeeded", in)
		}
	}
	badKV := []string{
		"<KeyValue/>",
		"<KeyValue><DSAKeyValue/></KeyValue>",
		"<KeyValue><RSAKeyValue><Modulus>AQAB</Modulus><Exponent>AQAB</Exponent></RSAKeyValue></KeyValue>",
		strings.Replace(kv, "AQAB", "AAE=", 1),
		strings.Replace(kv, "<Exponent>", "<Exponent>AQAB</Exponent><Exponent>", 1),
	}
	for _, in := range badKV {
		el, err := xmltree.Parse([]byte(in), xmltree.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseKeyValue(el); err == nil {
			t.Errorf("parseKeyValue(%.60q) succeeded", in)
		}
	}
}

// FuzzParseIdentity feeds arbitrary decrypted identity plaintexts to the
// fragment and KeyValue parsers: no panics, and whatever parses as a key
// is within the bounds.
func FuzzParseIdentity(f *testing.F) {
	ka, _, _ := testKeys(f)
	f.Add(append(KeyValue(&ka.PublicKey), "<SignatureValue>AAAA</SignatureValue>"...))
	f.Add([]byte("<fingerprint>AAAA</fingerprint><SignatureValue>AAAA</SignatureValue>"))
	f.Add([]byte("<KeyValue><DSAKeyValue/></KeyValue><SignatureValue/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, sig, err := parseIdentity(data)
		if err != nil {
			return
		}
		if sig.Name.Local != "SignatureValue" {
			t.Fatalf("second element %q", sig.Name.Local)
		}
		if id.Name.Local == "KeyValue" {
			if pub, err := parseKeyValue(id); err == nil {
				if bl := pub.N.BitLen(); bl < minPeerKeyBits || bl > maxPeerKeyBits || pub.E < 3 {
					t.Fatalf("accepted a %d-bit key, e=%d", bl, pub.E)
				}
			}
		}
	})
}
