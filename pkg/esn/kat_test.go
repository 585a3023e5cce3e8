package esn

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
)

// vectors reads testdata/xep-profile-vectors.txt (a copy of the digest's
// Appendix A) and returns the value of the line starting with prefix: the
// text after the last " = " before any double space.
func vectors(t testing.TB) func(prefix string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/xep-profile-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	return func(prefix string) string {
		t.Helper()
		for _, l := range lines {
			if !strings.HasPrefix(l, prefix+" ") {
				continue
			}
			if i := strings.Index(l, "  "); i >= 0 {
				l = l[:i]
			}
			return l[strings.LastIndex(l, " = ")+3:]
		}
		t.Fatalf("vector %q not found", prefix)
		return ""
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.TrimPrefix(s, "0x")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// fixedEntropy replays the deterministic values of vector V4.
type fixedEntropy struct {
	t        testing.TB
	nonces   [][]byte
	counters []crypt.Counter
	exps     map[int]*big.Int
	fillers  [][]byte
}

func (e *fixedEntropy) nonce() ([]byte, error) {
	n := e.nonces[0]
	e.nonces = e.nonces[1:]
	return n, nil
}
func (e *fixedEntropy) counter() (crypt.Counter, error) {
	c := e.counters[0]
	e.counters = e.counters[1:]
	return c, nil
}
func (e *fixedEntropy) key(g *crypt.Group) (*crypt.PrivateKey, error) {
	return g.NewPrivateKey(e.exps[g.ID()])
}
func (e *fixedEntropy) filler(n int) ([]byte, error) {
	f := e.fillers[0]
	e.fillers = e.fillers[1:]
	if len(f) != n {
		e.t.Fatalf("filler of %d bytes asked, vector has %d", n, len(f))
	}
	return f, nil
}

// TestKnownAnswerV4 replays the digest's Appendix A vector V4 (XEP-0217
// fixed parameters, KM/KS at full length: MacKeyBits128 off) through two
// Managers with injected randomness, and checks every value on the wire.
func TestKnownAnswerV4(t *testing.T) {
	v := vectors(t)
	x14 := new(big.Int).SetBytes(unhex(t, v("x14")))
	x5 := new(big.Int).SetBytes(unhex(t, v("x5")))
	y := new(big.Int).SetBytes(unhex(t, v("y")))
	ca, err := crypt.CounterFromBytes(unhex(t, v("CA")))
	if err != nil {
		t.Fatal(err)
	}
	filler := func(i string) []byte {
		h := sha256.Sum256([]byte("esession test vector filler" + i))
		return h[:]
	}
	rs1 := unhex(t, v("RS1 (retained secret both sides hold)"))
	entA := &fixedEntropy{t: t, nonces: [][]byte{unhex(t, v("NA (hex)"))}, exps: map[int]*big.Int{14: x14, 5: x5},
		fillers: [][]byte{filler("1"), {1}, filler("2"), {2}}}
	entB := &fixedEntropy{t: t, nonces: [][]byte{unhex(t, v("NB (hex)"))}, counters: []crypt.Counter{ca},
		exps: map[int]*big.Int{14: y}}

	sa, sb := &MemorySecrets{}, &MemorySecrets{}
	sa.AddRetained("alice@example.org", "bob@example.com", rs1)
	sb.AddRetained("bob@example.com", "alice@example.org", rs1)
	prefsA := DefaultPreferences(ProfileXEP0217)
	prefsA.Groups = []int{14, 5}
	prefsA.Stanzas = []string{"message", "iq", "presence"}
	prefsA.Logging = []Logging{LoggingMay, LoggingMustNot}
	prefsA.security = []string{"e2e", "c2s"}
	prefsB := DefaultPreferences(ProfileXEP0217)
	prefsB.Groups = []int{14, 5}
	suite := crypt.XEPSuite()
	suite.MinGroup = 5
	logs := map[string][]byte{}
	p := newPair(t, pairOpts{prefsA: prefsA, prefsB: prefsB, secretsA: sa, secretsB: sb, tweak: func(a, b *Config) {
		a.entropy, b.entropy = entA, entB
		a.Suite, b.Suite = &suite, &suite
		a.KeyLog = func(e KeyLogEntry) { logs["A "+e.Label] = e.Secret }
		b.KeyLog = func(e KeyLogEntry) { logs["B "+e.Label] = e.Secret }
	}})
	_, na, nb := p.mustNegotiate()

	if len(p.wire) != 4 {
		t.Fatalf("%d stanzas on the wire, want 4", len(p.wire))
	}
	forms := make([]*Form, 4)
	for i, w := range p.wire {
		in, err := parseInbound(mustParse(t, w), FormLimits{})
		if err != nil {
			t.Fatalf("M%d: %v", i+1, err)
		}
		forms[i] = in.form
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	checks := []struct{ name, got, want string }{
		{"formA", string(forms[0].Norm()), v("formA (normalized, utf8)")},
		{"formB", string(forms[1].Norm()), v("formB (normalized, utf8)")},
		{"formA2", string(forms[2].Norm("identity", "mac")), v("formA2 (normalized)")},
		{"formB2", string(forms[3].Norm("identity", "mac")), v("formB2 (normalized)")},
		{"IDA", forms[2].Field("identity").Value(), v("IDA")},
		{"MA", forms[2].Field("mac").Value(), v("MA = HMAC(KMA, CA|IDA) (b64)")},
		{"IDB", forms[3].Field("identity").Value(), v("IDB (b64)")},
		{"MB", forms[3].Field("mac").Value(), v("MB (b64)")},
		{"srshash", forms[3].Field("srshash").Value(), v("srshash")},
		{"SAS alice", na.SAS, v("SAS")},
		{"SAS bob", nb.SAS, v("SAS")},
		{"K alice", hex.EncodeToString(logs["A "+KeyLogNegotiation]), v("K")},
		{"K bob", hex.EncodeToString(logs["B "+KeyLogNegotiation]), v("K")},
		{"K_final alice", hex.EncodeToString(logs["A "+KeyLogFinal]), v("K_final")},
		{"K_final bob", hex.EncodeToString(logs["B "+KeyLogFinal]), v("K_final")},
		{"d", forms[1].Field("dhkeys").Value(), v("d (b64)")},
		{"e", forms[2].Field("dhkeys").Value(), v("e14 (b64)")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
	if !na.RetainedSecret || !nb.RetainedSecret {
		t.Error("RS1 not found as shared retained secret")
	}
	newRS := v("new retained secret")
	for name, st := range map[string]*MemorySecrets{"alice": sa, "bob": sb} {
		acct, peer := "alice@example.org", "bob@example.com"
		if name == "bob" {
			acct, peer = peer, acct
		}
		l, _ := st.Retained(acct, peer)
		if len(l) != 1 || hex.EncodeToString(l[0].Secret) != newRS {
			t.Errorf("%s: new retained secret not stored as in V4", name)
		}
	}
	// NORM over our own forms equals crypt's normalizer.
	for i, f := range forms {
		if string(f.Norm()) != string(suite.NormalizeContent(f.Element())) {
			t.Errorf("M%d: esn and crypt normalizations differ", i+1)
		}
	}
	_ = b64
}
