package transcript

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
)

var (
	rsaOnce                  sync.Once
	rsaAlice, rsaBob, rsaEve *rsa.PrivateKey
)

// testKeys returns three 2048-bit keys, generated once per test binary.
func testKeys(t testing.TB) (alice, bob, eve *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&rsaAlice, &rsaBob, &rsaEve} {
			var err error
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
	return rsaAlice, rsaBob, rsaEve
}

// ring is an esn.KeyRing over a map of trusted keys, with an optional
// trust-on-first-use policy (as `esn --tofu`).
type ring struct {
	mu      sync.Mutex
	signer  *rsa.PrivateKey
	trusted map[string][]*rsa.PublicKey
	tofu    bool
}

func (r *ring) Signer() crypto.Signer {
	if r.signer == nil {
		return nil
	}
	return r.signer
}

func (r *ring) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.trusted[peer]), nil
}

func (r *ring) CheckKey(peer string, key *rsa.PublicKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.trusted[peer] {
		if k.Equal(key) {
			return nil
		}
	}
	if r.tofu && len(r.trusted[peer]) == 0 {
		if r.trusted == nil {
			r.trusted = map[string][]*rsa.PublicKey{}
		}
		r.trusted[peer] = append(r.trusted[peer], key)
		return nil
	}
	return errors.New("untrusted test key")
}

const (
	aliceBare = "alice@example.org"
	bobBare   = "bob@example.com"
)

func trusting(signer *rsa.PrivateKey, peer string, keys ...*rsa.PrivateKey) *ring {
	r := &ring{signer: signer, trusted: map[string][]*rsa.PublicKey{}}
	for _, k := range keys {
		r.trusted[peer] = append(r.trusted[peer], &k.PublicKey)
	}
	return r
}

// keyedCase is one public-key session of the tests, as TestNegotiateKeyed
// of pkg/esn sets them up.
type keyedCase struct {
	name         string
	opts         func(ka, kb *rsa.PrivateKey) recOpts
	three        bool
	initM, respM string
}

var keyedCases = []keyedCase{
	{
		name: "3-message, hash both ways",
		opts: func(ka, kb *rsa.PrivateKey) recOpts {
			return recOpts{ringA: trusting(ka, bobBare, kb), ringB: trusting(kb, aliceBare, ka), authA: esn.AuthKey, authB: esn.AuthAuto}
		},
		three: true, initM: esn.PubKeyHash, respM: esn.PubKeyHash,
	},
	{
		name: "3-message, Alice sends her key",
		opts: func(ka, kb *rsa.PrivateKey) recOpts {
			return recOpts{ringA: trusting(ka, bobBare, kb), ringB: &ring{signer: kb, tofu: true}, authA: esn.AuthKey, authB: esn.AuthKey}
		},
		three: true, initM: esn.PubKeyKey, respM: esn.PubKeyHash,
	},
	{
		name: "4-message, keys both sides, Bob sends his key",
		opts: func(ka, kb *rsa.PrivateKey) recOpts {
			return recOpts{ringA: &ring{signer: ka, tofu: true}, ringB: trusting(kb, aliceBare, ka), authA: esn.AuthKey, authB: esn.AuthAuto}
		},
		initM: esn.PubKeyHash, respM: esn.PubKeyKey,
	},
	{
		name: "4-message, key on Alice's side only",
		opts: func(ka, kb *rsa.PrivateKey) recOpts {
			return recOpts{ringA: &ring{signer: ka}, ringB: trusting(nil, aliceBare, ka), authA: esn.AuthAuto, authB: esn.AuthAuto}
		},
		initM: esn.PubKeyHash, respM: esn.PubKeyNone,
	},
	{
		name: "4-message, key on Bob's side only",
		opts: func(ka, kb *rsa.PrivateKey) recOpts {
			return recOpts{ringA: trusting(nil, bobBare, kb), ringB: &ring{signer: kb}, authA: esn.AuthAuto, authB: esn.AuthAuto}
		},
		initM: esn.PubKeyNone, respM: esn.PubKeyHash,
	},
}

// recordKeyed records one keyed case (XEP-0116, group 5) and checks that
// the managers negotiated what the case says.
func recordKeyed(t testing.TB, tc keyedCase, bodies ...string) conversation {
	t.Helper()
	ka, kb, _ := testKeys(t)
	o := tc.opts(ka, kb)
	o.prof, o.group = esn.ProfileXEP0116, 5
	c := recordWith(t, o, bodies...)
	ev := c.negotiated
	if ev.ThreeMessage != tc.three || ev.Params.InitPubKey != tc.initM || ev.Params.RespPubKey != tc.respM {
		t.Fatalf("negotiated three=%v init=%s resp=%s, want %v %s %s", ev.ThreeMessage, ev.Params.InitPubKey, ev.Params.RespPubKey, tc.three, tc.initM, tc.respM)
	}
	return c
}

func replayKeys(t *testing.T, capture, keylog string, keys ...KnownKey) ([]Step, *Transcript) {
	t.Helper()
	recs, err := ReadCapture(strings.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	tr := New(mustKeyLog(t, keylog))
	tr.AddKeys(keys...)
	var steps []Step
	for _, r := range recs {
		steps = append(steps, tr.AddRecord(r))
	}
	return steps, tr
}

func known(keys ...*rsa.PrivateKey) []KnownKey {
	var out []KnownKey
	for i, k := range keys {
		out = append(out, KnownKey{Key: &k.PublicKey, Source: fmt.Sprintf("test key %d", i)})
	}
	return out
}

// A public-key session is decoded fully: every identity MAC, every
// signature (with the keys of the parties that identified by fingerprint),
// every message; and the signing keys are named by fingerprint.
func TestDecodeKeyed(t *testing.T) {
	ka, kb, _ := testKeys(t)
	for _, tc := range keyedCases {
		t.Run(tc.name, func(t *testing.T) {
			c := recordKeyed(t, tc, "hello", "world")
			steps, tr := replayKeys(t, c.trace, c.keylog, known(ka, kb)...)
			kinds := checkFullyDecoded(t, steps, tr, "hello,world,pong")
			want := []string{"request (M1)", "accept (M2)", "complete (M3)", "terminate (encrypted)", "terminate-ack (encrypted)"}
			if !tc.three {
				want = append(want, "identity (M4)")
			} else if kinds["identity (M4)"] {
				t.Error("an identity (M4) step in a 3-message session")
			}
			for _, k := range want {
				if !kinds[k] {
					t.Errorf("no %s step", k)
				}
			}
			_, hasSAS := valueOf(steps, "SAS")
			if hasSAS == tc.three {
				t.Errorf("SAS shown: %v, in a %v 3-message session", hasSAS, tc.three)
			}
			for x, m := range map[string]string{"A": tc.initM, "B": tc.respM} {
				key := map[string]*rsa.PrivateKey{"A": ka, "B": kb}[x]
				if m == esn.PubKeyNone {
					if v, ok := valueOf(steps, "mac_"+x+" (decrypted ID_"+x+")"); !ok || v.Check != OK {
						t.Errorf("mac_%s = %+v, want ok", x, v)
					}
					continue
				}
				v, ok := valueOf(steps, "sign_"+x+" (SignatureValue)")
				if !ok || v.Check != OK || !strings.Contains(v.Value, KeyFingerprint(&key.PublicKey)) {
					t.Errorf("sign_%s = %+v, want ok by %s", x, v, KeyFingerprint(&key.PublicKey))
				}
				if v, ok := valueOf(steps, "pubKey_"+x+" (KeyValue)"); !ok || !strings.Contains(v.Value, "2048-bit RSA") {
					t.Errorf("pubKey_%s = %+v", x, v)
				}
				_, hasFP := valueOf(steps, "fingerprint_"+x)
				if hasFP != (m == esn.PubKeyHash) {
					t.Errorf("fingerprint_%s shown: %v for method %s", x, hasFP, m)
				}
			}
		})
	}
}

// The key fingerprint is SHA-256 of the normalized <KeyValue/>, computed
// here from the formula (digest §6.8), in the form esn keys prints.
func TestKeyFingerprint(t *testing.T) {
	ka, _, _ := testKeys(t)
	kv := "<KeyValue><RSAKeyValue><Modulus>" + crypt.EncodeBase64(ka.N.Bytes()) + "</Modulus><Exponent>AQAB</Exponent></RSAKeyValue></KeyValue>"
	h := sha256.Sum256([]byte(kv))
	want, err := pubkey.ParseFingerprint(hex.EncodeToString(h[:]))
	if err != nil {
		t.Fatal(err)
	}
	if got := KeyFingerprint(&ka.PublicKey); got != want.String() {
		t.Errorf("KeyFingerprint = %s, want %s", got, want)
	}
	if !regexp.MustCompile(`^[0-9A-F]{4}( [0-9A-F]{4}){15}$`).MatchString(want.String()) {
		t.Errorf("fingerprint form %q", want)
	}
}

// Without the key of a party that identified by fingerprint, its
// signature is not checked (not failed); everything else still is. With
// the wrong key, the same. Without a key log nothing secret is checked,
// and nothing fails.
func TestDecodeKeyedMissingKeys(t *testing.T) {
	ka, kb, eve := testKeys(t)
	c := recordKeyed(t, keyedCases[0], "hello") // 3-message, hash both ways
	tests := []struct {
		name      string
		keylog    string
		keys      []KnownKey
		needs     []string
		bodies    string
		signedBy  string // a value that must be ok
		notSigned string
	}{
		{"no keys", c.keylog, nil, []string{"sign_A (SignatureValue)", "sign_B (SignatureValue)"}, "hello,pong", "", ""},
		{"only Bob's key", c.keylog, known(kb), []string{"sign_A (SignatureValue)"}, "hello,pong", "sign_B (SignatureValue)", ""},
		{"wrong key", c.keylog, known(eve), []string{"sign_A (SignatureValue)", "sign_B (SignatureValue)"}, "hello,pong", "", ""},
		{"no key log", "", known(ka, kb), []string{"M_B, sign_B", "M_A, sign_A", "<c/>"}, "", "", "sign_B (SignatureValue)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, tr := replayKeys(t, c.trace, tc.keylog, tc.keys...)
			if st, v, bad := tr.FirstFailure(); bad {
				t.Fatalf("step %d: %s failed: %s", st.N, v.Name, v.Note)
			}
			var got []string
			needs := map[string]bool{}
			for _, s := range steps {
				if s.Body != "" {
					got = append(got, s.Body)
				}
				for _, v := range s.Values {
					if v.Check == NeedsKey {
						needs[v.Name] = true
					}
				}
			}
			if strings.Join(got, ",") != tc.bodies {
				t.Errorf("bodies %q, want %q", got, tc.bodies)
			}
			for _, n := range tc.needs {
				if !needs[n] {
					t.Errorf("%s not reported as needing a key (%v)", n, needs)
				}
			}
			if tc.signedBy != "" {
				if v, _ := valueOf(steps, tc.signedBy); v.Check != OK {
					t.Errorf("%s = %+v", tc.signedBy, v)
				}
			}
			if tc.notSigned != "" {
				if _, ok := valueOf(steps, tc.notSigned); ok {
					t.Errorf("%s shown without a key log", tc.notSigned)
				}
			}
		})
	}
}

// captureField returns the values of a form field on a capture line.
func captureField(line, v string) []string {
	re := regexp.MustCompile(`var="` + regexp.QuoteMeta(v) + `"[^>]*>((?:<value>[^<]*</value>)+)`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	var out []string
	for _, x := range regexp.MustCompile(`<value>([^<]*)</value>`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, x[1])
	}
	return out
}

func setField(line, v, val string) string {
	re := regexp.MustCompile(`(var="` + regexp.QuoteMeta(v) + `"[^>]*><value>)[^<]*(</value>)`)
	return re.ReplaceAllString(line, "${1}"+val+"${2}")
}

// reforge re-encrypts the identity proof on line i of a capture after
// mutate changed its plaintext, as someone holding the key log but not the
// signing key could: M_X then verifies, and only the signature can tell.
// label is the key log secret of the proof's keys (ESN_K, or ESN_KFINAL
// for M4), role the party that sent it.
func reforge(t *testing.T, c conversation, i int, label string, role crypt.Role, mutate func([]byte) []byte) string {
	t.Helper()
	lines := strings.Split(c.trace, "\n")
	m2 := -1
	for j, l := range lines {
		if captureField(l, "counter") != nil {
			m2 = j
		}
	}
	if m2 < 0 {
		t.Fatal("no response in the capture")
	}
	suite, err := crypt.XEPSuite().WithAlgorithms(captureField(lines[m2], "crypt_algs")[0], captureField(lines[m2], "hash_algs")[0])
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := crypt.ParseCounter(captureField(lines[m2], "counter")[0])
	if err != nil {
		t.Fatal(err)
	}
	if role == crypt.Responder {
		ctr = ctr.Peer()
	}
	secrets := mustKeyLog(t, c.keylog).Secrets(c.thread, label)
	if len(secrets) != 1 {
		t.Fatalf("%d %s secrets", len(secrets), label)
	}
	keys := suite.SessionKeys(crypt.NewKey(secrets[0]), role)
	id, err1 := crypt.DecodeBase64("identity", captureField(lines[i], "identity")[0], 4096)
	mac, err2 := crypt.DecodeBase64("mac", captureField(lines[i], "mac")[0], 64)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	start := ctr
	plain, err := suite.DecryptIdentity(keys.Cipher, keys.MAC, &ctr, id, mac)
	if err != nil {
		t.Fatalf("line %d: the identity does not open with %s: %v", i, label, err)
	}
	plain = mutate(plain)
	id, mac, err = suite.EncryptIdentity(keys.Cipher, keys.MAC, &start, plain)
	if err != nil {
		t.Fatal(err)
	}
	lines[i] = setField(setField(lines[i], "identity", crypt.EncodeBase64(id)), "mac", crypt.EncodeBase64(mac))
	return strings.Join(lines, "\n")
}

// flipSignature flips one bit of the signature in an identity plaintext.
func flipSignature(t *testing.T) func([]byte) []byte {
	return func(plain []byte) []byte {
		re := regexp.MustCompile(`<SignatureValue>([^<]+)</SignatureValue>`)
		m := re.FindSubmatch(plain)
		if m == nil {
			t.Fatalf("no signature in %q", plain)
		}
		sig, err := crypt.DecodeBase64("sig", string(m[1]), 2048)
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)/2] ^= 0x10
		return re.ReplaceAll(plain, []byte("<SignatureValue>"+crypt.EncodeBase64(sig)+"</SignatureValue>"))
	}
}

// Every tampering with a public-key negotiation is flagged at the first
// value it breaks: a flipped bit in an identity (its MAC), in a signature
// (re-encrypted so that the MAC verifies), in a signed form.
func TestDecodeKeyedFlagsFirstFailure(t *testing.T) {
	ka, kb, _ := testKeys(t)
	three := recordKeyed(t, keyedCases[0], "hello")  // hash both ways
	threeK := recordKeyed(t, keyedCases[1], "hello") // Alice sends her key
	four := recordKeyed(t, keyedCases[2], "hello")   // Alice hash, Bob key
	line := func(c conversation, substr string) int {
		for i, l := range strings.Split(c.trace, "\n") {
			if strings.Contains(l, substr) {
				return i
			}
		}
		t.Fatalf("no line with %q", substr)
		return -1
	}
	edit := func(c conversation, i int, f func(string) string) string {
		lines := strings.Split(c.trace, "\n")
		old := lines[i]
		lines[i] = f(old)
		if lines[i] == old {
			t.Fatalf("edit did not change line %d", i)
		}
		return strings.Join(lines, "\n")
	}
	flipB64 := func(field string) func(string) string {
		return func(l string) string {
			v := captureField(l, field)[0]
			b, err := crypt.DecodeBase64(field, v, 4096)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 1
			return setField(l, field, crypt.EncodeBase64(b))
		}
	}
	same := func(b []byte) []byte { return b }
	m2 := func(c conversation) int { return line(c, `var="counter"`) }
	m3 := func(c conversation) int { return line(c, `type="result"`) }
	m4 := func(c conversation) int { return line(c, `var="srshash"`) }
	m1 := func(c conversation) int { return line(c, `type="form"`) }
	tests := []struct {
		name    string
		c       conversation
		capture string
		want    string // the first failed value; "" = none
	}{
		{"3-message: re-encrypted unchanged (sanity)", three, reforge(t, three, m2(three), esn.KeyLogNegotiation, crypt.Responder, same), ""},
		{"3-message: bit flipped in Bob's identity", three, edit(three, m2(three), flipB64("identity")), "M_B = HMAC(KM_B, C_B | ID_B)"},
		{"3-message: bit flipped in Bob's M_B", three, edit(three, m2(three), flipB64("mac")), "M_B = HMAC(KM_B, C_B | ID_B)"},
		{"3-message: bit flipped in Bob's signature", three, reforge(t, three, m2(three), esn.KeyLogNegotiation, crypt.Responder, flipSignature(t)), "sign_B (SignatureValue)"},
		{"3-message: bit flipped in Alice's identity", three, edit(three, m3(three), flipB64("identity")), "M_A = HMAC(KM_A, C_A | ID_A)"},
		{"3-message: bit flipped in Alice's signature", three, reforge(t, three, m3(three), esn.KeyLogNegotiation, crypt.Initiator, flipSignature(t)), "sign_A (SignatureValue)"},
		{"3-message: Alice's key replaced", threeK, reforge(t, threeK, m3(threeK), esn.KeyLogNegotiation, crypt.Initiator, func(b []byte) []byte {
			// Eve's key in Alice's proof: the signature does not verify with it.
			_, _, eve := testKeys(t)
			return regexp.MustCompile(`<KeyValue>.*</KeyValue>`).ReplaceAll(b, esn.KeyValue(&eve.PublicKey))
		}), "sign_A (SignatureValue)"},
		{"3-message: request changed in transit (downgrade)", three, edit(three, m1(three), func(l string) string {
			return strings.Replace(l, `<option><value>aes128-ctr</value></option>`, "", 1)
		}), "sign_A (SignatureValue)"},
		{"3-message: e out of range", three, edit(three, m1(three), func(l string) string { return setField(l, "dhkeys", "AQ==") }), "e[5] (dhkeys of M1)"},
		{"4-message: bit flipped in Alice's signature", four, reforge(t, four, m3(four), esn.KeyLogNegotiation, crypt.Initiator, flipSignature(t)), "sign_A (SignatureValue)"},
		{"4-message: bit flipped in Bob's signature", four, reforge(t, four, m4(four), esn.KeyLogFinal, crypt.Responder, flipSignature(t)), "sign_B (SignatureValue)"},
		{"4-message: bit flipped in Bob's identity", four, edit(four, m4(four), flipB64("identity")), "M_B = HMAC(KM_B, C_B | ID_B)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, tr := replayKeys(t, tc.capture, tc.c.keylog, known(ka, kb)...)
			st, v, bad := tr.FirstFailure()
			if tc.want == "" {
				if bad {
					t.Fatalf("step %d: %s failed: %s", st.N, v.Name, v.Note)
				}
				if v, _ := valueOf(steps, "sign_B (SignatureValue)"); v.Check != OK {
					t.Errorf("sign_B = %+v", v)
				}
				return
			}
			if !bad {
				t.Fatal("no failure flagged")
			}
			if v.Name != tc.want {
				t.Errorf("first failure at step %d %s: %q (%s), want %q", st.N, st.Kind, v.Name, v.Note, tc.want)
			}
		})
	}
}
